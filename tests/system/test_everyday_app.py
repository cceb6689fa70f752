"""Everyday use of the real app as a process: what its own windows do to a capture, what the tray
remembers across a restart, how it looks in a dark desktop theme, and what a person sees when it
cannot start (no display, a display that is gone, no key typed) or is installed from scratch.

The app runs on the test session's X display, driven by `desktop-vlm` commands and xdotool; the
pixels it sends are compared with an independent picture, and its windows are read with xprop and
ImageMagick from outside.
"""

from __future__ import annotations

import os
import pty
import pwd
import select
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image, ImageStat
from support.app_process import (
    chat_requests,
    root_grab,
    same_pixels,
    sent_images,
    start_app,
    wait_chat,
    wait_until,
    window_visible,
    xdotool,
)
from support.fake_api import Stream

ROOT = Path(__file__).resolve().parents[2]
LOG = Path("desktop-vlm") / "log" / "desktop-vlm.log"


@pytest.fixture
def app(fake_api, fresh_user_dirs):  # noqa: ANN001, ANN201
    running = start_app(fake_api, fresh_user_dirs)
    yield running
    running.stop()
    assert "Traceback" not in running.log_text()


@pytest.fixture
def pattern(tmp_path):  # noqa: ANN001, ANN201
    """An independent X client showing noise at (100, 100), 600 x 400; yields the noise."""
    picture = tmp_path / "pattern.png"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "support" / "overlay_pattern.py"),
            "100",
            "100",
            "600",
            "400",
            "7",
            str(picture),
        ],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        line = proc.stdout.readline()
        assert line.strip() == b"READY", line
        time.sleep(0.3)
        yield Image.open(picture).convert("RGB")
    finally:
        proc.kill()
        proc.wait(5)
        proc.stdout.close()


def chat_window(env: dict, pid: int) -> str:
    """The id of the app's visible chat window ("" while there is none)."""
    found = xdotool(env, "search", "--onlyvisible", "--pid", str(pid), "--name", "^desktop-vlm$")
    ids = found.split()
    return ids[0] if ids else ""


def window_grab(env: dict, window: str) -> Image.Image:
    png = subprocess.run(
        ["import", "-window", window, "png:-"], env=env, capture_output=True, check=True, timeout=30
    ).stdout
    from io import BytesIO

    return Image.open(BytesIO(png)).convert("RGB")


def first_text(request) -> str:  # noqa: ANN001 - a RecordedRequest
    content = request.json["messages"][0]["content"]
    return next(p["text"] for p in content if p["type"] == "text")


def stderr_lines(result: subprocess.CompletedProcess) -> list[str]:
    return [line for line in result.stderr.decode(errors="replace").splitlines() if line.strip()]


# --- 3. the app's own windows are not in a capture ---------------------------------------


def test_the_chat_window_is_not_in_a_capture_and_comes_back(app, fake_api, pattern):
    # GIVEN the chat window open over another program's window
    fake_api.enqueue(Stream("It shows noise."))
    assert app.cli().returncode == 0  # `desktop-vlm`: bring the window forward
    wait_until(lambda: chat_window(app.env, app.proc.pid), what="the chat window")
    window = chat_window(app.env, app.proc.pid)
    xdotool(app.env, "windowmove", window, "100", "100")
    region = (150, 160, 450, 360)
    under = pattern.crop((50, 60, 350, 260))  # the same area in the pattern's own pixels
    wait_until(
        lambda: not same_pixels(root_grab(app.env).crop(region), under),
        what="the chat window over the pattern",
    )
    # WHEN that area is captured
    assert app.cli("capture").returncode == 0
    wait_until(lambda: window_visible(app.env, "region capture"), what="overlay")
    app.drag(150, 160, 449, 359)
    # THEN the server gets the other program's pixels, not the chat window's
    wait_chat(fake_api)
    (image,) = sent_images(fake_api)
    assert image.size == (300, 200)
    assert same_pixels(image, under)
    # AND the chat window is back, with the answer
    wait_until(lambda: chat_window(app.env, app.proc.pid), what="the chat window back")
    app.wait_log("request finished")
    wait_until(
        lambda: not same_pixels(root_grab(app.env).crop(region), under),
        what="the chat window drawn again",
    )


# --- 6. the tray's preset choice survives a restart ----------------------------------------


