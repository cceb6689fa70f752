"""The chat window: the image, the conversation about it, and the box for the next question.

It is composed of small widgets (history panel, header, transcript, composer) and owns no rule:
the controller tells it what to show, and it says what the person asked for, with the
selections that go with it (which conversation, which preset, which model, which part of the
image). Several conversations may be answered at once; the window shows one, and what streams
for another is kept by the session and shown when the person opens it.

Keys: Enter sends, Shift+Enter adds a line, Up in an empty box recalls the last question, Esc
stops the shown answer (or closes the window), Ctrl+Shift+C copies the last answer, Ctrl+R
regenerates it, Ctrl+E exports the conversation, Ctrl+N starts a capture, Ctrl+V with an image
starts a new conversation, Ctrl+W closes.
"""

from __future__ import annotations

import logging
import time

from PySide6.QtCore import QEvent, QRect, QRectF, Qt, Signal
from PySide6.QtGui import (
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QKeySequence,
    QShortcut,
)
from PySide6.QtWidgets import (
    QLabel,
    QMainWindow,
    QProgressBar,
    QSplitter,
    QVBoxLayout,
    QWidget,
)

from desktop_vlm.core.completions import Delta
from desktop_vlm.core.conversation import Conversation, Turn
from desktop_vlm.core.outgoing import image_notes
from desktop_vlm.core.presets import Preset
from desktop_vlm.gui.chat import actions
from desktop_vlm.gui.chat.composer import Composer
from desktop_vlm.gui.chat.header import Header
from desktop_vlm.gui.chat.history_panel import HistoryItem, HistoryPanel
from desktop_vlm.gui.chat.image_view import (
    ImageViewer,
    can_drop,
    dropped_source,
    image_from_bytes,
    part_rect,
)
from desktop_vlm.gui.chat.transcript import Transcript

log = logging.getLogger(__name__)


