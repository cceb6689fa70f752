"""The tray app: builds the real objects, injects them, and runs Qt's event loop.

``python -m desktop_vlm.app [--then COMMAND] [--preset ID]`` is what ``desktop-vlm capture``
starts in the background when no app is running yet.
"""

from __future__ import annotations

import argparse
import logging
import logging.handlers
import os
import sys
import time

from desktop_vlm import APP_NAME, __version__
from desktop_vlm.core.logsafe import install_redaction
from desktop_vlm.platform import instance

log = logging.getLogger(__name__)


def setup_logging() -> None:
    from desktop_vlm.services import paths

    log_dir = paths.private_mkdir(paths.log_dir())
    handler = logging.handlers.RotatingFileHandler(
        log_dir / "desktop-vlm.log", maxBytes=1_000_000, backupCount=3, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    install_redaction(handler)
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    os.chmod(log_dir / "desktop-vlm.log", 0o600)

    from PySide6.QtCore import QtMsgType, qInstallMessageHandler

    levels = {
        QtMsgType.QtDebugMsg: logging.DEBUG,
        QtMsgType.QtInfoMsg: logging.INFO,
        QtMsgType.QtWarningMsg: logging.WARNING,
        QtMsgType.QtCriticalMsg: logging.ERROR,
        QtMsgType.QtFatalMsg: logging.CRITICAL,
    }
    qt_log = logging.getLogger("qt")

    def handle(mode, context, message):  # noqa: ANN001 - Qt's signature
        qt_log.log(levels.get(mode, logging.WARNING), "%s", message)

    qInstallMessageHandler(handle)


def run(then: str | None = None, preset: str | None = None, handler: str | None = None) -> int:
    from PySide6.QtWidgets import QApplication

    from desktop_vlm.platform.instance_server import AlreadyRunning, InstanceServer

    started = time.perf_counter()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_NAME)
    app.setQuitOnLastWindowClosed(False)
    setup_logging()

    server = InstanceServer()
    try:
        server.start()
    except AlreadyRunning:
        # Another app holds the lock (maybe still starting): hand it our command instead.
        return _forward_to_running(then or "show", preset, handler)

    shell = build(app)
    server.command_received.connect(shell.controller.handle_command)
    app.aboutToQuit.connect(server.stop)
    log.info("tray ready in %.0f ms", (time.perf_counter() - started) * 1000)
    if then:
        shell.controller.handle_command(then, preset, handler)
    return app.exec()


class Shell:
    """The assembled app; kept alive for the life of the event loop."""

    def __init__(self, **parts) -> None:  # noqa: ANN003
        self.__dict__.update(parts)


def build(app) -> Shell:  # noqa: ANN001
    from desktop_vlm.gui import icons
    from desktop_vlm.gui.controller import Controller
    from desktop_vlm.gui.notifier import Notifier
    from desktop_vlm.gui.overlay import RegionOverlay
    from desktop_vlm.gui.tray import Tray
    from desktop_vlm.gui.worker import StreamWorker
    from desktop_vlm.platform.clipboard import read_clipboard_image, set_clipboard_text
    from desktop_vlm.platform.hotkeys import GlobalHotkeys
    from desktop_vlm.platform.screenshot import grab_screens
    from desktop_vlm.services import paths
    from desktop_vlm.services.secrets import KeyStore
    from desktop_vlm.services.settings import load_config

    app.setWindowIcon(icons.app_icon())
    loaded = load_config()
    config = loaded.config
    keys = KeyStore()

    tray = Tray(config.presets.values(), config.default_preset)
    tray_ok = Tray.available()
    if tray_ok:
        tray.show()
    notifier = Notifier(tray.icon if tray_ok else None, _desktop_notifications())
    worker = StreamWorker(
        lambda cfg: _endpoint().make_client(cfg, keys),
        lambda *args: _endpoint().resolve_model(*args),
        lambda client: _endpoint().served_models(client),
    )
    overlay = RegionOverlay()
    handler = None if config.capture_handler == "auto" else config.capture_handler
    history = _open_history(paths.data_dir() / "history.sqlite3")
    controller = Controller(
        config,
        worker=worker,
        overlay=overlay,
        notifier=notifier,
        grab=lambda forced=None: grab_screens(
            None if (forced or handler) in (None, "auto") else (forced or handler)
        ),
        read_clipboard=read_clipboard_image,
        write_clipboard=set_clipboard_text,
        history=history,
    )
    tray.capture_requested.connect(controller.capture)
    tray.clipboard_requested.connect(controller.ask_clipboard)
    tray.preset_chosen.connect(controller.set_default_preset)
    tray.open_chat_requested.connect(controller.open_window)
    tray.settings_requested.connect(controller.settings_requested.emit)
    tray.quit_requested.connect(app.quit)
    controller.quit_requested.connect(app.quit)
    controller.busy_changed.connect(tray.set_busy)
    app.aboutToQuit.connect(worker.stop)

    hotkeys = GlobalHotkeys()
    hotkeys.activated.connect(lambda action: _hotkey(controller, action))
    problems = list(loaded.warnings) + register_hotkeys(hotkeys, config)
    shell = Shell(
        tray=tray,
        notifier=notifier,
        worker=worker,
        overlay=overlay,
        controller=controller,
        hotkeys=hotkeys,
        keys=keys,
        config=config,
        settings=None,
    )

    def open_settings(first_run: bool = False) -> None:
        from PySide6.QtCore import Qt

        from desktop_vlm.gui.settings_dialog import SettingsDialog
        from desktop_vlm.platform.autostart import Autostart
        from desktop_vlm.services.config_writer import load_for_editing, save_config

        if shell.settings is not None and shell.settings.isVisible():
            shell.settings.raise_()
            shell.settings.activateWindow()
            return
        path = paths.config_file()
        dialog = SettingsDialog(
            load_for_editing(path),
            keys,
            lambda cfg: save_config(cfg, path),
            lambda url, key: _endpoint().list_models_at(url, key),  # imported on the pool thread
            Autostart(),
            first_run=first_run,
        )

        def applied(_saved) -> None:  # noqa: ANN001
            fresh = load_config().config  # with the environment's overrides again
            controller.apply_config(fresh)
            tray.set_presets(fresh.presets.values(), fresh.default_preset)
            hotkeys.unregister_all()
            for problem in register_hotkeys(hotkeys, fresh):
                notifier.notify("Hotkey not available", problem, error=True)

        dialog.applied.connect(applied)
        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dialog.destroyed.connect(lambda *_: setattr(shell, "settings", None))
        shell.settings = dialog
        dialog.show()
        dialog.raise_()
        dialog.activateWindow()

    shell.open_settings = open_settings
    controller.settings_requested.connect(open_settings)
    if not tray_ok:
        problems.insert(
            0,
            "The system tray is unavailable, so there is no tray icon. Use the hotkeys or "
            "`desktop-vlm capture`, `desktop-vlm clipboard` and `desktop-vlm quit`.",
        )
    if problems:
        notifier.notify("desktop-vlm", "\n".join(problems[:4]), error=True, msecs=10000)
    _check_first_run(config, keys, open_settings, shell)
    return shell