def test_the_tray_preset_choice_is_saved_and_used_after_a_restart(
    qapp, qtbot, fake_api, fresh_user_dirs, monkeypatch
):
    from desktop_vlm.app import build
    from desktop_vlm.services import paths

    # GIVEN the app, in which the person picks "Explain code" in the tray's Preset menu
    monkeypatch.setenv("DESKTOP_VLM_BASE_URL", fake_api.url)
    shell = build(qapp)
    config_file = paths.config_file()
    try:
        shell.tray.action("action_preset_code").trigger()
        # THEN config.toml says so
        qtbot.waitUntil(
            lambda: config_file.exists() and 'default_preset = "code"' in config_file.read_text(),
            timeout=15_000,
        )
    finally:
        shell.hotkeys.unregister_all()
        shell.tray.hide()
        shell.notifier.close()
        shell.controller.history.close()
    # WHEN the app is started again and a capture is made without naming a preset
    fake_api.enqueue(Stream("A loop that sums."))
    app = start_app(fake_api, fresh_user_dirs)
    try:
        assert app.cli("capture").returncode == 0
        wait_until(lambda: window_visible(app.env, "region capture"), what="overlay")
        app.drag(300, 300, 500, 420)
        # THEN it goes out with the chosen preset's prompt
        wait_chat(fake_api)
        assert first_text(chat_requests(fake_api)[0]).startswith("Transcribe the code")
    finally:
        app.stop()


# --- 10. a dark desktop theme ---------------------------------------------------------------


def test_in_a_dark_gtk_theme_the_chat_window_is_dark(fake_api, fresh_user_dirs):
    # GIVEN the app started in a desktop with GTK's dark Adwaita theme
    app = start_app(
        fake_api,
        fresh_user_dirs,
        extra_env={"QT_QPA_PLATFORMTHEME": "gtk3", "GTK_THEME": "Adwaita:dark"},
    )
    try:
        # WHEN its chat window opens
        assert app.cli().returncode == 0
        wait_until(lambda: chat_window(app.env, app.proc.pid), what="the chat window")
        time.sleep(0.5)  # drawn
        picture = window_grab(app.env, chat_window(app.env, app.proc.pid)).convert("L")
        # THEN most of it is dark
        (median,) = ImageStat.Stat(picture).median
        assert median < 90, median
    finally:
        app.stop()


# --- 12. setting up and starting ---------------------------------------------------------


def test_without_a_display_the_app_says_so_in_one_line(fresh_user_dirs):
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    result = subprocess.run(
        [sys.executable, "-m", "desktop_vlm"],
        env={**env, **fresh_user_dirs},
        capture_output=True,
        timeout=60,
    )
    assert result.returncode == 15
    (line,) = stderr_lines(result)
    assert "display" in line and "Traceback" not in line


def test_capture_says_in_one_line_when_the_app_cannot_start(fresh_user_dirs):
    number = next(n for n in range(87, 200) if not Path(f"/tmp/.X11-unix/X{n}").exists())
    env = {**os.environ, **fresh_user_dirs, "DISPLAY": f":{number}"}
    result = subprocess.run(
        [sys.executable, "-m", "desktop_vlm", "capture"], env=env, capture_output=True, timeout=60
    )
    assert result.returncode == 14
    (line,) = stderr_lines(result)
    assert "could not be started" in line and "Traceback" not in line


def test_ctrl_d_at_the_hidden_key_prompt_says_no_key_given(fresh_user_dirs):
    # GIVEN `desktop-vlm key set` at its hidden prompt, in a terminal
    master, slave = pty.openpty()
    # The shim makes the pty the child's controlling terminal, as a terminal emulator does.
    shim = (
        "import os, sys; os.close(os.open(os.ttyname(0), os.O_RDWR)); "
        "os.execv(sys.executable, [sys.executable, '-m', 'desktop_vlm', 'key', 'set'])"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", shim],
        env={**os.environ, **fresh_user_dirs},
        stdin=slave,
        stdout=slave,
        stderr=slave,
        start_new_session=True,
    )
    os.close(slave)
    seen = b""

    def read_some(timeout: float) -> bytes:
        ready, _, _ = select.select([master], [], [], timeout)
        if not ready:
            return b""
        try:
            return os.read(master, 4096)
        except OSError:  # EIO: the child closed the terminal
            return b""

    try:
        deadline = time.monotonic() + 30
        while b"input hidden" not in seen and time.monotonic() < deadline:
            seen += read_some(0.5)
        assert b"input hidden" in seen, seen
        # WHEN the person presses Ctrl+D
        os.write(master, b"\x04")
        proc.wait(30)
        while chunk := read_some(0.2):
            seen += chunk
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        os.close(master)
    # THEN it says no key was given, exits 2, and does not call it a bug
    text = seen.decode(errors="replace")
    assert proc.returncode == 2, text
    assert "No key given" in text and "this is a bug" not in text and "Traceback" not in text


