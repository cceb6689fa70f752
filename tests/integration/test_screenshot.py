"""Screen grabbing on real displays.

Qt's grab on the test Xvfb and on a second Xvfb split into two monitors (with Qt's scale
factors), grim on a real headless sway, and the desktop portal's D-Bus protocol against a fake
portal on a private bus. Pixels are always checked against an independent grab (ImageMagick's
``import`` on X11, grim itself on Wayland) and against the noise an independent client painted.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
from PySide6.QtCore import QRect
from PySide6.QtGui import QGuiApplication, QImage
from support import desktop
from support.screenshot_pattern import noise_image

from desktop_vlm.core.errors import ConfigError
from desktop_vlm.platform import sysinfo
from desktop_vlm.platform.screenshot import CaptureError, Handler, ScreenGrab, grab_screens
from desktop_vlm.platform.screenshot.main import session_hint

SUPPORT = Path(__file__).resolve().parents[1] / "support"
PATTERN = SUPPORT / "screenshot_pattern.py"
PROBE = SUPPORT / "screenshot_probe.py"
FAKE_PORTAL = SUPPORT / "fake_portal.py"
TEST_USER = "dvlmtest"
T = TypeVar("T")


@pytest.fixture(autouse=True)
def fresh_probes() -> Iterator[None]:
    """The environment probes are cached; every test starts (and leaves) with none cached."""
    sysinfo.clear_caches()
    yield
    sysinfo.clear_caches()


# --- helpers ---------------------------------------------------------------------------------


def rgb(image: QImage) -> bytes:
    """Pixels as bytes with alpha forced opaque: comparable across PNG, PPM and Qt grabs."""
    image = image.convertToFormat(QImage.Format.Format_RGB32)
    return bytes(image.constBits())


def assert_same_pixels(actual: QImage, expected: QImage, what: str) -> None:
    assert actual.size() == expected.size(), f"{what}: size {actual.size()} != {expected.size()}"
    a, b = rgb(actual), rgb(expected)
    if a != b:
        wrong = sum(a[i : i + 4] != b[i : i + 4] for i in range(0, len(a), 4))
        raise AssertionError(f"{what}: {wrong} of {len(a) // 4} pixels differ")


def distinct_colours(image: QImage, step: int = 7) -> int:
    return len(
        {
            image.pixel(x, y)
            for y in range(0, image.height(), step)
            for x in range(0, image.width(), step)
        }
    )


def wait_until(condition: Callable[[], T], what: str, timeout: float = 30.0) -> T:
    """Poll ``condition`` until it returns something true; the machine may be slow."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what}")
        time.sleep(0.1)


@contextlib.contextmanager
def running(command: list[str], env: dict[str, str], ready: str = "ready") -> Iterator[None]:
    """A helper process that announces itself with a line on stdout; stopped afterwards."""
    proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        line = ""
        while line.strip() != ready:
            if not select.select([proc.stdout], [], [], max(0, deadline - time.monotonic()))[0]:
                raise AssertionError(f"{command[1:3]} did not get ready")
            line = proc.stdout.readline()
            if not line:
                raise AssertionError(f"{command[1:3]} exited with {proc.wait()}")
        yield
    finally:
        proc.terminate()
        proc.wait(10)
        proc.stdout.close()


def x_root_image(env: dict[str, str]) -> QImage:
    """The X root window as ImageMagick sees it, a grab independent of Qt."""
    png = subprocess.run(
        ["import", "-window", "root", "png:-"], env=env, capture_output=True, check=True, timeout=60
    ).stdout
    return QImage.fromData(png, "PNG")


def probe(out: Path, env: dict[str, str], handler: str | None = None) -> tuple[dict, str]:
    """Run grab_screens in its own process; returns grabs.json and the log it wrote."""
    command = [sys.executable, str(PROBE), str(out), *([handler] if handler else [])]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=90)
    assert (out / "grabs.json").exists(), done.stderr
    return json.loads((out / "grabs.json").read_text()), done.stderr


