"""What the chat window's links and toolbar do with an answer: copy it (as shown, or its
Markdown), copy a code block, show the thinking, export the conversation. Each returns the status
line to show."""

from __future__ import annotations

import time

from PySide6.QtCore import QStandardPaths
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMainWindow, QMessageBox, QWidget

from desktop_vlm.core.conversation import Conversation
from desktop_vlm.gui.chat import markdown


def copy_turn(conversation: Conversation, index: int, *, plain: bool) -> str:
    if not 0 <= index < len(conversation.turns):
        return ""
    turn = conversation.turns[index]
    # "Copy" copies what the person reads; Markdown answers lose their markup, plain ones
    # (OCR) are copied exactly as they came.
    text = markdown.plain_text(turn.text) if plain and not turn.meta.get("plain") else turn.text
    QGuiApplication.clipboard().setText(text)
    what = "answer" if plain else "answer as Markdown"
    return f"Copied the {what} ({len(text)} characters)"


def copy_code(code: str | None) -> str:
    if code is None:
        return ""
    QGuiApplication.clipboard().setText(code)
    return f"Copied the code block ({len(code)} characters)"


def copy_export(turn, number: int) -> str:  # noqa: ANN001 - a Turn
    """A structured answer as TSV, CSV or JSON (the transcript's EXPORTS order)."""
    from desktop_vlm.gui.chat.checks_view import EXPORTS

    exports = (turn.meta.get("structured") or {}).get("exports") or {}
    if not 0 <= number < len(EXPORTS) or EXPORTS[number] not in exports:
        return ""
    text = exports[EXPORTS[number]]
    QGuiApplication.clipboard().setText(text)
    return f"Copied as {EXPORTS[number].upper()} ({len(text)} characters)"


def show_thinking(parent: QWidget, conversation: Conversation, index: int) -> None:
    if 0 <= index < len(conversation.turns):
        QMessageBox.information(parent, "Thinking", conversation.turns[index].reasoning[:200_000])


def export_markdown(parent, conversation: Conversation | None, title: str) -> None:  # noqa: ANN001
    """Ask where, in the person's documents folder, and write the conversation as Markdown."""
    if conversation is None:
        return
    name = time.strftime("desktop-vlm-%Y%m%d-%H%M.md", time.localtime(conversation.created))
    folder = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.DocumentsLocation)
    path, _ = QFileDialog.getSaveFileName(
        parent, "Export conversation", f"{folder}/{name}" if folder else name, "Markdown (*.md)"
    )
    if not path:
        return
    try:
        with open(path, "w", encoding="utf-8", errors="replace") as handle:
            handle.write(conversation.to_markdown(title))
    except OSError as exc:
        parent.status.setText(f"Could not export to {path}: {exc.strerror or exc}")
        return
    parent.status.setText(f"Exported to {path}")


def add_toolbar(window: QMainWindow, *entries: tuple) -> None:
    """The window's toolbar: (attribute name, text, slot, shortcut or None) per action; each
    action is also the window's attribute of that name."""
    toolbar = window.addToolBar("Conversation")
    toolbar.setObjectName("toolbar")
    toolbar.setMovable(False)
    for name, text, slot, shortcut in entries:
        action = QAction(text, window)
        action.setObjectName(name)
        action.triggered.connect(lambda _checked=False, slot=slot: slot())
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            action.setToolTip(f"{text} ({shortcut})")
        toolbar.addAction(action)
        setattr(window, name, action)
