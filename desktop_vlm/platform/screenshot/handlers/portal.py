"""The XDG desktop portal's Screenshot call over D-Bus (GNOME, KDE and others on Wayland).

The portal answers a call with a request object and later emits ``Response`` on it. When the
permission is missing or its dialog never shows, most portals emit nothing at all, so the wait
is bounded by a timeout. The wait runs a local event loop: grabbing happens on the GUI thread
before the overlay exists, and the loop keeps the app responsive meanwhile.

The screenshot file: the portal writes a new PNG for each request, on some desktops into
~/Pictures. It was made only for this capture, so it is deleted once loaded, but only when its
modification time shows it was written during this request: a portal that points at an older
file (one the person may want) keeps it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

from PySide6.QtCore import SLOT, QEventLoop, QObject, QTimer, QUrl, Slot
from PySide6.QtDBus import QDBusConnection, QDBusMessage, QDBusPendingCallWatcher
from PySide6.QtGui import QImage

from desktop_vlm.core.errors import CaptureError
from desktop_vlm.platform import sysinfo
from desktop_vlm.platform.screenshot.main import split_desktop
from desktop_vlm.platform.screenshot.models import ScreenGrab

logger = logging.getLogger(__name__)

SERVICE = "org.freedesktop.portal.Desktop"
PATH = "/org/freedesktop/portal/desktop"
SCREENSHOT = "org.freedesktop.portal.Screenshot"
REQUEST = "org.freedesktop.portal.Request"

INSTALL_HINT = (
    "Install xdg-desktop-portal and your desktop's backend "
    "(xdg-desktop-portal-gnome, -kde or -wlr) and log in again"
)
ALLOW_HINT = (
    "Allow screenshots for desktop-vlm when the desktop asks, or in its privacy settings "
    "(GNOME: Settings → Apps → Screenshots), then capture again"
)
#: Slack for filesystem timestamps that lag the wall clock, when telling fresh files from old.
_MTIME_SLACK = 0.5


def is_compatible() -> bool:
    return sysinfo.is_wayland()


def is_installed() -> bool:
    """The portal runs now, or the bus can start it on the first call."""
    with _session_bus() as bus:
        if bus is None:
            return False
        if bus.interface().isServiceRegistered(SERVICE).value():
            return True
        reply = bus.call(
            QDBusMessage.createMethodCall(
                "org.freedesktop.DBus",
                "/org/freedesktop/DBus",
                "org.freedesktop.DBus",
                "ListActivatableNames",
            )
        )
        args = reply.arguments()
        return bool(args) and SERVICE in args[0]


def grab(timeout: float = 10.0) -> list[ScreenGrab]:
    started = time.time()
    with _session_bus() as bus:
        if bus is None:
            raise CaptureError(
                "There is no D-Bus session bus to reach the screenshot portal", INSTALL_HINT
            )
        response, results = _request_screenshot(bus, timeout)
    if response == 1:
        raise CaptureError("The screenshot was cancelled in the desktop's dialog", ALLOW_HINT)
    if response != 0:
        raise CaptureError(
            f"The desktop refused the screenshot (portal response {response})", ALLOW_HINT
        )
    uri = str(results.get("uri", ""))
    path = Path(QUrl(uri).toLocalFile()) if uri else None
    if path is None or not path.is_file():
        raise CaptureError(
            f"The screenshot portal gave no readable file ({uri or 'no uri'})", INSTALL_HINT
        )
    image = QImage(str(path))
    _remove_if_fresh(path, started)
    if image.isNull():
        raise CaptureError(f"The screenshot portal's file {path} is not an image", INSTALL_HINT)
    return split_desktop(image)


def _request_screenshot(bus: QDBusConnection, timeout: float) -> tuple[int, dict]:
    """Call Screenshot and wait for the Response on its request object."""
    token = f"desktop_vlm_{secrets.token_hex(8)}"
    sender = bus.baseService().lstrip(":").replace(".", "_")
    expected = f"{PATH}/request/{sender}/{token}"
    waiter = _ResponseWaiter()
    # Subscribe before calling: the Response may follow the method reply immediately.
    waiter.listen(bus, expected)
    call = QDBusMessage.createMethodCall(SERVICE, PATH, SCREENSHOT, "Screenshot")
    call.setArguments(["", {"handle_token": token, "interactive": False}])
    watcher = QDBusPendingCallWatcher(bus.asyncCall(call, round(timeout * 1000)))
    watcher.finished.connect(waiter.on_call_finished)
    waiter.wait(timeout)
    for path in waiter.listening:
        bus.disconnect(
            SERVICE, path, REQUEST, "Response", waiter, SLOT("on_response(uint,QVariantMap)")
        )
    if waiter.call_error:
        raise CaptureError(f"The screenshot portal failed: {waiter.call_error}", INSTALL_HINT)
    if waiter.response is None:
        raise CaptureError(
            f"The screenshot portal did not answer within {timeout:g} s",
            "Its permission dialog may be hidden behind another window, or no portal backend "
            f"runs; {INSTALL_HINT[0].lower()}{INSTALL_HINT[1:]}",
        )
    return waiter.response, waiter.results


class _ResponseWaiter(QObject):
    """Receives the method reply and the Response signal, and ends the local loop."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = QEventLoop()
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.timeout.connect(self.loop.quit)
        self.bus: QDBusConnection | None = None
        self.listening: list[str] = []
        self.response: int | None = None
        self.results: dict = {}
        self.call_error = ""

    def listen(self, bus: QDBusConnection, path: str) -> None:
        self.bus = bus
        if not bus.connect(
            SERVICE, path, REQUEST, "Response", self, SLOT("on_response(uint,QVariantMap)")
        ):
            raise CaptureError(
                f"Cannot listen for the portal's answer: {bus.lastError().message()}", INSTALL_HINT
            )
        self.listening.append(path)

    def wait(self, timeout: float) -> None:
        if self.response is not None or self.call_error:
            return
        self.timer.start(round(timeout * 1000))
        self.loop.exec()
        self.timer.stop()

    def on_call_finished(self, watcher: QDBusPendingCallWatcher) -> None:
        reply = watcher.reply()
        if watcher.isError():
            self.call_error = watcher.error().message() or watcher.error().name()
            self.loop.quit()
            return
        handle = reply.arguments()[0].path() if reply.arguments() else ""
        # Portals older than 0.9 ignore handle_token and pick their own path; listen there too
        # (their Response could only be missed if it came before this reply).
        if handle and handle not in self.listening and self.bus is not None:
            logger.debug("Portal chose request path %s", handle)
            try:
                self.listen(self.bus, handle)
            except CaptureError as err:  # a slot must not raise; end the wait instead
                self.call_error = err.message
                self.loop.quit()

    @Slot("uint", "QVariantMap")
    def on_response(self, response: int, results: dict) -> None:
        logger.debug("Portal response %s: %s", response, results)
        self.response = response
        self.results = dict(results)
        self.loop.quit()