def probe_images(out: Path, result: dict) -> dict[str, tuple[QRect, QImage]]:
    assert "grabs" in result, result
    return {
        g["name"]: (QRect(*g["geometry"]), QImage(str(out / g["file"]))) for g in result["grabs"]
    }


# --- Qt on the test session's X display -------------------------------------------------------


def test_qt_grab_holds_what_another_client_shows(qapp, tmp_path: Path) -> None:
    # GIVEN another X client showing random noise at a known place
    area = QRect(240, 160, 400, 300)
    noise = noise_image(area.width(), area.height(), seed=11)
    env = dict(os.environ)
    command = [
        sys.executable,
        str(PATTERN),
        "--seed",
        "11",
        "--geometry",
        f"{area.x()},{area.y()},{area.width()},{area.height()}",
    ]
    with running(command, env):
        wait_until(lambda: rgb(x_root_image(env).copy(area)) == rgb(noise), "the noise to show")

        # WHEN the screens are grabbed with Qt
        grabs = grab_screens("qt")
        independent = x_root_image(env)

    # THEN there is one grab per screen, and the noise is there pixel for pixel
    screens = QGuiApplication.screens()
    assert [g.screen_name for g in grabs] == [s.name() for s in screens]
    assert [g.geometry for g in grabs] == [s.geometry() for s in screens]
    assert all(isinstance(g, ScreenGrab) for g in grabs)
    shot = grabs[0].image
    assert_same_pixels(shot.copy(area), noise, "noise region of the Qt grab")
    assert_same_pixels(shot.copy(area), independent.copy(area), "Qt grab vs import")


# --- two monitors on one X screen, with Qt's scale factors -----------------------------------

MONITORS = {"L": QRect(0, 0, 1280, 800), "R": QRect(1280, 0, 1024, 768)}


@pytest.fixture(scope="module")
def two_monitors() -> Iterator[tuple[dict[str, str], QImage]]:
    """A 2304x800 Xvfb split into monitors L and R, covered with noise by another client."""
    desktop.require("xrandr")
    display = desktop.start_xvfb(2304, 800)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("WAYLAND_DISPLAY", "QT_SCALE_FACTOR", "QT_SCREEN_SCALE_FACTORS")
    }
    env.update(display.env, QT_QPA_PLATFORM="xcb")
    try:
        for monitor in ("L 1280/340x800/210+0+0 screen", "R 1024/270x768/200+1280+0 none"):
            subprocess.run(
                ["xrandr", "--setmonitor", *monitor.split()], env=env, check=True, timeout=30
            )
        command = [sys.executable, str(PATTERN), "--geometry", "0,0,2304,800", "--seed", "7"]
        noise = noise_image(2304, 800, seed=7)
        with running(command, env):
            wait_until(lambda: rgb(x_root_image(env)) == rgb(noise), "noise over the screen")
            yield env, x_root_image(env)
    finally:
        display.stop()


SCALES = {
    "unscaled": ({}, {"L": 1280, "R": 1024}),
    "QT_SCALE_FACTOR=2": ({"QT_SCALE_FACTOR": "2"}, {"L": 640, "R": 512}),
    "L=1;R=2": ({"QT_SCREEN_SCALE_FACTORS": "L=1;R=2"}, {"L": 1280, "R": 512}),
}


