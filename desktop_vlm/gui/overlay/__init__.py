"""The region-capture overlay: each screen's frozen image, a rectangle drawn on it, the crop out.

What a person sees and does:

- Every screen shows its frozen screenshot, dimmed, with a crosshair cursor and a short hint in
  the upper third ("Drag to select · Esc to cancel"). The hint disappears as soon as a drag
  starts.
- Pressing the left button and dragging in any direction draws the selection: undimmed, framed
  by a crisp one-pixel border drawn just *outside* it, with a live size readout in pixels of the
  captured image ("640 × 360") beside it. The selection is clamped to the screen where the drag
  began, also when the pointer wanders onto another screen.
- Holding Space while dragging moves the rectangle instead of resizing it (as on macOS);
  releasing Space resumes resizing.
- Releasing the button confirms at once: the overlay hides and ``selected`` carries the crop.
- Esc or a right click cancels: the overlay hides, ``cancelled`` is emitted, nothing is sent.
- Shift held while releasing (or A pressed before) keeps the region, numbered 1, and waits for a
  second; its release delivers both combined into one image under their numbers 1 and 2 (the
  API takes one image per request). Esc still cancels both.
- R switches drags to covering: each drag paints its area solid black in the frozen picture, so
  every crop from then on (and so what is sent and what history keeps) has it covered; R again
  goes back to selecting.
- A click without a real drag (a press whose pointer never got 4 logical pixels away, across or
  down) emits nothing and leaves the overlay open for another try.

Which pixels the crop holds: the pixel under the pointer's hotspot where the drag started, the
pixel under it where the drag ended, and every pixel between them; so a drag from pixel 100 to
pixel 739 gives 640 pixels, and a drag from the first to the last pixel of a screen gives the
whole screen. Pointer positions are mapped to image pixels with the ratio image size / window
size (not devicePixelRatio, which compositors that hand back logical-size images make wrong),
then floored: ``floor(position * ratio)`` is the index of the pixel under the hotspot. When the
image is within one pixel of the screen's logical size times its devicePixelRatio, the ratio is
exactly the devicePixelRatio: at fractional scales a screen's logical size is rounded (1280
physical pixels at 1.5 are 853 logical), and the rounded ratio would drift by up to a pixel
across the screen. The undimmed area on screen is drawn from the same pixel rectangle as the
crop, so what is inside the border is exactly what ``selected`` delivers (a deep copy of the
captured pixels, never a re-grab).

Performance: the windows are created once (``RegionOverlay.__init__`` builds one per screen and
``start`` only adds windows when screens were added) and merely hidden between captures; each
``start`` converts each image to a QPixmap once, and a mouse move repaints only the region whose
look changed (the strip between the old and new rectangle, the border and the readout).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from PySide6.QtCore import QEvent, QObject, QRect, Qt, Signal
from PySide6.QtGui import QCursor, QGuiApplication, QImage, QKeyEvent, QScreen

from desktop_vlm.gui.overlay import marks
from desktop_vlm.gui.overlay.geometry import RegionInfo, image_scale, pixel_rect_between
from desktop_vlm.gui.overlay.screen_window import HINT_TEXT, MIN_DRAG, _ScreenWindow
from desktop_vlm.platform.screenshot.models import ScreenGrab

__all__ = [
    "HINT_TEXT",
    "MIN_DRAG",
    "RegionInfo",
    "RegionOverlay",
    "image_scale",
    "pixel_rect_between",
]

logger = logging.getLogger(__name__)


class RegionOverlay(QObject):
    """Shows frozen screens full-screen and lets a person pick a rectangle on one of them.

    Build it once and call ``start`` per capture; ``selected`` or ``cancelled`` follows, and all
    windows are hidden by then. ``selected`` carries the crop (a deep copy of the grab's pixels,
    keeping the grab's devicePixelRatio so it displays at its logical size) and a
    ``RegionInfo``. ``shown`` reports that every screen's window is on screen (for tests and
    latency measurements).
    """

    selected = Signal(QImage, object)
    cancelled = Signal()
    shown = Signal()
    preset_changed = Signal(str)  # the preset release will use (number keys, Tab)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._bypass_window_manager = QGuiApplication.platformName() == "xcb"
        self._windows: list[_ScreenWindow] = []
        self._in_use: list[_ScreenWindow] = []
        self._presets: list[tuple[str, str]] = []
        self._target: Callable[[str], str] | None = None
        self.preset_id = ""
        self._waiting_for_expose: set[int] = set()
        self._focus_window: _ScreenWindow | None = None
        self._kept: tuple[QImage, RegionInfo] | None = None  # region 1, waiting for region 2
        self._adding = False  # A was pressed: the next release keeps its region
        self._covering = False
        self._ensure_windows(len(QGuiApplication.screens()))
        # Prepare a window as soon as a screen appears, so that start() does not have to.
        QGuiApplication.instance().screenAdded.connect(self._on_screen_added)

    @property
    def is_active(self) -> bool:
        return bool(self._in_use)

    def start(
        self,
        grabs: Sequence[ScreenGrab],
        presets: Sequence[tuple[str, str]] = (),
        current: str | None = None,
        target: Callable[[str], str] | None = None,
    ) -> None:
        """Show each grab full-screen on its own screen and wait for a selection.

        ``presets`` are (id, title) pairs the person may switch between before releasing (1-9,
        Tab); ``target(preset_id)`` says where release sends the region ("api.openai.com,
        gpt-4.1-mini"), shown in the hint.
        """
        if not grabs:
            raise ValueError("start() needs at least one ScreenGrab")
        self._presets = list(presets)
        self._target = target
        self.preset_id = current if current else (self._presets[0][0] if self._presets else "")
        if self._in_use:
            self._finish()
        self._kept, self._adding, self._covering = None, False, False
        self._ensure_windows(len(grabs))
        self._in_use = self._windows[: len(grabs)]
        self._waiting_for_expose = set(range(len(grabs)))
        for window, grab in zip(self._in_use, grabs, strict=True):
            window.load(grab, _screen_for(grab))
        self._show_preset()
        self._focus_window = self._window_under_pointer()
        for window in self._in_use:
            if self._bypass_window_manager:
                window.show()
            else:
                window.showFullScreen()
        self._focus_window.raise_()
        self._focus_window.activateWindow()
        self._focus_window.setFocus()
        logger.debug("Overlay started on %s screen(s)", len(grabs))

    def cancel(self) -> None:
        """Hide the overlay; emits ``cancelled`` if a capture was in progress."""
        if self._in_use:
            self._finish()
            logger.debug("Overlay cancelled")
            self.cancelled.emit()

    def close(self) -> None:
        """Cancel any capture and destroy the windows (at application shutdown)."""
        self.cancel()
        QGuiApplication.instance().screenAdded.disconnect(self._on_screen_added)
        for window in self._windows:
            window.deleteLater()
        self._windows = []

    # -- internals ---------------------------------------------------------------------------

    def _on_screen_added(self, _screen: QScreen) -> None:
        self._ensure_windows(len(QGuiApplication.screens()))

    def _ensure_windows(self, count: int) -> None:
        while len(self._windows) < count:
            window = _ScreenWindow(self._bypass_window_manager)
            window.drag_started.connect(self._on_drag_started)
            window.released.connect(lambda rect, shift, w=window: self._on_released(w, rect, shift))
            window.mode_key.connect(self._mode_key)
            window.cancel_requested.connect(self.cancel)
            window.exposed.connect(lambda w=window: self._on_exposed(w))
            window.preset_key.connect(self._preset_key)
            self._windows.append(window)
            window.installEventFilter(self)

    def _window_under_pointer(self) -> _ScreenWindow:
        position = QCursor.pos()
        for window in self._in_use:
            if window.geometry().contains(position):
                return window
        return self._in_use[0]

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        # Keys arrive at the focused window only, but Space concerns the window being dragged on.
        if (
            event.type() in (QEvent.Type.KeyPress, QEvent.Type.KeyRelease)
            and isinstance(event, QKeyEvent)
            and event.key() == Qt.Key.Key_Space
            and not event.isAutoRepeat()
        ):
            for window in self._in_use:
                if window is not watched and window.is_dragging():
                    window.set_moving(event.type() == QEvent.Type.KeyPress)
        return False

    def _preset_key(self, key: int) -> None:
        if not self._presets or not self._in_use:
            return
        ids = [preset_id for preset_id, _ in self._presets]
        at = ids.index(self.preset_id) if self.preset_id in ids else 0
        if key > 0:
            if key > len(ids):
                return
            at = key - 1
        else:
            at = (at + (1 if key == 0 else -1)) % len(ids)
        self.preset_id = ids[at]
        self._show_preset()
        self.preset_changed.emit(self.preset_id)

    def _show_preset(self) -> None:
        if not self._presets:
            return
        titles = dict(self._presets)
        title = titles.get(self.preset_id, self.preset_id)
        where = self._target(self.preset_id) if self._target else ""
        keys = f"1\N{EN DASH}{min(9, len(self._presets))} or Tab: preset"
        dot = " \N{MIDDLE DOT} "
        if self._covering:
            doing = f"Drag over what to cover{dot}R: back to selecting"
        elif self._kept is not None:
            doing = f"Region 1 kept: drag region 2{dot}Esc to cancel"
        elif self._adding:
            doing = f"Drag region 1 of 2{dot}Esc to cancel"
        else:
            doing = HINT_TEXT
        hint = (
            f"{title}"
            + (f" \N{RIGHTWARDS ARROW} {where}" if where else "")
            + f"\n{doing}\n{keys}{dot}Shift+release: add a region{dot}R: cover"
        )
        for window in self._in_use:
            window.set_hint(hint, title)

    def _mode_key(self, mode: str) -> None:
        if not self._in_use:
            return
        if mode == "cover":
            self._covering = not self._covering
            for window in self._in_use:
                window.set_covering(self._covering)
        elif mode == "add" and self._kept is None:
            self._adding = not self._adding
        self._show_preset()
        for window in self._in_use:
            window.show_hint()

    def _on_exposed(self, window: _ScreenWindow) -> None:
        if window not in self._in_use:
            return
        if window is self._focus_window:
            # Only the focused window grabs the keyboard: Esc must work even if a window
            # manager hands the focus elsewhere, and only one grab can exist.
            window.grabKeyboard()
        index = self._in_use.index(window)
        if index in self._waiting_for_expose:
            self._waiting_for_expose.discard(index)
            if not self._waiting_for_expose:
                logger.debug("Overlay shown")
                self.shown.emit()

    def _on_drag_started(self) -> None:
        for window in self._in_use:
            window.hide_hint()

    def _on_released(self, window: _ScreenWindow, rect: QRect, shift: bool = False) -> None:
        if window not in self._in_use:
            return
        if self._covering:
            window.cover(rect)
            window.show_hint()
            return
        image, info = window.crop(rect)
        if self._kept is None and (shift or self._adding):
            self._kept, self._adding = (image, info), False
            window.keep(rect)
            self._show_preset()
            window.show_hint()
            logger.debug("Kept region 1 %s on %s", info.pixel_rect, info.screen_name)
            return
        if self._kept is not None:
            first, first_info = self._kept
            image = marks.combine([first, image])
            info = replace(first_info, covered=first_info.covered + info.covered, parts=2)
        self._finish()
        logger.debug("Selected %s on %s", info.pixel_rect, info.screen_name)
        self.selected.emit(image, info)

    def _finish(self) -> None:
        for window in self._in_use:
            window.releaseKeyboard()
            window.hide()
            window.unload()
        self._in_use = []
        self._kept, self._adding, self._covering = None, False, False
        self._waiting_for_expose = set()
        self._focus_window = None


def _screen_for(grab: ScreenGrab) -> QScreen | None:
    for screen in QGuiApplication.screens():
        if screen.name() == grab.screen_name:
            return screen
    return QGuiApplication.screenAt(grab.geometry.center())
