"""The one place that wires widgets together: commands in (tray, hotkeys, socket), overlay,
worker, chat window, clipboard and notices out. Widgets never call each other.

It owns the conversations: a new capture (or clipboard image, or an image dropped on the
window) starts one; answers and follow-ups append to it. Nothing typed or answered is lost on
failure: a follow-up whose request fails goes back into the question box, a partial answer is
kept and marked incomplete.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QImage, QImageReader
from PySide6.QtWidgets import QInputDialog

from desktop_vlm.core import errors as E
from desktop_vlm.core.config import Config
from desktop_vlm.core.conversation import Conversation, ImageRef
from desktop_vlm.core.presets import Action, Preset
from desktop_vlm.core.pricing import estimate_cost, format_cost
from desktop_vlm.core.rawimage import RawImage
from desktop_vlm.gui.notifier import Notifier
from desktop_vlm.gui.overlay import RegionOverlay
from desktop_vlm.gui.worker import Job, StreamWorker
from desktop_vlm.platform.qimage import to_raw
from desktop_vlm.platform.screenshot import ScreenGrab
from desktop_vlm.services.history import HistoryStore

if TYPE_CHECKING:
    from desktop_vlm.gui.chat_window import ChatWindow, ErrorAction

log = logging.getLogger(__name__)

Grabber = Callable[["str | None"], list[ScreenGrab]]  # forced handler name, or None
ClipboardReader = Callable[[], "RawImage | str | None"]
ClipboardWriter = Callable[[str], None]
QuestionAsker = Callable[[Preset], "str | None"]
ImageSource = RawImage | bytes | str


def ask_question_dialog(preset: Preset) -> str | None:
    text, ok = QInputDialog.getText(None, "desktop-vlm", f"{preset.title}: your question")
    return text.strip() if ok and text.strip() else None


@dataclass
class _Request:
    """The request in flight and what to do with its answer."""

    preset: Preset
    prompt: str
    conversation: Conversation | None
    show: bool  # the answer goes to the window
    thumbnail: QImage | None = None
    follow_up: bool = False
    #: The answer's pieces as they arrive; joined when needed (appending to one string would
    #: cost O(n²) on a runaway answer).
    pieces: list[str] = field(default_factory=list)

    def sync_text(self) -> None:
        turn = self.conversation.pending_answer if self.conversation else None
        if turn is not None:
            turn.text = "".join(self.pieces)


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
        window_factory: Callable[[Config], ChatWindow] | None = None,
        ask_question: QuestionAsker = ask_question_dialog,
        history: HistoryStore | None = None,
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
        self._window_factory = window_factory or _default_window
        self._ask_question = ask_question
        self.history = history
        # While an answer streams, what has arrived is written to disk about once a second.
        self._flush_timer = QTimer(self, interval=1000, timeout=self._flush_partial)
        self._window: ChatWindow | None = None
        self._capture_preset: Preset | None = None
        self._capturing = False
        self._request: _Request | None = None
        self.conversations: list[Conversation] = []  # newest first
        self._models: list[str] = []

        overlay.selected.connect(self._region_selected)
        overlay.cancelled.connect(self._capture_cancelled)
        worker.image_ready.connect(self._image_ready)
        worker.started.connect(self._answer_started)
        worker.delta.connect(self._answer_delta)
        worker.finished.connect(self._answer_finished)
        worker.failed.connect(self._answer_failed)
        worker.models_ready.connect(self._models_ready)

    # --- commands -----------------------------------------------------------------------------

    def handle_command(
        self, command: str, preset_id: str | None = None, handler: str | None = None
    ) -> None:
        if command == "capture":
            self.capture(preset_id, handler)
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
            if self._window is not None:
                self._window.set_preset(preset_id)

    def apply_config(self, config: Config) -> None:
        """New settings take effect for the next request."""
        self.config = config
        self._models = []

    def capture(self, preset_id: str | None = None, handler: str | None = None) -> None:
        if self._capturing:
            return  # the overlay is already up; a second hotkey press must not stack another
        preset = self._preset(preset_id)
        if preset is None:
            return
        try:
            grabs = self._grab(handler)
        except E.VlmError as exc:
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
        self.ask(source, preset, _thumbnail(source))

    def ask(self, source: ImageSource, preset: Preset, thumbnail: QImage | None) -> None:
        """Start a new conversation about ``source`` with ``preset``."""
        question = None
        if preset.asks_question:
            question = self._ask_question(preset)
            if not question:
                return
        prompt = preset.first_prompt(question)
        show = Action.WINDOW in preset.actions
        self._request = _Request(preset, prompt, None, show, thumbnail)
        if show:
            self.open_window().show_pending(preset.title, thumbnail)
        self._start(Job(config=self.config, preset=preset, prompt=prompt, image=source))

    def open_window(self) -> ChatWindow:
        if self._window is None:
            window = self._window_factory(self.config)
            window.follow_up.connect(self.follow_up)
            window.stop_requested.connect(self._worker.stop)
            window.regenerate_requested.connect(self.regenerate)
            window.retry_requested.connect(self.retry)
            window.settings_requested.connect(self.settings_requested.emit)
            window.capture_requested.connect(lambda: self.capture(window.selected_preset()))
            window.conversation_selected.connect(self.show_conversation)
            window.image_dropped.connect(
                lambda source: self._image_dropped(source, window.selected_preset())
            )
            window.search_changed.connect(self._search)
            window.delete_requested.connect(self.delete_conversation)
            window.delete_all_requested.connect(self.delete_all)
            self._window = window
            self._refresh_history()
        self._window.show()
        self._window.raise_()
        self._window.activateWindow()
        if not self._models:
            self._worker.fetch_models(self.config)
        return self._window

    @property
    def window(self) -> ChatWindow | None:
        return self._window

    @property
    def busy(self) -> bool:
        """A request is in flight as far as the GUI knows: its end has not been handled yet.

        (The worker's own flag clears on its thread before the queued end signal arrives here,
        so it cannot tell whether a new request may start.)
        """
        return self._request is not None

    # --- follow-ups -----------------------------------------------------------------------

    def follow_up(self, text: str) -> None:
        window = self._window
        conversation = window.conversation if window else None
        if window is None or conversation is None or self.busy:
            return
        preset = self._preset(window.selected_preset()) or self.config.preset(
            conversation.preset_id
        )
        conversation.ask(text)
        self._save(conversation)
        window.add_question(text)
        self._request = _Request(preset, text, conversation, True, follow_up=True)
        self._send_history(conversation, preset)

    def regenerate(self) -> None:
        window = self._window
        conversation = window.conversation if window else None
        if conversation is None or self.busy:
            return
        if conversation.turns and conversation.turns[-1].role == "assistant":
            conversation.drop_last_answer()
        self.retry()

    def retry(self) -> None:
        """Send the conversation again when it ends in a question without an answer."""
        window = self._window
        conversation = window.conversation if window else None
        if conversation is None or self.busy:
            return
        last = conversation.turns[-1]
        if last.role == "assistant" and not last.complete and last.error == "interrupted":
            conversation.drop_last_answer()  # the Retry of an answer the network cut short
        if conversation.turns[-1].role != "user":
            return
        preset = self._preset(window.selected_preset()) or self.config.preset(
            conversation.preset_id
        )
        window.show_conversation(conversation, self._title(conversation))
        self._request = _Request(preset, conversation.turns[-1].text, conversation, True)
        self._send_history(conversation, preset)

    def show_conversation(self, conversation_id: str) -> None:
        if self._window is None or self.busy:
            return
        conversation = self._find(conversation_id)
        if conversation is not None:
            self._window.show_conversation(conversation, self._title(conversation))

    def delete_conversation(self, conversation_id: str) -> None:
        if self.busy:
            return
        self.conversations = [c for c in self.conversations if c.id != conversation_id]
        if self.history is not None:
            self.history.delete(conversation_id)
        self._refresh_history()

    def delete_all(self) -> None:
        if self.busy:
            return
        self.conversations = []
        if self.history is not None:
            self.history.delete_all()
        self._refresh_history()

    def _find(self, conversation_id: str) -> Conversation | None:
        for conversation in self.conversations:
            if conversation.id == conversation_id:
                return conversation
        if self.history is not None:
            conversation = self.history.load(conversation_id)
            if conversation is not None:
                self.conversations.append(conversation)
            return conversation
        return None

    def _search(self, query: str) -> None:
        if self._window is None:
            return
        if not query.strip():
            self._refresh_history()
            return
        if self.history is not None:
            found = [
                (s.id, self._label(s.title or s.preset_id, s.created), s.snippet)
                for s in self.history.search(query)
            ]
        else:
            needle = query.lower()
            found = [
                (c.id, self._label(self._title(c), c.created), "")
                for c in self.conversations
                if any(needle in t.text.lower() for t in c.turns)
            ]
        self._window.set_conversations(found, None)

    def _send_history(self, conversation: Conversation, preset: Preset) -> None:
        model = self._window.selected_model() if self._window else None
        self._start(
            Job(config=self.config, preset=preset, messages=conversation.messages(), model=model)
        )

    def _image_dropped(self, source: ImageSource, preset_id: str) -> None:
        if self.busy:
            return
        preset = self._preset(preset_id)
        if preset is not None:
            self.ask(
                source,
                replace(preset, actions=preset.actions | {Action.WINDOW}),
                _thumbnail(source),
            )

    # --- overlay --------------------------------------------------------------------------

    def _region_selected(self, image: QImage, _info: object) -> None:
        self._capturing = False
        preset = self._capture_preset or self._preset(None)
        if preset is not None:
            self.ask(to_raw(image), preset, image)

    def _capture_cancelled(self) -> None:
        self._capturing = False
        log.info("capture cancelled")

    # --- worker ---------------------------------------------------------------------------

    def _start(self, job: Job) -> None:
        self.busy_changed.emit(True)
        self._worker.start(job)

    def _image_ready(self, ref: ImageRef) -> None:
        request = self._request
        if request is None:
            return
        conversation = Conversation(
            image=ref, preset_id=request.preset.id, title=request.preset.title
        )
        conversation.ask(request.prompt)
        request.conversation = conversation
        self.conversations.insert(0, conversation)
        self._save(conversation)
        if request.show and self._window is not None:
            self._window.show_conversation(
                conversation, self._title(conversation), request.thumbnail
            )
            self._refresh_history()

    def _answer_started(self, model: str) -> None:
        request = self._request
        if request is None or request.conversation is None:
            return
        request.conversation.begin_answer(model)
        self._save(request.conversation)
        self._flush_timer.start()
        if self._showing(request):
            self._window.begin_answer(model)
            self._window.set_model(model if self._window.selected_model() else None)

    def _answer_delta(self, piece: str) -> None:
        request = self._request
        if request is None or request.conversation is None:
            return
        request.pieces.append(piece)
        if self._showing(request):
            self._window.append(piece)

    def _answer_finished(self, result) -> None:  # noqa: ANN001 - StreamResult
        self.busy_changed.emit(False)
        request, self._request = self._request, None
        if request is None or request.conversation is None:
            return
        completion = result.completion
        turn = request.conversation.pending_answer
        if turn is None:
            return
        usage = completion.usage
        turn.text = completion.text
        turn.model = completion.model
        turn.usage = usage
        turn.cost_usd = estimate_cost(
            completion.model, usage.prompt_tokens, usage.completion_tokens, self.config.prices
        )
        turn.ttft_s = result.ttft_s
        turn.elapsed_s = result.elapsed_s
        turn.complete = True
        self._flush_timer.stop()
        self._save(request.conversation)
        log.info("request finished: %d characters from %s", len(turn.text), completion.model)
        text = turn.text
        preset = request.preset
        if Action.COPY in preset.actions and not request.follow_up:
            self._write_clipboard(text)
            if Action.NOTIFY in preset.actions:
                preview = " ".join(text.split())[:80]
                self._notifier.notify(f"{len(text)} characters copied", preview or "(empty answer)")
        elif Action.NOTIFY in preset.actions and not request.show:
            self._notifier.notify(preset.title, " ".join(text.split())[:200])
        if self._showing(request):
            status = " · ".join(
                p for p in (completion.model, _tokens(usage), format_cost(turn.cost_usd)) if p
            )
            if completion.finish_reason == "length":
                status += " · cut at max_tokens"
            self._window.finish_answer(turn, status)

    def _answer_failed(self, error: E.VlmError) -> None:
        self.busy_changed.emit(False)
        request, self._request = self._request, None
        if request is None:
            return
        conversation = request.conversation
        request.sync_text()
        turn = conversation.pending_answer if conversation else None
        stopped = isinstance(error, E.CancelledError)
        message = "Stopped" if stopped else str(error)
        log.info("request ended: %s", message)
        restore = ""
        if turn is not None and turn.text:
            turn.complete = False  # keep what arrived, marked incomplete
            turn.error = "stopped" if stopped else "interrupted"
        elif conversation is not None:
            if turn is not None:
                conversation.turns.pop()  # an answer that never began
            if request.follow_up:
                restore = conversation.withdraw_question()
        self._flush_timer.stop()
        if conversation is not None:
            self._save(conversation)
        if not self._showing(request):
            if not stopped:
                self._notifier.notify("The request failed", message, error=True)
            return
        window = self._window
        if turn is not None and turn.text:
            # The partial answer is on screen already: keep it, add its details and the error,
            # without re-rendering the whole conversation (it may be very long).
            window.finish_answer(turn, "Stopped" if stopped else "")
            if not stopped:
                window.fail(message, _actions_for(error))
            return
        if conversation is not None:
            window.show_conversation(conversation, self._title(conversation))
        window.fail(message, _actions_for(error), restore_question=restore)

    def _models_ready(self, models: list[str]) -> None:
        self._models = models
        if self._window is not None:
            self._window.set_models(models)

    # --- helpers --------------------------------------------------------------------------

    def _showing(self, request: _Request) -> bool:
        window = self._window
        return (
            request.show
            and window is not None
            and (request.conversation is None or window.conversation is request.conversation)
        )

    def _title(self, conversation: Conversation) -> str:
        preset = self.config.presets.get(conversation.preset_id)
        return conversation.title or (preset.title if preset else conversation.preset_id)

    def _save(self, conversation: Conversation) -> None:
        if self.history is None or not self.config.keep_history:
            return
        try:
            self.history.save_conversation(conversation)
        except Exception as exc:  # noqa: BLE001 - a full disk must not break the answer
            log.warning("could not save the conversation to the history: %s", exc)

    def _flush_partial(self) -> None:
        request = self._request
        if request is None or request.conversation is None or self.history is None:
            return
        if not self.config.keep_history:
            return
        conversation = request.conversation
        if conversation.pending_answer is not None:
            request.sync_text()
            try:
                self.history.save_turn(conversation, len(conversation.turns) - 1)
            except Exception as exc:  # noqa: BLE001
                log.warning("could not save the partial answer: %s", exc)

    @staticmethod
    def _label(title: str, created: float) -> str:
        return f"{title} · {time.strftime('%d %b %H:%M', time.localtime(created))}"

    def _refresh_history(self) -> None:
        if self._window is None:
            return
        if self.history is not None and self.config.keep_history:
            # Every conversation is saved as soon as its image is ready: the store is the list.
            items = [
                (s.id, self._label(s.title or s.preset_id, s.created), "")
                for s in self.history.list()
            ]
        else:
            items = [(c.id, self._label(self._title(c), c.created), "") for c in self.conversations]
        current = self._window.conversation.id if self._window.conversation else None
        self._window.set_conversations(items, current)

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


def _default_window(config: Config) -> ChatWindow:
    # Imported on first use: the idle tray app does not pay for the chat window's modules.
    from desktop_vlm.gui.chat_window import ChatWindow

    return ChatWindow(list(config.presets.values()), config.default_preset)


def _actions_for(error: E.VlmError) -> list[ErrorAction]:
    from desktop_vlm.gui.chat_window import ErrorAction

    if isinstance(error, E.CancelledError):
        return [ErrorAction("retry", "Send again")]
    if isinstance(
        error, E.AuthenticationError | E.PermissionDeniedError | E.KeyMissingError | E.KeyringError
    ):
        return [ErrorAction("settings", "Set the API key"), ErrorAction("retry", "Retry")]
    if isinstance(error, E.ModelNotFoundError):
        return [ErrorAction("model", "Pick another model"), ErrorAction("retry", "Retry")]
    if isinstance(error, E.ConfigError | E.EndpointNotFoundError):
        return [ErrorAction("settings", "Open settings"), ErrorAction("retry", "Retry")]
    if isinstance(error, E.ImageError):
        return []
    return [ErrorAction("retry", "Retry")]


def _tokens(usage) -> str:  # noqa: ANN001
    total = usage.total_tokens
    return f"{total} tokens" if total is not None else ""


def _thumbnail(source: ImageSource) -> QImage | None:
    if isinstance(source, str):
        # Decode at thumbnail size: a 54-megapixel photo must not stall the GUI thread.
        reader = QImageReader(source)
        size = reader.size()
        if size.isValid():
            reader.setScaledSize(size.scaled(224, 168, Qt.AspectRatioMode.KeepAspectRatio))
        image = reader.read()
    elif isinstance(source, bytes):
        image = QImage.fromData(source)
    else:
        fmt = QImage.Format.Format_ARGB32 if source.mode == "BGRA" else QImage.Format.Format_RGB32
        image = QImage(source.data, source.width, source.height, source.stride, fmt).copy()
    return None if image.isNull() else image
