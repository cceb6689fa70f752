"""The transcript's blocks, at the cursor: new ones that inherit nothing, plain text cut into
bounded blocks, the label spacing, and the details line under an answer."""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtGui import QTextBlockFormat, QTextCharFormat, QTextCursor

from desktop_vlm.core.conversation import Turn
from desktop_vlm.core.pricing import format_cost

#: Plain text is cut into blocks of at most this many characters (Qt lays out a block whole).
LINE_CHUNK = 1_000


def insert_plain(cursor: QTextCursor, text: str, left: int = LINE_CHUNK) -> int:
    """Insert ``text`` as text, line breaks kept, lines cut into blocks of ``LINE_CHUNK``
    (``left``: what the current block may still take). Returns what the last block may take."""
    # Plain, not in the format of what came before (a "You" label's bold accent, a <p>'s
    # margins on every line)
    cursor.setCharFormat(QTextCharFormat())
    if cursor.block().length() <= 1:
        cursor.setBlockFormat(QTextBlockFormat())
    first = True
    cursor.beginEditBlock()  # one layout for the whole piece, not one per block
    for line in text.split("\n"):
        if not first:
            new_block(cursor)
            left = LINE_CHUNK
        first = False
        while len(line) > left:
            cursor.insertText(line[:left])
            new_block(cursor)
            line, left = line[left:], LINE_CHUNK
        cursor.insertText(line)
        left -= len(line)
    cursor.endEditBlock()
    return left


def details(turn: Turn) -> str:
    parts = [turn.model or "?"]
    if turn.usage is not None and turn.usage.total_tokens is not None:
        parts.append(f"{turn.usage.prompt_tokens} + {turn.usage.completion_tokens} tokens")
    parts.append(format_cost(turn.cost_usd))
    if turn.ttft_s is not None:
        parts.append(f"first token {turn.ttft_s:.2f} s")
    if turn.meta.get("cut_at_max_tokens"):
        parts.append("cut at max_tokens")
    if not turn.complete:
        parts.append(turn.error or "incomplete")
    return " · ".join(parts)


def new_block(cursor: QTextCursor) -> None:
    """A new block in no list, with no heading, margins or character format from the one
    before: ``insertBlock()`` copies those, so the lines after an answer ending in a list (its
    details, the next "You") became that list's next items."""
    cursor.insertBlock(QTextBlockFormat(), QTextCharFormat())


def remove(cursor: QTextCursor) -> None:
    """Remove the selection; the block it leaves is plain (it would keep a removed list's
    membership or a heading's format, and pass it on to what is inserted next)."""
    cursor.removeSelectedText()
    listed = cursor.block().textList()
    if listed is not None:
        listed.remove(cursor.block())
    cursor.setBlockFormat(QTextBlockFormat())


def spaced(cursor: QTextCursor, top: int) -> None:
    """The label block at ``cursor``: ``top`` pixels above it (none at the document's start),
    a little below; the same on every turn (HTML's paragraph margins apply to the first only)."""
    fmt = QTextBlockFormat()
    fmt.setTopMargin(top if cursor.block().blockNumber() > 0 else 0)
    fmt.setBottomMargin(2)
    cursor.setBlockFormat(fmt)


def meta_html(turn: Turn, index: int, href: Callable[[str, int], str], *, is_last: bool) -> str:
    """The line under an answer: its details and links (``href(kind, index)`` makes one)."""
    links = [f'<a href="{href("copy", index)}">Copy</a>']
    if not turn.meta.get("plain") or (turn.meta.get("structured") or {}).get("markdown"):
        # Plain text (OCR) has no Markdown of its own: the link would copy the same text.
        links.append(f'<a href="{href("copymd", index)}">Copy Markdown</a>')
    if is_last and turn.complete:
        links.append(f'<a href="{href("regenerate", index)}">Regenerate</a>')
    elif is_last:
        links.append(f'<a href="{href("retry", index)}">Retry</a>')
    return f'<p class="meta">{html.escape(details(turn))} · {" · ".join(links)}</p>'
