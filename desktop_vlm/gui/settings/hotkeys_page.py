"""Settings → Hotkeys: one field per action; changes apply when the dialog is applied."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (
    QFormLayout,
    QKeySequenceEdit,
    QLabel,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from desktop_vlm.core.config import DEFAULT_HOTKEYS, Config

LABELS = {
    "capture": "Capture a region:",
    "capture:ocr": "Capture and extract text:",
    "clipboard": "Ask about the clipboard image:",
}


class HotkeysPage(QWidget):
    def __init__(self, config: Config) -> None:
        super().__init__(objectName="page_hotkeys")
        outer = QVBoxLayout(self)
        form = QFormLayout()
        current = {**DEFAULT_HOTKEYS, **config.hotkeys}
        self.hotkey_edits: dict[str, QKeySequenceEdit] = {}
        for action, label in LABELS.items():
            edit = QKeySequenceEdit(objectName="hotkey_" + action.replace(":", "_"))
            edit.setClearButtonEnabled(True)
            edit.setMaximumSequenceLength(1)
            edit.setKeySequence(QKeySequence.fromString(current.get(action, "")))
            self.hotkey_edits[action] = edit
            form.addRow(label, edit)
        outer.addLayout(form)
        self.hotkeys_defaults = QPushButton("Restore defaults", objectName="hotkeys_defaults")
        self.hotkeys_defaults.clicked.connect(self.restore_defaults)
        outer.addWidget(self.hotkeys_defaults, 0, Qt.AlignmentFlag.AlignLeft)
        note = QLabel(
            "Clear a shortcut to switch it off. Changes apply as soon as you press OK or Apply. "
            "On Wayland desktops that do not allow global shortcuts, bind the commands "
            "<tt>desktop-vlm capture</tt> and <tt>desktop-vlm clipboard</tt> in the desktop's "
            "keyboard settings instead."
        )
        note.setObjectName("hotkeys_note")
        note.setWordWrap(True)
        outer.addWidget(note)
        outer.addStretch(1)

    def typed(self) -> dict[str, str]:
        return {
            action: edit.keySequence().toString(QKeySequence.SequenceFormat.PortableText)
            for action, edit in self.hotkey_edits.items()
        }

    def restore_defaults(self) -> None:
        for action, edit in self.hotkey_edits.items():
            edit.setKeySequence(QKeySequence.fromString(DEFAULT_HOTKEYS[action]))
