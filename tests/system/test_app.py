"""The tray app as a person uses it: a running app process on a real X display with a real tray
host, driven by `desktop-vlm capture` / `clipboard` from other processes, by hotkeys and by the
mouse through xdotool, answering from the loopback test server.

Each capture test compares the pixels that reached the server with an independent grab of the
same screen area made by ImageMagick, outside the app.
"""

from __future__ import annotations

import json
import os
import re
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image
from support import desktop
from support.fake_api import Stream

ROOT = Path(__file__).resolve().parents[2]


from support.app_process import (  # noqa: E402
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


@pytest.fixture
def app(fake_api, fresh_user_dirs):
    running = start_app(fake_api, fresh_user_dirs)
    yield running
    running.stop()
    assert "Traceback" not in running.log_text()


@pytest.fixture
def pattern_window(tmp_path):
    """An independent X client showing a noisy, high-detail picture at (100, 100)."""
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "tests" / "support" / "overlay_pattern.py"),
            "100",
            "100",
            "600",
            "400",
            "7",
            str(tmp_path / "pattern.png"),
        ],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    yield proc
    proc.kill()
    proc.wait(5)
    proc.stdout.close()


def wait_pattern(proc) -> None:
    line = proc.stdout.readline()
    assert line.strip() == b"READY", line
    time.sleep(0.3)


# --- the tray --------------------------------------------------------------------------------


def embedded_tray_icons(env: dict, pid: int) -> list[tuple[int, int]]:
    """Sizes of this process's windows that the tray host (trayer's panel) has embedded."""
    ours = {int(w) for w in xdotool(env, "search", "--pid", str(pid)).split()}
    sizes = []
    for panel in xdotool(env, "search", "--name", "^panel$").split():
        tree = subprocess.run(
            ["xwininfo", "-tree", "-id", panel], env=env, capture_output=True, text=True, timeout=10
        ).stdout
        for match in re.finditer(r"^\s+(0x[0-9a-f]+) .*?(\d+)x(\d+)[+-]", tree, re.M):
            if int(match.group(1), 16) in ours:
                sizes.append((int(match.group(2)), int(match.group(3))))
    return sizes


def test_tray_icon_appears_on_the_tray_host(app):
    # The app's icon window is embedded in trayer's panel, at a size a person can see.
    wait_until(lambda: embedded_tray_icons(app.env, app.proc.pid), what="the icon in the tray")
    (width, height), *_ = embedded_tray_icons(app.env, app.proc.pid)
    assert width >= 16 and height >= 16
    assert "The system tray is unavailable" not in app.log_text()


def test_second_plain_start_hands_over_and_exits(app):
    started = time.monotonic()
    result = app.cli()
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 20
    wait_until(lambda: window_visible(app.env, "^desktop-vlm$"), what="window brought forward")


# --- capture ---------------------------------------------------------------------------------


def test_capture_command_opens_overlay_and_sends_exactly_the_dragged_pixels(
    app, fake_api, pattern_window
):
    wait_pattern(pattern_window)
    before = root_grab(app.env)
    fake_api.enqueue(Stream(["It shows ", "noise."], delay=0.01))
    result = app.cli("capture")
    assert result.returncode == 0, result.stderr
    wait_until(lambda: window_visible(app.env, "region capture"), what="overlay")
    app.drag(150, 160, 449, 359)  # inclusive: 300 x 200 pixels
    wait_chat(fake_api)
    (image,) = sent_images(fake_api)
    assert image.size == (300, 200)
    assert same_pixels(image, before.crop((150, 160, 450, 360)))
    # and the answer reaches the window
    wait_until(lambda: window_visible(app.env, "^desktop-vlm$"), what="answer window")
    app.wait_log("request finished")


def test_escape_cancels_and_sends_nothing(app, fake_api):
    assert app.cli("capture").returncode == 0
    wait_until(lambda: window_visible(app.env, "region capture"), what="overlay")
    xdotool(app.env, "key", "Escape")
    wait_until(lambda: not window_visible(app.env, "region capture"), what="overlay to close")
    app.wait_log("capture cancelled")
    time.sleep(0.5)
    assert chat_requests(fake_api) == []


