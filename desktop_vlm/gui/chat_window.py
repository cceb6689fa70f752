"""The chat window: the image, the conversation about it, and the box for the next question.

Rendering: finished turns are rendered once, as Markdown with code blocks. The answer being
streamed is appended as plain text in batches (at most every ``FLUSH_MS``), never by re-rendering
the document per token; when it finishes, only that answer is replaced by its Markdown rendering.

The window only shows things and emits signals; the controller owns the conversations and the
requests. Keys: Enter sends, Shift+Enter adds a line, Up in an empty box recalls the last
question, Esc stops a running answer (or closes the window), Ctrl+Shift+C copies the last answer,
Ctrl+R regenerates it, Ctrl+E exports the conversation, Ctrl+V with an image starts a new one.
"""

from __future__ import annotations

import base64
import html
import logging
import re
import time
from dataclasses import dataclass

from PySide6.QtCore import QBuffer, QByteArray, QMimeData, QSize, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QIcon,
    QImage,
    QImageReader,
    QKeyEvent,
    QKeySequence,
    QPixmap,
    QShortcut,
    QTextCursor,
)
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QTextBrowser,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_vlm.core.conversation import Conversation, Turn
from desktop_vlm.core.presets import Preset
from desktop_vlm.core.pricing import format_cost
from desktop_vlm.platform.qimage import to_raw

log = logging.getLogger(__name__)

FLUSH_MS = 30
#: Longer answers keep their streamed plain text instead of a Markdown re-render, which would
#: stall the GUI thread for a noticeable time (about 0.2 s for 40,000 characters).
MARKDOWN_LIMIT = 20_000
#: While an answer streams it is shown as Markdown, re-rendered at most every LIVE_RENDER_MS and
#: only while shorter than LIVE_MARKDOWN_LIMIT (each render is linear in the answer's length);
#: past that the rest streams as plain text and the answer is rendered once when it ends.
LIVE_MARKDOWN_LIMIT = 8_000
LIVE_RENDER_MS = 150
AUTO_MODEL = "Automatic"
_FENCE = re.compile(r"^```([^\n`]*)\n(.*?)^```[ \t]*$", re.S | re.M)


@dataclass(frozen=True)
class ErrorAction:
    """A link under an error message: ``retry``, ``settings`` or ``model``."""

    key: str
    label: str


def split_code_blocks(markdown: str) -> list[tuple[str, str, str]]:
    """Split an answer into ("text", markdown, "") and ("code", code, language) segments."""
    segments: list[tuple[str, str, str]] = []
    pos = 0
    for match in _FENCE.finditer(markdown):
        if match.start() > pos:
            segments.append(("text", markdown[pos : match.start()], ""))
        segments.append(("code", match.group(2).rstrip("\n"), match.group(1).strip()))
        pos = match.end()
    if pos < len(markdown):
        segments.append(("text", markdown[pos:], ""))
    return segments


def image_from_base64(data: str, max_side: int = 0) -> QImage:
    raw = QByteArray(base64.b64decode(data))
    buffer = QBuffer(raw)
    buffer.open(QBuffer.OpenModeFlag.ReadOnly)
    reader = QImageReader(buffer)
    if max_side:
        size = reader.size()
        if size.isValid() and max(size.width(), size.height()) > max_side:
            reader.setScaledSize(
                size.scaled(max_side, max_side, Qt.AspectRatioMode.KeepAspectRatio)
            )
    return reader.read()