class ChatWindow(QMainWindow):
    follow_up = Signal(str, str, str, object, object)  # conversation, text, preset, model, region
    stop_requested = Signal(str)  # conversation
    regenerate_requested = Signal(str, int, str, object)  # conversation, turn, preset, model
    retry_requested = Signal(str, str, object)  # conversation, preset, model
    again_requested = Signal(str, str, object)  # conversation, preset, model
    capture_requested = Signal(str)  # preset
    settings_requested = Signal()
    conversation_selected = Signal(str)
    image_dropped = Signal(object, str)  # RawImage | str (path), preset
    search_changed = Signal(str)
    delete_requested = Signal(str)
    delete_all_requested = Signal()

    def __init__(self, presets: list[Preset], default_preset: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("chat_window")
        self.setWindowTitle("desktop-vlm")
        self.setAcceptDrops(True)
        self.conversation: Conversation | None = None
        self._image: QImage | None = None
        self._drafts: dict[str, str] = {}
        self._answering = False
        self._region: QRect | None = None
        self._build(presets, default_preset)
        self._shortcuts()
        self._fit_to_screen()
        self.set_answering(False)

    # --- construction -------------------------------------------------------------------

    def _build(self, presets: list[Preset], default_preset: str) -> None:
        self.history = HistoryPanel()
        self.history.selected.connect(self.conversation_selected.emit)
        self.history.search_changed.connect(self.search_changed.emit)
        self.history.delete_requested.connect(self.delete_requested.emit)
        self.history.delete_all_requested.connect(self.delete_all_requested.emit)
        self.header = Header(presets, default_preset)
        self.header.thumbnail_clicked.connect(self.show_full_image)
        self.header.thumbnail_region.connect(self._thumbnail_region)
        self.header.preset_picked.connect(self._preset_picked)
        self.transcript = Transcript()
        self.transcript.action.connect(self._action)
        self.progress = QProgressBar(objectName="progress")
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(4)
        self.status = QLabel(objectName="status")
        self.status.setStyleSheet("color: palette(placeholder-text);")
        self.status.setTextFormat(Qt.TextFormat.PlainText)
        self.composer = Composer()
        self.composer.submitted.connect(self._submit)
        self.composer.stop_requested.connect(self._stop)
        self.composer.image_pasted.connect(self._dropped)
        self.question = self.composer.question  # the box people type in (tests use it)

        main = QWidget()
        layout = QVBoxLayout(main)
        layout.addWidget(self.header)
        layout.addWidget(self.transcript, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.composer)
        splitter = QSplitter()
        splitter.addWidget(self.history)
        splitter.addWidget(main)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([220, 760])
        self.setCentralWidget(splitter)

        actions.add_toolbar(
            self,
            ("action_new_capture", "New capture", self._capture, "Ctrl+N"),
            ("action_copy_answer", "Copy answer", self.copy_last_answer, "Ctrl+Shift+C"),
            ("action_regenerate", "Regenerate", self._regenerate_last, "Ctrl+R"),
            ("action_export", "Export Markdown…", self.export_markdown, "Ctrl+E"),
            ("action_settings", "Settings", self.settings_requested.emit, None),
        )

    def _shortcuts(self) -> None:
        QShortcut(QKeySequence.StandardKey.Close, self, activated=self.close)
        QShortcut(QKeySequence("Esc"), self, activated=self._escape)
        paste = QShortcut(QKeySequence.StandardKey.Paste, self.transcript)
        paste.activated.connect(self._paste_image)

    def _fit_to_screen(self) -> None:
        screen = (self.screen() or QGuiApplication.primaryScreen()).availableGeometry()
        self.resize(min(980, screen.width() - 40), min(680, screen.height() - 60))

    # --- what the controller calls --------------------------------------------------------

    @property
    def conversation_id(self) -> str | None:
        return self.conversation.id if self.conversation is not None else None

    @property
    def streaming(self) -> bool:  # an answer is coming in, or what came is still being shown
        return self._answering or self.transcript.streaming

    def selected_preset(self) -> str:
        return self.header.selected_preset()

    def selected_model(self) -> str | None:
        return self.header.selected_model()

    def set_preset(self, preset_id: str) -> None:
        self.header.set_preset(preset_id)

    def set_presets(self, presets: list[Preset], selected: str) -> None:
        self.header.set_presets(presets, selected)

    def set_models(self, models: list[str]) -> None:
        self.header.set_models(models)

    def set_model(self, model: str | None) -> None:
        self.header.model_combo.setCurrentText(model or "Automatic")

    def set_conversations(self, items: list[HistoryItem], current: str | None) -> None:
        self.history.set_items(items, current)

    def set_status(self, text: str) -> None:
        self.status.setText(text)

    def show_pending(self, title: str, image: QImage | None) -> None:
        """A new conversation whose image is still being prepared."""
        self._keep_draft()
        self.conversation, self._region = None, None
        self.history.mark_current(None)  # it is not in the list until it has an answer
        self.transcript.reset()
        self.header.title.setText(title)
        self.header.subtitle.setText("")
        self._set_image(image)
        self.composer.attach(None)
        self.composer.set_draft("")
        self.set_answering(True)
        self.status.setText("Preparing the image…")

    def show_conversation(
        self,
        conversation: Conversation,
        title: str,
        image: QImage | None = None,
        *,
        streaming: tuple[str, str, bool] | None = None,
        compose: bool = False,
    ) -> None:
        """Render a whole conversation; ``streaming`` = (model, text so far, plain) when its
        answer is still arriving; ``compose``: it waits for its first question."""
        if self.conversation is not conversation:
            self._keep_draft()
            self._region = None
        self.conversation = conversation
        self.header.title.setText(title)
        self.header.set_preset(conversation.preset_id)
        when = time.strftime("%d %b %H:%M", time.localtime(conversation.created))
        image_ref = conversation.image
        notes = [f"{image_ref.width} × {image_ref.height}", when, *image_notes(conversation.meta)]
        self.header.subtitle.setText(" · ".join(notes))
        self._set_image(image if image is not None else image_from_bytes(image_ref.data, 224))
        self.transcript.reset()
        answers = [i for i, t in enumerate(conversation.turns) if t.role == "assistant"]
        last = answers[-1] if answers else -1
        for index, turn in enumerate(conversation.turns):
            if turn.role == "user":
                self.transcript.add_question(turn)
            elif (
                streaming is not None
                and index == len(conversation.turns) - 1
                and (not turn.complete)
            ):
                model, so_far, plain = streaming
                self.transcript.begin_answer(model, index, plain=plain, so_far=so_far)
            elif turn.complete or turn.text:
                self.transcript.add_answer(turn, index, is_last=index == last)
        self.composer.attach(self._image if compose else None, "Your question" if compose else "")
        self.composer.set_draft(self._drafts.pop(conversation.id, ""))
        self.history.mark_current(conversation.id)
        self.set_answering(streaming is not None)
        self.status.setText("Answering…" if streaming is not None else "")
        self.transcript.following = True
        self.transcript.follow()
        if compose:
            self.question.setFocus()

    def add_question(self, conversation_id: str, turn: Turn) -> None:
        if conversation_id == self.conversation_id:
            self.composer.attach(None)
            self.transcript.add_question(turn)

    def begin_answer(self, conversation_id: str, model: str, index: int, plain: bool) -> None:
        if conversation_id != self.conversation_id:
            return
        self.transcript.begin_answer(model, index, plain=plain)
        self.set_answering(True)
        self.status.setText(f"Waiting for {model}…")

    def append(self, conversation_id: str, delta: Delta) -> None:
        if conversation_id != self.conversation_id:
            return
        if delta.reasoning and not delta.text and self.status.text() != "Thinking…":
            self.status.setText("Thinking…")
        if delta.text:
            self.transcript.append(delta)
            if self.status.text() != "Answering…":
                self.status.setText("Answering…")

    def finish_answer(self, conversation_id: str, turn: Turn, index: int, status: str) -> None:
        if conversation_id != self.conversation_id:
            return
        self.transcript.finish_answer(turn, index)
        self.set_answering(False)
        self.status.setText(status)
        self.question.setFocus()

    def fail(
        self,
        conversation_id: str | None,
        message: str,
        actions: list[tuple[str, str]],
        restore: str = "",
    ) -> None:
        """An error where the answer would be; what was typed goes back in the box."""
        if conversation_id is not None and conversation_id != self.conversation_id:
            if restore:
                self._drafts[conversation_id] = restore
            return
        self.transcript.fail(message, actions)
        if restore and not self.composer.draft().strip():
            self.composer.set_draft(restore)
        self.set_answering(False)
        self.status.setText("")
        self.question.setFocus()

    def set_answering(self, answering: bool) -> None:
        self._answering = answering
        self.composer.set_busy(answering)
        self.progress.setVisible(answering)
        answered = self.conversation is not None and any(  # what Copy and Regenerate act on
            turn.role == "assistant" and turn.text for turn in self.conversation.turns
        )
        self.action_regenerate.setEnabled(not answering and answered)
        self.action_copy_answer.setEnabled(answered)

    def transcript_text(self) -> str:
        return self.transcript.text()

    # --- actions --------------------------------------------------------------------------

    def copy_last_answer(self) -> None:
        index = self._last_answer_index()
        if index >= 0:
            self._copy(index, plain=True)

    def export_markdown(self) -> None:
        actions.export_markdown(self, self.conversation, self.header.title.text())

    def show_full_image(self) -> None:
        if self.conversation is None:
            return
        image = image_from_bytes(self.conversation.current_image().data)
        if image.isNull():
            return
        viewer = ImageViewer(image, self)
        viewer.region_selected.connect(self._ask_about_region)
        viewer.exec()

    def _thumbnail_region(self, part: QRectF) -> None:
        """A part dragged on the thumbnail, in the pixels of the image the next request sends."""
        if self.conversation is None:
            return
        image = self.conversation.current_image()
        rect = part_rect(part, image.width, image.height)
        if not rect.isEmpty():
            self._ask_about_region(rect)

    def _ask_about_region(self, rect: QRect) -> None:
        """A part of the image was picked: the next question is about it."""
        if self.conversation is None:
            return
        self._region = rect
        image = image_from_bytes(self.conversation.current_image().data)
        self.composer.attach(image.copy(rect), f"{rect.width()} × {rect.height()} part")
        self.question.setFocus()

    # --- events ---------------------------------------------------------------------------

    def _submit(self, text: str) -> None:
        if self.conversation is None or self._answering:
            self.composer.set_draft(text)
            return
        region, self._region = self._region, None
        self.follow_up.emit(
            self.conversation.id, text, self.selected_preset(), self.selected_model(), region
        )

    def _action(self, kind: str, index: int, number: int) -> None:
        conversation = self.conversation
        if conversation is None:
            return
        preset, model = self.selected_preset(), self.selected_model()
        if kind == "regenerate":
            self.regenerate_requested.emit(conversation.id, index, preset, model)
        elif kind == "retry":
            pending = self.composer.draft().strip()
            if pending:
                self._submit(pending)  # a follow-up that failed went back into the box
                self.composer.set_draft("")
            else:
                self.retry_requested.emit(conversation.id, preset, model)
        elif kind == "settings":
            self.settings_requested.emit()
        elif kind == "model":
            self.header.model_combo.setFocus()
            self.header.model_combo.showPopup()
        elif kind == "code":
            self.status.setText(actions.copy_code(self.transcript.code(index, number)))
        elif kind in ("copy", "copymd"):
            self._copy(index, plain=kind == "copy")
        elif kind == "export" and 0 <= index < len(conversation.turns):
            self.status.setText(actions.copy_export(conversation.turns[index], number))
        elif kind == "thinking":
            actions.show_thinking(self, conversation, index)

    def _copy(self, index: int, *, plain: bool) -> None:
        if self.conversation is not None:
            self.status.setText(actions.copy_turn(self.conversation, index, plain=plain))

    def _regenerate_last(self) -> None:
        index = self._last_answer_index()
        if index >= 0 and self.conversation is not None and not self._answering:
            self.regenerate_requested.emit(
                self.conversation.id, index, self.selected_preset(), self.selected_model()
            )

    def _preset_picked(self, preset_id: str) -> None:
        if self.conversation is not None and not self._answering:
            self.again_requested.emit(self.conversation.id, preset_id, self.selected_model())

    def _capture(self) -> None:
        self.capture_requested.emit(self.selected_preset())

    def _stop(self) -> None:
        if self.conversation is not None:
            self.stop_requested.emit(self.conversation.id)

    def _escape(self) -> None:
        if self._answering and self.conversation is not None:
            self.stop_requested.emit(self.conversation.id)
        else:
            self.close()

    def _keep_draft(self) -> None:
        text = self.composer.draft()
        if self.conversation is not None and text.strip():
            self._drafts[self.conversation.id] = text

    def _last_answer_index(self) -> int:
        conversation = self.conversation
        return -1 if conversation is None else conversation.last_answer_index(with_text=True)

    def _set_image(self, image: QImage | None) -> None:
        self._image = image
        self.header.set_image(image)

    def _dropped(self, source: object) -> None:
        self.image_dropped.emit(source, self.selected_preset())

    def _paste_image(self) -> None:
        source = dropped_source(QGuiApplication.clipboard().mimeData(), files=False)
        if source is not None:
            self._dropped(source)

    def changeEvent(self, event: QEvent) -> None:  # noqa: N802
        if event.type() == QEvent.Type.PaletteChange:
            self.transcript.apply_palette()
        super().changeEvent(event)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if can_drop(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        source = dropped_source(event.mimeData())
        if source is not None:
            self._dropped(source)
            event.acceptProposedAction()
