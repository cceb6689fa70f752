"""Start desktop-vlm when the person logs in.

Linux and other XDG desktops: a desktop entry in ``$XDG_CONFIG_HOME/autostart`` (the
freedesktop autostart spec, honoured by GNOME, KDE, Xfce and most others). Windows: a value
under ``HKCU\\Software\\Microsoft\\Windows\\CurrentVersion\\Run``. macOS: a LaunchAgent plist.
Only the Linux branch is exercised by the tests; the other two are small and untested.

The entry names the absolute path of the running ``desktop-vlm`` script when there is one, so
it also works for a virtualenv install that is not on the login session's PATH.
"""

from __future__ import annotations

import logging
import os
import re
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from desktop_vlm import APP_NAME

log = logging.getLogger(__name__)

_RUN_KEY = r"Software\Microsoft\Windows\CurrentVersion\Run"
_LAUNCH_AGENT = "io.github.desktop-vlm"
#: Characters that force quoting in a desktop entry's Exec argument (the spec's reserved set).
_RESERVED = re.compile(r"""[\s"'\\><~|&;$*?#()`]""")


def launch_command() -> list[str]:
    """How to start the tray app: the installed script by absolute path, else ``python -m``."""
    script = shutil.which(APP_NAME)
    if not script:
        argv0 = Path(sys.argv[0]) if sys.argv and sys.argv[0] else None
        if argv0 is not None and argv0.name == APP_NAME and argv0.is_file():
            script = str(argv0)
    if script:
        return [str(Path(script).resolve())]
    return [str(Path(sys.executable).resolve()), "-m", "desktop_vlm"]


def exec_line(argv: Sequence[str]) -> str:
    """``argv`` as the value of a desktop entry's ``Exec=`` key (quoted and escaped per spec)."""
    parts = []
    for arg in argv:
        if arg and not _RESERVED.search(arg):
            parts.append(arg.replace("%", "%%"))
            continue
        quoted = re.sub(r'(["`$\\])', r"\\\1", arg)
        parts.append(f'"{quoted}"'.replace("%", "%%"))
    # A desktop entry value is itself an escaped string: every backslash is doubled once more.
    return " ".join(parts).replace("\\", "\\\\")


def desktop_entry(argv: Sequence[str]) -> str:
    return (
        "[Desktop Entry]\n"
        "Type=Application\n"
        "Version=1.4\n"
        f"Name={APP_NAME}\n"
        f"Comment=Start the {APP_NAME} tray icon at login\n"
        f"Exec={exec_line(argv)}\n"
        f"Icon={APP_NAME}\n"
        "Terminal=false\n"
        "NoDisplay=true\n"
        "StartupNotify=false\n"
        "X-GNOME-Autostart-enabled=true\n"
    )


class Autostart:
    """Start at login on or off for this user. Errors are OSError (file or registry)."""

    def __init__(self, command: Sequence[str] | None = None, platform: str | None = None) -> None:
        self._command = list(command) if command else None
        self.platform = platform or sys.platform

    @property
    def command(self) -> list[str]:
        return self._command or launch_command()

    # --- public interface --------------------------------------------------------------

    def is_enabled(self) -> bool:
        if self.platform == "win32":
            return self._windows_value() is not None
        path = self.path()
        if self.platform == "darwin":
            return path.is_file()
        return path.is_file() and _entry_is_active(path)

    def enable(self) -> None:
        if self.platform == "win32":
            self._windows_set(_windows_cmdline(self.command))
        elif self.platform == "darwin":
            _write_private(self.path(), _launch_agent(self.command))
        else:
            _write_private(self.path(), desktop_entry(self.command).encode("utf-8"))
        log.info("start at login enabled")

    def disable(self) -> None:
        if self.platform == "win32":
            self._windows_delete()
        else:
            try:
                self.path().unlink()
            except FileNotFoundError:
                pass
        log.info("start at login disabled")

    def path(self) -> Path:
        """The file that makes the app start (not used on Windows)."""
        if self.platform == "darwin":
            return Path.home() / "Library" / "LaunchAgents" / f"{_LAUNCH_AGENT}.plist"
        config_home = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
        return Path(config_home) / "autostart" / f"{APP_NAME}.desktop"

    # --- Windows (untested here) -------------------------------------------------------

    def _windows_value(self) -> str | None:  # pragma: no cover - Windows only
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, _RUN_KEY) as key:
                value, _ = winreg.QueryValueEx(key, APP_NAME)
        except OSError:
            return None
        return str(value)

    def _windows_set(self, value: str) -> None:  # pragma: no cover - Windows only
        import winreg

        with winreg.CreateKey(winreg.HKEY_CURRENT_USER, _RUN_KEY) as key:
            winreg.SetValueEx(key, APP_NAME, 0, winreg.REG_SZ, value)

    def _windows_delete(self) -> None:  # pragma: no cover - Windows only
        import winreg

        try:
            with winreg.OpenKey(winreg.HKEY_CURRENT_USER, _RUN_KEY, 0, winreg.KEY_SET_VALUE) as key:
                winreg.DeleteValue(key, APP_NAME)
        except FileNotFoundError:
            pass


def _entry_is_active(path: Path) -> bool:
    """False for an entry the desktop was told to skip (Hidden=true, ...-enabled=false)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    for line in text.splitlines():
        key, _, value = line.partition("=")
        key, value = key.strip(), value.strip().lower()
        if key == "Hidden" and value == "true":
            return False
        if key == "X-GNOME-Autostart-enabled" and value == "false":
            return False
    return True


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _windows_cmdline(argv: Sequence[str]) -> str:  # pragma: no cover - Windows only
    import subprocess

    # pythonw.exe starts without a console window flashing up at every login.
    argv = list(argv)
    if len(argv) > 1 and Path(argv[0]).name.lower() == "python.exe":
        pythonw = Path(argv[0]).with_name("pythonw.exe")
        if pythonw.is_file():
            argv[0] = str(pythonw)
    return subprocess.list2cmdline(argv)


def _launch_agent(argv: Sequence[str]) -> bytes:  # pragma: no cover - macOS only
    import plistlib

    return plistlib.dumps(
        {
            "Label": _LAUNCH_AGENT,
            "ProgramArguments": list(argv),
            "RunAtLoad": True,
            "ProcessType": "Interactive",
        }
    )