def test_a_cold_started_app_names_its_windows_desktop_vlm(fake_api, fresh_user_dirs):
    # GIVEN no app running; `desktop-vlm` starts one, a second `desktop-vlm` shows its window
    env = {**os.environ, **fresh_user_dirs, "DESKTOP_VLM_BASE_URL": fake_api.url}
    log = Path(fresh_user_dirs["XDG_STATE_HOME"]) / LOG
    cold = subprocess.Popen(
        [sys.executable, "-m", "desktop_vlm"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(
            lambda: log.exists() and "tray ready" in log.read_text(),
            timeout=30,
            what="the app to start",
        )
        assert (
            subprocess.run(
                [sys.executable, "-m", "desktop_vlm"], env=env, capture_output=True, timeout=30
            ).returncode
            == 0
        )
        wait_until(lambda: chat_window(env, cold.pid), what="the chat window")
        # THEN its windows say WM_CLASS "desktop-vlm" (what docks and menus match)
        classes = []
        for window in xdotool(env, "search", "--pid", str(cold.pid)).split():
            line = subprocess.run(
                ["xprop", "-id", window, "WM_CLASS"],
                env=env,
                capture_output=True,
                text=True,
                timeout=10,
            ).stdout
            if "=" in line:
                classes.append(
                    [part.strip().strip('"') for part in line.split("=", 1)[1].split(",")]
                )
        chat = subprocess.run(
            ["xprop", "-id", chat_window(env, cold.pid), "WM_CLASS"],
            env=env,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout
        assert chat.split("=", 1)[1].split(",")[0].strip().strip('"') == "desktop-vlm", chat
        assert classes and all(
            instance == "desktop-vlm" and cls.lower() == "desktop-vlm" for instance, cls in classes
        ), classes
    finally:
        subprocess.run([sys.executable, "-m", "desktop_vlm", "quit"], env=env, timeout=30)
        try:
            cold.wait(15)
        except subprocess.TimeoutExpired:
            cold.kill()
            cold.wait(5)


def test_install_script_parses():
    result = subprocess.run(
        ["bash", "-n", str(ROOT / "resources" / "install.sh")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr


INSTALL_LIMIT_S = 180


@pytest.mark.slow
@pytest.mark.timeout(INSTALL_LIMIT_S + 60)
def test_install_script_makes_a_menu_entry_with_an_absolute_command(tmp_path):
    # GIVEN a fresh home, and pip's cache of the person running the tests (no second download)
    home = tmp_path / "home"
    data = home / ".local" / "share"
    home.mkdir()
    own_home = Path(pwd.getpwuid(os.getuid()).pw_dir)  # the tests run with a private HOME
    cache = Path(os.environ.get("PIP_CACHE_DIR") or own_home / ".cache" / "pip")
    env = {
        **{k: v for k, v in os.environ.items() if k.startswith("PIP_")},  # the index to use
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "XDG_DATA_HOME": str(data),
        "PIP_CACHE_DIR": str(cache),
        "DESKTOP_VLM_NO_START": "1",
        "LANG": "C.UTF-8",
    }
    # WHEN install.sh runs
    try:
        result = subprocess.run(
            ["bash", str(ROOT / "resources" / "install.sh")],
            env=env,
            capture_output=True,
            text=True,
            timeout=INSTALL_LIMIT_S,
        )
    except subprocess.TimeoutExpired:
        pytest.skip(f"installing took over {INSTALL_LIMIT_S} s (pip downloads); not measured")
    assert result.returncode == 0, result.stderr[-3000:]
    # THEN the menu entry runs the installed command by its absolute path
    entry = data / "applications" / "desktop-vlm.desktop"
    execs = [line for line in entry.read_text().splitlines() if line.startswith("Exec=")]
    assert execs, entry.read_text()
    for line in execs:
        command = line[len("Exec=") :].split()[0]
        assert os.path.isabs(command) and os.access(command, os.X_OK), line
    assert shutil.which("desktop-vlm", path=str(home / ".local" / "bin"))
