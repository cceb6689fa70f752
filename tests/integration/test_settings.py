"""Settings: config.toml written back, the settings dialog, start at login.

The dialog is driven through its widgets (found by objectName) against the real keyring
(gnome-keyring on the test session bus), real files under the per-test XDG directories and the
loopback fake API. Each test uses its own keyring service name, because the keyring daemon
lives for the whole test session.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import tomllib
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QAction
from PySide6.QtWidgets import (
    QAbstractButton,
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QInputDialog,
    QKeySequenceEdit,
    QLabel,
    QLineEdit,
    QListWidget,
    QPlainTextEdit,
    QTabBar,
    QWidget,
)
from support.fake_api import FakeAPI, Models, NeverRespond, Status

from desktop_vlm.core.config import Config, Profile
from desktop_vlm.core.errors import KeyringError
from desktop_vlm.core.presets import Action, Preset, builtin_presets
from desktop_vlm.core.urls import check_endpoint
from desktop_vlm.gui.settings import SettingsDialog
from desktop_vlm.gui.settings.dialog import FIRST_RUN_TEXT
from desktop_vlm.platform.autostart import Autostart, exec_line
from desktop_vlm.services import paths
from desktop_vlm.services.config_file import save_config
from desktop_vlm.services.endpoint import list_models_at
from desktop_vlm.services.secrets import KeyStore
from desktop_vlm.services.settings import load_config

SHOTS = (
    Path(os.environ.get("DESKTOP_VLM_SHOTS", "")) if os.environ.get("DESKTOP_VLM_SHOTS") else None
)


#: A hand-written config.toml with comments, as a person keeps one.
TEMPLATE = """\
# desktop-vlm configuration. Every setting is optional; delete a line to get the default.
# The API key is NOT stored here: use `desktop-vlm key set` (it goes to the OS keyring).

# profile = "hyperbolic"          # which [profiles.NAME] to use
# default_preset = "describe"     # see `desktop-vlm presets`

[profiles.hyperbolic]
base_url = "https://api.hyperbolic.xyz/v1"
model = ""                        # empty: pick a vision model from the server's list

# A local OpenAI-compatible server (vLLM, Ollama, LM Studio); select it with profile = "local"
# [profiles.local]
# base_url = "http://127.0.0.1:11434/v1"
# model = "qwen2.5vl:7b"

# [network]
# connect_timeout = 10            # seconds
# read_timeout = 120              # longest silence allowed while an answer streams
# max_retries = 2                 # before the first token only

# [image]
# format = "auto"                 # auto | png | jpeg
# jpeg_quality = 90

# [hotkeys]                       # Qt shortcut syntax; "" switches one off
# capture = "Ctrl+Alt+Q"
# "capture:ocr" = "Meta+Shift+T"
# clipboard = "Ctrl+Alt+V"

# [capture]
# handler = "auto"                # auto | qt | portal | grim | spectacle

# Change a built-in preset, or add your own:
# [presets.ocr]
# model = "Qwen/Qwen2.5-VL-7B-Instruct"
# [presets.alt-text]
# title = "Alt text"
# prompt = "Write concise alt text for this image."
# actions = ["copy", "notify"]    # window | copy | notify
# max_tokens = 200
# temperature = 0.2