def register_hotkeys(hotkeys, config) -> list[str]:  # noqa: ANN001
    """Register the configured (or default) hotkeys; the problems a person should hear of."""
    from desktop_vlm.core.config import DEFAULT_HOTKEYS

    problems = []
    for action, shortcut in {**DEFAULT_HOTKEYS, **config.hotkeys}.items():
        if not shortcut:
            continue  # an empty shortcut in config.toml switches that hotkey off
        try:
            hotkeys.register(action, shortcut)
        except Exception as exc:  # noqa: BLE001 - HotkeyError, or a backend failing oddly
            log.warning("hotkey %s (%s) not registered: %s", action, shortcut, exc)
            if action in config.hotkeys or not _is_unavailable(exc):
                problems.append(str(exc))
    return problems


def _check_first_run(config, keys, open_settings, shell) -> None:  # noqa: ANN001
    """No key for a remote provider: open Settings with the first-run explanation.

    A server on this machine needs no key, and a key in the environment is enough: then the
    keyring is not touched at start-up at all. Otherwise it is read on a pool thread (a D-Bus
    round trip must not delay the tray).
    """

    from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

    from desktop_vlm.core.errors import VlmError
    from desktop_vlm.core.urls import needs_key

    base_url = config.active.base_url
    if keys.env_key() or not needs_key(base_url):
        return

    class Probe(QObject):
        missing = Signal()

    class Run(QRunnable):
        def run(self) -> None:
            try:
                if not keys.get(config.active.name):
                    log.info("no API key yet: opening the first-run settings")
                    probe.missing.emit()
            except VlmError as exc:
                log.info("first-run check: %s", exc)

    probe = Probe()
    probe.missing.connect(lambda: open_settings(first_run=True))
    shell.first_run_probe = probe
    QThreadPool.globalInstance().start(Run())


def _desktop_notifications():  # noqa: ANN202
    if sys.platform != "linux":
        return None
    from desktop_vlm.platform.notifications import DesktopNotifications

    return DesktopNotifications()


def _endpoint():  # noqa: ANN202
    """services.endpoint, imported on first use (on a pool thread): the HTTP stack costs about
    20 MB and 50 ms that the idle tray does not need."""
    from desktop_vlm.services import endpoint

    return endpoint


def _open_history(path):  # noqa: ANN001, ANN202
    from desktop_vlm.services.history import HistoryStore

    try:
        return HistoryStore(path)
    except Exception as exc:  # noqa: BLE001 - a broken database must not stop the app
        log.warning("history unavailable (%s): %s", path, exc)
        return None


def _is_unavailable(exc: Exception) -> bool:
    return "not available" in str(exc)


def _hotkey(controller, action: str) -> None:  # noqa: ANN001
    command, _, preset = action.partition(":")
    controller.handle_command(command, preset or None)


def _forward_to_running(command: str, preset: str | None, handler: str | None = None) -> int:
    deadline = time.monotonic() + 5
    while True:
        try:
            instance.send(command, preset, handler=handler)
            return 0
        except instance.NotRunning:
            if time.monotonic() > deadline:
                sys.stderr.write(
                    f"{APP_NAME}: another instance holds the lock but does not answer\n"
                )
                return 14
            time.sleep(0.1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=f"{APP_NAME}-app")
    parser.add_argument("--then", choices=instance.COMMANDS)
    parser.add_argument("--preset")
    parser.add_argument("--handler", choices=instance.HANDLERS)
    args = parser.parse_args(argv)
    return run(args.then, args.preset, args.handler)


if __name__ == "__main__":
    raise SystemExit(main())