class QuestionBox(QPlainTextEdit):
    """Enter sends, Shift+Enter breaks the line, Up recalls; pasting an image is handed on."""

    submitted = Signal(str)
    image_pasted = Signal(object)

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("question_box")
        self.setPlaceholderText("Ask a follow-up question…  (Enter sends, Shift+Enter: new line)")
        self.setTabChangesFocus(True)
        self.last_question = ""
        self.setFixedHeight(self.fontMetrics().lineSpacing() * 3 + 16)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802 - Qt's name
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            if event.modifiers() & Qt.KeyboardModifier.ShiftModifier:
                self.insertPlainText("\n")
            else:
                text = self.toPlainText().strip()
                if text:
                    self.submitted.emit(text)
            return
        if key == Qt.Key.Key_Up and not self.toPlainText() and self.last_question:
            self.setPlainText(self.last_question)
            self.moveCursor(QTextCursor.MoveOperation.End)
            return
        super().keyPressEvent(event)

    def canInsertFromMimeData(self, source: QMimeData) -> bool:  # noqa: N802
        return source.hasImage() or super().canInsertFromMimeData(source)

    def insertFromMimeData(self, source: QMimeData) -> None:  # noqa: N802
        if source.hasImage():
            image = QImage(source.imageData())
            if not image.isNull():
                self.image_pasted.emit(to_raw(image))
                return
        super().insertFromMimeData(source)


