"""Test tiers: ``tests/unit`` is pure (no display, D-Bus, keyring or network beyond what a test
starts itself); ``tests/integration`` and ``tests/system`` get a real desktop.

The desktop (an Xvfb display, a private session bus with gnome-keyring, a tray host) starts once,
after collection and before any Qt object exists, and only when a collected test lies outside
``tests/unit``; its variables go into ``os.environ`` so the in-process QApplication and every
subprocess the tests start use them. Each test gets fresh user directories (config, data, cache,
state, runtime) under its tmp_path.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# The property tests draw the same examples on every run, so CI is never failed by a draw it has
# not seen before (HYPOTHESIS_PROFILE=explore draws new ones, to hunt for cases by hand).
settings.register_profile("ci", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))

sys.path.insert(0, str(Path(__file__).parent))

from support import desktop  # noqa: E402
from support.fake_api import fake_api  # noqa: E402,F401  (the loopback API server fixture)

UNIT = Path(__file__).parent / "unit"
_services: list[desktop.Service] = []
_ISOLATED = (
    "DESKTOP_VLM_API_KEY",
    "HYPERBOLIC_API_KEY",
    "DESKTOP_VLM_BASE_URL",
    "WAYLAND_DISPLAY",
    "QT_SCALE_FACTOR",
    "QT_SCREEN_SCALE_FACTORS",
    "HTTPS_PROXY",
    "HTTP_PROXY",
    "https_proxy",
    "http_proxy",
    "ALL_PROXY",
    "all_proxy",
    "NO_PROXY",
    "no_proxy",
    "SSL_CERT_FILE",
    "REQUESTS_CA_BUNDLE",
)


def pytest_configure(config: pytest.Config) -> None:
    if hasattr(config, "workerinput"):
        return
    # No test may reach a real desktop, keyring or API of the machine running the tests.
    for name in _ISOLATED:
        os.environ.pop(name, None)
    from desktop_vlm.core.providers import key_variables

    for name in key_variables():  # OPENAI_API_KEY and the rest: no real key reaches a test
        os.environ.pop(name, None)
    home = desktop.private_home()
    os.environ["HOME"] = str(home)
    os.environ.update(desktop.user_dirs(home))


def needs_desktop(item: pytest.Item) -> bool:
    return UNIT not in Path(str(item.path)).parents


def pytest_collection_finish(session: pytest.Session) -> None:
    if hasattr(session.config, "workerinput") or _services:
        return
    if not any(needs_desktop(item) for item in session.items):
        return  # only unit tests: no display, no bus, no keyring
    display = desktop.start_xvfb()
    _services.append(display)
    os.environ.update(display.env)
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    os.environ["XDG_SESSION_TYPE"] = "x11"
    bus = desktop.start_session_bus()
    _services.append(bus)
    os.environ.update(bus.env)
    _services.append(desktop.start_keyring(bus, Path(os.environ["HOME"])))
    _services.append(desktop.start_trayer(display))


def pytest_unconfigure(config: pytest.Config) -> None:
    while _services:
        _services.pop().stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if {"qtbot", "qapp"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.gui)


@pytest.fixture(autouse=True)
def fresh_user_dirs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Each test starts with empty config/data/cache/state/runtime directories and no key env."""
    dirs = desktop.user_dirs(tmp_path / "user")
    for name, value in dirs.items():
        monkeypatch.setenv(name, value)
    from desktop_vlm.core.providers import key_variables

    for name in (*_ISOLATED[:3], *key_variables()):
        monkeypatch.delenv(name, raising=False)
    return dirs


@pytest.fixture(autouse=True)
def _no_windows_left(request: pytest.FixtureRequest):  # noqa: ANN202
    """A GUI test leaves no window behind for the next (a notice still showing, a card)."""
    yield
    if "qtbot" not in request.fixturenames and "qapp" not in request.fixturenames:
        return
    from PySide6.QtCore import QCoreApplication, QEvent
    from PySide6.QtWidgets import QApplication

    app = QApplication.instance()
    if app is None:
        return
    for widget in QApplication.topLevelWidgets():
        if widget.isVisible() and widget.windowTitle() != "desktop-vlm region capture":
            widget.close()
    QCoreApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    app.processEvents()
