"""Global hotkeys on the test session's real X server, and on a fake GlobalShortcuts portal.

Keys are pressed with xdotool (XTEST), exactly as a keyboard would press them; "another program"
is a real X client (support/hotkey_grabber.py) grabbing keys on the same display. X delivers
events in order, so a test that presses keys which must not fire followed by one that must,
then waits for that last one, has seen everything the earlier keys caused.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import desktop

from desktop_vlm.core.errors import HotkeyError
from desktop_vlm.platform import sysinfo
from desktop_vlm.platform.hotkeys import GlobalHotkeys, available, backend_name, clear_caches

SUPPORT = Path(__file__).resolve().parents[1] / "support"
SIGNAL_TIMEOUT_MS = 15_000


# --- helpers ----------------------------------------------------------------------------------


def press(*keys: str) -> None:
    """Type key combinations in order, as a person would, on the test display."""
    subprocess.run(["xdotool", "key", *keys], check=True, timeout=60)


def lock_is_on(name: str) -> bool:
    """ "Num Lock" / "Caps Lock" as the X server's keyboard indicators report it."""
    report = subprocess.run(["xset", "q"], check=True, capture_output=True, text=True).stdout
    return re.search(rf"{name}:\s+on", report) is not None


def other_program_grabs(keysym: str, modifiers: str, *options: str) -> str:
    """Let another X client try to grab the key: "grabbed" or "taken"."""
    done = subprocess.run(
        [sys.executable, str(SUPPORT / "hotkey_grabber.py"), keysym, modifiers, *options],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return done.stdout.strip()


@contextlib.contextmanager
def other_program_holding(keysym: str, modifiers: str) -> Iterator[str]:
    """Another X client that grabs the key and keeps it until the block ends."""
    proc = subprocess.Popen(
        [sys.executable, str(SUPPORT / "hotkey_grabber.py"), keysym, modifiers, "--hold"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.stdin.close()
        proc.wait(timeout=60)
        proc.stdout.close()


class FakePortal:
    """support/hotkey_fake_portal.py on the current session bus, with its report lines."""

    def __init__(self, mode: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(SUPPORT / "hotkey_fake_portal.py"), mode],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()
        assert self.next_line() == "ready"

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line.strip())

    def next_line(self) -> str:
        return self.lines.get(timeout=30)

    def activate(self, shortcut_id: str) -> None:
        self.proc.stdin.write(f"activate {shortcut_id}\n")
        self.proc.stdin.flush()

    def stop(self) -> None:
        self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.proc.stdout.close()


# --- fixtures ---------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def fresh_probes() -> Iterator[None]:
    clear_caches()
    yield
    clear_caches()


@pytest.fixture
def hotkeys(qapp) -> Iterator[GlobalHotkeys]:
    keys = GlobalHotkeys()
    yield keys
    keys.unregister_all()  # no grab may outlive its test


@pytest.fixture
def fired(hotkeys: GlobalHotkeys) -> list[str]:
    """Every action id the hotkeys emitted, in order."""
    ids: list[str] = []
    hotkeys.activated.connect(ids.append)
    return ids


@pytest.fixture
def restore_lock_keys() -> Iterator[None]:
    """Whatever a test does to NumLock and CapsLock, the next test finds them as they were."""
    locks = {"Num_Lock": "Num Lock", "Caps_Lock": "Caps Lock"}
    before = {key: lock_is_on(indicator) for key, indicator in locks.items()}
    yield
    for key, indicator in locks.items():
        if lock_is_on(indicator) != before[key]:
            press(key)
    assert {key: lock_is_on(indicator) for key, indicator in locks.items()} == before


@pytest.fixture
def wayland_session(monkeypatch: pytest.MonkeyPatch) -> Iterator[desktop.Service]:
    """A Wayland session whose session bus is private and empty: no portal on it."""
    bus = desktop.start_session_bus()
    monkeypatch.setenv("XDG_SESSION_TYPE", "wayland")
    monkeypatch.setenv("WAYLAND_DISPLAY", "wayland-test")
    monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", bus.env["DBUS_SESSION_BUS_ADDRESS"])
    clear_caches()
    yield bus
    bus.stop()


@pytest.fixture
def fake_portal(wayland_session: desktop.Service) -> Iterator[Callable[[str], FakePortal]]:
    started: list[FakePortal] = []

    def start(mode: str) -> FakePortal:
        started.append(FakePortal(mode))
        return started[-1]

    yield start
    for portal in started:
        portal.stop()


# --- X11 --------------------------------------------------------------------------------------


def test_the_x_session_uses_the_x11_backend(hotkeys: GlobalHotkeys) -> None:
    assert available()
    assert backend_name() == "x11"
    assert hotkeys.backend_name == "x11"


def test_pressing_the_hotkey_emits_its_action_id(qtbot, hotkeys: GlobalHotkeys) -> None:
    # GIVEN capture on Ctrl+Alt+O
    hotkeys.register("capture", "Ctrl+Alt+O")

    # WHEN the person presses it, with some other program focused (none here)
    with qtbot.waitSignal(hotkeys.activated, timeout=SIGNAL_TIMEOUT_MS) as blocker:
        press("ctrl+alt+o")

    # THEN the app hears "capture"
    assert blocker.args == ["capture"]


def test_other_key_combinations_do_not_fire(qtbot, hotkeys: GlobalHotkeys, fired) -> None:
    # GIVEN capture on Ctrl+Alt+O, and a last key to know when everything has arrived
    hotkeys.register("capture", "Ctrl+Alt+O")
    hotkeys.register("last", "Ctrl+Alt+Z")

    # WHEN near misses are pressed, then the hotkey, then the last key
    press("ctrl+alt+p", "ctrl+o", "alt+o", "o", "ctrl+alt+shift+o", "ctrl+alt+o", "ctrl+alt+z")
    qtbot.waitUntil(lambda: "last" in fired, timeout=SIGNAL_TIMEOUT_MS)

    # THEN only the real hotkey fired, once
    assert fired == ["capture", "last"]


@pytest.mark.parametrize("lock", ["Num_Lock", "Caps_Lock"])
def test_hotkey_fires_with_a_lock_key_on(qtbot, hotkeys, restore_lock_keys, lock: str) -> None:
    # GIVEN NumLock (or CapsLock) is on, as it is on many keyboards all day
    indicator = lock.replace("_", " ")
    if not lock_is_on(indicator):
        press(lock)
    assert lock_is_on(indicator)
    hotkeys.register("capture", "Ctrl+Alt+O")

    # WHEN the person presses the hotkey
    with qtbot.waitSignal(hotkeys.activated, timeout=SIGNAL_TIMEOUT_MS) as blocker:
        press("ctrl+alt+o")

    # THEN it still fires
    assert blocker.args == ["capture"]


def test_each_shortcut_fires_its_own_action(qtbot, hotkeys: GlobalHotkeys, fired) -> None:
    # GIVEN three actions on three shortcuts, with Meta (the Windows key) and a function key
    hotkeys.register("capture", "Ctrl+Alt+O")
    hotkeys.register("clipboard", "Meta+Shift+T")
    hotkeys.register("ask", "Ctrl+Shift+F12")

    # WHEN the person presses them in another order
    press("ctrl+shift+F12", "super+shift+t", "ctrl+alt+o", "super+shift+t")
    qtbot.waitUntil(lambda: len(fired) == 4, timeout=SIGNAL_TIMEOUT_MS)

    # THEN each press brings its own action
    assert fired == ["ask", "clipboard", "capture", "clipboard"]


def test_a_shortcut_taken_by_another_program_is_refused_until_it_is_free(
    qtbot, hotkeys: GlobalHotkeys
) -> None:
    # GIVEN another program holds Ctrl+Alt+O
    with other_program_holding("o", "ctrl+alt") as state:
        assert state == "grabbed"

        # WHEN the app registers the same shortcut
        with pytest.raises(HotkeyError) as refused:
            hotkeys.register("capture", "Ctrl+Alt+O")

        # THEN the person reads which shortcut is taken and what to do
        assert str(refused.value) == (
            "Ctrl+Alt+O is already taken by another program. "
            "Choose another shortcut in Settings → Hotkeys."
        )
        assert hotkeys.shortcuts() == {}
        # ... and the refused attempt left no half grab behind (the NumLock variant is free)
        assert other_program_grabs("o", "ctrl+alt", "--numlock") == "grabbed"

    # WHEN the other program has quit, registering again works and the key fires
    hotkeys.register("capture", "Ctrl+Alt+O")
    with qtbot.waitSignal(hotkeys.activated, timeout=SIGNAL_TIMEOUT_MS) as blocker:
        press("ctrl+alt+o")
    assert blocker.args == ["capture"]


def test_unregister_releases_the_key(qtbot, hotkeys: GlobalHotkeys, fired) -> None:
    # GIVEN two hotkeys; while registered, nobody else can have Ctrl+Alt+O
    hotkeys.register("capture", "Ctrl+Alt+O")
    hotkeys.register("clipboard", "Ctrl+Alt+P")
    assert other_program_grabs("o", "ctrl+alt") == "taken"

    # WHEN capture is unregistered
    hotkeys.unregister("capture")

    # THEN another program can grab the key, and pressing it no longer reaches the app
    assert other_program_grabs("o", "ctrl+alt") == "grabbed"
    press("ctrl+alt+o", "ctrl+alt+p")
    qtbot.waitUntil(lambda: bool(fired), timeout=SIGNAL_TIMEOUT_MS)
    assert fired == ["clipboard"]


def test_registering_an_action_again_moves_it(qtbot, hotkeys: GlobalHotkeys, fired) -> None:
    # GIVEN capture on Ctrl+Alt+O (registered twice, as a settings dialog may do)
    hotkeys.register("capture", "Ctrl+Alt+O")
    hotkeys.register("capture", "Ctrl+Alt+O")

    # WHEN capture moves to Ctrl+Alt+P
    hotkeys.register("capture", "ctrl+alt+p")

    # THEN the old key is free and the new one fires capture
    assert other_program_grabs("o", "ctrl+alt") == "grabbed"
    assert hotkeys.shortcuts() == {"capture": "Ctrl+Alt+P"}
    press("ctrl+alt+o", "ctrl+alt+p")
    qtbot.waitUntil(lambda: bool(fired), timeout=SIGNAL_TIMEOUT_MS)
    assert fired == ["capture"]


def test_unregister_all_and_destruction_release_every_key(qapp, hotkeys: GlobalHotkeys) -> None:
    # GIVEN two hotkeys registered
    hotkeys.register("capture", "Ctrl+Alt+O")
    hotkeys.register("clipboard", "Ctrl+Alt+P")

    # WHEN unregister_all is called, THEN both keys are free
    hotkeys.unregister_all()
    assert other_program_grabs("o", "ctrl+alt") == "grabbed"
    assert other_program_grabs("p", "ctrl+alt") == "grabbed"

    # WHEN an object holding a hotkey is destroyed, THEN its key is free too
    other = GlobalHotkeys()
    other.register("capture", "Ctrl+Alt+O")
    assert other_program_grabs("o", "ctrl+alt") == "taken"
    del other
    gc.collect()
    assert other_program_grabs("o", "ctrl+alt") == "grabbed"


def test_one_shortcut_cannot_serve_two_actions(hotkeys: GlobalHotkeys) -> None:
    hotkeys.register("capture", "Ctrl+Alt+O")

    with pytest.raises(HotkeyError) as refused:
        hotkeys.register("clipboard", "ctrl+alt+o")

    assert "Ctrl+Alt+O is already the hotkey of 'capture'" in str(refused.value)
    assert hotkeys.shortcuts() == {"capture": "Ctrl+Alt+O"}


@pytest.mark.parametrize("text", ["Ctrl+Alt+Foo", "Ctrl+Alt", "", "Ctrl+K, Ctrl+C", "Alt+"])
def test_an_invalid_shortcut_is_refused_by_name(hotkeys: GlobalHotkeys, text: str) -> None:
    with pytest.raises(HotkeyError) as refused:
        hotkeys.register("capture", text)

    message = str(refused.value)
    assert message.startswith(f'"{text}" is not a shortcut desktop-vlm can register.')
    assert "Settings → Hotkeys" in message
    assert "\n" not in message
    assert hotkeys.shortcuts() == {}


def test_holding_the_hotkey_fires_once(qtbot, hotkeys: GlobalHotkeys, fired) -> None:
    # GIVEN capture on Ctrl+Alt+O, and a last key to know when everything has arrived
    hotkeys.register("capture", "Ctrl+Alt+O")
    hotkeys.register("last", "Ctrl+Alt+Z")

    # WHEN the person holds the hotkey well past the keyboard's auto-repeat delay (660 ms)
    subprocess.run(
        ["xdotool", "keydown", "ctrl+alt+o", "sleep", "1.5", "keyup", "ctrl+alt+o"],
        check=True,
        timeout=60,
    )
    press("ctrl+alt+z")
    qtbot.waitUntil(lambda: "last" in fired, timeout=SIGNAL_TIMEOUT_MS)

    # THEN capture started once, not once per repeated key press
    assert fired == ["capture", "last"]


# --- sessions without a usable backend --------------------------------------------------------


def test_wayland_without_the_portal_points_to_the_readme(qapp, wayland_session) -> None:
    # GIVEN a Wayland session whose bus has no GlobalShortcuts portal
    keys = GlobalHotkeys()
    assert not available()
    assert keys.backend_name == ""

    # WHEN the app registers a hotkey
    with pytest.raises(HotkeyError) as refused:
        keys.register("capture", "Ctrl+Alt+O")

    # THEN the person learns the workaround: a desktop shortcut running desktop-vlm capture
    assert str(refused.value) == (
        "Global hotkeys are not available on this desktop "
        "(Wayland without the GlobalShortcuts portal). Bind `desktop-vlm capture` to a keyboard "
        "shortcut in your desktop's settings (see README, Shortcuts)."
    )


def test_macos_points_to_a_shortcuts_app_action(qapp, monkeypatch) -> None:
    monkeypatch.setattr(sysinfo, "platform", functools.cache(lambda: "darwin"))

    with pytest.raises(HotkeyError) as refused:
        GlobalHotkeys().register("capture", "Ctrl+Alt+O")

    assert not available()
    assert "Shortcuts.app" in str(refused.value)
    assert "`desktop-vlm capture`" in str(refused.value)
    assert "README" in str(refused.value)


# --- the GlobalShortcuts portal ---------------------------------------------------------------


def test_portal_binds_the_shortcut_and_relays_its_activation(qtbot, qapp, fake_portal) -> None:
    # GIVEN a Wayland desktop with the GlobalShortcuts portal
    portal = fake_portal("ok")
    assert available()
    keys = GlobalHotkeys()
    fired: list[str] = []
    keys.activated.connect(fired.append)
    assert keys.backend_name == "portal"

    # WHEN the app registers capture on Ctrl+Alt+O
    keys.register("capture", "Ctrl+Alt+O")

    # THEN the desktop was asked for that trigger, in the XDG shortcuts syntax
    session = portal.next_line()
    assert session.startswith("session /org/freedesktop/portal/desktop/session/")
    assert portal.next_line() == "bound capture CTRL+ALT+o desktop-vlm: capture"

    # WHEN the desktop reports presses of an unknown shortcut and of capture
    portal.activate("somebody-else")
    portal.activate("capture")
    qtbot.waitUntil(lambda: bool(fired), timeout=SIGNAL_TIMEOUT_MS)

    # THEN the app hears capture only
    assert fired == ["capture"]

    # WHEN everything is unregistered, THEN the portal session is closed
    keys.unregister_all()
    assert portal.next_line() == f"closed {session.split()[1]}"


def test_portal_binds_every_registered_shortcut(qtbot, qapp, fake_portal) -> None:
    portal = fake_portal("ok")
    keys = GlobalHotkeys()
    keys.register("capture", "Ctrl+Alt+O")
    keys.register("clipboard", "Meta+Shift+T")

    lines = [portal.next_line() for _ in range(4)]
    assert lines[1:] == [
        "bound capture CTRL+ALT+o desktop-vlm: capture",
        "bound capture CTRL+ALT+o desktop-vlm: capture",
        "bound clipboard SHIFT+LOGO+t desktop-vlm: clipboard",
    ]
    with qtbot.waitSignal(keys.activated, timeout=SIGNAL_TIMEOUT_MS) as blocker:
        portal.activate("clipboard")
    assert blocker.args == ["clipboard"]
    keys.unregister_all()


def test_portal_dialog_cancelled_by_the_person(qapp, fake_portal) -> None:
    fake_portal("cancel")

    with pytest.raises(HotkeyError) as refused:
        GlobalHotkeys().register("capture", "Ctrl+Alt+O")

    assert str(refused.value) == (
        "Ctrl+Alt+O was not set because the desktop's shortcut dialog was cancelled. "
        "Register it again in Settings → Hotkeys and confirm it."
    )


def test_portal_that_never_answers(qapp, fake_portal) -> None:
    fake_portal("silent")
    keys = GlobalHotkeys(portal_timeout_s=5)

    with pytest.raises(HotkeyError) as refused:
        keys.register("capture", "Ctrl+Alt+O")

    assert str(refused.value).startswith(
        "The desktop did not answer the request for Ctrl+Alt+O within 5 seconds."
    )
    assert "`desktop-vlm capture`" in str(refused.value)
    keys.unregister_all()


def test_no_test_left_a_grab_behind() -> None:
    """Runs last in this module: every key the tests used is free for the rest of the suite."""
    for keysym, modifiers in (("o", "ctrl+alt"), ("p", "ctrl+alt"), ("z", "ctrl+alt")):
        assert other_program_grabs(keysym, modifiers) == "grabbed"