@contextlib.contextmanager
def _session_bus() -> Iterator[QDBusConnection | None]:
    """A connection of its own to the session bus the environment names now, closed after use.

    Qt's shared ``sessionBus()`` keeps the address it saw first; a private connection follows
    DBUS_SESSION_BUS_ADDRESS as it is when the grab happens.
    """
    address = os.environ.get("DBUS_SESSION_BUS_ADDRESS", "")
    name = f"desktop-vlm-portal-{secrets.token_hex(4)}"
    if address:
        bus = QDBusConnection.connectToBus(address, name)
    else:
        bus = QDBusConnection.connectToBus(QDBusConnection.BusType.SessionBus, name)
    try:
        if not bus.isConnected():
            logger.info("No D-Bus session bus: %s", bus.lastError().message())
            yield None
        else:
            yield bus
    finally:
        QDBusConnection.disconnectFromBus(name)


def _remove_if_fresh(path: Path, started: float) -> None:
    try:
        if path.stat().st_mtime >= started - _MTIME_SLACK:
            path.unlink()
            logger.debug("Removed the portal's screenshot file %s", path)
        else:
            logger.debug("Kept %s: it existed before this screenshot", path)
    except OSError as err:
        logger.warning("Could not remove the portal's screenshot file %s: %s", path, err)
