"""Settings → Provider: which server answers, its API key (in the keyring), and its model.

Keyring calls and the connection test run off the GUI thread; their answers come back through
``run_in_pool``. A result that arrives for a profile no longer shown is dropped (generations).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import urlsplit

from PySide6.QtCore import QEvent, QObject, Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QWidget,
)

from desktop_vlm.core.config import DEFAULT_PROFILE, Config, Profile, catalog_profiles
from desktop_vlm.core.errors import ConfigError, KeyringError
from desktop_vlm.core.urls import check_endpoint, needs_key
from desktop_vlm.gui.pool import run_in_pool
from desktop_vlm.gui.settings.common import (
    WrappingLabel,
    connection_summary,
    in_words,
    key_status_text,
    profile_label,
    row,
)
from desktop_vlm.gui.settings.found_servers import FoundServers, catalog_menu

log = logging.getLogger(__name__)

#: What "Add profile" proposes: Ollama's OpenAI-compatible endpoint on this machine.
NEW_PROFILE_URL = "http://127.0.0.1:11434/v1"
#: The key field's hint: without a stored key, and with one.
KEY_HINTS = {
    False: "Paste the provider's API key to store it in the keyring",
    True: "Paste a new key to replace it; leave empty to keep the stored key",
}
_MODEL_AUTO_HINT = "Automatic: a vision model from the server's list"


class KeyStoreLike(Protocol):
    def get(self, profile: str) -> str | None: ...
    def set(self, profile: str, key: str) -> None: ...
    def delete(self, profile: str) -> bool: ...
    def source(self, profile: str) -> Any: ...  # KeySource: .kind and .detail


class ProviderPage(QWidget):
    error = Signal(str)  # a line for the dialog's error label ("" clears it)
    models_listed = Signal(list)  # a successful test's model ids (the presets page uses them)

    def __init__(
        self,
        config: Config,
        keys: KeyStoreLike,
        list_models: Callable[[str, str | None], list[str]],
        is_vision: Callable[[str], bool],
        *,
        overridden_url: str = "",
        discover: Callable[[], list] | None = None,
    ) -> None:
        super().__init__(objectName="page_provider")
        self._keys = keys
        self._discover = discover
        self._list_models = list_models
        self._is_vision = is_vision
        self._overridden_url = overridden_url
        self.profiles: dict[str, Profile] = dict(config.profiles)
        self.current = config.profile
        self._active = config.profile  # the profile DESKTOP_VLM_BASE_URL overrides
        self.typed_keys: dict[str, str] = {}
        self.sources: dict[str, Any] = {}
        self._served: dict[str, list[str]] = {}
        self.removed: set[str] = set()
        self._test_generation = 0
        self._status_generation: dict[str, int] = {}
        self.running = 0
        self._build()
        self.load_profile(self.current)

    # --- construction ------------------------------------------------------------------

    def _build(self) -> None:
        form = QFormLayout(self)
        self.profile_combo = QComboBox(objectName="profile_combo")
        self.profile_combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        for name, profile in self.profiles.items():
            self.profile_combo.addItem(profile_label(profile), name)
        self.profile_combo.setCurrentIndex(self.profile_combo.findData(self.current))
        self.profile_combo.currentIndexChanged.connect(self._profile_chosen)
        self.profile_add = QPushButton("Add…", objectName="profile_add")
        self.profile_add.setToolTip("A provider from the catalog, or any OpenAI-compatible server")
        self.profile_add.setMenu(
            catalog_menu(self, self.profiles, self.show_profile, self._ask_profile_name)
        )
        self.profile_remove = QPushButton("Remove", objectName="profile_remove")
        self.profile_remove.clicked.connect(self._remove_profile)
        form.addRow("Profile:", row(self.profile_combo, self.profile_add, self.profile_remove))

        self.base_url = QLineEdit(objectName="base_url")
        self.base_url.setPlaceholderText("https://api.openai.com/v1")
        self.base_url.setClearButtonEnabled(True)
        form.addRow("Base URL:", self.base_url)
        self.found = FoundServers()
        self.found.use.connect(self._use_found)
        form.addRow("", self.found)
        self.override_note = WrappingLabel(objectName="override_note")
        self.override_note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.override_note.setVisible(bool(self._overridden_url))
        if self._overridden_url:
            self.override_note.setText(
                f"DESKTOP_VLM_BASE_URL is set: requests of profile '{self._active}' and its "
                f"Test connection go to {self._overridden_url}, not to the URL above."
            )
        form.addRow("", self.override_note)

        self.api_key = QLineEdit(objectName="api_key")
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key.setPlaceholderText(KEY_HINTS[False])
        self.api_key.installEventFilter(self)
        self.key_show = QToolButton(objectName="key_show")
        self.key_show.setText("Show")
        self.key_show.setCheckable(True)
        self.key_show.toggled.connect(self._show_key)
        form.addRow("API key:", row(self.api_key, self.key_show))

        self.key_status = QLabel(objectName="key_status")
        self.key_status.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.key_status.setWordWrap(True)  # keyring errors are long sentences
        self.key_remove = QPushButton("Remove key", objectName="key_remove")
        self.key_remove.clicked.connect(self._remove_key)
        form.addRow("", row(self.key_status, self.key_remove))

        self.model_combo = QComboBox(objectName="model_combo")
        self.model_combo.setEditable(True)
        self.model_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.model_combo.lineEdit().setPlaceholderText(_MODEL_AUTO_HINT)
        self.model_combo.setToolTip("The model for presets that name none; empty chooses one")
        form.addRow("Default model:", self.model_combo)

        self.test_button = QPushButton("Test connection", objectName="test_button")
        self.test_button.setToolTip("Ask the server for its models (Enter in the key field)")
        self.test_button.clicked.connect(self.test_connection)
        self.test_busy = QProgressBar(objectName="test_busy")
        self.test_busy.setRange(0, 0)
        self.test_busy.setTextVisible(False)
        self.test_busy.setMaximumWidth(120)
        self.test_busy.hide()
        self.test_result = QLabel(objectName="test_result")
        self.test_result.setWordWrap(True)
        self.test_result.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.test_result.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.test_result.setTextFormat(Qt.TextFormat.PlainText)
        self.test_result.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        form.addRow("", row(self.test_button, self.test_busy, stretch=True))
        form.addRow("", self.test_result)

        note = QLabel(
            "For a server of your own (vLLM, Ollama, LM Studio), add a profile and enter its "
            "base URL. API keys are kept in the system keyring, never in config.toml."
        )
        note.setObjectName("provider_note")
        note.setWordWrap(True)
        note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        form.addRow(note)

    def look_for_local_servers(self) -> None:
        if self._discover is not None:
            self.found.look(self._discover)

    def _use_found(self, server) -> None:  # noqa: ANN001 - a discovery.LocalServer
        name = server.provider_id
        if name not in self.profiles:
            self.profiles[name] = Profile(name, server.base_url)
            self.profile_combo.addItem(server.title, name)
        self.show_profile(name)
        self.base_url.setText(server.base_url)
        self.model_combo.setEditText(server.vision_models[0])

    # --- what the dialog calls ---------------------------------------------------------

    def store_fields(self) -> None:
        """Keep what is typed for the shown profile when another one is shown."""
        name = self.current
        if name not in self.profiles:
            return
        url = self.base_url.text().strip().rstrip("/")
        model = self.model_combo.currentText().strip()
        self.profiles[name] = Profile(name, url, model)
        self.typed_keys[name] = self.api_key.text()

    def has_key(self) -> dict[str, bool]:
        known = {}
        for name in self.profiles:
            source = self.sources.get(name)
            typed = bool(self.typed_keys.get(name, "").strip())
            known[name] = typed or (source is not None and source.kind in ("keyring", "env"))
        return known

    def show_profile(self, name: str) -> None:
        index = self.profile_combo.findData(name)
        if index >= 0 and index != self.profile_combo.currentIndex():
            self.profile_combo.setCurrentIndex(index)

    def selected_profile(self) -> str:
        return self.profile_combo.currentData()

    def keys_saved(self, typed: dict[str, str]) -> None:
        """The typed keys are in the keyring now: clear them from the fields."""
        for name, key in typed.items():
            if self.typed_keys.get(name, "").strip() == key:
                self.typed_keys[name] = ""
        if self.api_key.text().strip() == typed.get(self.current):
            self.api_key.clear()
        for name in typed:
            self.refresh_key_status(name)

    def cancel_work(self) -> None:
        self._test_generation += 1  # a late test result has nobody to show it to

    # --- profiles ----------------------------------------------------------------------

    def load_profile(self, name: str) -> None:
        self.current = name
        profile = self.profiles[name]
        self.base_url.setText(profile.base_url)
        self.api_key.setText(self.typed_keys.get(name, ""))
        self.model_combo.clear()
        self.model_combo.addItems(self._served.get(name, []))
        self.model_combo.setEditText(profile.model)
        builtin = name in catalog_profiles()
        self.profile_remove.setEnabled(not builtin)
        self.profile_remove.setToolTip("" if not builtin else "A built-in profile stays")
        offline = profile.offline
        for widget in (
            self.base_url,
            self.api_key,
            self.key_show,
            self.model_combo,
            self.test_button,
        ):
            widget.setEnabled(not offline)
        self.override_note.setVisible(bool(self._overridden_url) and name == self._active)
        self.test_result.clear()
        if offline:
            self.test_result.setText("The offline engine reads text without a key or a server.")
            self.key_status.setText("Not needed")
            self.key_remove.setEnabled(False)
            return
        self.refresh_key_status(name)

    def _profile_chosen(self, index: int) -> None:
        name = self.profile_combo.itemData(index)
        if name is None or name == self.current:
            return
        self.store_fields()
        self._test_generation += 1  # a test still running is for the other profile
        self._set_testing(False)
        self.load_profile(name)

    def _ask_profile_name(self) -> None:
        ask = QInputDialog(self)
        ask.setObjectName("profile_name_dialog")
        ask.setWindowTitle("Add profile")
        ask.setLabelText("Name of the new profile (e.g. local, ollama, lmstudio):")
        ask.setTextValue(self._unique_name("local"))
        ask.textValueSelected.connect(self.add_profile)
        ask.finished.connect(ask.deleteLater)
        ask.open()

    def _unique_name(self, stem: str) -> str:
        name, n = stem, 1
        while name in self.profiles:
            n += 1
            name = f"{stem}-{n}"
        return name

    def add_profile(self, name: str, base_url: str = NEW_PROFILE_URL) -> None:
        name = name.strip()
        if not name:
            self.error.emit("A profile needs a name")
            return
        if name in self.profiles:
            self.error.emit(f"There is already a profile named '{name}'")
            return
        self.error.emit("")
        self.profiles[name] = Profile(name, base_url)
        self.removed.discard(name)
        self.profile_combo.addItem(profile_label(self.profiles[name]), name)
        self.profile_combo.setCurrentIndex(self.profile_combo.findData(name))
        self.base_url.setFocus()
        self.base_url.selectAll()

    def _remove_profile(self) -> None:
        name = self.current
        if name == DEFAULT_PROFILE or name in catalog_profiles():
            return
        del self.profiles[name]
        self.typed_keys.pop(name, None)
        self._test_generation += 1  # a test still running was for this profile
        self._set_testing(False)
        self.removed.add(name)
        self.current = ""  # nothing to store from the fields any more
        index = self.profile_combo.findData(name)
        self.profile_combo.blockSignals(True)
        self.profile_combo.removeItem(index)
        self.profile_combo.setCurrentIndex(self.profile_combo.findData(DEFAULT_PROFILE))
        self.profile_combo.blockSignals(False)
        self.load_profile(DEFAULT_PROFILE)

    # --- the key -------------------------------------------------------------------------

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        # Enter in the key field tests the key instead of closing the dialog: after pasting
        # a key, the first thing a person wants to know is whether it works.
        if (
            obj is self.api_key
            and event.type() == QEvent.Type.KeyPress
            and event.key() in (Qt.Key.Key_Return, Qt.Key.Key_Enter)
        ):
            self.test_connection()
            return True
        return super().eventFilter(obj, event)

    def _show_key(self, shown: bool) -> None:
        mode = QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
        self.api_key.setEchoMode(mode)
        self.key_show.setText("Hide" if shown else "Show")

    def refresh_key_status(self, name: str) -> None:
        generation = self._status_generation.get(name, 0) + 1
        self._status_generation[name] = generation
        self.key_status.setText("Checking the keyring…")
        self.key_remove.setEnabled(False)

        def done(source: Any, error: BaseException | None) -> None:
            if self._status_generation.get(name) != generation:
                return
            self.sources[name] = source if error is None else None
            if name != self.current:
                return
            if error is not None:
                self.key_status.setText(in_words(error))
                return
            url = self.profiles[name].base_url if name in self.profiles else ""
            self.key_status.setText(key_status_text(source, url))
            self.key_remove.setEnabled(source.kind == "keyring")
            self.api_key.setPlaceholderText(KEY_HINTS[source.kind == "keyring"])

        self._run(lambda: self._keys.source(name), done)

    def _remove_key(self) -> None:
        name = self.current
        self.key_remove.setEnabled(False)

        def done(_: Any, error: BaseException | None) -> None:
            self.error.emit(in_words(error) if error is not None else "")
            self.refresh_key_status(name)

        self._run(lambda: self._keys.delete(name), done)

    # --- test connection -------------------------------------------------------------------

    def _set_testing(self, testing: bool) -> None:
        self.test_busy.setVisible(testing)
        self.test_button.setEnabled(not testing)

    def test_connection(self) -> None:
        """Ask the shown profile's server for its models, in the background."""
        self.store_fields()
        name = self.current
        profile = self.profiles[name]
        overridden = self._overridden_url and name == self._active
        base_url = self._overridden_url if overridden else profile.base_url
        typed = self.api_key.text().strip()
        try:
            check_endpoint(base_url, bool(typed))
        except ConfigError as exc:
            self.test_result.setText(str(exc))
            return
        self._test_generation += 1
        generation = self._test_generation
        self._set_testing(True)
        self.test_result.setText(f"Connecting to {urlsplit(base_url).hostname}…")
        keys, list_models = self._keys, self._list_models

        def work() -> list[str]:
            key: str | None = typed or None
            if key is None:
                try:
                    key = keys.get(name)
                except KeyringError:
                    if needs_key(base_url):
                        raise
            check_endpoint(base_url, bool(key))
            return list_models(base_url, key)

        def done(models: list[str] | None, error: BaseException | None) -> None:
            if generation != self._test_generation:
                return
            self._set_testing(False)
            if error is not None:
                self.test_result.setText(in_words(error))
                return
            models = list(models or [])
            self._served[name] = models
            self.test_result.setText(connection_summary(models, self._is_vision))
            self.fill_models(models)
            self.models_listed.emit(models)

        self._run(work, done)

    def fill_models(self, models: list[str]) -> None:
        ordered = sorted(models, key=lambda m: not self._is_vision(m))  # vision models first
        text = self.model_combo.currentText()
        self.model_combo.blockSignals(True)
        self.model_combo.clear()
        self.model_combo.addItems(ordered)
        self.model_combo.setEditText(text)
        self.model_combo.blockSignals(False)

    def _run(
        self, fn: Callable[[], Any], done: Callable[[Any, BaseException | None], None]
    ) -> None:
        self.running += 1

        def finish(result: Any, error: BaseException | None) -> None:
            self.running -= 1
            done(result, error)

        run_in_pool(fn, finish, parent=self)