class ImageViewer(QDialog):
    def __init__(self, image: QImage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("image_viewer")
        self.setWindowTitle(f"Image sent ({image.width()} × {image.height()})")
        label = QLabel()
        label.setPixmap(QPixmap.fromImage(image))
        scroll = QScrollArea()
        scroll.setWidget(label)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(scroll)
        screen = QGuiApplication.primaryScreen().availableGeometry()
        self.resize(
            min(image.width() + 24, screen.width() - 80),
            min(image.height() + 24, screen.height() - 80),
        )
        QShortcut(QKeySequence("Esc"), self, activated=self.close)


class ChatWindow(QMainWindow):
    follow_up = Signal(str)
    stop_requested = Signal()
    regenerate_requested = Signal()
    retry_requested = Signal()
    settings_requested = Signal()
    capture_requested = Signal()
    conversation_selected = Signal(str)
    image_dropped = Signal(object)  # RawImage | str (path)
    search_changed = Signal(str)
    delete_requested = Signal(str)
    delete_all_requested = Signal()

    def __init__(self, presets: list[Preset], default_preset: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("chat_window")
        self.setWindowTitle("desktop-vlm")
        self.resize(980, 680)
        self.setAcceptDrops(True)
        self.conversation: Conversation | None = None
        self._image: QImage | None = None
        self._pending: list[str] = []
        self._answer_start = -1
        self._streaming = False
        self._flush_timer = QTimer(self, singleShot=True, interval=FLUSH_MS, timeout=self._flush)
        self._render_timer = QTimer(
            self, singleShot=True, interval=LIVE_RENDER_MS, timeout=self._render_live
        )
        self._streamed: list[str] = []  # the answer so far, for the live Markdown render
        self._streamed_len = 0
        self._rendered_at = 0.0
        self._build(presets, default_preset)
        self._shortcuts()
        self.set_streaming(False)

    # --- construction -------------------------------------------------------------------

    def _build(self, presets: list[Preset], default_preset: str) -> None:
        self.history = QListWidget(objectName="history_list")
        self.history.setMinimumWidth(170)
        self.history.itemActivated.connect(self._history_activated)
        self.history.itemClicked.connect(self._history_activated)
        self.history.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.history.customContextMenuRequested.connect(self._history_menu)
        self.search = QLineEdit(objectName="history_search")
        self.search.setPlaceholderText("Search past answers…")
        self.search.setClearButtonEnabled(True)
        self._search_timer = QTimer(self, singleShot=True, interval=200)
        self._search_timer.timeout.connect(lambda: self.search_changed.emit(self.search.text()))
        self.search.textChanged.connect(lambda _text: self._search_timer.start())
        side = QWidget()
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(0, 0, 0, 0)
        side_layout.addWidget(self.search)
        side_layout.addWidget(self.history, 1)

        self.thumbnail = QToolButton(objectName="thumbnail")
        self.thumbnail.setIconSize(QSize(112, 84))
        self.thumbnail.setFixedSize(120, 92)
        self.thumbnail.setToolTip("Show the image at full size")
        self.thumbnail.clicked.connect(self.show_full_image)
        self.title = QLabel(objectName="conversation_title")
        self.title.setStyleSheet("font-size: 15px; font-weight: 600;")
        self.subtitle = QLabel(objectName="conversation_subtitle")
        self.subtitle.setStyleSheet("color: palette(placeholder-text);")
        self.preset_combo = QComboBox(objectName="preset_combo")
        for preset in presets:
            self.preset_combo.addItem(preset.title, preset.id)
        self.set_preset(default_preset)
        self.model_combo = QComboBox(objectName="model_combo")
        self.model_combo.setEditable(True)
        self.model_combo.setMinimumContentsLength(26)
        self.model_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.model_combo.addItem(AUTO_MODEL)
        self.model_combo.lineEdit().setPlaceholderText("model id")
        pickers = QHBoxLayout()
        pickers.addWidget(QLabel("Preset"))
        pickers.addWidget(self.preset_combo)
        pickers.addSpacing(12)
        pickers.addWidget(QLabel("Model"))
        pickers.addWidget(self.model_combo, 1)
        heading = QVBoxLayout()
        heading.addWidget(self.title)
        heading.addWidget(self.subtitle)
        heading.addStretch(1)
        heading.addLayout(pickers)
        top = QHBoxLayout()
        top.addWidget(self.thumbnail)
        top.addLayout(heading, 1)

        self.transcript = QTextBrowser(objectName="transcript")
        self.transcript.setOpenLinks(False)
        self.transcript.anchorClicked.connect(self._link)
        self.transcript.document().setDefaultStyleSheet(
            "pre { background-color: #f4f5f7; color: #1f2328; }"
            "code { background-color: #f4f5f7; }"
            ".meta { color: #6b7280; font-size: small; }"
            ".who { color: #4338ca; font-weight: 600; }"
            ".error { color: #b3261e; }"
            "a { color: #4338ca; text-decoration: none; }"
        )
        self.transcript.setPlaceholderText("Capture a region (Ctrl+Alt+Q) or paste an image here.")

        self.progress = QProgressBar(objectName="progress")
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(4)
        self.status = QLabel(objectName="status")
        self.status.setStyleSheet("color: palette(placeholder-text);")

        self.question = QuestionBox()
        self.question.submitted.connect(self._submit)
        self.question.image_pasted.connect(self.image_dropped.emit)
        self.send_button = QPushButton("Send", objectName="send_button")
        self.send_button.clicked.connect(lambda: self._submit(self.question.toPlainText().strip()))
        self.stop_button = QPushButton("Stop", objectName="stop_button")
        self.stop_button.clicked.connect(self.stop_requested.emit)
        buttons = QVBoxLayout()
        buttons.addWidget(self.send_button)
        buttons.addWidget(self.stop_button)
        buttons.addStretch(1)
        bottom = QHBoxLayout()
        bottom.addWidget(self.question, 1)
        bottom.addLayout(buttons)

        main = QWidget()
        layout = QVBoxLayout(main)
        layout.addLayout(top)
        layout.addWidget(self.transcript, 1)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addLayout(bottom)
        splitter = QSplitter()
        splitter.addWidget(side)
        splitter.addWidget(main)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([200, 780])
        self.setCentralWidget(splitter)

        toolbar = self.addToolBar("Conversation")
        toolbar.setObjectName("toolbar")
        toolbar.setMovable(False)
        for name, text, slot, shortcut in (
            ("action_new_capture", "New capture", self.capture_requested.emit, None),
            ("action_copy_answer", "Copy answer", self.copy_last_answer, "Ctrl+Shift+C"),
            ("action_regenerate", "Regenerate", self.regenerate_requested.emit, "Ctrl+R"),
            ("action_export", "Export Markdown…", self.export_markdown, "Ctrl+E"),
            ("action_settings", "Settings", self.settings_requested.emit, None),
        ):
            action = QAction(text, self)
            action.setObjectName(name)
            action.triggered.connect(lambda _checked=False, slot=slot: slot())
            if shortcut:
                action.setShortcut(QKeySequence(shortcut))
            toolbar.addAction(action)
            setattr(self, name, action)

    def _shortcuts(self) -> None:
        QShortcut(QKeySequence.StandardKey.Close, self, activated=self.close)
        QShortcut(QKeySequence("Esc"), self, activated=self._escape)
        paste = QShortcut(QKeySequence.StandardKey.Paste, self.transcript)
        paste.activated.connect(self._paste_image)

    # --- what the controller calls --------------------------------------------------------

    def set_preset(self, preset_id: str) -> None:
        index = self.preset_combo.findData(preset_id)
        if index >= 0:
            self.preset_combo.setCurrentIndex(index)

    def selected_preset(self) -> str:
        return self.preset_combo.currentData()

    def selected_model(self) -> str | None:
        text = self.model_combo.currentText().strip()
        return None if not text or text == AUTO_MODEL else text

    def set_models(self, models: list[str]) -> None:
        current = self.model_combo.currentText()
        self.model_combo.clear()
        self.model_combo.addItem(AUTO_MODEL)
        self.model_combo.addItems(models)
        self.model_combo.setCurrentText(current or AUTO_MODEL)

    def set_model(self, model: str | None) -> None:
        self.model_combo.setCurrentText(model or AUTO_MODEL)

    def set_conversations(self, items: list[tuple[str, str, str]], current: str | None) -> None:
        """(id, label, snippet) triples, newest first."""
        self.history.blockSignals(True)
        self.history.clear()
        for conv_id, label, snippet in items:
            item = QListWidgetItem(f"{label}\n{snippet}" if snippet else label)
            item.setData(Qt.ItemDataRole.UserRole, conv_id)
            if snippet:
                item.setToolTip(snippet)
            self.history.addItem(item)
            if conv_id == current:
                self.history.setCurrentItem(item)
        self.history.blockSignals(False)

    def show_pending(self, title: str, image: QImage | None) -> None:
        """A new conversation whose image is still being prepared."""
        self.conversation = None
        self._answer_start = -1
        self._pending.clear()
        self.transcript.clear()
        self.title.setText(title)
        self.subtitle.setText("")
        self._set_image(image)
        self.set_streaming(True)
        self.status.setText("Preparing the image…")

    def show_conversation(
        self, conversation: Conversation, title: str, image: QImage | None = None
    ):
        """Render a whole conversation (on open or after a change), not per token."""
        self.conversation = conversation
        self._pending.clear()
        self.title.setText(title)
        self.set_preset(conversation.preset_id)
        when = time.strftime("%d %b %H:%M", time.localtime(conversation.created))
        self.subtitle.setText(f"{conversation.image.width} × {conversation.image.height} · {when}")
        if image is None:
            image = image_from_base64(conversation.image.base64)
        self._set_image(image)
        self.transcript.clear()
        self._answer_start = -1
        answers = [t for t in conversation.turns if t.role == "assistant"]
        for index, turn in enumerate(conversation.turns):
            if turn.role == "user":
                self._render_question(turn.text if index else f"{title}")
            elif turn.complete or turn.text:
                self._render_answer(turn, is_last=turn is (answers[-1] if answers else None))
        self._scroll_to_end()

    def begin_answer(self, model: str) -> None:
        self._flush()
        cursor = self._end_cursor()
        cursor.insertHtml(f'<p><span class="who">{html.escape(model)}</span></p>')
        cursor.insertBlock()
        self._answer_start = cursor.position()
        self._streamed = []
        self._streamed_len = 0
        self._rendered_at = 0.0
        self.set_streaming(True)
        self.status.setText(f"Waiting for {model}…")

    def append(self, piece: str) -> None:
        if self._answer_start < 0:
            return
        self._pending.append(piece)
        if not self._flush_timer.isActive():
            # Leading edge: the first piece after a quiet spell shows at once (time to first
            # token); pieces arriving in the next FLUSH_MS are batched into one update.
            self._flush()
            self._flush_timer.start()
        if self.status.text() != "Answering…":
            self.status.setText("Answering…")

    def finish_answer(self, turn: Turn, status: str = "") -> None:
        """Replace the streamed plain text by the rendered answer with its details."""
        self._flush()
        self._render_timer.stop()
        if self._answer_start >= 0:
            cursor = self._end_cursor()
            if len(turn.text) > MARKDOWN_LIMIT:
                cursor.insertBlock()  # the streamed text stays as it is
                self._render_meta(turn, cursor, is_last=True)
            else:
                cursor.setPosition(self._answer_start, QTextCursor.MoveMode.KeepAnchor)
                cursor.removeSelectedText()
                self._render_answer_body(turn, cursor, is_last=True)
        self._answer_start = -1
        self.set_streaming(False)
        self.status.setText(status)
        self._scroll_to_end()
        self.question.setFocus()

    def fail(self, message: str, actions: list[ErrorAction], restore_question: str = "") -> None:
        """Show an error where the answer would be; what was typed goes back in the box."""
        self._flush()
        self._render_timer.stop()
        self._answer_start = -1
        links = " · ".join(f'<a href="action:{a.key}">{html.escape(a.label)}</a>' for a in actions)
        cursor = self._end_cursor()
        cursor.insertHtml(
            f'<p class="error"><b>⚠ {html.escape(message)}</b></p>'
            + (f'<p class="meta">{links}</p>' if links else "")
        )
        cursor.insertBlock()
        if restore_question and not self.question.toPlainText().strip():
            self.question.setPlainText(restore_question)
            self.question.moveCursor(QTextCursor.MoveOperation.End)
        self.set_streaming(False)
        self.status.setText("")
        self._scroll_to_end()
        self.question.setFocus()

    def add_question(self, text: str) -> None:
        self._flush()
        self._render_question(text)
        self._scroll_to_end()

    def set_streaming(self, streaming: bool) -> None:
        self._streaming = streaming
        self.stop_button.setVisible(streaming)
        self.send_button.setVisible(not streaming)
        self.progress.setVisible(streaming)
        self.action_regenerate.setEnabled(not streaming)

    @property
    def streaming(self) -> bool:
        return self._streaming

    def transcript_text(self) -> str:
        self._flush()
        return self.transcript.toPlainText()

    # --- actions --------------------------------------------------------------------------

    def copy_last_answer(self) -> None:
        turn = self._last_answer()
        if turn is None:
            return
        QGuiApplication.clipboard().setText(turn.text)
        self.status.setText(f"Copied the answer ({len(turn.text)} characters)")

    def export_markdown(self) -> None:
        if self.conversation is None:
            return
        name = time.strftime(
            "desktop-vlm-%Y%m%d-%H%M.md", time.localtime(self.conversation.created)
        )
        path, _ = QFileDialog.getSaveFileName(self, "Export conversation", name, "Markdown (*.md)")
        if path:
            with open(path, "w", encoding="utf-8") as handle:
                handle.write(self.conversation.to_markdown(self.title.text()))
            self.status.setText(f"Exported to {path}")

    def show_full_image(self) -> None:
        if self.conversation is not None:
            image = image_from_base64(self.conversation.image.base64)
        else:
            image = self._image
        if image is not None and not image.isNull():
            ImageViewer(image, self).exec()

    # --- rendering ------------------------------------------------------------------------

    def _render_question(self, text: str) -> None:
        cursor = self._end_cursor()
        body = html.escape(text).replace("\n", "<br>")
        cursor.insertHtml(f'<p><span class="who">You</span></p><p>{body}</p>')
        cursor.insertBlock()

    def _render_answer(self, turn: Turn, is_last: bool) -> None:
        cursor = self._end_cursor()
        cursor.insertHtml(f'<p><span class="who">{html.escape(turn.model or "Answer")}</span></p>')
        cursor.insertBlock()
        self._render_answer_body(turn, cursor, is_last)

    def _render_answer_body(self, turn: Turn, cursor: QTextCursor, is_last: bool) -> None:
        if len(turn.text) > MARKDOWN_LIMIT:
            cursor.insertText(turn.text)
            cursor.insertBlock()
            self._render_meta(turn, cursor, is_last)
            return
        index = self._turn_index(turn)
        for number, (kind, text, lang) in enumerate(split_code_blocks(turn.text)):
            if kind == "text":
                if text.strip():
                    cursor.insertMarkdown(text)
                    cursor.insertBlock()
            else:
                label = f" {html.escape(lang)}" if lang else ""
                # A one-cell table: the only way QTextDocument paints one background behind
                # a multi-line block.
                cursor.insertHtml(
                    '<table width="100%" cellpadding="8" cellspacing="0" bgcolor="#f4f5f7">'
                    f"<tr><td><pre>{html.escape(text)}</pre></td></tr></table>"
                )
                cursor.movePosition(QTextCursor.MoveOperation.End)
                cursor.insertHtml(
                    f'<p class="meta"><a href="action:code:{index}:{number}">Copy{label} code</a></p>'
                )
                cursor.insertBlock()
        self._render_meta(turn, cursor, is_last)

    def _render_meta(self, turn: Turn, cursor: QTextCursor, is_last: bool) -> None:
        index = self._turn_index(turn)
        meta = _meta(turn)
        links = [
            f'<a href="action:copy:{index}">Copy</a>',
            f'<a href="action:copymd:{index}">Copy Markdown</a>',
        ]
        if is_last:
            links.append('<a href="action:regenerate">Regenerate</a>')
        cursor.insertHtml(f'<p class="meta">{html.escape(meta)} · {" · ".join(links)}</p>')
        cursor.insertBlock()

    def _turn_index(self, turn: Turn) -> int:
        if self.conversation is None:
            return -1
        for index, candidate in enumerate(self.conversation.turns):
            if candidate is turn:
                return index
        return -1

    def _flush(self) -> None:
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        bar = self.transcript.verticalScrollBar()
        following = bar.value() >= bar.maximum() - 8
        self._streamed.append(text)
        self._streamed_len += len(text)
        live = self._answer_start >= 0 and self._streamed_len <= LIVE_MARKDOWN_LIMIT
        if live and time.monotonic() - self._rendered_at >= LIVE_RENDER_MS / 1000:
            self._render_streamed()
        else:
            self._end_cursor().insertText(text)
            if live and not self._render_timer.isActive():
                self._render_timer.start()
        if following:
            bar.setValue(bar.maximum())

    def _render_live(self) -> None:
        if self._answer_start >= 0 and self._streamed_len <= LIVE_MARKDOWN_LIMIT:
            bar = self.transcript.verticalScrollBar()
            following = bar.value() >= bar.maximum() - 8
            self._render_streamed()
            if following:
                bar.setValue(bar.maximum())

    def _render_streamed(self) -> None:
        """Replace the answer shown so far by its Markdown rendering."""
        cursor = self._end_cursor()
        cursor.setPosition(self._answer_start, QTextCursor.MoveMode.KeepAnchor)
        cursor.removeSelectedText()
        cursor.insertMarkdown("".join(self._streamed))
        self._rendered_at = time.monotonic()

    def _end_cursor(self) -> QTextCursor:
        cursor = QTextCursor(self.transcript.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        return cursor

    def _scroll_to_end(self) -> None:
        bar = self.transcript.verticalScrollBar()
        bar.setValue(bar.maximum())

    def _set_image(self, image: QImage | None) -> None:
        self._image = image
        if image is None or image.isNull():
            self.thumbnail.setIcon(QIcon())
            return
        pixmap = QPixmap.fromImage(
            image.scaled(
                QSize(224, 168),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
        )
        self.thumbnail.setIcon(QIcon(pixmap))

    def _last_answer(self) -> Turn | None:
        if self.conversation is None:
            return None
        answers = [t for t in self.conversation.turns if t.role == "assistant" and t.text]
        return answers[-1] if answers else None

    # --- events ---------------------------------------------------------------------------

    def _submit(self, text: str) -> None:
        if not text or self._streaming:
            return
        self.question.last_question = text
        self.question.clear()
        self.follow_up.emit(text)

    def _link(self, url: QUrl) -> None:
        parts = url.toString().split(":")
        if parts[0] != "action" or len(parts) < 2:
            return
        kind = parts[1]
        if kind == "retry":
            pending = self.question.toPlainText().strip()
            if pending:
                self._submit(pending)  # a follow-up that failed went back into the box
            else:
                self.retry_requested.emit()
        elif kind == "regenerate":
            self.regenerate_requested.emit()
        elif kind == "settings":
            self.settings_requested.emit()
        elif kind == "model":
            self.model_combo.setFocus()
            self.model_combo.showPopup()
        elif kind in ("copy", "copymd", "code") and self.conversation is not None:
            turn = self.conversation.turns[int(parts[2])]
            if kind == "code":
                segments = split_code_blocks(turn.text)
                text = segments[int(parts[3])][1]
                what = "code block"
            elif kind == "copymd":
                text, what = turn.text, "answer as Markdown"
            else:
                text, what = _plain(turn.text), "answer"
            QGuiApplication.clipboard().setText(text)
            self.status.setText(f"Copied the {what} ({len(text)} characters)")

    def _history_activated(self, item: QListWidgetItem) -> None:
        conv_id = item.data(Qt.ItemDataRole.UserRole)
        if self.conversation is None or conv_id != self.conversation.id:
            self.conversation_selected.emit(conv_id)

    def _history_menu(self, pos) -> None:  # noqa: ANN001
        item = self.history.itemAt(pos)
        menu = QMenu(self)
        if item is not None:
            delete = menu.addAction("Delete conversation")
            delete.setObjectName("action_delete_conversation")
            conv_id = item.data(Qt.ItemDataRole.UserRole)
            delete.triggered.connect(lambda _c=False: self.delete_requested.emit(conv_id))
        delete_all = menu.addAction("Delete all history…")
        delete_all.setObjectName("action_delete_all")
        delete_all.triggered.connect(lambda _c=False: self._confirm_delete_all())
        menu.popup(self.history.viewport().mapToGlobal(pos))

    def _confirm_delete_all(self) -> None:
        answer = QMessageBox.question(
            self, "Delete all history", "Delete every saved conversation? This cannot be undone."
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.delete_all_requested.emit()

    def _escape(self) -> None:
        if self._streaming:
            self.stop_requested.emit()
        else:
            self.close()

    def _paste_image(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is not None and mime.hasImage():
            image = QImage(mime.imageData())
            if not image.isNull():
                self.image_dropped.emit(to_raw(image))

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        mime = event.mimeData()
        if mime.hasImage() or (mime.hasUrls() and any(u.isLocalFile() for u in mime.urls())):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        mime = event.mimeData()
        if mime.hasImage():
            image = QImage(mime.imageData())
            if not image.isNull():
                self.image_dropped.emit(to_raw(image))
                event.acceptProposedAction()
                return
        for url in mime.urls():
            if url.isLocalFile():
                self.image_dropped.emit(url.toLocalFile())
                event.acceptProposedAction()
                return


def _meta(turn: Turn) -> str:
    parts = [turn.model or "?"]
    if turn.usage is not None and turn.usage.total_tokens is not None:
        parts.append(f"{turn.usage.prompt_tokens} + {turn.usage.completion_tokens} tokens")
    parts.append(format_cost(turn.cost_usd))
    if turn.ttft_s is not None:
        parts.append(f"first token {turn.ttft_s:.2f} s")
    if not turn.complete:
        parts.append(turn.error or "incomplete")
    return " · ".join(parts)


def _plain(markdown: str) -> str:
    """The answer without Markdown markup, as the person reads it on screen."""
    from PySide6.QtGui import QTextDocument

    doc = QTextDocument()
    doc.setMarkdown(markdown)
    return doc.toPlainText()