@pytest.mark.slow
@pytest.mark.parametrize("scale", SCALES)
@pytest.mark.parametrize("handler", ["qt", "portal"])
def test_two_monitors_each_grab_holds_its_monitor(
    two_monitors, scale: str, handler: str, tmp_path: Path
) -> None:
    # GIVEN two monitors showing noise, Qt scaling as the person set it, and for the portal a
    # portal whose picture of the whole desktop is the X root window
    env, root = two_monitors
    extra, logical_widths = SCALES[scale]
    env = dict(env, **extra)
    with contextlib.ExitStack() as stack:
        if handler == "portal":
            bus = desktop.start_session_bus()
            stack.callback(bus.stop)
            env.update(bus.env, TMPDIR=str(tmp_path))
            root.save(str(tmp_path / "desktop.png"))
            stack.enter_context(
                running(
                    [
                        sys.executable,
                        str(FAKE_PORTAL),
                        "success",
                        "--image",
                        str(tmp_path / "desktop.png"),
                    ],
                    env,
                )
            )

        # WHEN a separate app grabs the screens with that method
        result, log = probe(tmp_path / "out", env, handler)

    # THEN Qt sees L and R, and each grab holds exactly that monitor's pixels of the X root
    grabs = probe_images(tmp_path / "out", result)
    assert list(grabs) == ["L", "R"], log
    for name, (geometry, image) in grabs.items():
        assert geometry.width() == logical_widths[name]
        assert_same_pixels(image, root.copy(MONITORS[name]), f"{name} with {scale}")


# --- grim on a real headless sway -------------------------------------------------------------


@pytest.fixture(scope="module")
def sway() -> Iterator[dict[str, str]]:
    """A headless sway with two outputs (the second at scale 2), each showing noise.

    sway refuses to run as root, so it runs as an ordinary user made for the tests. The clients
    (grim, the noise windows, the probe) run as root and reach sway's socket by its absolute
    path: the interpreter of the test venv may live where the user cannot read it (/root).
    """
    if os.geteuid() != 0:
        pytest.skip("needs root to create the user sway runs as (sway refuses to run as root)")
    for tool in ("sway", "swaymsg", "grim"):
        desktop.require(tool)
    try:
        user = pwd.getpwnam(TEST_USER)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", TEST_USER],
            check=True,
            timeout=30,
        )
        user = pwd.getpwnam(TEST_USER)
    home = Path(tempfile.mkdtemp(prefix="desktop-vlm-sway-"))
    config = home / "config"
    config.write_text(
        "output HEADLESS-1 mode 1280x720 position 0 0 scale 1\n"
        "output HEADLESS-2 mode 1024x768 position 1280 0 scale 2\n"
        "default_border none\n"
        "default_floating_border none\n"
        "xwayland disable\n"
    )
    for path in (home, config):
        os.chown(path, user.pw_uid, user.pw_gid)
    home.chmod(0o700)
    sway_env = {
        "HOME": str(home),
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "XDG_RUNTIME_DIR": str(home),
        "WLR_BACKENDS": "headless",
        "WLR_HEADLESS_OUTPUTS": "2",
        "WLR_LIBINPUT_NO_DEVICES": "1",
        "WLR_RENDERER": "pixman",
    }
    log = home / "sway.log"
    with log.open("wb") as log_file:
        proc = subprocess.Popen(
            ["sway", "-c", str(config)],
            env=sway_env,
            cwd=home,
            user=user.pw_uid,
            group=user.pw_gid,
            extra_groups=[],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
    client_runtime = Path(tempfile.mkdtemp(prefix="desktop-vlm-wl-client-"))
    try:

        def sockets() -> tuple[Path, Path] | None:
            if proc.poll() is not None:
                raise AssertionError(f"sway exited: {log.read_text()[-2000:]}")
            wayland = [p for p in home.glob("wayland-*") if p.suffix != ".lock"]
            ipc = list(home.glob("sway-ipc.*.sock"))
            return (wayland[0], ipc[0]) if wayland and ipc else None

        wayland, ipc = wait_until(sockets, "sway's sockets")
        env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "QT_SCALE_FACTOR")}
        env.update(
            WAYLAND_DISPLAY=str(wayland),
            SWAYSOCK=str(ipc),
            QT_QPA_PLATFORM="wayland",
            XDG_RUNTIME_DIR=str(client_runtime),
            XDG_SESSION_TYPE="wayland",
            XDG_CURRENT_DESKTOP="sway",
        )
        wait_until(lambda: len(sway_outputs(env)) == 2, "two sway outputs")
        with contextlib.ExitStack() as windows:
            for seed, output in ((21, "HEADLESS-1"), (22, "HEADLESS-2")):
                subprocess.run(
                    ["swaymsg", "focus", "output", output],
                    env=env,
                    check=True,
                    capture_output=True,
                    timeout=30,
                )
                windows.enter_context(
                    running(
                        [
                            sys.executable,
                            str(PATTERN),
                            "--geometry",
                            "0,0,300,200",
                            "--seed",
                            str(seed),
                        ],
                        env,
                    )
                )
            wait_until(lambda: showing_noise(env), "noise on both sway outputs")
            yield env
    finally:
        proc.terminate()
        proc.wait(10)
        shutil.rmtree(home, ignore_errors=True)
        shutil.rmtree(client_runtime, ignore_errors=True)


