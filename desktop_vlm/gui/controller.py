"""The one place that wires widgets together: commands in (tray, hotkeys, socket), overlay,
worker, answer window, clipboard and notices out. Widgets never call each other.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage, QImageReader
from PySide6.QtWidgets import QInputDialog

from desktop_vlm.core.config import Config
from desktop_vlm.core.errors import CancelledError, VlmError
from desktop_vlm.core.imageprep import RawImage
from desktop_vlm.core.presets import Action, Preset
from desktop_vlm.core.pricing import estimate_cost, format_cost
from desktop_vlm.gui.answer_window import AnswerWindow
from desktop_vlm.gui.notifier import Notifier
from desktop_vlm.gui.overlay import RegionOverlay
from desktop_vlm.gui.worker import Job, StreamWorker
from desktop_vlm.platform.qimage import to_raw
from desktop_vlm.platform.screenshot import ScreenGrab

log = logging.getLogger(__name__)

Grabber = Callable[[], list[ScreenGrab]]
ClipboardReader = Callable[[], "RawImage | str | None"]
ClipboardWriter = Callable[[str], None]
QuestionAsker = Callable[[Preset], "str | None"]


def ask_question_dialog(preset: Preset) -> str | None:
    text, ok = QInputDialog.getText(None, "desktop-vlm", f"{preset.title}: your question")
    return text.strip() if ok and text.strip() else None


class Controller(QObject):
    quit_requested = Signal()
    settings_requested = Signal()
    busy_changed = Signal(bool)  # a request started or ended (the tray shows it)

    def __init__(
        self,
        config: Config,
        *,
        worker: StreamWorker,
        overlay: RegionOverlay,
        notifier: Notifier,
        grab: Grabber,
        read_clipboard: ClipboardReader,
        write_clipboard: ClipboardWriter,
        window_factory: Callable[[], AnswerWindow] = AnswerWindow,
        ask_question: QuestionAsker = ask_question_dialog,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.config = config
        self._worker = worker
        self._overlay = overlay
        self._notifier = notifier
        self._grab = grab
        self._read_clipboard = read_clipboard
        self._write_clipboard = write_clipboard
        self._window_factory = window_factory
        self._ask_question = ask_question
        self._window: AnswerWindow | None = None
        self._capture_preset: Preset | None = None
        self._capturing = False
        self._current: tuple[Preset, list[str]] | None = None

        overlay.selected.connect(self._region_selected)
        overlay.cancelled.connect(self._capture_cancelled)
        worker.started.connect(self._answer_started)
        worker.delta.connect(self._answer_delta)
        worker.finished.connect(self._answer_finished)
        worker.failed.connect(self._answer_failed)

    # --- commands -----------------------------------------------------------------------------

    def handle_command(self, command: str, preset_id: str | None = None) -> None:
        if command == "capture":
            self.capture(preset_id)
        elif command == "clipboard":
            self.ask_clipboard(preset_id)
        elif command == "show":
            self.open_window()
        elif command == "settings":
            self.settings_requested.emit()
        elif command == "quit":
            self.quit_requested.emit()

    def set_default_preset(self, preset_id: str) -> None:
        if preset_id in self.config.presets:
            self.config = replace(self.config, default_preset=preset_id)

    def capture(self, preset_id: str | None = None) -> None:
        if self._capturing:
            return  # the overlay is already up; a second hotkey press must not stack another
        preset = self._preset(preset_id)
        if preset is None:
            return
        try:
            grabs = self._grab()
        except VlmError as exc:
            self._notifier.notify("Screen capture failed", str(exc), error=True)
            return
        self._capture_preset = preset
        self._capturing = True
        self._overlay.start(grabs)

    def ask_clipboard(self, preset_id: str | None = None) -> None:
        preset = self._preset(preset_id)
        if preset is None:
            return
        source = self._read_clipboard()
        if source is None:
            self._notifier.notify(
                "No image on the clipboard",
                "Copy an image (or an image file), then try again.",
                error=True,
            )
            return
        thumbnail = _thumbnail(source)
        self.ask(source, preset, thumbnail)

    def ask(self, source: RawImage | bytes | str, preset: Preset, thumbnail: QImage | None) -> None:
        question = None
        if preset.asks_question:
            question = self._ask_question(preset)
            if not question:
                return
        job = Job(
            config=self.config, preset=preset, prompt=preset.first_prompt(question), image=source
        )
        self._current = (preset, [])
        if Action.WINDOW in preset.actions:
            window = self.open_window()
            window.begin(preset.title, thumbnail)
        self._set_busy(True)
        self._worker.start(job)

    def open_window(self) -> AnswerWindow:
        if self._window is None:
            self._window = self._window_factory()
            self._window.stop_requested.connect(self._worker.stop)
        self._window.show()
        self._window.raise_()
        self._window.activateWindow()
        return self._window

    @property
    def window(self) -> AnswerWindow | None:
        return self._window

    # --- overlay --------------------------------------------------------------------------

    def _region_selected(self, image: QImage, _info: object) -> None:
        self._capturing = False
        preset = self._capture_preset or self._preset(None)
        if preset is None:
            return
        self.ask(to_raw(image), preset, image)

    def _capture_cancelled(self) -> None:
        self._capturing = False
        log.info("capture cancelled")

    # --- worker ---------------------------------------------------------------------------

    def _answer_started(self, model: str) -> None:
        if self._window is not None and self._window_wanted():
            self._window.set_status(f"Waiting for {model}…")

    def _answer_delta(self, piece: str) -> None:
        if self._current is not None:
            self._current[1].append(piece)
        if self._window is not None and self._window_wanted():
            self._window.append(piece)
            self._window.set_status("Answering…")

    def _answer_finished(self, result) -> None:
        self._set_busy(False)
        preset, pieces = self._current or (None, [])
        self._current = None
        text = "".join(pieces)
        completion = result.completion
        log.info("request finished: %d characters from %s", len(text), completion.model)
        usage = completion.usage
        cost = estimate_cost(
            completion.model, usage.prompt_tokens, usage.completion_tokens, self.config.prices
        )
        parts = [completion.model]
        if usage.total_tokens is not None:
            parts.append(f"{usage.total_tokens} tokens")
        parts.append(format_cost(cost))
        if result.ttft_s is not None:
            parts.append(f"first token {result.ttft_s:.2f} s")
        if preset is not None and Action.COPY in preset.actions:
            self._write_clipboard(text)
            if Action.NOTIFY in preset.actions:
                preview = " ".join(text.split())[:80]
                self._notifier.notify(f"{len(text)} characters copied", preview or "(empty answer)")
        elif preset is not None and Action.NOTIFY in preset.actions:
            self._notifier.notify(preset.title, " ".join(text.split())[:200])
        if self._window is not None and preset is not None and Action.WINDOW in preset.actions:
            self._window.finish(" · ".join(parts))

    def _answer_failed(self, error: VlmError) -> None:
        self._set_busy(False)
        preset, _ = self._current or (None, [])
        self._current = None
        if isinstance(error, CancelledError):
            if self._window is not None:
                self._window.finish("Stopped")
            return
        if self._window is not None and preset is not None and Action.WINDOW in preset.actions:
            self._window.fail(str(error))
        else:
            self._notifier.notify("The request failed", str(error), error=True)

    # --- helpers --------------------------------------------------------------------------

    def _window_wanted(self) -> bool:
        return self._current is not None and Action.WINDOW in self._current[0].actions

    def _preset(self, preset_id: str | None) -> Preset | None:
        try:
            return self.config.preset(preset_id)
        except KeyError:
            self._notifier.notify(
                "Unknown preset",
                f"There is no preset '{preset_id}'. Known: {', '.join(self.config.presets)}",
                error=True,
            )
            return None

    def _set_busy(self, busy: bool) -> None:
        self.busy_changed.emit(busy)


def _thumbnail(source: RawImage | bytes | str) -> QImage | None:
    if isinstance(source, str):
        # Decode at thumbnail size: a 54-megapixel photo must not stall the GUI thread.
        reader = QImageReader(source)
        size = reader.size()
        if size.isValid():
            reader.setScaledSize(size.scaled(192, 192, Qt.AspectRatioMode.KeepAspectRatio))
        image = reader.read()
    elif isinstance(source, bytes):
        image = QImage.fromData(source)
    else:
        fmt = (
            QImage.Format.Format_ARGB32 if source.mode in ("BGRA",) else QImage.Format.Format_RGB32
        )
        image = QImage(source.data, source.width, source.height, source.stride, fmt).copy()
    return None if image.isNull() else image
