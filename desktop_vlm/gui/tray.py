"""The tray icon and its menu. It only emits signals; the controller decides what they do.

Every action has an objectName (``action_capture``, ``action_preset_ocr`` ...) so tests and
accessibility tools find them without clicking pixels.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QAction, QActionGroup
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from desktop_vlm.core.presets import Preset
from desktop_vlm.gui import icons


class Tray(QObject):
    capture_requested = Signal()
    clipboard_requested = Signal()
    preset_chosen = Signal(str)
    privacy_toggled = Signal(str, bool)  # "redact" or "local_only", switched on or off
    open_chat_requested = Signal()
    settings_requested = Signal()
    quit_requested = Signal()

    def __init__(
        self, presets: Iterable[Preset], default_preset: str, parent: QObject | None = None
    ):
        super().__init__(parent)
        self.menu = QMenu()
        self.menu.setObjectName("tray_menu")
        self._actions: dict[str, QAction] = {}
        self._add("action_capture", "Capture region", self.capture_requested)
        self._add("action_clipboard", "Ask about clipboard image", self.clipboard_requested)
        self.presets_menu = self.menu.addMenu("Preset")
        self.presets_menu.setObjectName("menu_presets")
        self._preset_group = QActionGroup(self)
        self._preset_group.setExclusive(True)
        self.set_presets(presets, default_preset)
        self._redact = self._toggle(
            "action_redact", "Cover sensitive text before sending", "redact"
        )
        self._local_only = self._toggle(
            "action_local_only", "Local only (nothing leaves this machine)", "local_only"
        )
        self._running = 0
        self.menu.addSeparator()
        self._add("action_open_chat", "Open chat", self.open_chat_requested)
        self._add("action_settings", "Settings…", self.settings_requested)
        self.menu.addSeparator()
        self._add("action_quit", "Quit", self.quit_requested)

        self.icon = QSystemTrayIcon(icons.tray_icon(), self)
        self.icon.setObjectName("tray_icon")
        self.icon.setToolTip("desktop-vlm: ask about a screen region")
        self.icon.setContextMenu(self.menu)
        self.icon.activated.connect(self._activated)

    @staticmethod
    def available() -> bool:
        return QSystemTrayIcon.isSystemTrayAvailable()

    def show(self) -> None:
        self.icon.show()

    def hide(self) -> None:
        self.icon.hide()

    def action(self, name: str) -> QAction:
        return self._actions[name]

    def set_running(self, count: int) -> None:
        """How many requests are in flight: the icon's badge and its tooltip."""
        self._running = count
        local = self._local_only.isChecked()
        self.icon.setIcon(icons.tray_icon(busy=count > 0, local_only=local))
        if count:
            tip = f"desktop-vlm: {count} request{'s' if count > 1 else ''} running"
        else:
            tip = "desktop-vlm: ask about a screen region"
        if local:
            tip += " · local only: nothing leaves this machine"
        if self._redact.isChecked():
            tip += " · sensitive text is covered"
        self.icon.setToolTip(tip)

    def set_privacy(self, redact: bool, local_only: bool) -> None:
        """Show the privacy switches as configured (and the icon's local-only mark)."""
        for action, on in ((self._redact, redact), (self._local_only, local_only)):
            action.blockSignals(True)
            action.setChecked(on)
            action.blockSignals(False)
        self.set_running(self._running)

    def set_busy(self, busy: bool) -> None:
        self.set_running(1 if busy else 0)

    def set_presets(self, presets: Iterable[Preset], default_preset: str) -> None:
        for action in self._preset_group.actions():
            self._preset_group.removeAction(action)
            self.presets_menu.removeAction(action)
            self._actions.pop(action.objectName(), None)
        for preset in presets:
            action = QAction(preset.title, self.presets_menu, checkable=True)
            action.setObjectName(f"action_preset_{preset.id}")
            action.setChecked(preset.id == default_preset)
            action.triggered.connect(lambda _=False, pid=preset.id: self.preset_chosen.emit(pid))
            self._preset_group.addAction(action)
            self.presets_menu.addAction(action)
            self._actions[action.objectName()] = action

    def _add(self, name: str, text: str, signal: Signal) -> QAction:
        action = self.menu.addAction(text)
        action.setObjectName(name)
        # triggered(bool checked) must not hand its argument to a signal that takes none.
        action.triggered.connect(lambda _checked=False, s=signal: s.emit())
        self._actions[name] = action
        return action

    def _toggle(self, name: str, text: str, key: str) -> QAction:
        action = self.menu.addAction(text)
        action.setObjectName(name)
        action.setCheckable(True)
        action.toggled.connect(lambda on, k=key: self.privacy_toggled.emit(k, on))
        self._actions[name] = action
        return action

    def _activated(self, reason: QSystemTrayIcon.ActivationReason) -> None:
        # A left click captures (the thing people open a capture tool for); the menu is on
        # the right button, as desktops expect.
        if reason == QSystemTrayIcon.ActivationReason.Trigger:
            self.capture_requested.emit()
