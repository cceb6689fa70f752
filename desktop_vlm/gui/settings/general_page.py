"""Settings → General: start at login, history, and the screen-capture method."""

from __future__ import annotations

import logging
from typing import Protocol

from PySide6.QtWidgets import QCheckBox, QComboBox, QFormLayout, QWidget

from desktop_vlm.core.config import Config
from desktop_vlm.core.vocabulary import CAPTURE_METHODS

log = logging.getLogger(__name__)


class AutostartLike(Protocol):
    def is_enabled(self) -> bool: ...
    def enable(self) -> None: ...
    def disable(self) -> None: ...


class GeneralPage(QWidget):
    def __init__(self, config: Config, autostart: AutostartLike | None) -> None:
        super().__init__(objectName="page_general")
        self._autostart = autostart
        form = QFormLayout(self)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        self.autostart_check = QCheckBox("Start desktop-vlm when I log in", objectName="autostart")
        if autostart is None:
            self.autostart_check.setEnabled(False)
            self.autostart_check.setToolTip("Not available on this system")
        else:
            try:
                self.autostart_check.setChecked(autostart.is_enabled())
            except OSError as exc:
                log.warning("cannot tell whether start at login is on: %s", exc)
        form.addRow("Startup:", self.autostart_check)
        self.history_check = QCheckBox(
            "Keep a history of questions and answers", objectName="history"
        )
        self.history_check.setChecked(config.keep_history)
        form.addRow("History:", self.history_check)
        self.capture_combo = QComboBox(objectName="capture_method")
        for value, text in CAPTURE_METHODS:
            self.capture_combo.addItem(text, value)
        self.capture_combo.setCurrentIndex(
            max(self.capture_combo.findData(config.capture_handler), 0)
        )
        form.addRow("Screen capture:", self.capture_combo)

    def apply_autostart(self) -> None:
        if self._autostart is None:
            return
        wanted = self.autostart_check.isChecked()
        if wanted != self._autostart.is_enabled():
            if wanted:
                self._autostart.enable()
            else:
                self._autostart.disable()