def test_hotkey_starts_a_capture(app, fake_api):
    app.wait_log("registered for 'capture'")
    xdotool(app.env, "key", "ctrl+alt+q")
    wait_until(lambda: window_visible(app.env, "region capture"), what="overlay from the hotkey")
    xdotool(app.env, "key", "Escape")
    wait_until(lambda: not window_visible(app.env, "region capture"), what="overlay to close")


def test_ocr_preset_puts_exactly_the_answer_on_the_clipboard(app, fake_api, pattern_window):
    wait_pattern(pattern_window)
    answer = "Invoice 2041\nTotal: 13.49 €"
    fake_api.enqueue(Stream(["Invoice ", "2041\n", "Total: ", "13.49 €"]))
    assert app.cli("capture", "--preset", "ocr").returncode == 0
    wait_until(lambda: window_visible(app.env, "region capture"), what="overlay")
    app.drag(120, 120, 300, 220)
    app.wait_log("request finished")

    def clipboard() -> str:
        return subprocess.run(
            ["xclip", "-selection", "clipboard", "-o"], env=app.env, capture_output=True, timeout=10
        ).stdout.decode()

    wait_until(lambda: clipboard() == answer, what="the answer on the clipboard")
    app.wait_log("characters copied")
    assert fake_api.last_request.json["messages"][0]["content"][0]["text"].startswith("Transcribe")


def test_without_any_key_an_ocr_capture_puts_the_text_on_the_clipboard_offline(
    fake_api, fresh_user_dirs
):
    # GIVEN a fresh app whose provider is remote and has no key, and some text on the screen
    app = start_app(
        fake_api,
        fresh_user_dirs,
        extra_env={"DESKTOP_VLM_BASE_URL": "https://api.example.invalid/v1"},
    )
    text = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "support" / "text_window.py"), "200", "300", "light"],
        env=app.env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    text.stdin.write(b"Invoice 2041 from Cafe Lumen\nTotal due: 13.49 EUR")
    text.stdin.close()
    try:
        assert text.stdout.readline().strip() == b"READY"
        # WHEN the text of that window is captured with the ocr preset
        assert app.cli("capture", "--preset", "ocr").returncode == 0
        wait_until(lambda: window_visible(app.env, "region capture"), what="overlay")
        app.drag(200, 300, 560, 380)

        def clipboard() -> str:
            return subprocess.run(
                ["xclip", "-selection", "clipboard", "-o"],
                env=app.env,
                capture_output=True,
                timeout=10,
            ).stdout.decode()

        # THEN the text is on the clipboard, read offline, said in the notice; nothing was sent
        wait_until(
            lambda: "Total due: 13.49 EUR" in clipboard(),
            timeout=60,
            what="the offline reading on the clipboard",
        )
        assert clipboard().splitlines() == ["Invoice 2041 from Cafe Lumen", "Total due: 13.49 EUR"]
        app.wait_log("read offline")
        assert chat_requests(fake_api) == []
    finally:
        text.kill()
        text.wait(5)
        text.stdout.close()
        app.stop()


# --- clipboard -------------------------------------------------------------------------------


def test_clipboard_image_reaches_the_server(app, fake_api, tmp_path):
    picture = Image.effect_noise((240, 160), 80).convert("RGB")
    path = tmp_path / "copied.png"
    picture.save(path)
    xclip = subprocess.Popen(
        ["xclip", "-selection", "clipboard", "-t", "image/png", "-i", str(path)], env=app.env
    )
    try:
        xclip.wait(10)
        assert app.cli("clipboard").returncode == 0
        wait_chat(fake_api)
        (image,) = sent_images(fake_api)
        assert same_pixels(image, picture)
    finally:
        subprocess.run(["pkill", "-f", f"xclip.*{path.name}"], check=False)


def test_empty_clipboard_gives_a_notice_and_sends_nothing(app, fake_api):
    subprocess.run(["xclip", "-selection", "clipboard", "-i", "/dev/null"], env=app.env, timeout=10)
    assert app.cli("clipboard").returncode == 0
    app.wait_log("No image on the clipboard")
    assert chat_requests(fake_api) == []


