"""One screen's full-screen window of the overlay: the frozen image, the selection drawn on it,
and the gestures, reported to the overlay that owns it."""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QPointF, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import (
    QColor,
    QCursor,
    QFont,
    QFontMetrics,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPaintEvent,
    QPixmap,
    QRegion,
    QScreen,
)
from PySide6.QtWidgets import QWidget

from desktop_vlm.gui.overlay import marks
from desktop_vlm.gui.overlay.geometry import RegionInfo, image_scale, pixel_rect_between
from desktop_vlm.platform.screenshot.models import ScreenGrab

HINT_TEXT = "Drag to select \N{MIDDLE DOT} Esc to cancel"
MIN_DRAG = 4.0  # logical pixels the pointer must travel before a press becomes a selection
_DIM = QColor(0, 0, 0, 120)
_BORDER = QColor(61, 174, 233)
_COVER_BORDER = QColor(232, 65, 65)
_LABEL_BACKGROUND = QColor(24, 24, 28, 215)
_LABEL_TEXT = QColor(245, 245, 245)
_LABEL_GAP = 6  # logical pixels between the selection's border and the size readout
_HINT_MARGIN = 24  # logical pixels around the hint where a pointer moves it away


class _ScreenWindow(QWidget):
    """One screen's full-screen window; it reports gestures and leaves decisions to the overlay."""

    drag_started = Signal()
    released = Signal(QRect, bool)  # the selection, and whether Shift was held (add a region)
    cancel_requested = Signal()
    exposed = Signal()
    preset_key = Signal(int)  # 1..9 chose a preset by its number; 0: Tab (next), -1: Shift+Tab
    mode_key = Signal(str)  # "cover" (R): drags cover areas; "add" (A or +): keep a 2nd region

    def __init__(self, bypass_window_manager: bool) -> None:
        super().__init__()
        flags = Qt.WindowType.Tool | Qt.WindowType.FramelessWindowHint
        flags |= Qt.WindowType.WindowStaysOnTopHint
        if bypass_window_manager:
            # Override-redirect: no window manager moves, decorates or animates it, and it
            # stacks above panels; Qt then sets the input focus itself on activateWindow().
            flags |= Qt.WindowType.BypassWindowManagerHint
        self.setWindowFlags(flags)
        self.setWindowTitle("desktop-vlm region capture")
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        self.setCursor(Qt.CursorShape.CrossCursor)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        font = QFont(self.font())
        font.setPixelSize(14)
        self.setFont(font)
        self._font_metrics = QFontMetrics(font)
        self._image = QImage()
        self._pixmap = QPixmap()
        self._sx = self._sy = 1.0
        self._screen_name = ""
        self._origin = QPointF()
        self._show_hint = True
        self._hint_low = False  # the hint moved to the lower third, out of the pointer's way
        self._hint = HINT_TEXT
        self._preset_title = ""
        self._kept: list[QRect] = []  # regions kept for the same question, numbered from 1
        self._cover_rects: list[QRect] = []
        self.covering = False
        self._reset_drag()
        self.setMouseTracking(True)  # the hint moves away from a pointer that comes near it
        self.winId()  # create the native window now, not on the first capture
        self.windowHandle().installEventFilter(self)

    # -- what the overlay drives -------------------------------------------------------------

    def load(self, grab: ScreenGrab, screen: QScreen | None) -> None:
        self._image = grab.image
        self._pixmap = QPixmap.fromImage(grab.image)
        # Painting happens in image-pixel coordinates; a grab's own ratio (QScreen.grabWindow
        # sets it) would shrink the pixmap a second time.
        self._pixmap.setDevicePixelRatio(1.0)
        dpr = screen.devicePixelRatio() if screen is not None else 1.0
        self._sx, self._sy = image_scale(grab.image.size(), grab.geometry.size(), dpr)
        self._screen_name = grab.screen_name
        self._origin = QPointF(grab.geometry.topLeft())
        self._show_hint, self._hint_low = True, False
        self._kept, self._cover_rects, self.covering = [], [], False
        self._reset_drag()
        if screen is not None:
            self.setScreen(screen)
        self.setGeometry(grab.geometry)
        self._hint_out_of_the_way(QPointF(self.mapFromGlobal(QCursor.pos())))

    def unload(self) -> None:
        """Drop the frozen images so an idle overlay holds no screen-sized buffers."""
        self._image = QImage()
        self._pixmap = QPixmap()
        self._kept, self._cover_rects, self.covering = [], [], False
        self._reset_drag()

    def show_hint(self) -> None:
        self._show_hint = True
        self.update(self._hint_rect().toAlignedRect().adjusted(-1, -1, 1, 1))

    def hide_hint(self) -> None:
        if self._show_hint:
            self._show_hint = False
            self.update(self._hint_rect().toAlignedRect().adjusted(-1, -1, 1, 1))

    def crop(self, rect: QRect) -> tuple[QImage, RegionInfo]:
        logical = self._logical(rect).translated(self._origin)
        covered = sum(1 for r in self._cover_rects if r.intersects(rect))
        info = RegionInfo(self._screen_name, logical, QRect(rect), covered=covered)
        return self._image.copy(rect), info

    def keep(self, rect: QRect) -> None:
        """Show ``rect`` as a kept region, with its number, while the next one is drawn."""
        self._kept.append(QRect(rect))
        self.update()

    def cover(self, rect: QRect) -> None:
        """Cover ``rect`` solid: in the frozen image, so every crop from now on has it covered."""
        marks.cover(self._image, self._pixmap, rect)
        self._cover_rects.append(QRect(rect))
        self.update(self._logical(rect).toAlignedRect().adjusted(-3, -3, 3, 3))

    def set_covering(self, covering: bool) -> None:
        self.covering = covering
        self.update()

    # -- input -------------------------------------------------------------------------------

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.RightButton:
            self.cancel_requested.emit()
        elif event.button() == Qt.MouseButton.LeftButton and self._press is None:
            self._press = event.position()
            self._anchor = self._cursor = self._last = self._to_image(event.position())

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._press is None:
            self._hint_out_of_the_way(event.position())
            return
        self._follow(event.position())

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() != Qt.MouseButton.LeftButton or self._press is None:
            return
        self._follow(event.position())
        selection = self._selection()
        self._set_selection_state(None)
        self._reset_drag()
        if selection is not None:
            shift = bool(event.modifiers() & Qt.KeyboardModifier.ShiftModifier)
            self.released.emit(selection, shift)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key = event.key()
        if key == Qt.Key.Key_Escape:
            self.cancel_requested.emit()
        elif Qt.Key.Key_1 <= key <= Qt.Key.Key_9:
            self.preset_key.emit(key - Qt.Key.Key_0)
        elif key == Qt.Key.Key_Tab:
            self.preset_key.emit(0)
        elif key == Qt.Key.Key_Backtab:
            self.preset_key.emit(-1)
        elif key == Qt.Key.Key_R:
            self.mode_key.emit("cover")
        elif key in (Qt.Key.Key_A, Qt.Key.Key_Plus):
            self.mode_key.emit("add")
        elif event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._moving = True
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._moving = False
        else:
            super().keyReleaseEvent(event)

    def set_moving(self, moving: bool) -> None:
        """Space is held (or not); keys reach only the focused window, the overlay relays them."""
        self._moving = moving

    def is_dragging(self) -> bool:
        return self._press is not None

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802
        if event.type() == QEvent.Type.Expose and self.windowHandle().isExposed():
            # Queued: the expose handler paints after the filters run; report once painted.
            QTimer.singleShot(0, self, self.exposed.emit)
        return False

    # -- drag state --------------------------------------------------------------------------

    def _reset_drag(self) -> None:
        self._press: QPointF | None = None
        self._anchor = QPointF()
        self._cursor = QPointF()
        self._last = QPointF()
        self._moving = False
        self._real_drag = False
        self._shown_selection: QRect | None = None

    def _to_image(self, position: QPointF) -> QPointF:
        return QPointF(position.x() * self._sx, position.y() * self._sy)

    def _follow(self, position: QPointF) -> None:
        point = self._to_image(position)
        if self._moving and self._real_drag:
            self._shift(point - self._last)
        else:
            self._cursor = point
        self._last = point
        if not self._real_drag:
            travel = position - self._press
            if max(abs(travel.x()), abs(travel.y())) < MIN_DRAG:
                return
            self._real_drag = True
            self.drag_started.emit()
        self._set_selection_state(self._selection())

    def _shift(self, delta: QPointF) -> None:
        """Move the rectangle by ``delta`` image pixels, stopping at the screen's edges."""
        size = self._image.size()
        low_x, high_x = sorted((self._anchor.x(), self._cursor.x()))
        low_y, high_y = sorted((self._anchor.y(), self._cursor.y()))
        # Positions stay below size - 0.5 so that flooring lands on the last pixel, not past it.
        dx = min(max(delta.x(), -low_x), size.width() - 0.5 - high_x)
        dy = min(max(delta.y(), -low_y), size.height() - 0.5 - high_y)
        shift = QPointF(dx, dy)
        self._anchor += shift
        self._cursor += shift

    def _selection(self) -> QRect | None:
        if self._press is None or not self._real_drag or self._image.isNull():
            return None
        return pixel_rect_between(self._anchor, self._cursor, self._image.size())

    def _set_selection_state(self, selection: QRect | None) -> None:
        old = self._shown_selection
        if old == selection:
            return
        self._shown_selection = selection
        self.update(self._dirty_between(old, selection))

    # -- geometry of what is drawn (logical coordinates) -------------------------------------

    def _logical(self, rect: QRect) -> QRectF:
        sx, sy = self._sx, self._sy
        return QRectF(rect.x() / sx, rect.y() / sy, rect.width() / sx, rect.height() / sy)

    def set_hint(self, hint: str, preset_title: str) -> None:
        """What release does, shown until a drag starts, and the preset beside the size."""
        old = self._hint_rect().toAlignedRect().adjusted(-1, -1, 1, 1)
        self._hint, self._preset_title = hint, preset_title
        self.update(old.united(self._hint_rect().toAlignedRect().adjusted(-1, -1, 1, 1)))

    def _label_text(self, selection: QRect) -> str:
        size = f"{selection.width()} \N{MULTIPLICATION SIGN} {selection.height()}"
        if self.covering:
            return f"{size} \N{MIDDLE DOT} cover"
        if self._kept:
            return f"{size} \N{MIDDLE DOT} region {len(self._kept) + 1}"
        return f"{size} \N{MIDDLE DOT} {self._preset_title}" if self._preset_title else size

    def _pill_size(self, text: str) -> QSize:
        metrics = self._font_metrics
        lines = text.split("\n")
        width = max(metrics.horizontalAdvance(line) for line in lines)
        return QSize(width + 16, metrics.height() * len(lines) + 8)

    def _label_rect(self, selection: QRect) -> QRectF:
        """Below the selection's right edge; above it, or inside, when the screen ends first."""
        area = QRectF(self.rect())
        box = self._logical(selection).adjusted(-1, -1, 1, 1)  # the border
        size = self._pill_size(self._label_text(selection))
        x = min(max(box.right() - size.width(), 0.0), area.width() - size.width())
        y = box.bottom() + _LABEL_GAP
        if y + size.height() > area.height():
            y = box.top() - _LABEL_GAP - size.height()
            if y < 0:
                y = box.bottom() - _LABEL_GAP - size.height()
        return QRectF(x, max(y, 0.0), size.width(), size.height())

    def _hint_rect(self) -> QRectF:
        size = self._pill_size(self._hint)
        size = QSize(size.width() + 12, size.height() + 8)
        return QRectF(
            (self.width() - size.width()) / 2,
            self.height() * (2 / 3 if self._hint_low else 1 / 3) - size.height() / 2,
            size.width(),
            size.height(),
        )

    def _hint_out_of_the_way(self, pointer: QPointF) -> None:
        """A pointer near the hint is about to drag over what it covers: the hint goes to the
        other third of the screen, and nothing is hidden. On a screen too small for the two
        places to stay apart it stays where it is (it would jump at every move)."""
        if not self._show_hint or not self._near_hint(pointer):
            return
        old = self._hint_rect().toAlignedRect().adjusted(-1, -1, 1, 1)
        self._hint_low = not self._hint_low
        if self._near_hint(pointer):
            self._hint_low = not self._hint_low
            return
        self.update(old.united(self._hint_rect().toAlignedRect().adjusted(-1, -1, 1, 1)))

    def _near_hint(self, pointer: QPointF) -> bool:
        margin = _HINT_MARGIN
        return self._hint_rect().adjusted(-margin, -margin, margin, margin).contains(pointer)

    def _dirty_between(self, old: QRect | None, new: QRect | None) -> QRegion:
        """What changes look when the selection goes from ``old`` to ``new``.

        Inside both rectangles stays undimmed and outside both stays dimmed, so only the
        symmetric difference repaints, plus a band around each border and both readouts.
        """
        region = QRegion()
        boxes = []
        for selection in (old, new):
            if selection is None:
                boxes.append(QRegion())
                continue
            box = self._logical(selection).toAlignedRect()
            boxes.append(QRegion(box))
            band = QRegion(box.adjusted(-3, -3, 3, 3)).subtracted(
                QRegion(box.adjusted(3, 3, -3, -3))
            )
            region = region.united(band)
            label = self._label_rect(selection).toAlignedRect().adjusted(-1, -1, 1, 1)
            region = region.united(QRegion(label))
        return region.united(boxes[0].xored(boxes[1]))

    # -- painting ----------------------------------------------------------------------------

    def paintEvent(self, event: QPaintEvent) -> None:  # noqa: N802
        painter = QPainter(self)
        if self._pixmap.isNull():
            painter.fillRect(self.rect(), Qt.GlobalColor.black)
            return
        # Image-pixel coordinates: at scale == devicePixelRatio this is the device grid, so the
        # frozen image blits 1:1 and every edge below falls on a whole device pixel.
        painter.scale(1 / self._sx, 1 / self._sy)
        image_rect = QRect(self._pixmap.rect())
        # A rounded logical size can leave a sliver of window beyond the image (0.5 px at 1.5).
        window_extent = QRectF(0, 0, self.width() * self._sx, self.height() * self._sy)
        for rect in QRegion(window_extent.toAlignedRect()).subtracted(QRegion(image_rect)):
            painter.fillRect(rect, Qt.GlobalColor.black)
        painter.drawPixmap(0, 0, self._pixmap)
        selection = self._shown_selection
        dim = QRegion(image_rect)
        for kept in self._kept:
            dim = dim.subtracted(QRegion(kept))
        if selection is not None and not self.covering:
            dim = dim.subtracted(QRegion(selection))
        for rect in dim:
            painter.fillRect(rect, _DIM)
        frames = [(kept, _BORDER) for kept in self._kept]
        if selection is not None:
            frames.append((selection, _COVER_BORDER if self.covering else _BORDER))
            if self.covering:
                painter.fillRect(selection, QColor(0, 0, 0, 160))
        for box, colour in frames:
            outer = box.adjusted(-1, -1, 1, 1)
            for rect in QRegion(outer).subtracted(QRegion(box)):
                painter.fillRect(rect, colour)
        painter.resetTransform()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        for number, kept in enumerate(self._kept, start=1):
            corner = self._logical(kept).topLeft()
            size = self._pill_size(str(number))
            self._draw_pill(
                painter,
                QRectF(corner.x() + 4, corner.y() + 4, size.width(), size.height()),
                str(number),
            )
        if selection is not None:
            self._draw_pill(painter, self._label_rect(selection), self._label_text(selection))
        elif self._show_hint:
            self._draw_pill(painter, self._hint_rect(), self._hint)

    def _draw_pill(self, painter: QPainter, rect: QRectF, text: str) -> None:
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(_LABEL_BACKGROUND)
        painter.drawRoundedRect(rect, 6, 6)
        painter.setPen(_LABEL_TEXT)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
