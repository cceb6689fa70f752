"""The one place that wires the parts together: commands in (tray, hotkeys, socket), overlay,
image preparation, the session's rules, the stream worker, the chat window, clipboard, notices
and the history out. Widgets never call each other, and no rule of a conversation lives here:
``core.session.ChatSession`` decides, this module carries the results where they go.

Every request runs to its end or until the person stops it; several may run at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication, QWidget

from desktop_vlm.core import errors as E
from desktop_vlm.core.config import Config
from desktop_vlm.core.conversation import ImageRef
from desktop_vlm.core.presets import Preset
from desktop_vlm.core.pricing import estimate_cost, format_cost
from desktop_vlm.core.rawimage import RawImage
from desktop_vlm.core.session import ChatSession, Request, SessionError
from desktop_vlm.gui import wording
from desktop_vlm.gui.chat_link import ChatLink
from desktop_vlm.gui.history import History
from desktop_vlm.gui.images import ImageSource, prepare_ref, thumbnail
from desktop_vlm.gui.notifier import Notifier
from desktop_vlm.gui.overlay import RegionOverlay
from desktop_vlm.gui.pool import run_in_pool
from desktop_vlm.gui.worker import Job, StreamWorker
from desktop_vlm.platform.qimage import to_raw
from desktop_vlm.platform.screenshot import ScreenGrab

log = logging.getLogger(__name__)

Grabber = Callable[["str | None"], list[ScreenGrab]]  # forced handler name, or None
ClipboardReader = Callable[[], "RawImage | str | None"]
ClipboardWriter = Callable[[str], None]
#: Time for the window manager to take the app's own windows off the screen before a grab.
HIDE_MS = 120


class Controller(QObject):
    quit_requested = Signal()
    settings_requested = Signal()
    running_changed = Signal(int)  # requests in flight (the tray shows them)

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
        history: History | None = None,
        window_factory: Callable[[Config], QWidget] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.config = config
        self.session = ChatSession()
        self._worker = worker
        self._overlay = overlay
        self._notifier = notifier
        self._grab = grab
        self._read_clipboard = read_clipboard
        self._write_clipboard = write_clipboard
        self.history = history or History(None)
        self.chat = ChatLink(self.session, self.history, lambda: self.config, self._preset,
                             window_factory, parent=self)
        self.chat.send.connect(self._send)
        self.chat.stop.connect(worker.stop)
        self.chat.ask.connect(lambda source, preset, image, window: self.ask(
            source, preset, image, window=window))
        self.chat.capture.connect(lambda preset_id: self.capture(preset_id))
        self.chat.settings.connect(self.settings_requested.emit)
        self.chat.models_wanted.connect(self._models_wanted)
        self._capture_preset: Preset | None = None
        self._capturing = False
        self.commands_seen = 0
        self._hidden: list[QWidget] = []
        self._models: list[str] = []
        # While answers stream, what has arrived is written to disk about once a second.
        self._flush_timer = QTimer(self, interval=1000, timeout=self._flush_partials)
        overlay.selected.connect(self._region_selected)
        overlay.cancelled.connect(self._capture_cancelled)
        worker.notice.connect(self._answer_notice)
        worker.started.connect(self._answer_started)
        worker.delta.connect(self._answer_delta)
        worker.finished.connect(self._answer_finished)
        worker.failed.connect(self._answer_failed)
        worker.models_ready.connect(self._models_ready)
        self.history.problem.connect(lambda text: self._notifier.notify("History", text, error=True))

    # --- commands -----------------------------------------------------------------------------

    def handle_command(
        self, command: str, preset_id: str | None = None, handler: str | None = None
    ) -> None:
        if command in ("capture", "clipboard"):
            self.commands_seen += 1
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

    def apply_config(self, config: Config) -> None:
        """New settings take effect for the next request."""
        self.config = config
        self._models = []
        self.history.enabled = config.keep_history
        if self.chat.window is not None:
            self.chat.window.set_presets(list(config.presets.values()), config.default_preset)

    def capture(self, preset_id: str | None = None, handler: str | None = None) -> None:
        if self._capturing:
            return  # the overlay is already up; a second hotkey press must not stack another
        preset = self._preset(preset_id)
        if preset is None:
            return
        self._capturing = True
        self._capture_preset = preset
        if preset.offline or preset.verify:
            self._worker.warm_offline()  # loaded by the time the mouse is released
        self._hidden = [w for w in QApplication.topLevelWidgets() if w.isVisible()
                        and w.isWindow() and not w.objectName().startswith("overlay")]
        for widget in self._hidden:
            widget.hide()
        # The grab waits until the window manager has taken them off the screen.
        QTimer.singleShot(HIDE_MS if self._hidden else 0, lambda: self._grab_now(handler))

    def _grab_now(self, handler: str | None) -> None:
        try:
            grabs = self._grab(handler)
        except E.VlmError as exc:
            self._capturing = False
            self._restore_windows()
            self._notifier.notify("Screen capture failed", str(exc), error=True)
            return
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
        self.ask(source, preset, thumbnail(source))

    def ask(self, source: ImageSource, preset: Preset, image: QImage | None, *,
            window: bool | None = None) -> None:
        """A new conversation about ``source`` with ``preset``."""
        if preset.asks_question:
            window = True  # the question is typed in the window, beside the image
            request = None
        else:
            request = self.session.start(preset, window=window)
            request.context["source"] = source  # what the offline engine reads, if it answers
            self.running_changed.emit(len(self.session.requests()))
        if window or (request is not None and request.show):
            self.open_window().show_pending(preset.title, image)
        config = self.config

        def done(ref: ImageRef | None, error: BaseException | None) -> None:
            self._prepared(request, preset, ref, error, image)

        run_in_pool(lambda: prepare_ref(source, config), done, parent=self)

    def open_window(self):  # noqa: ANN201 - ChatWindow, imported on first use
        return self.chat.open()

    @property
    def window(self):  # noqa: ANN201
        return self.chat.window

    def show_conversation(self, conversation_id: str) -> None:
        self.chat.show_conversation(conversation_id)

    @property
    def busy(self) -> bool:
        """Some request is in flight as far as the GUI knows."""
        return bool(self.session.requests())

    # --- first turns ----------------------------------------------------------------------

    def _prepared(self, request: Request | None, preset: Preset, ref: ImageRef | None,
                  error: BaseException | None, image: QImage | None) -> None:
        if error is not None:
            if request is not None:
                self.session.fail(request.id, stopped=False)
                self.running_changed.emit(len(self.session.requests()))
            failure = error if isinstance(error, E.VlmError) else E.ImageError(
                f"The image could not be prepared ({type(error).__name__})")
            if request is None or request.show:
                self.chat.window.fail(None, wording.in_window(failure), [])
            else:
                self._notifier.notify("The image cannot be used", wording.in_window(failure),
                                      error=True)
            return
        if request is None:  # the ask preset: the image waits for the question in the window
            conversation = self.session.compose(preset, ref)
            self.chat.window.show_conversation(conversation, self.chat.title(conversation), image,
                                           compose=True)
            return
        self.session.image_ready(request.id, ref)
        self.history.save(request.conversation)
        if request.show and self.chat.window is not None:
            self.chat.window.show_conversation(request.conversation,
                                           self.chat.title(request.conversation), image)
            self.chat.window.set_answering(True)
            self.chat.window.set_status("Sending…")
        self._send(request)

    def _send(self, request: Request) -> None:
        self.running_changed.emit(len(self.session.requests()))
        image = request.context.get("source") or request.conversation.current_image().data
        self._worker.start(
            Job(request.id, self.config, request.preset, self.session.messages(request.id),
                request.model, image=image)
        )

    # --- overlay --------------------------------------------------------------------------

    def _region_selected(self, image: QImage, _info: object) -> None:
        self._capturing = False
        self._restore_windows(except_chat=True)
        preset = self._capture_preset or self._preset(None)
        if preset is not None:
            self.ask(to_raw(image), preset, image)

    def _capture_cancelled(self) -> None:
        self._capturing = False
        self._restore_windows()
        log.info("capture cancelled")

    def _restore_windows(self, except_chat: bool = False) -> None:
        hidden, self._hidden = self._hidden, []
        for widget in hidden:
            if not (except_chat and widget is self.chat.window):
                widget.show()

    # --- the worker -----------------------------------------------------------------------

    def _answer_notice(self, request_id: int, text: str) -> None:
        """Who answers, when it is not the usual (offline, a server found on this machine)."""
        request = self.session.request(request_id)
        if request is None:
            return
        request.context["notice"] = text
        if request.show and self.chat.window is not None:
            self.chat.window.set_status(text)
        elif not request.copy:
            self._notifier.notify(request.preset.title, text)

    def _answer_started(self, request_id: int, model: str) -> None:
        request = self.session.request(request_id)
        if request is None or request.conversation is None:
            return
        conversation = request.conversation
        again = request.answer is not None and not request.answer.text
        if again:
            request.answer.model = model  # chosen again after a stale model list
        else:
            self.session.answer_started(request_id, model)
        self.history.save(conversation)
        self._flush_timer.start()
        if self.chat.window is None or not request.show:
            return
        plain = not request.preset.markdown
        if again:
            if self.chat.window.conversation is conversation:
                self.chat.window.show_conversation(conversation, self.chat.title(conversation),
                                               streaming=(model, "", plain))
        else:
            self.chat.window.begin_answer(conversation.id, model, len(conversation.turns) - 1, plain)

    def _answer_delta(self, request_id: int, delta) -> None:  # noqa: ANN001 - Delta
        request = self.session.request(request_id)
        if request is None or request.conversation is None:
            return
        self.session.add(request_id, delta.text, delta.reasoning)
        if self.chat.window is not None and request.show:
            self.chat.window.append(request.conversation.id, delta)

    def _answer_finished(self, request_id: int, result) -> None:  # noqa: ANN001 - StreamResult
        completion = result.completion
        usage = completion.usage
        cost = estimate_cost(completion.model, usage.prompt_tokens, usage.completion_tokens,
                             self.config.prices)
        try:
            request, turn = self.session.finish(request_id, completion, ttft_s=result.ttft_s,
                                                elapsed_s=result.elapsed_s, cost_usd=cost)
        except (KeyError, SessionError):
            return
        self.running_changed.emit(len(self.session.requests()))
        if not request.preset.markdown:
            turn.meta["plain"] = True
        conversation = request.conversation
        self.history.save(conversation)
        self.chat.refresh_history()
        log.info("request finished: %d characters from %s", len(turn.text), completion.model)
        self._deliver(request, turn.text)
        if self.chat.window is not None and request.show:
            status = " · ".join(p for p in (completion.model, _tokens(usage), format_cost(cost)) if p)
            if turn.meta.get("cut_at_max_tokens"):
                status += " · cut at max_tokens"
            self.chat.window.finish_answer(conversation.id, turn, len(conversation.turns) - 1, status)

    def _answer_failed(self, request_id: int, error: E.VlmError) -> None:
        if self.session.request(request_id) is None:
            return
        failure = self.session.fail(request_id, stopped=isinstance(error, E.CancelledError))
        self.running_changed.emit(len(self.session.requests()))
        request = failure.request
        message = "Stopped" if failure.stopped else wording.in_window(error)
        log.info("request ended: %s", message)
        if request.conversation is not None:
            self.history.save(request.conversation)
            self.chat.refresh_history()
        if not request.show:
            if not failure.stopped:
                self._notifier.notify(f"{request.preset.title} failed", message, error=True)
            return
        if self.chat.window is None or request.conversation is None:
            return
        conversation = request.conversation
        if failure.partial is not None:
            # The partial answer is on screen already: keep it, add its details and the error,
            # without re-rendering the whole conversation (it may be very long).
            self.chat.window.finish_answer(conversation.id, failure.partial,
                                       len(conversation.turns) - 1, message)
            if not failure.stopped:
                self.chat.window.fail(conversation.id, message, wording.error_actions(error))
            return
        if self.chat.window.conversation is conversation:
            self.chat.window.show_conversation(conversation, self.chat.title(conversation),
                                           compose=not conversation.turns)
        self.chat.window.fail(conversation.id, message, wording.error_actions(error),
                          restore=failure.restore)

    def _models_wanted(self) -> None:
        if not self._models:
            self._worker.fetch_models(self.config)

    def _models_ready(self, models: list[str]) -> None:
        self._models = models
        if self.chat.window is not None:
            self.chat.window.set_models(models)

    # --- what happens to answers ----------------------------------------------------------

    def _deliver(self, request: Request, text: str) -> None:
        """A first turn's answer goes where its preset says: clipboard, notice."""
        if request.kind != "first":
            return
        if request.copy:
            self._write_clipboard(text)
            if request.notify:
                preview = wording.preview_line(text, 80) or "(empty answer)"
                notice = request.context.get("notice")
                self._notifier.notify(f"{len(text)} characters copied",
                                      f"{preview}\n{notice}" if notice else preview)
        elif request.notify and not request.show:
            self._notifier.notify(request.preset.title, wording.preview_line(text, 200))

    # --- helpers --------------------------------------------------------------------------

    def _flush_partials(self) -> None:
        streaming = [r for r in self.session.requests() if r.answer is not None]
        if not streaming:
            self._flush_timer.stop()
            return
        for request in streaming:
            self.session.sync(request)
            self.history.save_turn(request.conversation, len(request.conversation.turns) - 1)

    def _preset(self, preset_id: str | None, quiet: bool = False) -> Preset | None:
        try:
            return self.config.preset(preset_id)
        except KeyError:
            if not quiet:
                self._notifier.notify(
                    "Unknown preset",
                    f"There is no preset '{preset_id}'. Known: {', '.join(self.config.presets)}",
                    error=True,
                )
            return None


def _tokens(usage) -> str:  # noqa: ANN001
    total = usage.total_tokens
    return f"{total} tokens" if total is not None else ""