def sway_outputs(env: dict[str, str]) -> dict[str, tuple[QRect, float]]:
    """Each output's logical rectangle and scale, as sway itself reports them."""
    done = subprocess.run(
        ["swaymsg", "-r", "-t", "get_outputs"], env=env, capture_output=True, check=True, timeout=30
    )
    return {
        o["name"]: (
            QRect(o["rect"]["x"], o["rect"]["y"], o["rect"]["width"], o["rect"]["height"]),
            o["scale"],
        )
        for o in json.loads(done.stdout)
        if o.get("active")
    }


def grim_parts(env: dict[str, str]) -> dict[str, QImage]:
    """grim's own picture of the layout, cut at sway's output rectangles.

    PPM, as the handler reads it: a compositor's buffer may hold pixels that are not opaque,
    and PNG stores those un-premultiplied, which does not round-trip to the same bytes.
    """
    ppm = subprocess.run(
        ["grim", "-t", "ppm", "-"], env=env, capture_output=True, check=True, timeout=60
    ).stdout
    image = QImage.fromData(ppm, "PPM")
    outputs = sway_outputs(env)
    scale = max(s for _, s in outputs.values())  # grim renders at the highest output scale
    return {
        name: image.copy(
            QRect(
                round(r.x() * scale),
                round(r.y() * scale),
                round(r.width() * scale),
                round(r.height() * scale),
            )
        )
        for name, (r, _) in outputs.items()
    }


def showing_noise(env: dict[str, str]) -> bool:
    first, second = grim_parts(env), grim_parts(env)
    return all(distinct_colours(p) > 1000 and rgb(p) == rgb(second[n]) for n, p in first.items())


@pytest.mark.slow
def test_grim_on_sway_gives_each_output_its_pixels(sway, tmp_path: Path) -> None:
    # GIVEN sway with two outputs (one at scale 2) showing noise
    # WHEN a Wayland app grabs the screens with grim
    result, log = probe(tmp_path / "out", sway, "grim")
    # THEN each grab is its output's part of grim's own picture, at the same scale
    grabs = probe_images(tmp_path / "out", result)
    expected = grim_parts(sway)
    assert sorted(grabs) == sorted(expected) == ["HEADLESS-1", "HEADLESS-2"], log
    outputs = sway_outputs(sway)
    for name, (geometry, image) in grabs.items():
        assert geometry == outputs[name][0]
        assert_same_pixels(image, expected[name], f"grim grab of {name}")


