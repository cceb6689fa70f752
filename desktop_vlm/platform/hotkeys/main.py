"""Global hotkeys: pick the backend this session supports and turn key presses into action ids."""

from __future__ import annotations

import importlib
import logging
import weakref
from types import ModuleType

from PySide6.QtCore import QObject, Signal

from desktop_vlm.core.errors import HotkeyError
from desktop_vlm.platform import sysinfo
from desktop_vlm.platform.hotkeys.handlers import x11
from desktop_vlm.platform.hotkeys.models import (
    README_HINT,
    SETTINGS_HINT,
    HotkeyBackend,
    parse_shortcut,
)

logger = logging.getLogger(__name__)

#: Backends in order of preference; each one is compatible with a different kind of session.
HANDLER_NAMES = ("x11", "portal", "windows")


_loaded: dict[str, ModuleType | None] = {}


def _handler(name: str) -> ModuleType | None:
    """The handler module, imported on first need (the portal's jeepney exists only on Linux,
    and an X11 session should not pay for it)."""
    if name not in _loaded:
        try:
            _loaded[name] = importlib.import_module(f"{__package__}.handlers.{name}")
        except ImportError as exc:
            logger.debug("Hotkey backend %s cannot be imported: %s", name, exc)
            _loaded[name] = None
    return _loaded[name]


def backend_name() -> str:
    """The backend this session would use ("x11", "portal", "windows"), or "" if none works."""
    for name in HANDLER_NAMES:
        handler = _handler(name)
        if handler is not None and handler.is_compatible() and handler.is_installed():
            return name
    return ""


def available() -> bool:
    """True when global hotkeys can work in this session."""
    return bool(backend_name())


def clear_caches() -> None:
    """Forget every probe, so the next choice of backend reads the session again."""
    sysinfo.clear_caches()
    for handler in _loaded.values():
        if handler is not None:
            handler.clear_caches()


def unavailable_error() -> HotkeyError:
    """Why no backend works here, and what the person can do instead."""
    platform = sysinfo.platform()
    if platform == "darwin":
        return HotkeyError(
            "Global hotkeys are not supported on macOS",
            "Make a Shortcuts.app action that runs `desktop-vlm capture` and give it a "
            "keyboard shortcut (see README, Shortcuts).",
        )
    if sysinfo.session_type() == "wayland":
        return HotkeyError(
            "Global hotkeys are not available on this desktop "
            "(Wayland without the GlobalShortcuts portal)",
            README_HINT,
        )
    if x11.is_compatible():
        return HotkeyError(
            "Global hotkeys need libX11, which is not installed",
            f"Install your distribution's libx11 package. {README_HINT}",
        )
    return HotkeyError(
        "Global hotkeys are not available: no graphical desktop session was found",
        README_HINT,
    )


class GlobalHotkeys(QObject):
    """System-wide shortcuts that emit ``activated(action_id)`` when pressed.

    The backend connects on the first ``register`` and disconnects on ``unregister_all`` or
    when this object is destroyed. Every failure raises HotkeyError with a line to show.
    """

    activated = Signal(str)

    def __init__(self, parent: QObject | None = None, *, portal_timeout_s: float = 60.0) -> None:
        super().__init__(parent)
        self._portal_timeout_s = portal_timeout_s
        self._backend: HotkeyBackend | None = None
        self._shortcuts: dict[str, str] = {}
        # The holder, not self, is what the destroyed signal reaches: by then self is half gone.
        holder = _BackendHolder()
        self._holder = holder
        self.destroyed.connect(holder.close)

    @property
    def backend_name(self) -> str:
        """The backend's name ("x11", "portal", "windows"), or "" when none works here."""
        return backend_name()

    @staticmethod
    def available() -> bool:
        return available()

    def shortcuts(self) -> dict[str, str]:
        """Action id → normalised shortcut text of everything registered."""
        return dict(self._shortcuts)

    def register(self, action_id: str, shortcut: str) -> None:
        """Make ``shortcut`` (Qt portable text, e.g. "Ctrl+Alt+O") emit ``activated(action_id)``.

        Registering an action again replaces its shortcut; the old one stays if the new one
        cannot be had.
        """
        parsed = parse_shortcut(shortcut)
        if self._shortcuts.get(action_id) == parsed.text:
            return
        for other, text in self._shortcuts.items():
            if text == parsed.text and other != action_id:
                raise HotkeyError(
                    f"{parsed.text} is already the hotkey of {other!r} in desktop-vlm",
                    SETTINGS_HINT,
                )
        backend = self._ensure_backend()
        backend.register(action_id, parsed)
        self._shortcuts[action_id] = parsed.text

    def unregister(self, action_id: str) -> None:
        if self._shortcuts.pop(action_id, None) is not None and self._backend is not None:
            self._backend.unregister(action_id)

    def unregister_all(self) -> None:
        self._shortcuts.clear()
        self._holder.close()
        self._backend = None

    def _ensure_backend(self) -> HotkeyBackend:
        if self._backend is not None:
            return self._backend
        name = backend_name()
        if not name:
            raise unavailable_error()
        handler = _handler(name)
        # A weak reference: the backend must not keep this object alive through its callback.
        this = weakref.ref(self)

        def emit(action_id: str) -> None:
            hotkeys = this()
            if hotkeys is not None:
                hotkeys.activated.emit(action_id)

        if name == "portal":
            backend = handler.Backend(emit, timeout_s=self._portal_timeout_s)
        else:
            backend = handler.Backend(emit)
        logger.info("Global hotkeys use the %s backend", name)
        self._backend = self._holder.backend = backend
        return backend


class _BackendHolder:
    """Owns the live backend so it can be closed even while its GlobalHotkeys is destroyed."""

    def __init__(self) -> None:
        self.backend: HotkeyBackend | None = None

    def close(self, *_args: object) -> None:
        backend, self.backend = self.backend, None
        if backend is not None:
            backend.close()
