"""The tray app: builds the real objects, injects them, and runs Qt's event loop.

``python -m desktop_vlm.app`` is what ``desktop-vlm`` and ``desktop-vlm capture`` start when no
app is running yet; a command then reaches it over the instance socket like any other.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
import time

from desktop_vlm import APP_NAME, __version__
from desktop_vlm.core.errors import ExitCode
from desktop_vlm.core.logsafe import install_redaction

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


def _say(text: str) -> None:
    sys.stderr.write(f"{APP_NAME}: {text}\n")


def run() -> int:
    from desktop_vlm.platform import display, instance, memory

    memory.cap_arenas()
    problem = display.problem()
    if problem:
        _say(problem)
        return int(ExitCode.NO_DISPLAY)
    from PySide6.QtWidgets import QApplication

    from desktop_vlm.platform.instance_server import AlreadyRunning, InstanceServer

    started = time.perf_counter()
    app = QApplication.instance() or QApplication([APP_NAME])
    app.setApplicationName(APP_NAME)
    app.setApplicationVersion(__version__)
    app.setDesktopFileName(APP_NAME)
    app.setQuitOnLastWindowClosed(False)
    setup_logging()

    shell = None
    server = InstanceServer(validate=lambda command, preset: _refusal(shell, command, preset))
    try:
        server.start()
    except AlreadyRunning:
        # Another app holds the lock (maybe still starting): bring that one forward instead.
        try:
            instance.hand_off("show", wait_s=5)
        except (instance.NotRunning, instance.NoReply, OSError):
            _say("another instance holds the lock but does not answer")
            return int(ExitCode.APP)
        return 0
    except OSError as exc:
        _say(f"the app's private runtime directory cannot be used ({exc}); remove it and retry")
        return int(ExitCode.APP)

    shell = build(app)
    server.command_received.connect(shell.controller.handle_command)
    app.aboutToQuit.connect(server.stop)
    log.info("tray ready in %.0f ms", (time.perf_counter() - started) * 1000)
    return app.exec()


def _refusal(shell, command: str, preset: str | None) -> str | None:  # noqa: ANN001
    if shell is None or not preset or command not in ("capture", "clipboard"):
        return None
    presets = shell.controller.config.presets
    if preset in presets:
        return None
    return f"There is no preset '{preset}' (known: {', '.join(presets)})"


def build(app):  # noqa: ANN001, ANN201 - QApplication in, Shell out
    from desktop_vlm.gui import icons
    from desktop_vlm.gui.controller import Controller
    from desktop_vlm.gui.history import History
    from desktop_vlm.gui.notifier import Notifier
    from desktop_vlm.gui.overlay import RegionOverlay
    from desktop_vlm.gui.shell import Shell
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
    endpoint = _LazyEndpoint(keys)
    worker = StreamWorker(endpoint)
    overlay = RegionOverlay()
    store, history_problem = _open_history(paths.data_dir() / "history.sqlite3")
    history = History(store)
    history.enabled = config.keep_history
    controller = Controller(
        config,
        worker=worker,
        overlay=overlay,
        notifier=notifier,
        grab=lambda forced=None: grab_screens(_method(forced, config.capture_handler)),
        read_clipboard=read_clipboard_image,
        write_clipboard=set_clipboard_text,
        history=history,
    )
    controller.quit_requested.connect(app.quit)
    tray.quit_requested.connect(app.quit)
    app.aboutToQuit.connect(worker.stop_all)
    app.aboutToQuit.connect(history.close)
    app.aboutToQuit.connect(notifier.close)
    app.aboutToQuit.connect(endpoint.close)  # the offline engine's helper process

    def make_settings(first_run: bool):  # noqa: ANN202 - the real parts the dialog needs
        from desktop_vlm.gui.settings import SettingsDialog
        from desktop_vlm.platform.autostart import Autostart
        from desktop_vlm.services.config_file import load_for_editing, save_config
        from desktop_vlm.services.settings import ENV_BASE_URL

        path = paths.config_file()
        editable = load_for_editing(path)
        return SettingsDialog(
            editable.config,
            keys,
            lambda cfg: save_config(cfg, path, editable.fingerprint),
            lambda url, key: _endpoint().list_models_at(  # on the pool thread
                url, key, local_only=editable.config.local_only
            ),
            Autostart(),
            first_run=first_run,
            unreadable=editable.problem,
            config_path=str(path),
            overridden_url=os.environ.get(ENV_BASE_URL, "").strip(),
            discover=_discover,  # run on the pool thread
        )

    def save_choices(changes: dict) -> None:
        """The tray's choices (preset, privacy switches) into config.toml, comments kept."""
        from dataclasses import replace

        from desktop_vlm.services.config_file import load_for_editing, save_config

        path = paths.config_file()
        editable = load_for_editing(path)
        if editable.problem:
            raise OSError(editable.problem)
        save_config(replace(editable.config, **changes), path, editable.fingerprint)

    shell = Shell(
        tray=tray,
        tray_available=tray_ok,
        notifier=notifier,
        controller=controller,
        worker=worker,
        overlay=overlay,
        hotkeys=GlobalHotkeys(),
        keys=keys,
        config=config,
        load_config=lambda: load_config().config,  # with the environment's overrides again
        make_settings=make_settings,
        save_choices=save_choices,
    )
    shell.start(loaded.warnings + ([history_problem] if history_problem else []))
    return shell


def _discover() -> list:
    from desktop_vlm.services.discovery import discover_local_servers

    return discover_local_servers()


def _method(forced: str | None, configured: str) -> str | None:
    chosen = forced or configured
    return None if chosen in (None, "", "auto") else chosen


class _LazyEndpoint:
    """services.endpoint, imported on first use (on a pool thread): the HTTP stack costs about
    20 MB and 50 ms that the idle tray does not need."""

    def __init__(self, keys) -> None:  # noqa: ANN001
        self._keys = keys
        self._real = None

    def __getattr__(self, name: str):  # noqa: ANN204
        if self._real is None:
            self._real = _endpoint().Endpoint(self._keys)
        return getattr(self._real, name)

    def close(self) -> None:
        if self._real is not None:
            self._real.close()


def _desktop_notifications():  # noqa: ANN202
    if sys.platform != "linux":
        return None
    from desktop_vlm.platform.notifications import DesktopNotifications

    return DesktopNotifications()


def _endpoint():  # noqa: ANN202
    from desktop_vlm.services import endpoint

    return endpoint


def _open_history(path):  # noqa: ANN001, ANN202
    """(the store, or None and what is wrong in words): answers work without history."""
    from desktop_vlm.gui.history import in_words
    from desktop_vlm.services.history import HistoryStore

    try:
        return HistoryStore(path), None
    except Exception as exc:  # noqa: BLE001 - a broken database must not stop the app
        log.warning("history unavailable (%s): %s", path, exc)
        _kind, message = in_words(exc, str(path))
        return None, message.replace("could not be saved", "could not be opened") + (
            " History is off until then."
        )


def main(argv: list[str] | None = None) -> int:
    return run()


if __name__ == "__main__":
    raise SystemExit(main())