@pytest.mark.slow
def test_refusing_portal_falls_back_to_grim(sway, tmp_path: Path) -> None:
    # GIVEN sway, and a desktop portal that refuses every screenshot
    env = dict(sway)
    bus = desktop.start_session_bus()
    env.update(bus.env)
    try:
        with running([sys.executable, str(FAKE_PORTAL), "deny"], env):
            # WHEN grabbing without naming a method
            result, log = probe(tmp_path / "out", env)
    finally:
        bus.stop()
    # THEN the portal was tried first, and grim delivered the pixels
    assert "Screen grab with portal failed: The desktop refused" in log
    assert "with grim" in log
    grabs = probe_images(tmp_path / "out", result)
    expected = grim_parts(sway)
    for name, (_geometry, image) in grabs.items():
        assert_same_pixels(image, expected[name], f"fallback grab of {name}")


# --- the portal protocol, against a fake portal on a private bus ------------------------------


@pytest.fixture
def portal_bus(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    """A private session bus for this test; the app's portal calls go there."""
    bus = desktop.start_session_bus()
    for name, value in bus.env.items():
        monkeypatch.setenv(name, value)
    try:
        yield dict(os.environ)
    finally:
        bus.stop()


def screen_sized_picture(path: Path, ratio: int = 2) -> QImage:
    """A blocky random picture of the whole test screen at ``ratio`` device pixels per pixel."""
    size = QGuiApplication.primaryScreen().virtualGeometry().size()
    blocks = noise_image(size.width() // 8, size.height() // 8, seed=3)
    picture = blocks.scaled(size * ratio).convertToFormat(QImage.Format.Format_RGB32)
    assert picture.save(str(path))
    return picture


def test_portal_screenshot_is_split_into_the_screens(qapp, portal_bus, tmp_path: Path) -> None:
    # GIVEN a portal that answers with a picture of the desktop at twice the logical size
    picture = screen_sized_picture(tmp_path / "desktop.png")
    written = tmp_path / "portal-output"
    written.mkdir()
    calls = tmp_path / "calls.jsonl"
    env = dict(portal_bus, TMPDIR=str(written))
    command = [
        sys.executable,
        str(FAKE_PORTAL),
        "success",
        "--image",
        str(tmp_path / "desktop.png"),
        "--calls",
        str(calls),
    ]
    with running(command, env):
        # WHEN the screens are grabbed through the portal
        grabs = grab_screens(Handler.PORTAL, timeout=30)

    # THEN the screen's grab holds the portal's pixels, twice the logical size
    screen = QGuiApplication.primaryScreen()
    assert [(g.screen_name, g.geometry) for g in grabs] == [(screen.name(), screen.geometry())]
    assert_same_pixels(grabs[0].image, picture, "portal grab")
    # AND the call was non-interactive, and the file the portal wrote for it is gone
    call = json.loads(calls.read_text())
    assert call["interactive"] is False and call["handle"].endswith(call["handle_token"])
    assert list(written.iterdir()) == []


def test_portal_leaves_an_older_file_alone(qapp, portal_bus, tmp_path: Path) -> None:
    # GIVEN a portal that points at a file that was there long before the request
    existing = tmp_path / "Pictures" / "holiday.png"
    existing.parent.mkdir()
    picture = screen_sized_picture(existing, ratio=1)
    an_hour_ago = time.time() - 3600
    os.utime(existing, (an_hour_ago, an_hour_ago))
    with running(
        [sys.executable, str(FAKE_PORTAL), "existing", "--image", str(existing)], portal_bus
    ):
        # WHEN grabbing through the portal
        grabs = grab_screens("portal", timeout=30)
    # THEN its pixels are used and the person's file is still there
    assert_same_pixels(grabs[0].image, picture, "portal grab")
    assert existing.exists()


@pytest.mark.parametrize(
    ("mode", "expected"),
    [("cancel", "The screenshot was cancelled"), ("deny", "The desktop refused the screenshot")],
)
def test_portal_refusal_says_how_to_allow_it(qapp, portal_bus, mode: str, expected: str) -> None:
    # GIVEN a portal that refuses (the person cancelled, or a policy said no)
    # WHEN grabbing through it
    with (
        running([sys.executable, str(FAKE_PORTAL), mode], portal_bus),
        pytest.raises(CaptureError) as caught,
    ):
        grab_screens("portal", timeout=30)
    # THEN the message says what happened and how to allow screenshots
    assert str(caught.value).startswith(expected)
    assert "Allow screenshots for desktop-vlm" in str(caught.value)


def test_silent_portal_gives_up_after_the_timeout(qapp, portal_bus) -> None:
    # GIVEN a portal that takes the request and never answers (hidden permission dialog)
    # WHEN grabbing with a short timeout
    with (
        running([sys.executable, str(FAKE_PORTAL), "silent"], portal_bus),
        pytest.raises(CaptureError) as caught,
    ):
        grab_screens("portal", timeout=1.5)
    # THEN it returns with an error naming the wait and the likely causes
    message = str(caught.value)
    assert "did not answer within 1.5 s" in message
    assert "permission dialog may be hidden" in message and "xdg-desktop-portal" in message


def test_portal_not_running_says_what_to_install(qapp, portal_bus) -> None:
    # GIVEN a session bus without any portal  WHEN the portal is asked for by name
    with pytest.raises(CaptureError) as caught:
        grab_screens("portal")
    # THEN the message names the packages to install
    assert "not available" in str(caught.value)
    assert "xdg-desktop-portal-gnome" in str(caught.value)


# --- choosing a method, and the message when none works --------------------------------------


@pytest.fixture
def bare_wayland(
    monkeypatch: pytest.MonkeyPatch, portal_bus: dict[str, str], tmp_path: Path
) -> pytest.MonkeyPatch:
    """A Wayland session where nothing to grab with is installed (no grim, no portal)."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    monkeypatch.delenv("SWAYSOCK", raising=False)
    monkeypatch.delenv("HYPRLAND_INSTANCE_SIGNATURE", raising=False)
    return monkeypatch


@pytest.mark.parametrize(
    ("desktop_name", "hint"),
    [
        ("sway", "Install grim"),
        ("Hyprland", "Install grim"),
        ("GNOME", "xdg-desktop-portal-gnome"),
        ("KDE", "xdg-desktop-portal-kde"),
        ("weston", "Install xdg-desktop-portal"),
    ],
)
def test_nothing_works_says_what_to_install_for_this_desktop(
    qapp, bare_wayland, desktop_name: str, hint: str
) -> None:
    # GIVEN a Wayland desktop with nothing installed to grab the screen
    bare_wayland.setenv("XDG_CURRENT_DESKTOP", desktop_name)
    # WHEN grabbing
    with pytest.raises(CaptureError) as caught:
        grab_screens()
    # THEN the message says nothing works here and what to do on THIS desktop
    assert str(caught.value).startswith("No screen-grab method works in this wayland")
    assert hint in str(caught.value)


def test_forced_grim_that_is_missing_says_install_grim(qapp, bare_wayland) -> None:
    with pytest.raises(CaptureError, match="grim is not available here. Install grim"):
        grab_screens("grim")


def test_unknown_method_name_lists_the_known_ones(qapp) -> None:
    with pytest.raises(ConfigError, match="qt, portal, grim, spectacle"):
        grab_screens("scrot")


@pytest.mark.parametrize("setting", [None, "", "auto", "AUTO"])
def test_no_method_asked_for_tries_every_method(qapp, setting: str | None) -> None:
    # GIVEN the X11 test session  WHEN the setting leaves the method open
    grabs = grab_screens(setting)
    # THEN a usable method (Qt's) grabs every screen
    assert [g.screen_name for g in grabs] == [s.name() for s in QGuiApplication.screens()]


def test_macos_hint_points_at_screen_recording(monkeypatch: pytest.MonkeyPatch) -> None:
    # The Mac path cannot run here; its hint is what a person there has to read.
    monkeypatch.setattr(sysinfo, "platform", lambda: "darwin")
    assert "Screen Recording" in session_hint() and "restart the app" in session_hint()
