"""What the checks of an answer add to it in the transcript: each value the offline reading reads
differently, highlighted with that reading beside it; the warnings of a receipt or table; and the
formats the structured answer can be copied as."""

from __future__ import annotations

import html
from collections.abc import Callable

from PySide6.QtGui import QTextCharFormat, QTextCursor, QTextDocument

#: What a structured answer can be copied as, in the order of its links.
EXPORTS = ("tsv", "csv", "json")


def mark_differences(document: QTextDocument, start: int, end: int, check: dict, colors) -> int:  # noqa: ANN001
    """Each value the offline reading reads differently, highlighted, with its reading beside
    it; returns where the answer ends now."""
    position = start
    for item in check.get("disagreements") or []:
        value = str(item.get("model") or "")
        if not value:
            continue
        found = document.find(value, position)
        if found.isNull() or found.selectionEnd() > end:
            continue
        mark = QTextCharFormat()
        mark.setBackground(colors.warning_background)
        found.mergeCharFormat(mark)
        note = QTextCharFormat()
        note.setForeground(colors.muted)
        after = QTextCursor(document)
        after.setPosition(found.selectionEnd())
        text = f" (offline: {item.get('offline') or 'missing'})"
        after.insertText(text, note)
        end += len(text)
        position = found.selectionEnd() + len(text)
    return end


def render_notes(
    cursor: QTextCursor, structured: dict, check: dict | None, export_href: Callable[[str], str]
) -> None:
    """Warnings of a structured answer and of its check, and what it can be copied as."""
    notes = [html.escape(w) for w in structured.get("warnings") or []]
    if structured.get("problem"):
        notes.append(html.escape(f"Not a usable {structured.get('kind')}: {structured['problem']}"))
    if check and (check.get("disagreements") or check.get("added_lines")):
        notes.append(html.escape(str(check.get("summary") or "")))
        notes += [
            html.escape(f"Not in the offline reading: {line.get('text', line)}")
            if isinstance(line, dict)
            else html.escape(f"Not in the offline reading: {line}")
            for line in (check.get("added_lines") or [])[:5]
        ]
    for note in notes:
        cursor.insertHtml(f'<p class="error">⚠ {note}</p>')
        cursor.insertBlock()
    exports = structured.get("exports") or {}
    if exports:
        links = " · ".join(
            f'<a href="{export_href(kind)}">Copy as {kind.upper()}</a>'
            for kind in EXPORTS
            if kind in exports
        )
        cursor.insertHtml(f'<p class="meta">{links}</p>')
        cursor.insertBlock()
