"""One capture, from the hotkey to the region: the app's own windows leave the screen first (so
they are not in the picture), the screens are grabbed, the overlay says what release does and
lets the preset be switched, and the windows come back afterwards."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

import shiboken6
from PySide6.QtCore import QEvent, QObject, QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QWidget

from desktop_vlm.core import errors as E
from desktop_vlm.core.config import Config
from desktop_vlm.core.presets import Preset
from desktop_vlm.core.urls import needs_key
from desktop_vlm.gui.overlay import RegionOverlay
from desktop_vlm.platform.qimage import to_raw

log = logging.getLogger(__name__)

#: Time for the window manager to take the app's own windows off the screen before a grab.
HIDE_MS = 120


class CaptureFlow(QObject):
    captured = Signal(object, QImage, object, object)  # RawImage, image, Preset, RegionInfo
    warm_up = Signal()  # a text preset is chosen: the offline engine may load now
    failed = Signal(str)

    def __init__(
        self,
        overlay: RegionOverlay,
        grab: Callable[[str | None], list],
        config: Callable[[], Config],
        parent: QObject | None = None,
        has_key: Callable[[Config], bool] = lambda _config: True,
    ) -> None:
        super().__init__(parent)
        self._overlay = overlay
        self._grab = grab
        self._config = config
        self._has_key = has_key
        self._preset: Preset | None = None
        self._hidden: list[QWidget] = []  # a card may close itself while hidden
        self.active = False
        overlay.selected.connect(self._selected)
        overlay.cancelled.connect(self._cancelled)
        overlay.preset_changed.connect(self._preset_changed)

    def start(self, preset: Preset, handler: str | None = None) -> None:
        if self.active:
            return  # the overlay is already up; a second hotkey press must not stack another
        self.active = True
        self._preset = preset
        if preset.offline or preset.verify:
            self.warm_up.emit()  # loaded by the time the mouse is released
        shown = [
            w
            for w in QApplication.topLevelWidgets()
            if w.isVisible()
            and w.isWindow()
            and w.windowTitle() != "desktop-vlm region capture"
            # Qt's own window of the tray icon: hidden, the tray host drops the icon for good
            and w.metaObject().className() != "QSystemTrayIconSys"
        ]
        for widget in shown:
            widget.setProperty("closed_while_hidden", False)
            widget.installEventFilter(self)
            widget.hide()
        self._hidden = shown
        # The grab waits until the window manager has taken them off the screen.
        QTimer.singleShot(HIDE_MS if self._hidden else 0, lambda: self._grab_now(handler))

    def _grab_now(self, handler: str | None) -> None:
        try:
            grabs = self._grab(handler)
        except E.VlmError as exc:
            self.active = False
            self._restore()
            self.failed.emit(str(exc))
            return
        choices = [(p.id, p.title) for p in self._config().presets.values()]
        self._overlay.start(grabs, choices, self._preset.id if self._preset else None, self.target)

    def target(self, preset_id: str) -> str:
        """Where releasing sends the region, in a few words (the overlay's hint)."""
        config = self._config()
        preset = config.presets.get(preset_id)
        profile = config.active
        reads_text = preset is not None and preset.offline
        if profile.offline:
            return "read offline" if reads_text else "needs a model"
        remote = needs_key(profile.base_url)
        if remote and config.local_only:
            return (
                "read offline (local only)"
                if reads_text
                else "a server on this machine (local only)"
            )
        if remote and not self._has_key(config):
            return (
                "read offline (no key set)"
                if reads_text
                else "no key set: only a server on this machine can answer"
            )
        model = (preset.model if preset else None) or profile.model or "model chosen automatically"
        return f"{urlsplit(profile.base_url).hostname}, {model}"

    def _preset_changed(self, preset_id: str) -> None:
        preset = self._config().presets.get(preset_id)
        if preset is not None:
            self._preset = preset
            if preset.offline or preset.verify:
                self.warm_up.emit()

    def _selected(self, image: QImage, info: object) -> None:
        self.active = False
        try:
            if self._preset is not None:
                self.captured.emit(to_raw(image), image, self._preset, info)
        finally:
            self._restore()

    def _cancelled(self) -> None:
        self.active = False
        self._restore()
        log.info("capture cancelled")

    def _restore(self) -> None:
        hidden, self._hidden = self._hidden, []
        for widget in hidden:
            # One closed while off the screen (a card's timeout) stays closed; it may be gone.
            if shiboken6.isValid(widget):
                widget.removeEventFilter(self)
                if not widget.property("closed_while_hidden"):
                    widget.show()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Close:
            watched.setProperty("closed_while_hidden", True)
        return False
