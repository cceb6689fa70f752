"""The chat window's side of the wiring: what the person asks for there goes to the session's
rules and, when it makes a request, to the controller to send; the history list comes from the
store. The window itself is made on first use (the idle tray does not pay for it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRect, Signal

from desktop_vlm.core.config import Config
from desktop_vlm.core.conversation import Conversation, ImageRef
from desktop_vlm.core.presets import Preset
from desktop_vlm.core.session import ChatSession, Request, SessionError
from desktop_vlm.gui import wording
from desktop_vlm.gui.chat.history_panel import HistoryItem
from desktop_vlm.gui.history import History
from desktop_vlm.gui.images import ImageSource, closer_ref, thumbnail
from desktop_vlm.gui.pool import run_in_pool


class ChatLink(QObject):
    send = Signal(object)  # a Request ready to go to the worker
    stop = Signal(int)  # the request to stop
    ask = Signal(object, object, object, bool)  # source, preset, thumbnail, window
    capture = Signal(str)  # preset
    settings = Signal()
    models_wanted = Signal()

    def __init__(
        self,
        session: ChatSession,
        history: History,
        config: Callable[[], Config],
        preset: Callable[[str | None], Preset | None],
        window_factory: Callable[[Config], Any] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session
        self.history = history
        self._config = config
        self._preset = preset
        self._window_factory = window_factory or _default_window
        self.window = None

    def open(self):  # noqa: ANN201 - the ChatWindow
        if self.window is None:
            window = self._window_factory(self._config())
            window.follow_up.connect(self._follow_up)
            window.stop_requested.connect(self._stop)
            window.regenerate_requested.connect(self._regenerate)
            window.retry_requested.connect(self._retry)
            window.again_requested.connect(self._again)
            window.settings_requested.connect(self.settings.emit)
            window.capture_requested.connect(self.capture.emit)
            window.conversation_selected.connect(self.show_conversation)
            window.image_dropped.connect(self._image_dropped)
            window.search_changed.connect(self._search)
            window.delete_requested.connect(self.delete_conversation)
            window.delete_all_requested.connect(self.delete_all)
            self.window = window
            self.refresh_history()
        was_shown = self.window.isVisible()
        self.window.show()
        self.window.raise_()
        self.window.activateWindow()
        if not was_shown:
            self.window.question.setFocus()  # a follow-up is typed, not a search
        self.models_wanted.emit()
        return self.window

    def title(self, conversation: Conversation) -> str:
        preset = self._config().presets.get(conversation.preset_id)
        return conversation.title or (preset.title if preset else conversation.preset_id)

    def preset_of(self, conversation: Conversation | None) -> Preset:
        presets = self._config().presets
        if conversation is not None and conversation.preset_id in presets:
            return presets[conversation.preset_id]
        return self._config().preset(None)

    # --- what the window asks for -----------------------------------------------------------

    def _follow_up(
        self,
        conversation_id: str,
        text: str,
        preset_id: str,
        model: str | None,
        region: QRect | None,
    ) -> None:
        conversation = self.session.find(conversation_id)
        preset = self._config().presets.get(preset_id) or self.preset_of(conversation)

        def ask(image: ImageRef | None = None, label: str = "") -> None:
            self._run(
                lambda: self.session.follow_up(
                    conversation_id, text, preset, model, image=image, label=label
                )
            )

        if region is None or conversation is None:
            ask()
            return
        # A closer look: the part is cut (from the capture at full resolution when it is at
        # hand) on a pool thread; the question goes once it is ready.
        current, original, config = (
            conversation.current_image(),
            conversation.original,
            (self._config()),
        )

        def cut() -> ImageRef:
            return closer_ref(original, current, region, config)

        def done(image: ImageRef | None, error: BaseException | None) -> None:
            if error is not None or image is None:
                if self.window is not None:
                    self.window.set_status("That part of the image cannot be cut out")
                    self.window.composer.set_draft(text)
                return
            ask(
                image,
                f"part {region.width()} × {region.height()} at {region.x()}, {region.y()}"
                + (
                    f", sent at {image.width} × {image.height}"
                    if (image.width, image.height) != (region.width(), region.height())
                    else ""
                ),
            )

        if self.window is not None:
            self.window.set_status("Cutting out the part…")
        run_in_pool(cut, done, parent=self)

    def _regenerate(
        self, conversation_id: str, index: int, _preset_id: str, model: str | None
    ) -> None:
        preset = self.preset_of(self.session.find(conversation_id))
        self._run(lambda: self.session.regenerate(conversation_id, index, preset, model))

    def _retry(self, conversation_id: str, _preset_id: str, model: str | None) -> None:
        preset = self.preset_of(self.session.find(conversation_id))
        self._run(lambda: self.session.retry(conversation_id, preset, model))

    def _again(self, conversation_id: str, preset_id: str, model: str | None) -> None:
        preset = self._preset(preset_id)
        if preset is None:
            return
        if preset.asks_question:
            self.window.question.setFocus()
            self.window.set_status(f"Type your question below ({preset.title})")
            return
        self._run(lambda: self.session.again(conversation_id, preset, model), fresh=True)

    def _run(self, make: Callable[[], Request], fresh: bool = False) -> None:
        try:
            request = make()
        except SessionError as exc:
            if self.window is not None:
                self.window.set_status(str(exc).capitalize())
            return
        conversation = request.conversation
        self.history.save(conversation)
        if self.window is not None:
            if fresh or self.window.conversation is not conversation:
                self.window.show_conversation(conversation, self.title(conversation))
                self.refresh_history()
            elif request.kind == "follow-up":
                self.window.add_question(conversation.id, conversation.turns[-1])
            else:
                self.window.show_conversation(conversation, self.title(conversation))
            self.window.set_answering(True)
            self.window.set_status("Sending…")
        self.send.emit(request)

    def _stop(self, conversation_id: str) -> None:
        request = self.session.busy(conversation_id)
        if request is not None:
            self.stop.emit(request.id)

    def show_conversation(self, conversation_id: str) -> None:
        found = self.session.find(conversation_id)
        if found is not None:
            self._show(found)
            return
        self.history.load(
            conversation_id, lambda loaded: loaded and self._show(self.session.adopt(loaded))
        )

    def _show(self, conversation: Conversation) -> None:
        if self.window is None:
            return
        request = self.session.busy(conversation.id)
        streaming = None
        if request is not None and request.answer is not None:
            streaming = (request.answer.model or "…", request.text, not request.preset.markdown)
        self.window.show_conversation(
            conversation,
            self.title(conversation),
            streaming=streaming,
            compose=not conversation.turns,
        )

    def delete_conversation(self, conversation_id: str) -> None:
        if self.session.busy(conversation_id):
            return
        self.session.forget(conversation_id)
        self.history.delete(conversation_id, self.refresh_history)

    def delete_all(self) -> None:
        self.session.forget()
        self.history.delete_all(self.refresh_history)

    def _image_dropped(self, source: ImageSource, preset_id: str) -> None:
        preset = self._preset(preset_id)
        if preset is not None:
            self.ask.emit(source, preset, thumbnail(source), True)

    def _search(self, query: str) -> None:
        if not query.strip() or not self.history.available:
            self.refresh_history()
            return
        self.history.search(query, self._list)

    # --- the list of conversations ------------------------------------------------------------

    def refresh_history(self) -> None:
        if self.window is None:
            return
        if self.history.available:
            self.history.list(self._list)
        else:
            self._list(None)

    def _list(self, rows) -> None:  # noqa: ANN001 - list[Summary] | None
        if self.window is None:
            return
        if rows is None:
            items = [
                HistoryItem(
                    c.id,
                    self.title(c),
                    wording.when(c.created),
                    wording.preview_line(first_answer(c), 60),
                )
                for c in self.session.conversations()
                if first_answer(c)
            ]
        else:
            items = [
                HistoryItem(
                    r.id,
                    r.title or r.preset_id,
                    wording.when(r.created),
                    wording.preview_line(r.snippet, 60),
                )
                for r in rows
            ]
        self.window.set_conversations(items, self.window.conversation_id)


def first_answer(conversation: Conversation) -> str:
    for turn in conversation.turns:
        if turn.role == "assistant" and turn.text:
            # a receipt's JSON is previewed as the table it is shown as
            return (turn.meta.get("structured") or {}).get("markdown") or turn.text
    return ""


def _default_window(config: Config):  # noqa: ANN202
    # Imported on first use: the idle tray app does not pay for the chat window's modules.
    from desktop_vlm.gui.chat import ChatWindow

    return ChatWindow(list(config.presets.values()), config.default_preset)
