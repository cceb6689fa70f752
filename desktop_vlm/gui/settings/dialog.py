"""The settings dialog: one page per tab (provider and key, presets, hotkeys, privacy, general), the
line that says what went wrong, and OK / Apply / Cancel.

Everything it touches arrives through the constructor (the Config, a key store, a ``save``
callable, a ``list_models`` callable, an optional autostart object), so tests drive it with the
real keyring and real files and the app decides where things go. What may be saved is decided by
``core.settings_rules``; keyring calls and the network never run on the GUI thread. Nothing typed
is lost when something fails: the dialog stays open with every field as it was and says what went
wrong in one line. A config.toml that cannot be read is never overwritten: the dialog says so,
offers to open the file, and saves nothing until it is fixed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import Qt, QUrl, Signal
from PySide6.QtGui import QDesktopServices
from PySide6.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QPushButton,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from desktop_vlm.core.config import Config
from desktop_vlm.core.errors import VlmError
from desktop_vlm.core.presets import DEFAULT_PRESET_ID
from desktop_vlm.core.settings_rules import hotkey_changes, preset_problem, profile_problem
from desktop_vlm.gui import theme
from desktop_vlm.gui.pool import run_in_pool
from desktop_vlm.gui.settings.common import in_words, row
from desktop_vlm.gui.settings.general_page import AutostartLike, GeneralPage
from desktop_vlm.gui.settings.hotkeys_page import HotkeysPage
from desktop_vlm.gui.settings.presets_page import PresetsPage
from desktop_vlm.gui.settings.privacy_page import PrivacyPage
from desktop_vlm.gui.settings.provider_page import KeyStoreLike, ProviderPage

log = logging.getLogger(__name__)

FIRST_RUN_TEXT = (
    "Text extraction already works offline, with no key. For descriptions, receipts and your "
    "own questions, pick a provider and paste its API key, or use a model server on this "
    "machine (Ollama, LM Studio, vLLM, llama.cpp)."
)


class SettingsDialog(QDialog):
    """Settings; ``applied`` carries the saved Config after OK or Apply succeeded."""

    applied = Signal(object)

    TAB_PROVIDER, TAB_PRESETS, TAB_HOTKEYS, TAB_PRIVACY, TAB_GENERAL = range(5)

    def __init__(
        self,
        config: Config,
        keys: KeyStoreLike,
        save: Callable[[Config], None],
        list_models: Callable[[str, str | None], list[str]],
        autostart: AutostartLike | None = None,
        *,
        is_vision: Callable[[str], bool] | None = None,
        first_run: bool = False,
        unreadable: str = "",
        config_path: str = "",
        overridden_url: str = "",
        discover: Callable[[], list] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("settings_dialog")
        self.setWindowTitle("desktop-vlm Settings")
        self._config = config
        self._keys = keys
        self._save = save
        self._first_run = first_run
        self._config_path = config_path
        self._saving = False
        self._shown_once = False
        if is_vision is None:
            from desktop_vlm.services.models import looks_like_vision_model as is_vision

        layout = QVBoxLayout(self)
        self.intro = QLabel(FIRST_RUN_TEXT, objectName="first_run_intro")
        self.intro.setWordWrap(True)
        self.intro.setFrameShape(QLabel.Shape.StyledPanel)
        self.intro.setMargin(8)
        self.intro.setVisible(first_run)
        layout.addWidget(self.intro)
        self.unreadable = QLabel(unreadable, objectName="unreadable_config")
        self.unreadable.setWordWrap(True)
        self.unreadable.setTextFormat(Qt.TextFormat.PlainText)
        self.open_file = QPushButton("Open config.toml", objectName="open_config")
        self.open_file.clicked.connect(self._open_config)
        self.unreadable_row = row(self.unreadable, self.open_file)
        self.unreadable_row.setVisible(bool(unreadable))
        layout.addWidget(self.unreadable_row)

        self.provider = ProviderPage(
            config, keys, list_models, is_vision, overridden_url=overridden_url, discover=discover
        )
        self.presets = PresetsPage(config)
        self.hotkeys = HotkeysPage(config)
        self.privacy = PrivacyPage(config)
        self.general = GeneralPage(config, autostart)
        self.provider.error.connect(self.show_error)
        self.provider.models_listed.connect(self.presets.models)
        self.tabs = QTabWidget(objectName="tabs")
        self.tabs.addTab(self.provider, "Provider")
        self.tabs.addTab(self.presets, "Presets")
        self.tabs.addTab(self.hotkeys, "Hotkeys")
        self.tabs.addTab(self.privacy, "Privacy")
        self.tabs.addTab(self.general, "General")
        layout.addWidget(self.tabs, 1)

        self.error_label = QLabel(objectName="error_label")
        self.error_label.setWordWrap(True)
        self.error_label.setTextFormat(Qt.TextFormat.PlainText)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet(
            f"QLabel {{ color: {theme.colors(self.palette()).error.name()}; }}"
        )
        self.error_label.hide()
        layout.addWidget(self.error_label)

        buttons = QDialogButtonBox.StandardButton
        self.buttons = QDialogButtonBox(buttons.Ok | buttons.Cancel | buttons.Apply)
        self.buttons.setObjectName("buttons")
        self.ok_button = self.buttons.button(buttons.Ok)
        self.ok_button.setObjectName("button_ok")
        self.cancel_button = self.buttons.button(buttons.Cancel)
        self.cancel_button.setObjectName("button_cancel")
        self.apply_button = self.buttons.button(buttons.Apply)
        self.apply_button.setObjectName("button_apply")
        self.buttons.accepted.connect(lambda: self.apply(close=True))
        self.buttons.rejected.connect(self.reject)
        self.apply_button.clicked.connect(lambda: self.apply(close=False))
        if unreadable:
            self.ok_button.setEnabled(False)
            self.apply_button.setEnabled(False)
        layout.addWidget(self.buttons)

        self.tabs.setCurrentIndex(self.TAB_PROVIDER)
        self.setMinimumWidth(600)
        self.resize(max(self.sizeHint().width(), 720), max(self.sizeHint().height(), 560))

    def showEvent(self, event) -> None:  # noqa: ANN001, N802 - Qt's signature
        super().showEvent(event)
        screen = self.screen().availableGeometry() if self.screen() else None
        if screen is not None:
            self.resize(
                min(self.width(), screen.width() - 40), min(self.height(), screen.height() - 60)
            )
        if not self._shown_once:
            self._shown_once = True
            self.provider.look_for_local_servers()
        if self._first_run:
            self.tabs.setCurrentIndex(self.TAB_PROVIDER)
            self.provider.api_key.setFocus(Qt.FocusReason.OtherFocusReason)

    @property
    def busy(self) -> bool:
        return self.provider.running > 0 or self._saving

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    # --- OK / Apply --------------------------------------------------------------------

    def build_config(self) -> Config | None:
        """The Config the fields describe; None (with the field shown) when one is refused."""
        self.provider.store_fields()
        problem = profile_problem(self.provider.profiles, self.provider.has_key())
        if problem is not None:
            self.provider.show_profile(problem.profile)
            self._refuse(problem.message, self.TAB_PROVIDER, self.provider.base_url)
            return None
        entries = self.presets.presets()
        problem = preset_problem(entries)
        if problem is not None:
            self.presets.select(problem.row, problem.field)
            self._refuse(problem.message, self.TAB_PRESETS, None)
            return None
        presets = {preset.id: preset for preset, _new in entries}
        default = self.presets.default_preset
        return replace(
            self._config,
            profile=self.provider.selected_profile(),
            profiles=dict(self.provider.profiles),
            presets=presets,
            default_preset=default if default in presets else DEFAULT_PRESET_ID,
            hotkeys=hotkey_changes(self._config.hotkeys, self.hotkeys.typed()),
            keep_history=self.general.history_check.isChecked(),
            capture_handler=self.general.capture_combo.currentData(),
            **self.privacy.changes(),
        )

    def _refuse(self, message: str, tab: int, focus: QWidget | None) -> None:
        self.tabs.setCurrentIndex(tab)
        if focus is not None:
            focus.setFocus()
        self.show_error(message)

    def apply(self, close: bool = False) -> None:
        """Validate, store typed keys (off the GUI thread), save the config; close on OK."""
        if not self.buttons.isEnabled() or not self.apply_button.isEnabled():
            return
        config = self.build_config()
        if config is None:
            return
        typed = {n: k.strip() for n, k in self.provider.typed_keys.items() if k.strip()}
        removed = set(self.provider.removed)
        if not typed and not removed:
            self._finish(config, close)
            return
        self.buttons.setEnabled(False)
        self._saving = True
        self.show_error("")
        keys = self._keys

        def work() -> None:
            from desktop_vlm.core.secrets_rules import validate_api_key

            for name, key in typed.items():
                keys.set(name, validate_api_key(key))
            for name in removed:
                keys.delete(name)

        def done(_: Any, error: BaseException | None) -> None:
            self.buttons.setEnabled(True)
            self._saving = False
            if error is not None:
                self.show_error(in_words(error))
                return
            self.provider.removed -= removed
            self.provider.keys_saved(typed)
            self._finish(config, close)

        run_in_pool(work, done, parent=self)

    def _finish(self, config: Config, close: bool) -> None:
        try:
            self._save(config)
            self.general.apply_autostart()
        except (OSError, VlmError) as exc:
            self.show_error(in_words(exc))
            return
        self.show_error("")
        self._config = config
        self.presets.saved()
        self.applied.emit(config)
        if close:
            self.accept()

    def _open_config(self) -> None:
        if self._config_path:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self._config_path))

    def reject(self) -> None:
        self.provider.cancel_work()
        super().reject()
