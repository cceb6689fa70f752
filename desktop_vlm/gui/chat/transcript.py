"""The conversation as a document: questions, answers as Markdown, their details, and errors.

Rendering is bounded by design, because answers come from outside:
- an answer being streamed is appended in batches (at most every ``FLUSH_MS``, at most
  ``FLUSH_CHARS`` characters a batch: what arrives faster waits for the next, and the answer's
  end waits for what is still to show), re-rendered as
  Markdown at most every ``LIVE_RENDER_MS`` while shorter than ``LIVE_MARKDOWN_LIMIT``, then as
  plain text; when it ends only that answer is replaced by its rendering;
- answers longer than ``MARKDOWN_LIMIT`` stay plain text, and plain text is cut into blocks of at
  most ``LINE_CHUNK`` characters, so one line of 600,000 characters without a space costs what
  600 short lines cost (Qt lays out a block as a whole);
- resources are never loaded except the conversation's own image, and only http, https and
  mailto links leave the app (in the browser); the app's own links carry a random token an
  answer cannot know, so an answer cannot press Regenerate.

The transcript follows the end while an answer streams, unless the person scrolled up.
"""

from __future__ import annotations

import contextlib
import html
import logging
import secrets
import time

from PySide6.QtCore import QTimer, QUrl, Signal
from PySide6.QtGui import (
    QDesktopServices,
    QTextCursor,
    QTextOption,
)
from PySide6.QtWidgets import QTextBrowser

from desktop_vlm.core.completions import Delta
from desktop_vlm.core.conversation import Turn
from desktop_vlm.gui import theme
from desktop_vlm.gui.chat import blocks, checks_view, markdown

log = logging.getLogger(__name__)

FLUSH_MS = 30
MARKDOWN_LIMIT = markdown.MARKDOWN_LIMIT
LIVE_MARKDOWN_LIMIT = 8_000
LIVE_RENDER_MS = 150
LINE_CHUNK = blocks.LINE_CHUNK
#: The most characters one batch shows (about 30 ms of layout on a slow machine).
FLUSH_CHARS = 40_000
#: Space above a question's "You" and above an answer's model name, in pixels.
TURN_GAP = 14
ANSWER_GAP = 6
_EXTERNAL = ("http", "https", "mailto")
#: What a structured answer can be copied as ("export" links carry the index).
EXPORTS = checks_view.EXPORTS


