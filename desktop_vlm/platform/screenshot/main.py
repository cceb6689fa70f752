"""Pick a screen-grab handler, fall back to the next one, and say what to do when none works.

Handlers are imported only when needed (``handler_module``), so a session that never grabs
through the portal never loads QtDBus, and handlers can use ``split_desktop`` from here without
an import cycle.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence

from PySide6.QtCore import QRect
from PySide6.QtGui import QGuiApplication, QImage, QScreen

from desktop_vlm.core.errors import CaptureError, ConfigError
from desktop_vlm.platform import sysinfo
from desktop_vlm.platform.screenshot.models import Handler, HandlerModule, ScreenGrab

logger = logging.getLogger(__name__)


def handler_module(handler: Handler) -> HandlerModule:
    return importlib.import_module(f"{__package__}.handlers.{handler.name.lower()}")


def parse_handler(value: Handler | str | None) -> Handler | None:
    """The handler a setting or command-line flag names ("grim", "PORTAL", ...).

    None, "" and "auto" mean: no preference, try them all.
    """
    if value is None or isinstance(value, Handler):
        return value
    if value.strip().lower() in ("", "auto"):
        return None
    try:
        return Handler[value.strip().upper()]
    except KeyError:
        names = ", ".join(h.name.lower() for h in Handler)
        raise ConfigError(
            f"Unknown screen-grab method {value!r}", f"Use one of: {names}, or auto"
        ) from None


def available_handlers() -> list[Handler]:
    """Handlers that fit this session and are installed, best first."""
    found = []
    for handler in Handler:
        module = handler_module(handler)
        if not module.is_compatible():
            continue
        if module.is_installed():
            found.append(handler)
        else:
            logger.info(
                "Screen grab with %s would fit this session but is not installed: %s",
                handler.name.lower(),
                getattr(module, "INSTALL_HINT", ""),
            )
    logger.debug("Usable screen-grab handlers: %s", [h.name.lower() for h in found])
    return found


def grab_screens(handler: Handler | str | None = None, timeout: float = 10.0) -> list[ScreenGrab]:
    """One ScreenGrab per screen, in ``QGuiApplication.screens()`` order.

    With ``handler`` (other than None, "" or "auto") only that method is tried (even where it does not seem to fit the session:
    the person asked for it); otherwise every usable method in order of preference until one
    works. ``timeout`` bounds each attempt that waits for another program.
    """
    if QGuiApplication.instance() is None:
        raise RuntimeError("grab_screens needs a running QGuiApplication")
    forced = parse_handler(handler)
    if forced is not None:
        return _grab_with(forced, timeout, forced=True)
    failures: list[tuple[Handler, CaptureError]] = []
    for candidate in available_handlers():
        try:
            return _grab_with(candidate, timeout, forced=False)
        except CaptureError as err:
            logger.warning("Screen grab with %s failed: %s", candidate.name.lower(), err)
            failures.append((candidate, err))
    if len(failures) == 1:
        raise failures[0][1]
    if failures:
        tried = "; ".join(f"{h.name.lower()}: {err.message.rstrip('.')}" for h, err in failures)
        raise CaptureError(f"Could not grab the screen ({tried})", session_hint())
    raise CaptureError(
        f"No screen-grab method works in this {session_label()} session", session_hint()
    )


def _grab_with(handler: Handler, timeout: float, *, forced: bool) -> list[ScreenGrab]:
    module = handler_module(handler)
    name = handler.name.lower()
    if forced and not module.is_compatible():
        logger.warning(
            "Screen grab with %s was asked for, but does not fit this %s session",
            name,
            session_label(),
        )
    if forced and not module.is_installed():
        raise CaptureError(
            f"The screen-grab method {name} is not available here",
            getattr(module, "INSTALL_HINT", "") or session_hint(),
        )
    grabs = module.grab(timeout=timeout)
    logger.info("Grabbed %d screen(s) with %s", len(grabs), name)
    return grabs


def session_label() -> str:
    platform = sysinfo.platform()
    if platform == "darwin":
        return "macOS"
    if platform == "win32":
        return "Windows"
    parts = [sysinfo.session_type() or "unknown display", sysinfo.desktop()]
    return " ".join(p for p in parts if p)


def session_hint() -> str:
    """What a person can install or allow so that grabbing works in THIS session."""
    platform = sysinfo.platform()
    if platform == "darwin":
        return (
            "Allow Screen Recording for desktop-vlm in System Settings → Privacy & Security, "
            "then restart the app"
        )
    if platform == "win32":
        return "Check that the desktop is unlocked and not a secure screen, then try again"
    if not sysinfo.is_wayland():
        return "Check that DISPLAY points at a running X server"
    desktop = sysinfo.desktop()
    if sysinfo.is_wlroots():
        return "Install grim (e.g. sudo apt install grim), which works on sway and Hyprland"
    if desktop == "gnome":
        return (
            "Allow screenshots for desktop-vlm when GNOME asks (Settings → Apps → Screenshots), "
            "and make sure xdg-desktop-portal-gnome is installed"
        )
    if desktop == "kde":
        return (
            "Allow the screenshot request when KDE asks, and make sure xdg-desktop-portal-kde "
            "or spectacle is installed"
        )
    return (
        "Install xdg-desktop-portal with your desktop's backend and allow the screenshot "
        "permission, or install grim on a wlroots compositor"
    )


def split_desktop(image: QImage, screens: Sequence[QScreen] | None = None) -> list[ScreenGrab]:
    """Cut a picture of the whole desktop into one ScreenGrab per screen.

    Two layouts are possible. Where Qt itself scales (QT_SCALE_FACTOR and friends on X11) each
    screen keeps its top-left corner in device pixels and spans ``geometry * devicePixelRatio``;
    if the image has exactly that layout's size, those are the rectangles. Otherwise the image is
    the compositor's logical layout at one uniform scale (grim, the portals), so every geometry is
    scaled by image width / virtual desktop width, whatever devicePixelRatio says.
    """
    screens = list(QGuiApplication.screens() if screens is None else screens)
    if image.isNull() or not screens:
        raise CaptureError("The screenshot was empty", "Try again, or choose another method")
    virtual = QRect()
    native = QRect()
    for screen in screens:
        virtual = virtual.united(screen.geometry())
        native = native.united(_native_rect(screen))
    if native.size() == image.size():
        rects = [_native_rect(s).translated(-native.topLeft()) for s in screens]
    else:
        sx = image.width() / virtual.width()
        sy = image.height() / virtual.height()
        rects = [_scaled(s.geometry().translated(-virtual.topLeft()), sx, sy) for s in screens]
    grabs = []
    for screen, rect in zip(screens, rects, strict=True):
        part = image.copy(rect.intersected(image.rect()))
        part.setDevicePixelRatio(part.width() / max(1, screen.geometry().width()))
        grabs.append(ScreenGrab(screen.name(), screen.geometry(), part))
    return grabs


def _native_rect(screen: QScreen) -> QRect:
    geo, ratio = screen.geometry(), screen.devicePixelRatio()
    return QRect(geo.x(), geo.y(), round(geo.width() * ratio), round(geo.height() * ratio))


def _scaled(rect: QRect, sx: float, sy: float) -> QRect:
    # Round the edges, not the size, so neighbouring screens share an edge without gap/overlap.
    left, top = round(rect.left() * sx), round(rect.top() * sy)
    right, bottom = (
        round((rect.left() + rect.width()) * sx),
        round((rect.top() + rect.height()) * sy),
    )
    return QRect(left, top, right - left, bottom - top)
