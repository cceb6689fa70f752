"""The settings dialog: provider and API key, presets, hotkeys, start at login.

Everything it touches arrives through the constructor (the Config, a key store, a ``save``
callable, a ``list_models`` callable, an optional autostart object), so tests drive it with the
real keyring and real files and the app decides where things go. Keyring calls and the network
never run on the GUI thread: they go to a QThreadPool and come back through a queued signal,
like the stream worker's. Nothing typed is lost when something fails: the dialog stays open
with every field as it was and says what went wrong in one line.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol
from urllib.parse import urlsplit

from PySide6.QtCore import QEvent, QObject, Qt, QThreadPool, Signal, Slot
from PySide6.QtGui import QKeySequence, QPalette
from PySide6.QtWidgets import (
    QAbstractButton,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QInputDialog,
    QKeySequenceEdit,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from desktop_vlm.core.config import DEFAULT_HOTKEYS, DEFAULT_PROFILE, Config, Profile
from desktop_vlm.core.errors import ConfigError, KeyringError, VlmError
from desktop_vlm.core.presets import DEFAULT_PRESET_ID, Action, Preset, builtin_presets
from desktop_vlm.core.urls import needs_key
from desktop_vlm.gui.worker import FunctionRunnable
from desktop_vlm.services.client import check_endpoint
from desktop_vlm.services.models import looks_like_vision_model

log = logging.getLogger(__name__)

_HOTKEY_LABELS = {
    "capture": "Capture a region:",
    "capture:ocr": "Capture and extract text:",
    "clipboard": "Ask about the clipboard image:",
}
CAPTURE_METHODS = (
    ("auto", "Automatic"),
    ("qt", "Qt screen grab (X11, Windows, macOS)"),
    ("portal", "Desktop portal (Wayland)"),
    ("grim", "grim (Sway and other wlroots desktops)"),
    ("spectacle", "Spectacle (KDE Plasma)"),
)
FIRST_RUN_TEXT = (
    "Paste your Hyperbolic API key (from app.hyperbolic.ai → Settings) or point desktop-vlm "
    "at a local OpenAI-compatible server."
)
#: What "Add profile" proposes: Ollama's OpenAI-compatible endpoint on this machine.
NEW_PROFILE_URL = "http://127.0.0.1:11434/v1"
_PRESET_ID = re.compile(r"[A-Za-z0-9_-]+")
_MODEL_AUTO_HINT = "Automatic: a vision model from the server's list"
_PRESET_MODEL_HINT = "The profile's model"


class KeyStoreLike(Protocol):
    def get(self, profile: str) -> str | None: ...
    def set(self, profile: str, key: str) -> None: ...
    def delete(self, profile: str) -> bool: ...
    def source(self, profile: str) -> Any: ...  # KeySource: .kind and .detail


class AutostartLike(Protocol):
    def is_enabled(self) -> bool: ...
    def enable(self) -> None: ...
    def disable(self) -> None: ...


def connection_summary(models: list[str]) -> str:
    vision = sum(1 for m in models if looks_like_vision_model(m))
    return f"Connected: {_count(len(models), 'model')}, {_count(vision, 'vision model')}"


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


def key_status_text(source: Any, base_url: str = "") -> str:
    """Where the key comes from, in words; never the key."""
    if source.kind == "env":
        name = source.detail.rsplit(" ", 1)[-1]
        return f"From {name} (the environment overrides the keyring)"
    if source.kind == "keyring":
        return "Stored in the keyring"
    if not needs_key(base_url):
        return "Not set (a server on this machine usually needs none)"
    return "Not set"


# --- running work off the GUI thread -----------------------------------------------------


class _Call(QObject):
    """One function run on a pool thread; its outcome is delivered on the GUI thread."""

    _outcome = Signal(object, object)  # result, error

    def __init__(
        self,
        fn: Callable[[], Any],
        done: Callable[[Any, BaseException | None], None],
        parent: QObject,
    ) -> None:
        super().__init__(parent)
        self._fn = fn
        self._done = done
        # This object lives on the GUI thread, so Qt queues the emission from the pool thread.
        self._outcome.connect(self._deliver)

    def start(self, pool: QThreadPool) -> None:
        pool.start(FunctionRunnable(self._run))

    def _run(self) -> None:
        try:
            result, error = self._fn(), None
        except Exception as exc:  # noqa: BLE001 - every failure is reported in words
            result, error = None, exc
        try:
            self._outcome.emit(result, error)
        except RuntimeError:
            pass  # the dialog (and this object) were deleted meanwhile: nobody is waiting

    @Slot(object, object)
    def _deliver(self, result: Any, error: BaseException | None) -> None:
        try:
            self._done(result, error)
        finally:
            self.deleteLater()


def _in_words(error: BaseException) -> str:
    if isinstance(error, VlmError):
        return str(error)
    if isinstance(error, OSError):
        where = f" {error.filename}" if error.filename else ""
        return f"Could not write{where} ({error.strerror or error}). Check that it is writable"
    log.error("unexpected error in the settings dialog", exc_info=error)
    return f"Unexpected error ({type(error).__name__}); see the log file"


class _Invalid(Exception):
    """A setting the dialog refuses, with where to take the person to fix it."""

    def __init__(self, message: str, tab: int, focus: QWidget | None = None) -> None:
        super().__init__(message)
        self.tab = tab
        self.focus = focus


@dataclass
class _PresetEntry:
    preset: Preset
    #: Added in this dialog and not saved yet: its id may still change.
    new: bool = False


# --- the dialog --------------------------------------------------------------------------


class SettingsDialog(QDialog):
    """Settings; ``applied`` carries the saved Config after OK or Apply succeeded."""

    applied = Signal(object)

    TAB_PROVIDER, TAB_PRESETS, TAB_HOTKEYS, TAB_GENERAL = range(4)

    def __init__(
        self,
        config: Config,
        keys: KeyStoreLike,
        save: Callable[[Config], None],
        list_models: Callable[[str, str | None], list[str]],
        autostart: AutostartLike | None = None,
        *,
        first_run: bool = False,
        pool: QThreadPool | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("settings_dialog")
        self.setWindowTitle("desktop-vlm Settings")
        self._config = config
        self._keys = keys
        self._save = save
        self._list_models = list_models
        self._autostart = autostart
        self._first_run = first_run
        self._pool = pool or QThreadPool.globalInstance()
        self._running = 0

        self._profiles: dict[str, Profile] = dict(config.profiles)
        self._current_profile = config.profile
        self._typed_keys: dict[str, str] = {}
        self._sources: dict[str, Any] = {}
        self._served: dict[str, list[str]] = {}
        self._removed_profiles: set[str] = set()
        self._test_generation = 0
        self._status_generation: dict[str, int] = {}

        self._entries = [_PresetEntry(p) for p in config.presets.values()]
        self._default_preset = config.default_preset
        self._loading = False

        layout = QVBoxLayout(self)
        self.intro = QLabel(FIRST_RUN_TEXT)
        self.intro.setObjectName("first_run_intro")
        self.intro.setWordWrap(True)
        self.intro.setFrameShape(QLabel.Shape.StyledPanel)
        self.intro.setMargin(8)
        self.intro.setVisible(first_run)
        layout.addWidget(self.intro)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("tabs")
        self.tabs.addTab(self._provider_page(), "Provider")
        self.tabs.addTab(self._presets_page(), "Presets")
        self.tabs.addTab(self._hotkeys_page(), "Hotkeys")
        self.tabs.addTab(self._general_page(), "General")
        layout.addWidget(self.tabs, 1)

        self.error_label = QLabel()
        self.error_label.setObjectName("error_label")
        self.error_label.setWordWrap(True)
        self.error_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.error_label.setStyleSheet("QLabel { color: #c0392b; }")
        self.error_label.hide()
        layout.addWidget(self.error_label)

        self.buttons = QDialogButtonBox(
            QDialogButtonBox.StandardButton.Ok
            | QDialogButtonBox.StandardButton.Cancel
            | QDialogButtonBox.StandardButton.Apply
        )
        self.buttons.setObjectName("buttons")
        self.ok_button = self.buttons.button(QDialogButtonBox.StandardButton.Ok)
        self.ok_button.setObjectName("button_ok")
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setObjectName("button_cancel")
        self.apply_button = self.buttons.button(QDialogButtonBox.StandardButton.Apply)
        self.apply_button.setObjectName("button_apply")
        self.buttons.accepted.connect(lambda: self.apply(close=True))
        self.buttons.rejected.connect(self.reject)
        self.apply_button.clicked.connect(lambda: self.apply(close=False))
        layout.addWidget(self.buttons)

        self._load_profile(self._current_profile)
        self._fill_preset_list(select=0)
        self.tabs.setCurrentIndex(self.TAB_PROVIDER)
        self.setMinimumWidth(600)
        self.resize(max(self.sizeHint().width(), 720), max(self.sizeHint().height(), 560))

    # --- pages -------------------------------------------------------------------------

    def _provider_page(self) -> QWidget:
        page = QWidget(objectName="page_provider")
        form = QFormLayout(page)

        self.profile_combo = QComboBox(objectName="profile_combo")
        self.profile_combo.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)
        for name in self._profiles:
            self.profile_combo.addItem(name, name)
        self.profile_combo.setCurrentIndex(self.profile_combo.findData(self._current_profile))
        self.profile_combo.currentIndexChanged.connect(self._profile_chosen)
        self.profile_add = QPushButton("Add…", objectName="profile_add")
        self.profile_add.setToolTip("Add an OpenAI-compatible server (vLLM, Ollama, LM Studio…)")
        self.profile_add.clicked.connect(self._ask_profile_name)
        self.profile_remove = QPushButton("Remove", objectName="profile_remove")
        self.profile_remove.clicked.connect(self._remove_profile)
        form.addRow("Profile:", _row(self.profile_combo, self.profile_add, self.profile_remove))

        self.base_url = QLineEdit(objectName="base_url")
        self.base_url.setPlaceholderText("https://api.hyperbolic.xyz/v1")
        self.base_url.setClearButtonEnabled(True)
        form.addRow("Base URL:", self.base_url)

        self.api_key = QLineEdit(objectName="api_key")
        self.api_key.setEchoMode(QLineEdit.EchoMode.Password)
        self.api_key.setPlaceholderText("Paste a new key to store it; leave empty to keep the key")
        self.api_key.installEventFilter(self)
        self.key_show = QToolButton(objectName="key_show")
        self.key_show.setText("Show")
        self.key_show.setCheckable(True)
        self.key_show.toggled.connect(self._show_key)
        form.addRow("API key:", _row(self.api_key, self.key_show))

        self.key_status = QLabel(objectName="key_status")
        self.key_status.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        self.key_status.setWordWrap(True)  # keyring errors are long sentences
        self.key_remove = QPushButton("Remove key", objectName="key_remove")
        self.key_remove.clicked.connect(self._remove_key)
        form.addRow("", _row(self.key_status, self.key_remove))

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
        self.test_result.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        form.addRow("", _row(self.test_button, self.test_busy, stretch=True))
        form.addRow("", self.test_result)

        note = QLabel(
            "For a server of your own (vLLM, Ollama, LM Studio), add a profile and enter its "
            "base URL. API keys are kept in the system keyring, never in config.toml."
        )
        note.setObjectName("provider_note")
        note.setWordWrap(True)
        note.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        form.addRow(note)
        return page

    def _presets_page(self) -> QWidget:
        page = QWidget(objectName="page_presets")
        outer = QVBoxLayout(page)

        top = QFormLayout()
        self.default_preset_combo = QComboBox(objectName="default_preset_combo")
        self.default_preset_combo.currentIndexChanged.connect(self._default_preset_chosen)
        top.addRow("Default preset:", self.default_preset_combo)
        outer.addLayout(top)

        body = QHBoxLayout()
        left = QVBoxLayout()
        self.preset_list = QListWidget(objectName="preset_list")
        self.preset_list.setMinimumWidth(170)
        self.preset_list.currentRowChanged.connect(self._preset_selected)
        left.addWidget(self.preset_list, 1)
        self.preset_add = QPushButton("Add", objectName="preset_add")
        self.preset_add.clicked.connect(self._add_preset)
        self.preset_delete = QPushButton("Delete", objectName="preset_delete")
        self.preset_delete.clicked.connect(self._delete_preset)
        left.addWidget(_row(self.preset_add, self.preset_delete))
        self.preset_restore = QPushButton("Restore built-in", objectName="preset_restore")
        self.preset_restore.clicked.connect(self._restore_preset)
        left.addWidget(self.preset_restore)
        body.addLayout(left, 2)

        form = QFormLayout()
        self.preset_id = QLineEdit(objectName="preset_id")
        self.preset_id.setToolTip("Used by `desktop-vlm capture --preset ID` and config.toml")
        self.preset_id.textEdited.connect(self._preset_id_edited)
        form.addRow("ID:", self.preset_id)
        self.preset_title = QLineEdit(objectName="preset_title")
        self.preset_title.textEdited.connect(lambda t: self._edit_preset(title=t))
        form.addRow("Title:", self.preset_title)
        self.preset_prompt = QPlainTextEdit(objectName="preset_prompt")
        self.preset_prompt.setTabChangesFocus(True)
        self.preset_prompt.setMinimumHeight(120)
        self.preset_prompt.textChanged.connect(
            lambda: self._edit_preset(prompt=self.preset_prompt.toPlainText())
        )
        form.addRow("Prompt:", self.preset_prompt)
        self.preset_asks = QCheckBox("Ask me for a question each time", objectName="preset_asks")
        self.preset_asks.toggled.connect(lambda on: self._edit_preset(asks_question=on))
        form.addRow("", self.preset_asks)
        self.preset_model = QComboBox(objectName="preset_model")
        self.preset_model.setEditable(True)
        self.preset_model.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.preset_model.lineEdit().setPlaceholderText(_PRESET_MODEL_HINT)
        self.preset_model.editTextChanged.connect(
            lambda t: self._edit_preset(model=t.strip() or None)
        )
        form.addRow("Model:", self.preset_model)
        self.preset_max_tokens = QSpinBox(objectName="preset_max_tokens")
        self.preset_max_tokens.setRange(1, 1_000_000)
        self.preset_max_tokens.setSingleStep(256)
        self.preset_max_tokens.valueChanged.connect(lambda v: self._edit_preset(max_tokens=v))
        form.addRow("Max tokens:", self.preset_max_tokens)
        self.preset_temperature = QDoubleSpinBox(objectName="preset_temperature")
        self.preset_temperature.setRange(0.0, 2.0)
        self.preset_temperature.setDecimals(2)
        self.preset_temperature.setSingleStep(0.1)
        self.preset_temperature.valueChanged.connect(lambda v: self._edit_preset(temperature=v))
        form.addRow("Temperature:", self.preset_temperature)
        self.preset_actions: dict[Action, QCheckBox] = {}
        boxes = []
        for action, text in (
            (Action.WINDOW, "Show in window"),
            (Action.COPY, "Copy to clipboard"),
            (Action.NOTIFY, "Notify"),
        ):
            box = QCheckBox(text, objectName=f"preset_action_{action.value}")
            box.toggled.connect(self._actions_edited)
            self.preset_actions[action] = box
            boxes.append(box)
        form.addRow("Answer:", _row(*boxes))
        body.addLayout(form, 5)
        outer.addLayout(body, 1)
        return page

    def _hotkeys_page(self) -> QWidget:
        page = QWidget(objectName="page_hotkeys")
        outer = QVBoxLayout(page)
        form = QFormLayout()
        current = {**DEFAULT_HOTKEYS, **self._config.hotkeys}
        self.hotkey_edits: dict[str, QKeySequenceEdit] = {}
        for action, label in _HOTKEY_LABELS.items():
            edit = QKeySequenceEdit(objectName="hotkey_" + action.replace(":", "_"))
            edit.setClearButtonEnabled(True)
            edit.setMaximumSequenceLength(1)
            edit.setKeySequence(QKeySequence.fromString(current.get(action, "")))
            self.hotkey_edits[action] = edit
            form.addRow(label, edit)
        outer.addLayout(form)
        self.hotkeys_defaults = QPushButton("Restore defaults", objectName="hotkeys_defaults")
        self.hotkeys_defaults.clicked.connect(self._restore_hotkeys)
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
        return page

    def _general_page(self) -> QWidget:
        page = QWidget(objectName="page_general")
        form = QFormLayout(page)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.FieldsStayAtSizeHint)
        self.autostart_check = QCheckBox("Start desktop-vlm when I log in", objectName="autostart")
        if self._autostart is None:
            self.autostart_check.setEnabled(False)
            self.autostart_check.setToolTip("Not available on this system")
        else:
            try:
                self.autostart_check.setChecked(self._autostart.is_enabled())
            except OSError as exc:
                log.warning("cannot tell whether start at login is on: %s", exc)
        form.addRow("Startup:", self.autostart_check)
        self.history_check = QCheckBox(
            "Keep a history of questions and answers", objectName="history"
        )
        self.history_check.setChecked(self._config.keep_history)
        form.addRow("History:", self.history_check)
        self.capture_combo = QComboBox(objectName="capture_method")
        for value, text in CAPTURE_METHODS:
            self.capture_combo.addItem(text, value)
        index = self.capture_combo.findData(self._config.capture_handler)
        self.capture_combo.setCurrentIndex(max(index, 0))
        form.addRow("Screen capture:", self.capture_combo)
        return page

    # --- showing -----------------------------------------------------------------------

    def showEvent(self, event) -> None:  # noqa: ANN001 - Qt's signature
        super().showEvent(event)
        if self._first_run:
            self.tabs.setCurrentIndex(self.TAB_PROVIDER)
            self.api_key.setFocus(Qt.FocusReason.OtherFocusReason)

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

    @property
    def busy(self) -> bool:
        return self._running > 0

    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.setVisible(bool(message))

    # --- background work ---------------------------------------------------------------

    def _run(
        self, fn: Callable[[], Any], done: Callable[[Any, BaseException | None], None]
    ) -> None:
        self._running += 1

        def finish(result: Any, error: BaseException | None) -> None:
            self._running -= 1
            done(result, error)

        _Call(fn, finish, self).start(self._pool)

    # --- provider ----------------------------------------------------------------------

    def _store_profile_fields(self) -> None:
        """Keep what is typed for the shown profile when another one is shown."""
        name = self._current_profile
        if name not in self._profiles:
            return
        url = self.base_url.text().strip().rstrip("/")
        model = self.model_combo.currentText().strip()
        self._profiles[name] = Profile(name, url, model)
        self._typed_keys[name] = self.api_key.text()

    def _load_profile(self, name: str) -> None:
        self._current_profile = name
        profile = self._profiles[name]
        self.base_url.setText(profile.base_url)
        self.api_key.setText(self._typed_keys.get(name, ""))
        self.model_combo.clear()
        self.model_combo.addItems(self._served.get(name, []))
        self.model_combo.setEditText(profile.model)
        self.profile_remove.setEnabled(name != DEFAULT_PROFILE)
        self.test_result.clear()
        self._refresh_key_status(name)

    def _profile_chosen(self, index: int) -> None:
        name = self.profile_combo.itemData(index)
        if name is None or name == self._current_profile:
            return
        self._store_profile_fields()
        self._test_generation += 1  # a test still running is for the other profile
        self._set_testing(False)
        self._load_profile(name)

    def _ask_profile_name(self) -> None:
        ask = QInputDialog(self)
        ask.setObjectName("profile_name_dialog")
        ask.setWindowTitle("Add profile")
        ask.setLabelText("Name of the new profile (e.g. local, ollama, lmstudio):")
        ask.setTextValue(self._unique_profile_name("local"))
        ask.textValueSelected.connect(self.add_profile)
        ask.finished.connect(ask.deleteLater)
        ask.open()

    def _unique_profile_name(self, stem: str) -> str:
        name, n = stem, 1
        while name in self._profiles:
            n += 1
            name = f"{stem}-{n}"
        return name

    def add_profile(self, name: str, base_url: str = NEW_PROFILE_URL) -> None:
        name = name.strip()
        if not name:
            self.show_error("A profile needs a name")
            return
        if name in self._profiles:
            self.show_error(f"There is already a profile named '{name}'")
            return
        self.show_error("")
        self._profiles[name] = Profile(name, base_url)
        self._removed_profiles.discard(name)
        self.profile_combo.addItem(name, name)
        self.profile_combo.setCurrentIndex(self.profile_combo.findData(name))
        self.base_url.setFocus()
        self.base_url.selectAll()

    def _remove_profile(self) -> None:
        name = self._current_profile
        if name == DEFAULT_PROFILE:
            return
        del self._profiles[name]
        self._typed_keys.pop(name, None)
        self._test_generation += 1  # a test still running was for this profile
        self._set_testing(False)
        self._removed_profiles.add(name)
        self._current_profile = ""  # nothing to store from the fields any more
        index = self.profile_combo.findData(name)
        self.profile_combo.blockSignals(True)
        self.profile_combo.removeItem(index)
        self.profile_combo.setCurrentIndex(self.profile_combo.findData(DEFAULT_PROFILE))
        self.profile_combo.blockSignals(False)
        self._load_profile(DEFAULT_PROFILE)

    def _show_key(self, shown: bool) -> None:
        mode = QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
        self.api_key.setEchoMode(mode)
        self.key_show.setText("Hide" if shown else "Show")

    def _refresh_key_status(self, name: str) -> None:
        generation = self._status_generation.get(name, 0) + 1
        self._status_generation[name] = generation
        self.key_status.setText("Checking the keyring…")
        self.key_remove.setEnabled(False)

        def done(source: Any, error: BaseException | None) -> None:
            if self._status_generation.get(name) != generation:
                return
            self._sources[name] = source if error is None else None
            if name != self._current_profile:
                return
            if error is not None:
                self.key_status.setText(_in_words(error))
                return
            url = self._profiles[name].base_url if name in self._profiles else ""
            self.key_status.setText(key_status_text(source, url))
            self.key_remove.setEnabled(source.kind == "keyring")

        self._run(lambda: self._keys.source(name), done)

    def _remove_key(self) -> None:
        name = self._current_profile
        self.key_remove.setEnabled(False)

        def done(_: Any, error: BaseException | None) -> None:
            if error is not None:
                self.show_error(_in_words(error))
            else:
                self.show_error("")
            self._refresh_key_status(name)

        self._run(lambda: self._keys.delete(name), done)

    def _set_testing(self, testing: bool) -> None:
        self.test_busy.setVisible(testing)
        self.test_button.setEnabled(not testing)

    def test_connection(self) -> None:
        """Ask the shown profile's server for its models, in the background."""
        self._store_profile_fields()
        name = self._current_profile
        profile = self._profiles[name]
        typed = self.api_key.text().strip()
        try:
            check_endpoint(profile.base_url, bool(typed))
        except ConfigError as exc:
            self.test_result.setText(str(exc))
            return
        self._test_generation += 1
        generation = self._test_generation
        self._set_testing(True)
        self.test_result.setText(f"Connecting to {urlsplit(profile.base_url).hostname}…")
        keys, list_models = self._keys, self._list_models

        def work() -> list[str]:
            key: str | None = typed or None
            if key is None:
                try:
                    key = keys.get(name)
                except KeyringError:
                    if needs_key(profile.base_url):
                        raise
            check_endpoint(profile.base_url, bool(key))
            return list_models(profile.base_url, key)

        def done(models: list[str] | None, error: BaseException | None) -> None:
            if generation != self._test_generation:
                return
            self._set_testing(False)
            if error is not None:
                self.test_result.setText(_in_words(error))
                return
            models = list(models or [])
            self._served[name] = models
            self.test_result.setText(connection_summary(models))
            self._fill_models(models)

        self._run(work, done)

    def _fill_models(self, models: list[str]) -> None:
        # Vision models first: those are the ones this app can use.
        ordered = sorted(models, key=lambda m: not looks_like_vision_model(m))
        for combo in (self.model_combo, self.preset_model):
            text = combo.currentText()
            combo.blockSignals(True)
            combo.clear()
            combo.addItems(ordered)
            combo.setEditText(text)
            combo.blockSignals(False)

    # --- presets -----------------------------------------------------------------------

    @staticmethod
    def _label(entry: _PresetEntry) -> str:
        preset = entry.preset
        base = builtin_presets().get(preset.id)
        if base is None or entry.new:
            return preset.title or preset.id
        return f"{preset.title} (changed)" if preset != base else preset.title

    def _fill_preset_list(self, select: int) -> None:
        self.preset_list.blockSignals(True)
        self.preset_list.clear()
        for entry in self._entries:
            item = QListWidgetItem(self._label(entry))
            item.setToolTip(entry.preset.id)
            self.preset_list.addItem(item)
        self.preset_list.blockSignals(False)
        self._fill_default_combo()
        self.preset_list.setCurrentRow(min(select, len(self._entries) - 1))
        self._preset_selected(self.preset_list.currentRow())

    def _fill_default_combo(self) -> None:
        combo = self.default_preset_combo
        combo.blockSignals(True)
        combo.clear()
        for entry in self._entries:
            combo.addItem(entry.preset.title or entry.preset.id, entry.preset.id)
        index = combo.findData(self._default_preset)
        combo.setCurrentIndex(max(index, 0))
        combo.blockSignals(False)

    def _default_preset_chosen(self, index: int) -> None:
        preset_id = self.default_preset_combo.itemData(index)
        if preset_id is not None:
            self._default_preset = preset_id

    def _current_entry(self) -> _PresetEntry | None:
        row = self.preset_list.currentRow()
        return self._entries[row] if 0 <= row < len(self._entries) else None

    def _preset_selected(self, row: int) -> None:
        entry = self._current_entry()
        self._loading = True
        try:
            for widget in self._preset_editors():
                widget.setEnabled(entry is not None)
            if entry is None:
                return
            preset = entry.preset
            self.preset_id.setText(preset.id)
            self.preset_id.setReadOnly(not entry.new)
            self.preset_title.setText(preset.title)
            self.preset_prompt.setPlainText(preset.prompt)
            self.preset_asks.setChecked(preset.asks_question)
            self.preset_model.setEditText(preset.model or "")
            self.preset_max_tokens.setValue(preset.max_tokens)
            self.preset_temperature.setValue(preset.temperature)
            for action, box in self.preset_actions.items():
                box.setChecked(action in preset.actions)
        finally:
            self._loading = False
        self._update_preset_buttons()

    def _preset_editors(self) -> list[QWidget]:
        return [
            self.preset_id,
            self.preset_title,
            self.preset_prompt,
            self.preset_asks,
            self.preset_model,
            self.preset_max_tokens,
            self.preset_temperature,
            *self.preset_actions.values(),
        ]

    def _update_preset_buttons(self) -> None:
        entry = self._current_entry()
        base = builtin_presets().get(entry.preset.id) if entry else None
        builtin = base is not None and entry is not None and not entry.new
        self.preset_delete.setEnabled(entry is not None and not builtin)
        self.preset_restore.setEnabled(builtin and entry.preset != base)

    def _edit_preset(self, **fields: Any) -> None:
        entry = self._current_entry()
        if self._loading or entry is None:
            return
        entry.preset = replace(entry.preset, **fields)
        self._entry_changed(entry)

    def _entry_changed(self, entry: _PresetEntry) -> None:
        item = self.preset_list.currentItem()
        if item is not None:
            item.setText(self._label(entry))
            item.setToolTip(entry.preset.id)
        self._fill_default_combo()
        self._update_preset_buttons()

    def _preset_id_edited(self, text: str) -> None:
        entry = self._current_entry()
        if self._loading or entry is None or not entry.new:
            return
        old = entry.preset.id
        entry.preset = replace(entry.preset, id=text.strip())
        if self._default_preset == old:
            self._default_preset = entry.preset.id
        self._entry_changed(entry)

    def _actions_edited(self) -> None:
        actions = frozenset(a for a, box in self.preset_actions.items() if box.isChecked())
        self._edit_preset(actions=actions)

    def _add_preset(self) -> None:
        taken = {e.preset.id for e in self._entries}
        preset_id, n = "my-preset", 1
        while preset_id in taken:
            n += 1
            preset_id = f"my-preset-{n}"
        self._entries.append(_PresetEntry(Preset(preset_id, "New preset", ""), new=True))
        self._fill_preset_list(select=len(self._entries) - 1)
        self.tabs.setCurrentIndex(self.TAB_PRESETS)
        self.preset_title.setFocus()
        self.preset_title.selectAll()

    def _delete_preset(self) -> None:
        row = self.preset_list.currentRow()
        entry = self._current_entry()
        if entry is None or (entry.preset.id in builtin_presets() and not entry.new):
            return
        del self._entries[row]
        if self._default_preset == entry.preset.id:
            self._default_preset = DEFAULT_PRESET_ID
        self._fill_preset_list(select=max(row - 1, 0))

    def _restore_preset(self) -> None:
        entry = self._current_entry()
        base = builtin_presets().get(entry.preset.id) if entry else None
        if entry is None or base is None:
            return
        entry.preset = base
        self._fill_preset_list(select=self.preset_list.currentRow())

    # --- hotkeys -----------------------------------------------------------------------

    def _restore_hotkeys(self) -> None:
        for action, edit in self.hotkey_edits.items():
            edit.setKeySequence(QKeySequence.fromString(DEFAULT_HOTKEYS[action]))

    # --- OK / Apply --------------------------------------------------------------------

    def build_config(self) -> Config:
        """The Config the fields describe; _Invalid when one of them cannot be saved."""
        self._store_profile_fields()
        profiles: dict[str, Profile] = {}
        for name, profile in self._profiles.items():
            typed = bool(self._typed_keys.get(name, "").strip())
            source = self._sources.get(name)
            has_key = typed or (source is not None and source.kind in ("keyring", "env"))
            try:
                check_endpoint(profile.base_url, has_key)
            except ConfigError as exc:
                self._show_profile(name)
                raise _Invalid(str(exc), self.TAB_PROVIDER, self.base_url) from None
            profiles[name] = profile
        profile = self.profile_combo.currentData()

        presets: dict[str, Preset] = {}
        builtins = builtin_presets()
        for row, entry in enumerate(self._entries):
            preset = entry.preset
            problem = ""
            if not _PRESET_ID.fullmatch(preset.id):
                problem = "needs an ID of letters, digits, - and _"
            elif preset.id in presets or (entry.new and preset.id in builtins):
                problem = f"has the ID '{preset.id}', which another preset already uses"
            elif not preset.prompt.strip() and not preset.asks_question:
                problem = "needs a prompt (or 'Ask me for a question each time')"
            elif not preset.actions:
                problem = "needs at least one thing to do with the answer"
            if problem:
                self.preset_list.setCurrentRow(row)
                focus = self.preset_id if "ID" in problem else self.preset_prompt
                title = preset.title or preset.id
                raise _Invalid(f"The preset '{title}' {problem}", self.TAB_PRESETS, focus)
            presets[preset.id] = preset

        hotkeys = dict(self._config.hotkeys)
        for action, edit in self.hotkey_edits.items():
            text = edit.keySequence().toString(QKeySequence.SequenceFormat.PortableText)
            if text == DEFAULT_HOTKEYS[action]:
                hotkeys.pop(action, None)
            else:
                hotkeys[action] = text  # "" switches the hotkey off

        return replace(
            self._config,
            profile=profile,
            profiles=profiles,
            presets=presets,
            default_preset=self._default_preset
            if self._default_preset in presets
            else DEFAULT_PRESET_ID,
            hotkeys=hotkeys,
            keep_history=self.history_check.isChecked(),
            capture_handler=self.capture_combo.currentData(),
        )

    def _show_profile(self, name: str) -> None:
        index = self.profile_combo.findData(name)
        if index >= 0 and index != self.profile_combo.currentIndex():
            self.profile_combo.setCurrentIndex(index)

    def apply(self, close: bool = False) -> None:
        """Validate, store typed keys (off the GUI thread), save the config; close on OK."""
        if not self.buttons.isEnabled():
            return
        try:
            config = self.build_config()
        except _Invalid as exc:
            self.tabs.setCurrentIndex(exc.tab)
            if exc.focus is not None:
                exc.focus.setFocus()
            self.show_error(str(exc))
            return
        typed = {n: k.strip() for n, k in self._typed_keys.items() if k.strip()}
        removed = set(self._removed_profiles)
        if not typed and not removed:
            self._finish_apply(config, close)
            return
        self.buttons.setEnabled(False)
        self.show_error("")
        keys = self._keys

        def work() -> None:
            for name, key in typed.items():
                keys.set(name, key)
            for name in removed:
                keys.delete(name)

        def done(_: Any, error: BaseException | None) -> None:
            self.buttons.setEnabled(True)
            if error is not None:
                self.show_error(_in_words(error))
                return
            self._removed_profiles -= removed
            for name, key in typed.items():
                if self._typed_keys.get(name, "").strip() == key:
                    self._typed_keys[name] = ""
            if self.api_key.text().strip() == typed.get(self._current_profile):
                self.api_key.clear()
            self._finish_apply(config, close)
            for name in typed:
                self._refresh_key_status(name)

        self._run(work, done)

    def _finish_apply(self, config: Config, close: bool) -> None:
        try:
            self._save(config)
            self._apply_autostart()
        except (OSError, VlmError) as exc:
            self.show_error(_in_words(exc))
            return
        self.show_error("")
        self._config = config
        for entry in self._entries:
            entry.new = False
        self._preset_selected(self.preset_list.currentRow())
        self.applied.emit(config)
        if close:
            self.accept()

    def _apply_autostart(self) -> None:
        if self._autostart is None:
            return
        wanted = self.autostart_check.isChecked()
        if wanted != self._autostart.is_enabled():
            if wanted:
                self._autostart.enable()
            else:
                self._autostart.disable()

    def reject(self) -> None:
        self._test_generation += 1  # a late test result has nobody to show it to
        super().reject()


def _row(*widgets: QWidget | QAbstractButton, stretch: bool = False) -> QWidget:
    """Widgets side by side in one form row, without extra margins."""
    box = QWidget()
    layout = QHBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    for widget in widgets:
        layout.addWidget(widget)
    if stretch:
        layout.addStretch(1)
    return box