# --- the single-instance socket --------------------------------------------------------------


def test_socket_is_private_and_ignores_garbage(app):
    from desktop_vlm.platform import instance

    runtime = Path(app.env["XDG_RUNTIME_DIR"]) / "desktop-vlm"
    sock_path = runtime / "instance.sock"
    assert stat.S_IMODE(runtime.stat().st_mode) == 0o700
    assert stat.S_IMODE(sock_path.stat().st_mode) == 0o600
    for junk in (b"hello\n", b"\xff\xfe\n", b'{"v":1,"command":"rm -rf"}\n', b"x" * 100_000):
        s = socket.socket(socket.AF_UNIX)
        s.settimeout(5)
        s.connect(str(sock_path))
        try:
            s.sendall(junk)
            assert s.recv(100) == b""  # dropped without a reply
        except (ConnectionResetError, BrokenPipeError):
            pass
        finally:
            s.close()
    old = os.environ.get("XDG_RUNTIME_DIR")
    os.environ["XDG_RUNTIME_DIR"] = app.env["XDG_RUNTIME_DIR"]
    try:
        assert instance.send("show") == {"ok": True}  # still answering
    finally:
        os.environ["XDG_RUNTIME_DIR"] = old or ""


@pytest.mark.skipif(os.getuid() != 0, reason="needs root to act as another user")
def test_another_user_cannot_reach_the_socket(app):
    sock_path = Path(app.env["XDG_RUNTIME_DIR"]) / "desktop-vlm" / "instance.sock"
    code = (
        "import socket,sys\n"
        "s=socket.socket(socket.AF_UNIX)\n"
        "try:\n"
        f'    s.connect({str(sock_path)!r}); s.sendall(b\'{{"v":1,"command":"quit"}}\\n\')\n'
        "    print('REPLY', s.recv(100))\n"
        "except OSError as e:\n"
        "    print('DENIED', e.errno)\n"
    )
    result = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.stdout.startswith("DENIED"), result.stdout + result.stderr
    assert app.proc.poll() is None  # the app did not quit


# --- without a tray host ---------------------------------------------------------------------


def test_without_a_tray_host_the_app_runs_and_says_so(fake_api, fresh_user_dirs):
    display = desktop.start_xvfb(1280, 800)
    try:
        app = start_app(fake_api, fresh_user_dirs, extra_env=display.env)
        try:
            app.wait_log("The system tray is unavailable")
            assert app.cli("capture").returncode == 0
            wait_until(lambda: window_visible(app.env, "region capture"), what="overlay")
            xdotool(app.env, "key", "Escape")
            app.wait_log("capture cancelled")
        finally:
            app.stop()
        assert app.proc.returncode == 0
    finally:
        display.stop()


# --- the tray menu, in process ---------------------------------------------------------------


def test_tray_menu_actions_fire(qtbot, qapp, fake_api, monkeypatch):
    from desktop_vlm.app import build

    monkeypatch.setenv("DESKTOP_VLM_BASE_URL", fake_api.url)
    shell = build(qapp)
    try:
        tray = shell.tray
        qtbot.waitUntil(lambda: tray.icon.isVisible() and not tray.icon.geometry().isEmpty())
        notices: list[str] = []
        shell.notifier.shown.connect(lambda title, body: notices.append(title))
        qapp.clipboard().setText("just text, no image")

        tray.action("action_clipboard").trigger()
        assert notices == ["No image on the clipboard"]

        tray.action("action_preset_ocr").trigger()
        assert shell.controller.config.default_preset == "ocr"
        assert tray.action("action_preset_ocr").isChecked()

        tray.action("action_open_chat").trigger()
        qtbot.waitUntil(
            lambda: shell.controller.window is not None and shell.controller.window.isVisible()
        )

        tray.action("action_capture").trigger()

        def overlay_windows() -> list:
            return [
                w
                for w in qapp.topLevelWidgets()
                if w.windowTitle() == "desktop-vlm region capture" and w.isVisible()
            ]

        qtbot.waitUntil(lambda: bool(overlay_windows()))
        with qtbot.waitSignal(shell.overlay.cancelled):
            shell.overlay.cancel()

        tray.quit_requested.disconnect()  # the real slot quits the test's QApplication
        with qtbot.waitSignal(tray.quit_requested):
            tray.action("action_quit").trigger()
        assert {a.objectName() for a in tray.menu.actions()} >= {
            "action_capture",
            "action_clipboard",
            "action_open_chat",
            "action_settings",
            "action_quit",
        }
    finally:
        shell.hotkeys.unregister_all()
        shell.tray.hide()
        shell.notifier.close()
        shell.controller.history.close()
        if shell.controller.window is not None:
            shell.controller.window.close()