class Transcript(QTextBrowser):
    #: An app link was clicked: kind ("copy", "copymd", "code", "regenerate", "retry",
    #: "settings", "model", "thinking", "rerun"), the turn index, and a number (code block).
    action = Signal(str, int, int)

    def __init__(self) -> None:
        super().__init__(objectName="transcript")
        self.setOpenLinks(False)
        self.setOpenExternalLinks(False)
        self.setUndoRedoEnabled(False)  # a view: every streamed piece would be kept for undo
        self.anchorClicked.connect(self._clicked)
        option = QTextOption()
        option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.document().setDefaultTextOption(option)
        self.setPlaceholderText("Capture a region (Ctrl+Alt+Q) or paste an image here.")
        self._token = secrets.token_hex(8)
        self._colors = theme.colors(self.palette())
        self.document().setDefaultStyleSheet(self._colors.css())
        self._codes: dict[tuple[int, int], str] = {}
        self._answer_start = -1
        self._answer_index = -1
        self._plain = False
        self._pending: list[str] = []
        self._streamed: list[str] = []
        self._streamed_len = 0
        self._rendered_at = 0.0
        self._chunk_left = LINE_CHUNK
        self._dropped = ""  # the trailing whitespace the last live rendering did not show
        self._finishing: tuple[Turn, int] | None = None  # the end, once all pending is shown
        self._last_meta: tuple[int, Turn, int] | None = None  # block, turn, index
        self._error_start = -1  # where the last error shown starts, until the next question
        self.following = True
        self._flush_timer = QTimer(self, singleShot=True, interval=FLUSH_MS, timeout=self.flush)
        self._render_timer = QTimer(
            self, singleShot=True, interval=LIVE_RENDER_MS, timeout=self._render_live
        )
        bar = self.verticalScrollBar()
        bar.valueChanged.connect(self._scrolled)
        bar.rangeChanged.connect(self._range_changed)

    # --- what the window calls ----------------------------------------------------------

    @property
    def streaming(self) -> bool:
        return self._answer_start >= 0

    def reset(self) -> None:
        self._stop_stream()
        self.clear()
        self.document().setDefaultStyleSheet(self._colors.css())
        self._codes.clear()
        self._last_meta = None
        self._error_start = -1
        self.following = True

    def add_question(self, turn: Turn) -> None:
        """A question, and the view back at the end (the person just asked it: the answer comes
        there, even if they had scrolled up to read)."""
        self.following = True
        self.flush_all()
        self._drop_error()
        self._drop_regenerate_link()
        cursor = self._end()
        label = f' <span class="label">· {html.escape(turn.label)}</span>' if turn.label else ""
        part = ' <span class="label">(about a part of the image)</span>' if turn.image else ""
        cursor.insertHtml(f'<p><span class="who">You</span>{label}{part}</p>')
        blocks.spaced(cursor, TURN_GAP)
        blocks.new_block(cursor)
        self._insert_plain(cursor, turn.display_text)
        blocks.new_block(cursor)
        self.follow()

    def add_answer(self, turn: Turn, index: int, *, is_last: bool) -> None:
        self.flush_all()
        cursor = self._end()
        self._insert_label(cursor, turn.model or "Answer")
        self._render_body(cursor, turn, index, is_last=is_last)

    def begin_answer(self, model: str, index: int, *, plain: bool, so_far: str = "") -> None:
        """An answer starts streaming (``so_far``: what arrived before this view opened)."""
        self.flush_all()
        self._drop_error()
        cursor = self._end()
        self._insert_label(cursor, model)
        self._answer_start = cursor.position()
        self._answer_index = index
        self._plain = plain
        self._streamed, self._streamed_len, self._rendered_at = [], 0, 0.0
        self._chunk_left = LINE_CHUNK
        if so_far:
            self._pending.append(so_far)
            self.flush()
        self.follow()

    def append(self, delta: Delta) -> None:
        if self._answer_start < 0 or not delta.text:
            return
        self._pending.append(delta.text)
        if not self._flush_timer.isActive():
            # Leading edge: the first piece after a quiet spell shows at once (time to first
            # token); pieces arriving in the next FLUSH_MS are batched into one update.
            self.flush()
            self._flush_timer.start()

    def finish_answer(self, turn: Turn, index: int, *, streamed_long: bool = False) -> None:
        """Replace the streamed text by the rendered answer with its details; when more arrived
        than one batch shows, that happens once the rest is shown (batch by batch)."""
        self.flush()
        if self._pending and self._answer_start >= 0:
            self._finishing = (turn, index)
            self._flush_timer.start()
            return
        self._finish(turn, index)

    def _finish(self, turn: Turn, index: int) -> None:
        self._finishing = None
        self._render_timer.stop()
        if self._answer_start >= 0:
            cursor = self._end()
            if len(turn.text) > MARKDOWN_LIMIT:
                blocks.new_block(cursor)  # the streamed plain text stays as it is
                self._render_meta(cursor, turn, index, is_last=True)
            else:
                with self._view_kept():
                    cursor.setPosition(self._answer_start, QTextCursor.MoveMode.KeepAnchor)
                    blocks.remove(cursor)
                    self._render_body(cursor, turn, index, is_last=True)
        self._stop_stream()
        self.follow()

    def fail(self, message: str, actions: list[tuple[str, str]]) -> None:
        """An error where the answer would be, with links to what fixes it."""
        self.flush_all()
        self._stop_stream()
        links = " · ".join(
            f'<a href="{self._href(key)}">{html.escape(label)}</a>' for key, label in actions
        )
        cursor = self._end()
        self._error_start = cursor.position()
        cursor.insertHtml(
            f'<p class="error"><b>⚠ {html.escape(message)}</b></p>'
            + (f'<p class="meta">{links}</p>' if links else "")
        )
        blocks.new_block(cursor)
        self.follow()

    def _drop_error(self) -> None:
        """A question asked again (Retry, or the question given back sent) replaces the error."""
        if self._error_start < 0:
            return
        cursor = self._end()
        cursor.setPosition(
            min(self._error_start, cursor.position()), QTextCursor.MoveMode.KeepAnchor
        )
        blocks.remove(cursor)
        self._error_start = -1

    def code(self, index: int, number: int) -> str | None:
        return self._codes.get((index, number))

    def text(self) -> str:
        self.flush_all()
        return self.toPlainText()

    def follow(self) -> None:
        if self.following:
            bar = self.verticalScrollBar()
            bar.setValue(bar.maximum())

    def apply_palette(self) -> None:
        self._colors = theme.colors(self.palette())
        self.document().setDefaultStyleSheet(self._colors.css())

    # --- streaming ------------------------------------------------------------------------

    def flush_all(self) -> None:
        """Show everything pending now (the last batch ends the answer if its end waited)."""
        while self._pending:
            self.flush()

    def flush(self) -> None:
        """One batch of what is pending; the rest waits for the flush timer (started here)."""
        if not self._pending:
            return
        text = "".join(self._pending)
        self._pending.clear()
        if len(text) > FLUSH_CHARS:
            text, rest = text[:FLUSH_CHARS], text[FLUSH_CHARS:]
            self._pending.append(rest)
            self._flush_timer.start()
        self._streamed.append(text)
        self._streamed_len += len(text)
        live = (
            self._answer_start >= 0
            and not self._plain
            and self._streamed_len <= LIVE_MARKDOWN_LIMIT
        )
        if live and time.monotonic() - self._rendered_at >= LIVE_RENDER_MS / 1000:
            self._render_streamed()
        else:
            if self._streamed_len - len(text) <= LIVE_MARKDOWN_LIMIT < self._streamed_len:
                self._render_streamed(plain=True)  # past the live limit: plain from here on
            else:
                # The Markdown shown drops the text's trailing spaces and line breaks: what
                # follows it until the next rendering starts after them ("The" + "items").
                gap = ""
                if self._dropped:
                    gap, self._dropped = ("\n" if "\n" in self._dropped else " "), ""
                self._insert_plain(self._end(), gap + text, streaming=True)
            if live and not self._render_timer.isActive():
                self._render_timer.start()
        self.follow()
        if not self._pending and self._finishing is not None:
            self._finish(*self._finishing)  # the last batch of an answer that has ended

    def _render_live(self) -> None:
        if (
            self._answer_start >= 0
            and not self._plain
            and (self._streamed_len <= LIVE_MARKDOWN_LIMIT)
        ):
            self._render_streamed()
            self.follow()

    @contextlib.contextmanager
    def _view_kept(self):  # noqa: ANN202
        """Replace text without moving the reader: while the old text is gone the range shrinks
        and would clamp (and so end) a reader's position above the end."""
        bar = self.verticalScrollBar()
        following, value = self.following, bar.value()
        bar.blockSignals(True)
        try:
            yield
        finally:
            bar.blockSignals(False)
            self.following = following
            bar.setValue(bar.maximum() if following else value)

    def _render_streamed(self, plain: bool = False) -> None:
        with self._view_kept():
            self._replace_streamed(plain)

    def _replace_streamed(self, plain: bool) -> None:
        cursor = self._end()
        cursor.setPosition(self._answer_start, QTextCursor.MoveMode.KeepAnchor)
        blocks.remove(cursor)
        text = "".join(self._streamed)
        self._streamed = [text]
        if plain:
            self._chunk_left = LINE_CHUNK
            self._insert_plain(cursor, text, streaming=True)
        else:
            markdown.insert_markdown(
                cursor,
                text,
                code_background=self._colors.code_background,
                link_color=self._colors.accent,
            )
        self._dropped = "" if plain else text[len(text.rstrip()) :]
        self._rendered_at = time.monotonic()

    def _stop_stream(self) -> None:
        self._flush_timer.stop()
        self._render_timer.stop()
        self._pending.clear()
        self._finishing = None
        self._dropped = ""
        self._answer_start = -1
        self._answer_index = -1

    # --- rendering ------------------------------------------------------------------------

    def _insert_label(self, cursor: QTextCursor, who: str) -> None:
        cursor.insertHtml(f'<p><span class="who">{html.escape(who)}</span></p>')
        blocks.spaced(cursor, ANSWER_GAP)
        blocks.new_block(cursor)

    def _render_body(self, cursor: QTextCursor, turn: Turn, index: int, *, is_last: bool) -> None:
        if turn.reasoning:
            count = f"{len(turn.reasoning):,}"
            cursor.insertHtml(
                f'<p class="meta"><a href="{self._href("thinking", index)}">▸ Thinking</a>'
                f" ({count} characters)</p>"
            )
            blocks.new_block(cursor)
        structured = turn.meta.get("structured") or {}
        shown = structured.get("markdown") or turn.text
        start = cursor.position()
        if (turn.meta.get("plain") and not structured.get("markdown")) or (
            len(shown) > MARKDOWN_LIMIT
        ):
            self._insert_plain(cursor, shown)
            blocks.new_block(cursor)
        elif shown.strip():

            def link(number: int, block: markdown.CodeBlock) -> str:
                what = f"Copy {html.escape(block.language)} code" if block.language else "Copy code"
                return (
                    f'<p class="meta"><a href="{self._href("code", index, number)}">{what}</a></p>'
                )

            codes = markdown.insert_markdown(
                cursor,
                shown,
                code_background=self._colors.code_background,
                link_color=self._colors.accent,
                code_link=link,
            )
            for number, block in enumerate(codes):
                self._codes[(index, number)] = block.text
            blocks.new_block(cursor)
        check = turn.meta.get("check")
        if check:
            end = checks_view.mark_differences(
                self.document(), start, cursor.position(), check, self._colors
            )
            cursor.setPosition(end)
            cursor.movePosition(QTextCursor.MoveOperation.End)
        checks_view.render_notes(
            cursor, structured, check, lambda kind: self._href("export", index, EXPORTS.index(kind))
        )
        self._render_meta(cursor, turn, index, is_last=is_last)

    def _render_meta(self, cursor: QTextCursor, turn: Turn, index: int, *, is_last: bool) -> None:
        block = cursor.block().blockNumber()
        cursor.insertHtml(blocks.meta_html(turn, index, self._href, is_last=is_last))
        blocks.new_block(cursor)
        self._last_meta = (block, turn, index) if is_last else None

    def _drop_regenerate_link(self) -> None:
        """A new question makes the last answer an old one: its Regenerate link goes."""
        if self._last_meta is None:
            return
        number, turn, index = self._last_meta
        self._last_meta = None
        block = self.document().findBlockByNumber(number)
        if not block.isValid():
            return
        cursor = QTextCursor(block)
        cursor.movePosition(QTextCursor.MoveOperation.EndOfBlock, QTextCursor.MoveMode.KeepAnchor)
        blocks.remove(cursor)
        cursor.insertHtml(blocks.meta_html(turn, index, self._href, is_last=False))

    def _insert_plain(self, cursor: QTextCursor, text: str, streaming: bool = False) -> None:
        """Text as text, line breaks kept, long lines cut into blocks (see the module doc)."""
        left = blocks.insert_plain(cursor, text, self._chunk_left if streaming else LINE_CHUNK)
        if streaming:
            self._chunk_left = left

    def _end(self) -> QTextCursor:
        cursor = QTextCursor(self.document())
        cursor.movePosition(QTextCursor.MoveOperation.End)
        return cursor

    # --- links and scrolling ----------------------------------------------------------------

    def _href(self, kind: str, index: int = -1, number: int = -1) -> str:
        return f"dvlm-{self._token}:{kind}:{index}:{number}"

    def _clicked(self, url: QUrl) -> None:
        text = url.toString()
        prefix = f"dvlm-{self._token}:"
        if text.startswith(prefix):
            kind, _, rest = text[len(prefix) :].partition(":")
            index, _, number = rest.partition(":")
            try:
                self.action.emit(kind, int(index), int(number))
            except ValueError:
                log.warning("malformed app link ignored")
            return
        if url.scheme().lower() in _EXTERNAL and url.isValid():
            QDesktopServices.openUrl(url)
        else:
            log.info("link not followed (only http, https and mailto open): %s", url.scheme())

    def loadResource(self, kind: int, name: QUrl):  # noqa: ANN201, N802 - Qt's signature
        # Nothing an answer names is ever loaded: no local files, no network.
        return None

    def _scrolled(self, value: int) -> None:
        self.following = value >= self.verticalScrollBar().maximum() - 4

    def _range_changed(self, _low: int, high: int) -> None:
        if self.following:
            self.verticalScrollBar().setValue(high)