# [prices]                        # USD per million tokens, for cost estimates
# "my/model" = 0.15
"""


# --- fixtures and helpers ----------------------------------------------------------------


@pytest.fixture
def keys():
    """The real keyring, under a service name no other test uses."""
    store = KeyStore(service=f"desktop-vlm-test-{uuid.uuid4().hex[:8]}")
    yield store
    for profile in ("hyperbolic", "local", "lan"):
        try:
            store.delete(profile)
        except KeyringError:
            pass


@pytest.fixture
def config_path() -> Path:
    return paths.config_file()


@pytest.fixture
def open_dialog(qtbot, keys, config_path):
    """Build and show a SettingsDialog whose save writes the real config.toml."""

    def make(config: Config | None = None, **kwargs) -> SettingsDialog:
        kwargs.setdefault("list_models", list_models_at)
        dialog = SettingsDialog(
            config or Config(),
            kwargs.pop("keys", keys),
            kwargs.pop("save", lambda c: save_config(c, config_path)),
            **kwargs,
        )
        qtbot.addWidget(dialog)
        dialog.show()
        qtbot.waitExposed(dialog)
        wait_idle(qtbot, dialog)
        return dialog

    return make


def shot(dialog: SettingsDialog, name: str) -> None:
    """Keep a picture of the dialog for people to look at (DESKTOP_VLM_SHOTS=DIR)."""
    if SHOTS is not None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        dialog.grab().save(str(SHOTS / f"settings-{name}.png"))


def wait_idle(qtbot, dialog: SettingsDialog) -> None:
    qtbot.waitUntil(lambda: not dialog.busy, timeout=20000)


def press_ok(qtbot, dialog: SettingsDialog) -> None:
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    wait_idle(qtbot, dialog)


def type_into(qtbot, widget: QLineEdit, text: str) -> None:
    widget.selectAll()
    widget.del_()
    qtbot.keyClicks(widget, text)


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def wait_for(predicate, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def local_dialog(open_dialog, base_url: str, **kwargs) -> SettingsDialog:
    config = replace(
        Config(),
        profile="local",
        profiles={**Config().profiles, "local": Profile("local", base_url)},
    )
    return open_dialog(config, **kwargs)


def with_preset(config: Config, preset: Preset) -> Config:
    return replace(config, presets={**config.presets, preset.id: preset})


# --- the dialog: provider and key --------------------------------------------------------


def test_dialog_saves_key_to_keyring_and_settings_to_config(
    qtbot, open_dialog, keys, config_path, fake_api, fresh_user_dirs, tmp_path
):
    canary = f"sk-canary-{uuid.uuid4().hex}"
    # GIVEN the dialog on the defaults
    dialog = open_dialog()
    assert dialog.provider.key_status.text() == "Not set"
    # WHEN a person adds a local profile through "Add…"
    dialog.provider.profile_add.menu().findChild(QAction, "catalog_other").trigger()
    ask = dialog.findChild(QInputDialog, "profile_name_dialog")
    assert ask is not None and ask.isVisible()
    ask.setTextValue("local")
    ask.accept()
    assert dialog.provider.profile_combo.currentText() == "local"
    # AND types its base URL, a key and a model
    type_into(qtbot, dialog.provider.base_url, fake_api.url + "/")
    type_into(qtbot, dialog.provider.api_key, canary)
    dialog.provider.model_combo.setEditText("fake-org/fake-vlm-7b")
    # AND gives the OCR preset a model of its own, and makes it the default
    dialog.tabs.setCurrentIndex(dialog.TAB_PRESETS)
    dialog.presets.preset_list.setCurrentRow(0)
    assert dialog.presets.preset_id.text() == "ocr"
    dialog.presets.preset_model.setEditText("fake-org/fake-vlm-72b")
    dialog.presets.default_preset_combo.setCurrentIndex(
        dialog.presets.default_preset_combo.findData("ocr")
    )
    applied = []
    dialog.applied.connect(applied.append)
    press_ok(qtbot, dialog)
    # THEN the dialog closes with no error
    assert dialog.error_label.text() == ""
    assert not dialog.isVisible()
    # AND config.toml gives back exactly what was typed
    loaded = load_config(config_path)
    assert loaded.warnings == []
    config = loaded.config
    assert config.profile == "local"
    assert config.active == Profile("local", fake_api.url, "fake-org/fake-vlm-7b")
    assert config.presets["ocr"].model == "fake-org/fake-vlm-72b"
    assert config.default_preset == "ocr"
    assert applied == [config]
    # AND the key went to the real keyring for that profile, and nowhere else
    assert keys.get("local") == canary
    assert keys.get("hyperbolic") is None
    for path in files_under(tmp_path):
        assert canary.encode() not in path.read_bytes(), path
    assert canary not in config_path.read_text(encoding="utf-8")


def test_empty_key_field_keeps_the_stored_key_and_remove_key_deletes_it(qtbot, open_dialog, keys):
    # GIVEN a key stored for the profile
    keys.set("hyperbolic", "sk-stored-key-123456")
    dialog = open_dialog()
    # THEN the dialog says where the key is, never the key itself
    assert dialog.provider.key_status.text() == "Stored in the keyring"
    assert dialog.provider.api_key.text() == ""
    assert "leave empty to keep the stored key" in dialog.provider.api_key.placeholderText()
    # WHEN the person saves with the key field left empty
    dialog.apply()
    wait_idle(qtbot, dialog)
    # THEN the stored key is unchanged
    assert keys.get("hyperbolic") == "sk-stored-key-123456"
    # WHEN they press "Remove key"
    assert dialog.provider.key_remove.isEnabled()
    qtbot.mouseClick(dialog.provider.key_remove, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.provider.key_status.text() == "Not set", timeout=20000)
    # THEN it is gone from the keyring, and the field no longer speaks of keeping a key
    assert keys.get("hyperbolic") is None
    assert dialog.provider.api_key.placeholderText() == (
        "Paste the provider's API key to store it in the keyring"
    )


def test_key_from_the_environment_is_named(qtbot, open_dialog, monkeypatch):
    monkeypatch.setenv("DESKTOP_VLM_API_KEY", "sk-env-key-abcdef")
    dialog = open_dialog()
    assert dialog.provider.key_status.text() == (
        "From DESKTOP_VLM_API_KEY (the environment overrides the keyring)"
    )
    assert "sk-env" not in dialog.provider.key_status.text()


def test_show_toggle_reveals_the_typed_key(qtbot, open_dialog):
    dialog = open_dialog()
    qtbot.keyClicks(dialog.provider.api_key, "sk-typed")
    assert dialog.provider.api_key.echoMode() == QLineEdit.EchoMode.Password
    qtbot.mouseClick(dialog.provider.key_show, Qt.MouseButton.LeftButton)
    assert dialog.provider.api_key.echoMode() == QLineEdit.EchoMode.Normal
    assert dialog.provider.key_show.text() == "Hide"


def test_switching_profiles_keeps_what_was_typed(qtbot, open_dialog):
    dialog = open_dialog()
    dialog.provider.add_profile("local", "http://127.0.0.1:1234/v1")
    qtbot.keyClicks(dialog.provider.api_key, "sk-local-typed")
    dialog.provider.profile_combo.setCurrentIndex(
        dialog.provider.profile_combo.findData("hyperbolic")
    )
    assert dialog.provider.api_key.text() == ""
    dialog.provider.profile_combo.setCurrentIndex(dialog.provider.profile_combo.findData("local"))
    assert dialog.provider.api_key.text() == "sk-local-typed"
    assert dialog.provider.base_url.text() == "http://127.0.0.1:1234/v1"


def test_removing_a_profile_removes_it_and_its_key(qtbot, open_dialog, keys, config_path):
    # GIVEN a saved local profile with a stored key, in use
    keys.set("local", "sk-local-key-5678")
    dialog = local_dialog(open_dialog, "http://127.0.0.1:11434/v1")
    assert dialog.provider.profile_combo.currentText() == "local"
    assert dialog.provider.key_status.text() == "Stored in the keyring"
    # WHEN it is removed and the dialog saved
    qtbot.mouseClick(dialog.provider.profile_remove, Qt.MouseButton.LeftButton)
    assert dialog.provider.profile_combo.currentData() == "hyperbolic"
    assert not dialog.provider.profile_remove.isEnabled()  # the built-in profile stays
    press_ok(qtbot, dialog)
    # THEN the config uses Hyperbolic again and the local key is gone from the keyring
    config = load_config(config_path).config
    assert "local" not in config.profiles and config.profile == "hyperbolic"
    assert keys.get("local") is None


# --- test connection ---------------------------------------------------------------------


def test_test_connection_reports_the_models(qtbot, open_dialog, fake_api):
    # GIVEN a local server with three models, two of them vision models
    fake_api.models = ["Qwen/Qwen2.5-VL-7B-Instruct", "llava:13b", "llama3:8b"]
    dialog = local_dialog(open_dialog, fake_api.url)
    assert (
        dialog.provider.key_status.text() == "Not set (a server on this machine usually needs none)"
    )
    # WHEN "Test connection" is pressed
    qtbot.mouseClick(dialog.provider.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: dialog.provider.test_result.text().startswith("Connected"), timeout=20000
    )
    # THEN it says so in words, and the model box offers the models, vision ones first
    assert dialog.provider.test_result.text() == "Connected: 3 models, 2 vision models"
    shot(dialog, "connected")
    assert not dialog.provider.test_busy.isVisible()
    offered = [
        dialog.provider.model_combo.itemText(i) for i in range(dialog.provider.model_combo.count())
    ]
    assert offered == ["Qwen/Qwen2.5-VL-7B-Instruct", "llava:13b", "llama3:8b"]
    assert dialog.provider.model_combo.currentText() == ""  # still "automatic" until one is chosen


def test_test_connection_uses_the_typed_key(qtbot, open_dialog, keys):
    with FakeAPI(require_key="sk-right-key-1234") as api:
        dialog = local_dialog(open_dialog, api.url)
        qtbot.keyClicks(dialog.provider.api_key, "sk-right-key-1234")
        # Enter in the key field tests the key and leaves the dialog open
        qtbot.keyClick(dialog.provider.api_key, Qt.Key.Key_Return)
        qtbot.waitUntil(
            lambda: dialog.provider.test_result.text().startswith("Connected"), timeout=20000
        )
        assert dialog.isVisible()
        assert api.last_request.bearer == "sk-right-key-1234"


def test_test_connection_reports_a_rejected_key(qtbot, open_dialog, fake_api, keys):
    keys.set("local", "sk-wrong-key-98765")
    fake_api.enqueue_models(Status(401))
    dialog = local_dialog(open_dialog, fake_api.url)
    qtbot.mouseClick(dialog.provider.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.provider.test_button.isEnabled(), timeout=20000)
    assert "rejected the API key" in dialog.provider.test_result.text()
    assert "sk-wrong-key-98765" not in dialog.provider.test_result.text()
    # The stored key was sent: the test used the keyring's key (read off the GUI thread).
    assert fake_api.last_request.bearer == "sk-wrong-key-98765"


def test_test_connection_reports_a_closed_port(qtbot, open_dialog):
    dialog = local_dialog(open_dialog, f"http://127.0.0.1:{free_port()}/v1")
    qtbot.mouseClick(dialog.provider.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: dialog.provider.test_button.isEnabled(), timeout=20000)
    assert "connection refused" in dialog.provider.test_result.text()
    assert "Is the server running?" in dialog.provider.test_result.text()


def test_gui_stays_responsive_while_the_server_does_not_answer(qtbot, open_dialog, fake_api):
    # GIVEN a server that takes the request and says nothing
    fake_api.enqueue_models(NeverRespond(), Models())
    dialog = local_dialog(open_dialog, fake_api.url)
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(20)
    # WHEN the connection is tested
    qtbot.mouseClick(dialog.provider.test_button, Qt.MouseButton.LeftButton)
    fake_api.wait_for_requests(1)
    # THEN the dialog shows it is busy, and the event loop keeps running meanwhile
    assert dialog.provider.test_busy.isVisible() and not dialog.provider.test_button.isEnabled()
    assert dialog.provider.test_result.text().startswith("Connecting to 127.0.0.1")
    start = len(ticks)
    qtbot.waitUntil(lambda: len(ticks) >= start + 10, timeout=20000)
    assert dialog.provider.test_busy.isVisible()
    shot(dialog, "testing")
    # WHEN the server finally hangs up, the result is told in words
    fake_api.release()
    qtbot.waitUntil(lambda: dialog.provider.test_button.isEnabled(), timeout=20000)
    timer.stop()
    assert not dialog.provider.test_busy.isVisible()
    assert dialog.provider.test_result.text() and not dialog.provider.test_result.text().startswith(
        "Connecting"
    )


# --- refusing what cannot be saved -------------------------------------------------------


def test_insecure_url_with_a_key_is_refused_and_nothing_typed_is_lost(
    qtbot, open_dialog, keys, config_path
):
    dialog = open_dialog()
    type_into(qtbot, dialog.provider.base_url, "http://vlm.example.com/v1")
    qtbot.keyClicks(dialog.provider.api_key, "sk-not-for-plain-http")
    dialog.tabs.setCurrentIndex(dialog.TAB_GENERAL)
    press_ok(qtbot, dialog)
    with pytest.raises(Exception) as refused:
        check_endpoint("http://vlm.example.com/v1", True)
    # THEN the dialog stays open on the provider page and says why, in the client's words
    assert dialog.isVisible()
    assert dialog.tabs.currentIndex() == dialog.TAB_PROVIDER
    assert dialog.error_label.isVisible()
    assert dialog.error_label.text() == str(refused.value)
    assert "Refusing to send the API key over plain HTTP to vlm.example.com" in str(refused.value)
    shot(dialog, "refused")
    # AND everything typed is still there, and nothing was saved anywhere
    assert dialog.provider.base_url.text() == "http://vlm.example.com/v1"
    assert dialog.provider.api_key.text() == "sk-not-for-plain-http"
    assert not config_path.exists()
    assert keys.get("hyperbolic") is None


def test_a_base_url_that_is_not_http_is_refused(qtbot, open_dialog, config_path):
    dialog = open_dialog()
    type_into(qtbot, dialog.provider.base_url, "api.hyperbolic.xyz/v1")
    press_ok(qtbot, dialog)
    assert dialog.isVisible()
    assert "must begin with https://" in dialog.error_label.text()
    assert not config_path.exists()


class RefusingKeyStore:
    """A keyring that is there but refuses to store anything (as a locked one does)."""

    def __init__(self) -> None:
        self.inner = KeyStore(service=f"desktop-vlm-test-{uuid.uuid4().hex[:8]}")

    def get(self, profile):
        return self.inner.get(profile)

    def source(self, profile):
        return self.inner.source(profile)

    def delete(self, profile):
        return self.inner.delete(profile)

    def set(self, profile, key):
        raise KeyringError(
            "The keyring is locked", "Unlock it (log in to your desktop session) and retry"
        )


def test_a_keyring_error_is_shown_and_the_typed_key_kept(qtbot, open_dialog, config_path):
    dialog = open_dialog(keys=RefusingKeyStore())
    qtbot.keyClicks(dialog.provider.api_key, "sk-typed-while-locked")
    press_ok(qtbot, dialog)
    assert dialog.isVisible()
    assert dialog.error_label.text() == (
        "The keyring is locked. Unlock it (log in to your desktop session) and retry"
    )
    assert dialog.provider.api_key.text() == "sk-typed-while-locked"
    assert dialog.buttons.isEnabled()


def test_first_run_explains_and_focuses_the_key_field(qtbot, open_dialog):
    dialog = open_dialog(first_run=True)
    assert dialog.intro.isVisible()
    assert dialog.intro.text() == FIRST_RUN_TEXT
    assert "works offline" in dialog.intro.text()
    assert dialog.tabs.currentIndex() == dialog.TAB_PROVIDER
    qtbot.waitUntil(lambda: dialog.focusWidget() is dialog.provider.api_key, timeout=5000)
    # Not on later runs
    later = open_dialog()
    assert not later.intro.isVisible()


def test_escape_cancels_without_saving(qtbot, open_dialog, config_path):
    dialog = open_dialog()
    type_into(qtbot, dialog.provider.base_url, "https://other.example/v1")
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert not dialog.isVisible()
    assert not config_path.exists()


# --- presets, hotkeys, general -----------------------------------------------------------


def preset_row(dialog: SettingsDialog, preset_id: str) -> int:
    for row in range(dialog.presets.preset_list.count()):
        if dialog.presets.preset_list.item(row).toolTip() == preset_id:
            return row
    raise LookupError(preset_id)


def test_presets_add_edit_delete_restore(qtbot, open_dialog, config_path):
    # GIVEN a config where the OCR and receipt presets were changed earlier
    builtins = builtin_presets()
    start = with_preset(
        with_preset(Config(), replace(builtins["ocr"], temperature=0.7)),
        replace(builtins["receipt"], title="Bon lesen"),
    )
    dialog = open_dialog(start)
    dialog.tabs.setCurrentIndex(dialog.TAB_PRESETS)
    assert (
        dialog.presets.preset_list.item(preset_row(dialog, "ocr")).text()
        == "Extract text (changed)"
    )
    # WHEN the person adds a preset and fills it in
    qtbot.mouseClick(dialog.presets.preset_add, Qt.MouseButton.LeftButton)
    type_into(qtbot, dialog.presets.preset_id, "alt-text")
    type_into(qtbot, dialog.presets.preset_title, "Alt text")
    qtbot.keyClicks(dialog.presets.preset_prompt, "Write alt text.")
    qtbot.keyClick(dialog.presets.preset_prompt, Qt.Key.Key_Return)
    qtbot.keyClicks(dialog.presets.preset_prompt, 'At most 20 "words".')
    dialog.presets.preset_max_tokens.setValue(200)
    dialog.presets.preset_temperature.setValue(0.5)
    qtbot.mouseClick(dialog.presets.preset_actions[Action.WINDOW], Qt.MouseButton.LeftButton)
    qtbot.mouseClick(dialog.presets.preset_actions[Action.COPY], Qt.MouseButton.LeftButton)
    # AND restores the OCR built-in, edits "describe", and deletes nothing built in
    dialog.presets.preset_list.setCurrentRow(preset_row(dialog, "ocr"))
    assert (
        dialog.presets.preset_restore.isEnabled() and not dialog.presets.preset_delete.isEnabled()
    )
    qtbot.mouseClick(dialog.presets.preset_restore, Qt.MouseButton.LeftButton)
    assert dialog.presets.preset_temperature.value() == 0.0
    assert not dialog.presets.preset_restore.isEnabled()
    dialog.presets.preset_list.setCurrentRow(preset_row(dialog, "describe"))
    type_into(qtbot, dialog.presets.preset_title, "Describe briefly")
    dialog.apply()
    wait_idle(qtbot, dialog)
    assert dialog.error_label.text() == ""
    # THEN config.toml has the new preset as typed, OCR back to built-in, describe changed
    config = load_config(config_path).config
    assert config.presets["alt-text"] == Preset(
        "alt-text",
        "Alt text",
        'Write alt text.\nAt most 20 "words".',
        frozenset({Action.COPY}),
        max_tokens=200,
        temperature=0.5,
    )
    assert config.presets["ocr"] == builtins["ocr"]
    assert config.presets["describe"].title == "Describe briefly"
    assert config.presets["receipt"].title == "Bon lesen"
    assert "[presets.ocr]" not in config_path.read_text(encoding="utf-8")
    # WHEN the user preset is deleted again
    dialog.presets.preset_list.setCurrentRow(preset_row(dialog, "alt-text"))
    assert dialog.presets.preset_id.isReadOnly()  # saved: its id is fixed now
    qtbot.mouseClick(dialog.presets.preset_delete, Qt.MouseButton.LeftButton)
    press_ok(qtbot, dialog)
    # THEN it is gone from the file
    assert "alt-text" not in load_config(config_path).config.presets


def test_a_preset_without_a_prompt_is_refused(qtbot, open_dialog, config_path):
    dialog = open_dialog()
    dialog.tabs.setCurrentIndex(dialog.TAB_PRESETS)
    qtbot.mouseClick(dialog.presets.preset_add, Qt.MouseButton.LeftButton)
    type_into(qtbot, dialog.presets.preset_title, "Empty")
    press_ok(qtbot, dialog)
    assert dialog.isVisible()
    assert dialog.error_label.text() == (
        "The preset 'Empty' needs a prompt (or 'Ask me for a question each time')"
    )
    assert dialog.presets.preset_title.text() == "Empty"
    assert not config_path.exists()


def test_hotkeys_are_saved_and_clearing_one_switches_it_off(qtbot, open_dialog, config_path):
    dialog = open_dialog()
    dialog.tabs.setCurrentIndex(dialog.TAB_HOTKEYS)
    edits = dialog.hotkeys.hotkey_edits
    assert [edits[a].keySequence().toString() for a in ("capture", "capture:ocr", "clipboard")] == [
        "Ctrl+Alt+Q",
        "Meta+Shift+T",
        "Ctrl+Alt+V",
    ]
    # WHEN a new shortcut is pressed into the capture field and the clipboard one is cleared
    capture = dialog.findChild(type(edits["capture"]), "hotkey_capture")
    capture.setFocus()
    capture.clear()
    qtbot.keyClick(
        capture,
        Qt.Key.Key_A,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    qtbot.waitUntil(lambda: capture.keySequence().toString() == "Ctrl+Shift+A", timeout=5000)
    dialog.findChild(type(edits["clipboard"]), "hotkey_clipboard").clear()
    press_ok(qtbot, dialog)
    # THEN config.toml names the changed ones only: "" switches one off
    assert load_config(config_path).config.hotkeys == {"capture": "Ctrl+Shift+A", "clipboard": ""}
    assert tomllib.loads(config_path.read_text(encoding="utf-8"))["hotkeys"] == {
        "capture": "Ctrl+Shift+A",
        "clipboard": "",
    }


def test_general_settings_are_saved(qtbot, open_dialog, config_path):
    dialog = open_dialog()
    dialog.tabs.setCurrentIndex(dialog.TAB_GENERAL)
    qtbot.mouseClick(dialog.general.history_check, Qt.MouseButton.LeftButton)
    dialog.general.capture_combo.setCurrentIndex(dialog.general.capture_combo.findData("portal"))
    press_ok(qtbot, dialog)
    config = load_config(config_path).config
    assert config.keep_history is False
    assert config.capture_handler == "portal"


def test_privacy_settings_are_saved_and_shown_again(qtbot, open_dialog, config_path):
    dialog = open_dialog()
    dialog.tabs.setCurrentIndex(dialog.TAB_PRIVACY)
    page = dialog.privacy
    assert dialog.tabs.tabText(dialog.TAB_PRIVACY) == "Privacy"
    assert not any(c.isChecked() for c in (page.redact_check, page.confirm_check))
    for check in (page.redact_check, page.confirm_check, page.local_only_check):
        qtbot.mouseClick(check, Qt.MouseButton.LeftButton)
    press_ok(qtbot, dialog)
    # THEN config.toml has the three switches, under [privacy]
    config = load_config(config_path).config
    assert (config.redact, config.confirm_send, config.local_only) == ("auto", True, True)
    assert tomllib.loads(config_path.read_text(encoding="utf-8"))["privacy"] == {
        "redact": "auto",
        "confirm": True,
        "local_only": True,
    }
    # AND the dialog opened again shows them on; switching one off saves it off
    again = open_dialog(config)
    page = again.privacy
    assert page.redact_check.isChecked() and page.confirm_check.isChecked()
    assert page.local_only_check.isChecked()
    again.tabs.setCurrentIndex(again.TAB_PRIVACY)
    qtbot.mouseClick(page.local_only_check, Qt.MouseButton.LeftButton)
    press_ok(qtbot, again)
    assert load_config(config_path).config.local_only is False


def test_settings_the_dialog_does_not_show_are_kept(qtbot, open_dialog, config_path):
    start = replace(
        Config(),
        read_timeout=300.0,
        jpeg_quality=70,
        prices={"m/x": 0.5},
        hotkeys={"capture:describe": "Ctrl+Alt+D"},
    )
    dialog = open_dialog(start)
    press_ok(qtbot, dialog)
    assert load_config(config_path).config == start


# --- start at login ----------------------------------------------------------------------


def test_start_at_login_creates_and_removes_the_autostart_entry(
    qtbot, open_dialog, fresh_user_dirs
):
    autostart = Autostart()
    entry = Path(fresh_user_dirs["XDG_CONFIG_HOME"]) / "autostart" / "desktop-vlm.desktop"
    dialog = open_dialog(autostart=autostart)
    assert not dialog.general.autostart_check.isChecked()
    # WHEN start at login is switched on and applied
    dialog.tabs.setCurrentIndex(dialog.TAB_GENERAL)
    qtbot.mouseClick(dialog.general.autostart_check, Qt.MouseButton.LeftButton)
    dialog.apply()
    wait_idle(qtbot, dialog)
    # THEN the desktop's autostart folder has a valid entry that starts this install
    assert entry.is_file() and autostart.is_enabled()
    text = entry.read_text(encoding="utf-8")
    assert "X-GNOME-Autostart-enabled=true" in text
    exec_value = next(line[5:] for line in text.splitlines() if line.startswith("Exec="))
    program = exec_value.split(" ")[0].strip('"')
    assert os.path.isabs(program) and os.access(program, os.X_OK)
    validator = shutil.which("desktop-file-validate")
    if validator:
        checked = subprocess.run([validator, str(entry)], capture_output=True, text=True)
        assert checked.returncode == 0, checked.stdout + checked.stderr
    # WHEN switched off again
    qtbot.mouseClick(dialog.general.autostart_check, Qt.MouseButton.LeftButton)
    press_ok(qtbot, dialog)
    # THEN the entry is gone
    assert not entry.exists() and not autostart.is_enabled()


def test_autostart_exec_line_runs_the_command_it_names(tmp_path):
    # GIVEN a program in a directory whose name needs quoting
    # ("%" is left out: GLib looks for the program before it undoes the spec's "%%".)
    folder = tmp_path / 'odd dir $HOME "x" `y`'
    folder.mkdir()
    program = folder / "desktop-vlm"
    marker = tmp_path / "ran"
    program.write_text(f"#!/bin/sh\necho \"$@\" > '{marker}'\n")
    program.chmod(0o755)
    # WHEN the Exec line is unescaped the way a desktop does it (gio's parser)
    line = exec_line([str(program), "--flag"])
    entry = tmp_path / "t.desktop"
    entry.write_text(f"[Desktop Entry]\nType=Application\nName=t\nExec={line}\n", encoding="utf-8")
    gio = shutil.which("gio")
    if not gio:
        pytest.skip("gio is not installed")
    subprocess.run([gio, "launch", str(entry)], check=True, timeout=30, capture_output=True)
    # THEN the program ran, with its argument
    wait_for(lambda: marker.exists() and marker.read_text().strip() == "--flag", "the program")


def test_autostart_respects_a_disabled_entry(fresh_user_dirs):
    autostart = Autostart(command=["/usr/bin/true"])
    autostart.enable()
    path = autostart.path()
    path.write_text(path.read_text().replace("enabled=true", "enabled=false"))
    assert not autostart.is_enabled()
    autostart.disable()
    assert not path.exists()
    autostart.disable()  # twice is fine


# --- how it looks ------------------------------------------------------------------------


_COMPOSITES = (
    QComboBox,
    QAbstractSpinBox,
    QKeySequenceEdit,
    QLineEdit,
    QPlainTextEdit,
    QListWidget,
    QTabBar,
)


def _part_of_a_composite(widget, page) -> bool:
    parent = widget.parent()
    while parent is not None and parent is not page:
        if isinstance(parent, _COMPOSITES):
            return True
        parent = parent.parent()
    return False


def test_every_page_lays_out_without_clipped_text(qtbot, open_dialog, tmp_path):
    dialog = open_dialog(first_run=True, autostart=Autostart())
    shots = SHOTS or tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    for index in range(dialog.tabs.count()):
        dialog.tabs.setCurrentIndex(index)
        QApplication.processEvents()
        page = dialog.tabs.widget(index)
        # Every label and button on the page is at least as wide as its text needs.
        for widget in page.findChildren(QLabel) + page.findChildren(QAbstractButton):
            if not widget.isVisible() or _part_of_a_composite(widget, page):
                continue
            if isinstance(widget, QLabel) and widget.wordWrap():
                continue
            assert widget.width() >= widget.minimumSizeHint().width(), widget.objectName()
        # Every interactive widget has a name for tests and accessibility tools.
        for widget in page.findChildren(QWidget):
            if isinstance(widget, (*_COMPOSITES, QAbstractButton)) and not _part_of_a_composite(
                widget, page
            ):
                assert widget.objectName(), (page.objectName(), type(widget).__name__)
        assert dialog.grab().save(str(shots / f"settings-{page.objectName()}.png"))
    for button in (dialog.ok_button, dialog.cancel_button, dialog.apply_button):
        assert button.objectName() and button.width() >= button.minimumSizeHint().width()


# --- the catalog and the servers on this machine --------------------------------------------


def test_adding_a_profile_offers_the_catalog(qtbot, open_dialog):
    dialog = open_dialog()
    menu = dialog.provider.profile_add.menu()
    names = [a.objectName() for a in menu.actions() if a.objectName()]
    for provider_id in ("openai", "openrouter", "gemini", "mistral", "groq", "ollama", "llamacpp"):
        assert f"catalog_{provider_id}" in names
    menu.findChild(QAction, "catalog_groq").trigger()
    assert dialog.provider.profile_combo.currentData() == "groq"
    assert dialog.provider.base_url.text() == "https://api.groq.com/openai/v1"


def test_a_model_server_running_here_is_offered_and_used_with_its_vision_model(qtbot, open_dialog):
    from support.local_servers import OLLAMA_MODELS, LocalServers, ollama_handler

    from desktop_vlm.services.discovery import discover_local_servers

    with LocalServers() as servers:
        port = servers.start(ollama_handler(OLLAMA_MODELS))
        # GIVEN an Ollama running on this machine
        dialog = open_dialog(discover=lambda: discover_local_servers(candidates=[("ollama", port)]))
        # THEN Settings says so, beside the base URL
        found = dialog.provider.found
        qtbot.waitUntil(lambda: "Found on this machine" in found.text(), timeout=10_000)
        assert "gemma3:12b" in found.text() and "llama3.1" not in found.text()
        # WHEN the person clicks it
        href = found.text().split('href="', 1)[1].split('"', 1)[0]
        found.linkActivated.emit(href)
        # THEN its profile is shown with its address and a vision model
        assert dialog.provider.profile_combo.currentData() == "ollama"
        assert dialog.provider.base_url.text() == f"http://127.0.0.1:{port}/v1"
        assert dialog.provider.model_combo.currentText() in ("gemma3:12b", "receipt-reader:latest")


def test_the_offline_profile_needs_nothing(qtbot, open_dialog):
    dialog = open_dialog()
    dialog.provider.show_profile("offline")
    assert not dialog.provider.base_url.isEnabled() and not dialog.provider.api_key.isEnabled()
    assert "without a key" in dialog.provider.test_result.text()


def test_the_provider_page_notes_take_the_lines_their_text_needs(qtbot, open_dialog):
    # GIVEN the provider page with its two notes: no local server, and a base URL override
    dialog = open_dialog(discover=lambda: [], overridden_url="http://127.0.0.1:41661/v1")
    found, note = dialog.provider.found, dialog.provider.override_note
    qtbot.waitUntil(lambda: found.text().startswith("No model server"), timeout=20000)
    qtbot.wait(50)
    line = found.fontMetrics().lineSpacing()
    # THEN the one-line note is one line high (it took three, its text centred in blank space),
    # and the longer one as many lines as it wraps to at its width
    assert found.height() < 2 * line, (found.height(), line)
    assert note.height() <= note.heightForWidth(note.width()) + 2, note.height()
    assert found.geometry().bottom() < note.geometry().top() <= found.geometry().bottom() + line