def test_capture_handler_flag_forces_a_method(app):
    # grim needs a wlroots Wayland session: forced on X11 it fails, and the person is told why.
    assert app.cli("capture", "--handler", "grim").returncode == 0
    app.wait_log("Screen capture failed")
    assert not window_visible(app.env, "region capture")
    assert app.cli("capture", "--handler", "qt").returncode == 0
    wait_until(lambda: window_visible(app.env, "region capture"), what="overlay via the qt handler")
    xdotool(app.env, "key", "Escape")
    app.wait_log("capture cancelled")
    bad = app.cli("capture", "--handler", "magic")
    assert bad.returncode == 2 and b"invalid choice" in bad.stderr


def test_first_start_without_a_key_opens_settings(fake_api, fresh_user_dirs):
    # A remote provider (https, not this machine) and no key anywhere: the first-run dialog.
    app = start_app(
        fake_api,
        fresh_user_dirs,
        extra_env={"DESKTOP_VLM_BASE_URL": "https://api.example.invalid/v1"},
    )
    try:
        app.wait_log("opening the first-run settings")
        wait_until(lambda: window_visible(app.env, "desktop-vlm Settings"), what="settings dialog")
    finally:
        app.stop()


def test_with_a_local_server_no_settings_dialog_appears(app):
    app.wait_log("tray ready")
    time.sleep(1.0)
    assert not window_visible(app.env, "desktop-vlm Settings")
    assert "first-run" not in app.log_text()


def test_capture_starts_the_app_when_none_runs(fake_api, fresh_user_dirs):
    env = {**os.environ, **fresh_user_dirs, "DESKTOP_VLM_BASE_URL": fake_api.url}
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "desktop_vlm", "capture"], env=env, capture_output=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert time.monotonic() - started < 20  # it hands off and returns; the app runs on its own
    try:
        wait_until(lambda: window_visible(env, "region capture"), timeout=30, what="overlay")
        xdotool(env, "key", "Escape")
        wait_until(lambda: not window_visible(env, "region capture"), what="overlay to close")
    finally:
        subprocess.run([sys.executable, "-m", "desktop_vlm", "quit"], env=env, timeout=30)
    log = Path(fresh_user_dirs["XDG_STATE_HOME"]) / "desktop-vlm" / "log" / "desktop-vlm.log"
    wait_until(lambda: "capture cancelled" in log.read_text(), what="the cancel in the log")


def test_first_run_through_capture_keeps_the_overlay_and_says_what_works(fresh_user_dirs):
    # GIVEN no app running, a remote provider and no key anywhere (a fresh install)
    env = {
        **os.environ,
        **fresh_user_dirs,
        "DESKTOP_VLM_BASE_URL": "https://api.example.invalid/v1",
    }
    assert (
        subprocess.run(
            [sys.executable, "-m", "desktop_vlm", "capture"],
            env=env,
            capture_output=True,
            timeout=30,
        ).returncode
        == 0
    )
    log = Path(fresh_user_dirs["XDG_STATE_HOME"]) / "desktop-vlm" / "log" / "desktop-vlm.log"
    try:
        # THEN the overlay comes up and stays up: no settings dialog is put over it
        wait_until(lambda: window_visible(env, "region capture"), timeout=30, what="overlay")
        wait_until(lambda: "No API key yet" in log.read_text(), what="the first-run notice")
        assert window_visible(env, "region capture")
        assert not window_visible(env, "desktop-vlm Settings")
        xdotool(env, "key", "Escape")
    finally:
        subprocess.run([sys.executable, "-m", "desktop_vlm", "quit"], env=env, timeout=30)


