"""Model answers rendered as Markdown, and only as Markdown: text is text.

Qt's own Markdown parser (md4c) reads the answer with raw HTML switched off, so ``a<b and c>d``,
``List<String>`` and ``#include <stdio.h>`` show as written instead of vanishing as tags, and no
answer can inject markup. The parsed document already marks every code block (fenced with
backticks or tildes, at any indentation, inside list items too) with its fence and language, so
code blocks are found there, not with a regular expression over the source.

Images named by an answer are never loaded: each becomes its alt text in brackets before the
document reaches the window (Qt would otherwise read an image's name from disk while laying it
out), and links are only followed when they are http, https or mailto. Links take the theme's
accent colour, not Qt's fixed blue, so they read on a dark background.
"""

from __future__ import annotations

from dataclasses import dataclass

from PySide6.QtGui import (
    QBrush,
    QColor,
    QTextBlockFormat,
    QTextCharFormat,
    QTextCursor,
    QTextDocument,
    QTextDocumentFragment,
    QTextFormat,
)

_FEATURES = (
    QTextDocument.MarkdownFeature.MarkdownDialectGitHub
    | QTextDocument.MarkdownFeature.MarkdownNoHTML
)


def parse(markdown: str) -> QTextDocument:
    """The answer as a document, with raw HTML shown as text."""
    doc = QTextDocument()
    doc.setMarkdown(markdown, _FEATURES)
    return doc


#: Longer answers are shown (and so copied) as plain text: parsing grows with the answer and runs
#: on the GUI thread.
MARKDOWN_LIMIT = 20_000


def plain_text(markdown: str) -> str:
    """The answer as a person reads it on screen, without Markdown markup."""
    if len(markdown) > MARKDOWN_LIMIT:
        return markdown
    return parse(markdown).toPlainText()


def is_code(block_format: QTextBlockFormat) -> bool:
    return block_format.hasProperty(QTextFormat.Property.BlockCodeFence) or (
        block_format.nonBreakableLines()
    )


@dataclass(frozen=True)
class CodeBlock:
    text: str
    language: str


def code_blocks(markdown: str) -> list[CodeBlock]:
    """Every code block of the answer, in order, as Qt's parser found them."""
    return [block for block, _, _ in _code_groups(parse(markdown), 0, None)]


def _code_groups(
    doc: QTextDocument, start: int, end: int | None
) -> list[tuple[CodeBlock, int, int]]:
    """(code block, first block number, last block number) for each run of code lines."""
    groups: list[tuple[CodeBlock, int, int]] = []
    lines: list[str] = []
    first = last = -1
    key: tuple[str, str] | None = None
    block = doc.findBlock(start)
    while block.isValid() and (end is None or block.position() < end):
        fmt = block.blockFormat()
        if is_code(fmt):
            this = (
                str(fmt.property(QTextFormat.Property.BlockCodeFence) or ""),
                str(fmt.property(QTextFormat.Property.BlockCodeLanguage) or ""),
            )
            if key is not None and this != key:
                groups.append((CodeBlock("\n".join(lines), key[1]), first, last))
                lines = []
            if not lines:
                first = block.blockNumber()
            key = this
            lines.append(block.text())
            last = block.blockNumber()
        elif lines:
            groups.append((CodeBlock("\n".join(lines), key[1] if key else ""), first, last))
            lines, key = [], None
        block = block.next()
    if lines:
        groups.append((CodeBlock("\n".join(lines), key[1] if key else ""), first, last))
    return groups


def insert_markdown(
    cursor: QTextCursor,
    markdown: str,
    *,
    code_background: QColor,
    link_color: QColor | None = None,
    code_link=None,  # noqa: ANN001 - Callable[[int, CodeBlock], str] | None: HTML of a link
) -> list[CodeBlock]:
    """Insert the rendered answer at ``cursor``; code blocks get a background and, with
    ``code_link``, a line with a link (its HTML) after each. Returns the code blocks."""
    document = cursor.document()
    start = cursor.position()
    parsed = parse(markdown)
    _defuse(parsed, link_color)
    cursor.insertFragment(QTextDocumentFragment(parsed))
    _drop_leading_empty_block(document, start, cursor.position())
    end = cursor.position()
    groups = _code_groups(document, start, end)
    for number, (block, first, last) in reversed(list(enumerate(groups))):
        _paint(document, first, last, code_background)
        if code_link is not None:
            after = QTextCursor(document.findBlockByNumber(last))
            after.movePosition(QTextCursor.MoveOperation.EndOfBlock)
            after.insertBlock(QTextBlockFormat())
            after.insertHtml(code_link(number, block))
    cursor.movePosition(QTextCursor.MoveOperation.End)
    return [block for block, _, _ in groups]


def _drop_leading_empty_block(document: QTextDocument, start: int, end: int) -> None:
    """A fragment that starts with a list (or a heading) goes into a block of its own, and
    leaves the empty block it was inserted in as a blank line above the answer: remove it,
    keeping the first block's own format (its list)."""
    first = document.findBlock(start)
    second = first.next()
    if first.length() > 1 or not second.isValid() or second.position() >= end:
        return
    fmt = second.blockFormat()
    cursor = QTextCursor(document)
    cursor.setPosition(start)
    cursor.setPosition(start + 1, QTextCursor.MoveMode.KeepAnchor)
    cursor.removeSelectedText()
    cursor.setBlockFormat(fmt)


def _defuse(doc: QTextDocument, link_color: QColor | None) -> None:
    """Images become their alt text (nothing is loaded); links take ``link_color``."""
    images: list[tuple[int, str]] = []
    links: list[tuple[int, int]] = []
    block = doc.begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            fmt = fragment.charFormat()
            if fmt.isImageFormat():
                alt = str(fmt.property(QTextFormat.Property.ImageAltText) or "image")
                images.append((fragment.position(), alt))
            elif fmt.isAnchor() and link_color is not None:
                links.append((fragment.position(), fragment.length()))
            it += 1
        block = block.next()
    cursor = QTextCursor(doc)
    if links:
        colour = QTextCharFormat()
        colour.setForeground(QBrush(link_color))
        for position, length in links:
            cursor.setPosition(position)
            cursor.setPosition(position + length, QTextCursor.MoveMode.KeepAnchor)
            cursor.mergeCharFormat(colour)
    for position, alt in reversed(images):  # from the end: positions before stay valid
        cursor.setPosition(position)
        cursor.setPosition(position + 1, QTextCursor.MoveMode.KeepAnchor)
        cursor.insertText(f"[{alt}]", QTextCharFormat())


def _paint(document: QTextDocument, first: int, last: int, background: QColor) -> None:
    for number in range(first, last + 1):
        block = document.findBlockByNumber(number)
        fmt = block.blockFormat()
        fmt.setBackground(background)
        fmt.setLeftMargin(max(fmt.leftMargin(), 8))
        fmt.setTopMargin(4 if number == first else 0)
        fmt.setBottomMargin(4 if number == last else 0)
        # A long code line wraps inside the window (a block cannot scroll on its own, and a
        # non-breaking line gave the whole transcript a horizontal scroll bar).
        fmt.setNonBreakableLines(False)
        QTextCursor(block).setBlockFormat(fmt)
