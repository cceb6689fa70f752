"""Settings → Privacy: what leaves the machine (the same switches as the tray's, and the
preview before sending, which only this page and config.toml offer)."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QCheckBox, QLabel, QVBoxLayout, QWidget

from desktop_vlm.core.config import Config


class PrivacyPage(QWidget):
    def __init__(self, config: Config) -> None:
        super().__init__(objectName="page_privacy")
        layout = QVBoxLayout(self)
        self.redact_check = self._switch(
            layout,
            "redact",
            "Cover sensitive text before sending",
            "E-mail addresses, phone and card numbers, IBANs and API keys or tokens are found "
            "by the offline text reader and painted over before the image leaves.",
            config.redact == "auto",
        )
        self.confirm_check = self._switch(
            layout,
            "confirm_send",
            "Show what will be sent, and to which host, before sending",
            "The exact image, the host and the model, with Send (Enter) and Cancel (Esc).",
            config.confirm_send,
        )
        self.local_only_check = self._switch(
            layout,
            "local_only",
            "Local only: nothing leaves this machine",
            "Only the offline text reader and model servers on this machine answer; a cloud "
            "provider is refused, and no host name is looked up.",
            config.local_only,
        )
        layout.addStretch(1)

    @staticmethod
    def _switch(layout: QVBoxLayout, name: str, text: str, detail: str, on: bool) -> QCheckBox:
        check = QCheckBox(text, objectName=name)
        check.setChecked(on)
        explained = QLabel(detail, objectName=f"{name}_detail")
        explained.setWordWrap(True)
        explained.setContentsMargins(24, 0, 0, 8)
        explained.setEnabled(False)  # the desktop's secondary text colour
        layout.addWidget(check, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(explained)
        return check

    def changes(self) -> dict[str, object]:
        return {
            "redact": "auto" if self.redact_check.isChecked() else "off",
            "confirm_send": self.confirm_check.isChecked(),
            "local_only": self.local_only_check.isChecked(),
        }