def test_copied_image_file_on_the_clipboard_is_used(app, fake_api, tmp_path):
    # File managers copy a file:// URL, not pixels.
    picture = Image.effect_noise((90, 70), 70).convert("RGB")
    path = tmp_path / "copied file.png"
    picture.save(path)
    uri = path.as_uri() + "\n"
    xclip = subprocess.Popen(
        ["xclip", "-selection", "clipboard", "-t", "text/uri-list"],
        env=app.env,
        stdin=subprocess.PIPE,
    )
    xclip.communicate(uri.encode(), timeout=10)
    try:
        assert app.cli("clipboard").returncode == 0
        wait_chat(fake_api)
        (image,) = sent_images(fake_api)
        assert same_pixels(image, picture)
    finally:
        subprocess.run(["pkill", "-f", "xclip -selection clipboard -t text/uri-list"], check=False)


def test_capture_at_scale_factor_two_sends_the_physical_pixels(fake_api, fresh_user_dirs, tmp_path):
    display = desktop.start_xvfb(1600, 900)
    pattern = None
    try:
        plain_env = {**os.environ, **display.env}
        plain_env.pop("QT_SCALE_FACTOR", None)
        pattern = subprocess.Popen(
            [
                sys.executable,
                str(ROOT / "tests" / "support" / "overlay_pattern.py"),
                "80",
                "60",
                "700",
                "500",
                "11",
                str(tmp_path / "p.png"),
            ],
            env=plain_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        wait_pattern(pattern)
        # The pattern is noise, which "auto" sends as JPEG; lossless PNG shows the pixels exactly.
        config = Path(fresh_user_dirs["XDG_CONFIG_HOME"]) / "desktop-vlm" / "config.toml"
        config.parent.mkdir(parents=True, exist_ok=True)
        config.write_text('[image]\nformat = "png"\n')
        app = start_app(
            fake_api, fresh_user_dirs, extra_env={**display.env, "QT_SCALE_FACTOR": "2"}
        )
        try:
            before = root_grab(app.env)
            assert app.cli("capture").returncode == 0
            wait_until(lambda: window_visible(app.env, "region capture"), what="overlay")
            # physical X pixels; at ratio 2 even coordinates are exact logical positions
            app.drag(200, 120, 599, 419)
            wait_chat(fake_api)
            (image,) = sent_images(fake_api)
            assert image.size == (400, 300)
            assert same_pixels(image, before.crop((200, 120, 600, 420)))
        finally:
            app.stop()
    finally:
        if pattern is not None:
            pattern.kill()
            pattern.wait(5)
            pattern.stdout.close()
        display.stop()


# --- desktop notifications -------------------------------------------------------------------


def test_notices_go_to_the_desktops_notification_daemon(fake_api, fresh_user_dirs, tmp_path):
    # GIVEN a session bus with a notification daemon (and the real keyring is not needed)
    bus = desktop.start_session_bus()
    calls = tmp_path / "notifications.jsonl"
    daemon = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "support" / "fake_notifications.py"), str(calls)],
        env={**os.environ, **bus.env},
        stdout=subprocess.PIPE,
    )
    try:
        assert daemon.stdout.readline().strip() == b"ready"
        app = start_app(fake_api, fresh_user_dirs, extra_env=bus.env)
        try:
            # WHEN the clipboard holds no image
            subprocess.run(
                ["xclip", "-selection", "clipboard", "-i", "/dev/null"], env=app.env, timeout=10
            )
            assert app.cli("clipboard").returncode == 0
            # THEN the daemon is asked to show the notice, marked urgent
            wait_until(
                lambda: calls.exists() and "No image on the clipboard" in calls.read_text(),
                what="the Notify call",
            )
            record = json.loads(calls.read_text().splitlines()[-1])
            assert record["app"] == "desktop-vlm" and record["urgency"] == 2
            assert "Copy an image" in record["body"]
        finally:
            app.stop()
    finally:
        daemon.kill()
        daemon.wait(5)
        daemon.stdout.close()
        bus.stop()
