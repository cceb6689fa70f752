"""The assembled tray app: what happens when settings change, which hotkeys are registered, the
tray's own choices, and the first start without a key. The app module builds the parts and hands
them here; this object keeps them alive for the life of the event loop.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer

from desktop_vlm.core.config import DEFAULT_HOTKEYS, Config
from desktop_vlm.core.errors import VlmError
from desktop_vlm.core.urls import needs_key
from desktop_vlm.gui.pool import run_in_pool

log = logging.getLogger(__name__)

FIRST_RUN_DELAY_MS = 1500
NO_TRAY = (
    "The system tray is unavailable, so there is no tray icon. Use the hotkeys, or bind "
    "`desktop-vlm capture` and `desktop-vlm clipboard` to keys in your desktop's settings."
)


class Shell(QObject):
    def __init__(
        self,
        *,
        tray: Any,
        tray_available: bool,
        notifier: Any,
        controller: Any,
        worker: Any,
        overlay: Any,
        hotkeys: Any,
        keys: Any,
        config: Config,
        load_config: Callable[[], Config],
        make_settings: Callable[[bool], Any],
        save_choices: Callable[[dict], None],
    ) -> None:
        super().__init__()
        self.tray = tray
        self.tray_available = tray_available
        self.notifier = notifier
        self.controller = controller
        self.worker = worker
        self.overlay = overlay
        self.hotkeys = hotkeys
        self.keys = keys
        self.config = config
        self._load_config = load_config
        self._make_settings = make_settings
        self._save_choices = save_choices
        self.settings = None
        tray.capture_requested.connect(lambda: controller.capture())
        tray.clipboard_requested.connect(lambda: controller.ask_clipboard())
        tray.preset_chosen.connect(self._preset_chosen)
        tray.privacy_toggled.connect(self._privacy_toggled)
        tray.set_privacy(config.redact == "auto", config.local_only)
        tray.open_chat_requested.connect(controller.open_window)
        tray.settings_requested.connect(lambda: self.open_settings())
        controller.running_changed.connect(tray.set_running)
        controller.settings_requested.connect(lambda: self.open_settings())
        hotkeys.activated.connect(self._hotkey)

    def start(self, warnings: list[str]) -> None:
        """Show the tray, register the hotkeys, say what is wrong, check the first run."""
        problems = list(warnings) + self.register_hotkeys(self.config)
        if not self.tray_available:
            log.warning("%s", NO_TRAY)
            # Said once per session in the log and as a quiet notice, not as an alarm.
            self.notifier.notify("desktop-vlm is running", NO_TRAY, msecs=8000)
        if problems:
            self.notifier.notify("desktop-vlm", "\n".join(problems[:4]), error=True, msecs=10000)
        self._check_first_run()

    # --- settings ---------------------------------------------------------------------

    def open_settings(self, first_run: bool = False) -> None:
        if self.settings is not None and self.settings.isVisible():
            self.settings.raise_()
            self.settings.activateWindow()
            return
        if self.overlay.is_active:
            self.overlay.cancel()  # asked for from a window: a dialog under the overlay is lost
        dialog = self._make_settings(first_run)
        dialog.applied.connect(lambda _saved: self.apply(self._load_config()))
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda *_: setattr(self, "settings", None))
        self.settings = dialog
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()

    def apply(self, config: Config) -> None:
        """New settings everywhere: the next request, the tray's presets, the hotkeys."""
        self.config = config
        self.controller.apply_config(config)
        self.tray.set_presets(config.presets.values(), config.default_preset)
        self.tray.set_privacy(config.redact == "auto", config.local_only)
        self.hotkeys.unregister_all()
        for problem in self.register_hotkeys(config):
            self.notifier.notify("Hotkey not available", problem, error=True)

    def register_hotkeys(self, config: Config) -> list[str]:
        """Register the configured (or default) hotkeys; the problems a person should hear."""
        problems = []
        for action, shortcut in {**DEFAULT_HOTKEYS, **config.hotkeys}.items():
            if not shortcut:
                continue  # an empty shortcut in config.toml switches that hotkey off
            try:
                self.hotkeys.register(action, shortcut)
            except Exception as exc:  # noqa: BLE001 - HotkeyError, or a backend failing oddly
                log.warning("hotkey %s (%s) not registered: %s", action, shortcut, exc)
                if action in config.hotkeys or "not available" not in str(exc):
                    problems.append(str(exc))
        return problems

    # --- the tray's own choices --------------------------------------------------------------

    def _preset_chosen(self, preset_id: str) -> None:
        self.controller.set_default_preset(preset_id)
        self.config = replace(self.config, default_preset=preset_id)

        def done(_result: object, error: BaseException | None) -> None:
            if error is not None:
                self.notifier.notify("The preset choice was not saved", str(error), error=True)

        run_in_pool(lambda: self._save_choices({"default_preset": preset_id}), done, parent=self)

    def _privacy_toggled(self, name: str, on: bool) -> None:
        """Cover sensitive text / local only, from the tray: at once, and kept in config.toml."""
        change = {"redact": "auto" if on else "off"} if name == "redact" else {"local_only": on}
        self.config = replace(self.config, **change)
        self.controller.apply_config(self.config)
        self.tray.set_privacy(self.config.redact == "auto", self.config.local_only)
        log.info("privacy: %s %s", name, "on" if on else "off")

        def done(_result: object, error: BaseException | None) -> None:
            if error is not None:
                self.notifier.notify("The choice was not saved", str(error), error=True)

        run_in_pool(lambda: self._save_choices(change), done, parent=self)

    def _hotkey(self, action: str) -> None:
        command, _, preset = action.partition(":")
        self.controller.handle_command(command, preset or None)

    # --- first run -----------------------------------------------------------------------

    def _check_first_run(self) -> None:
        """No key for a remote provider: open Settings with the first-run explanation.

        A server on this machine needs no key, and a key in the environment is enough: then the
        keyring is not touched at start-up at all. Otherwise it is read on a pool thread (a D-Bus
        round trip must not delay the tray).
        """
        config, keys = self.config, self.keys
        if keys.env_key(config.active.name) or not needs_key(config.active.base_url):
            return

        def probe() -> bool:
            try:
                return not keys.get(config.active.name)
            except VlmError as exc:
                log.info("first-run check: %s", exc)
                return False

        def done(missing: bool | None, _error: BaseException | None) -> None:
            if not missing:
                return
            if self.controller.commands_seen or self.overlay.is_active or self.controller.busy:
                # Started by `desktop-vlm capture` (or a hotkey already pressed): the person is
                # busy; a dialog now would cover the overlay. A notice says what works.
                self.notifier.notify(
                    "No API key yet",
                    "Text extraction works offline. For the other presets, add a key in "
                    "Settings or start a model server on this machine.",
                    msecs=8000,
                )
                return
            log.info("no API key yet: opening the first-run settings")
            self.open_settings(first_run=True)

        # A moment first: `desktop-vlm capture` hands its command over just after the start.
        QTimer.singleShot(FIRST_RUN_DELAY_MS, lambda: run_in_pool(probe, done, parent=self))
