"""Hand a command to the running app, or start one.

Runs in the short-lived process a keyboard shortcut starts, so it imports no Qt unless it has to
become the app itself (plain ``desktop-vlm`` with no app running).
"""

from __future__ import annotations

import logging
import os
import sys

from desktop_vlm.core.errors import AppError
from desktop_vlm.platform import instance

log = logging.getLogger(__name__)


def forward(command: str, preset: str | None = None, handler: str | None = None) -> int:
    try:
        reply = instance.send(command, preset, handler=handler)
    except instance.NotRunning:
        return _not_running(command, preset, handler)
    except PermissionError as exc:
        raise AppError(f"The app's private directory is unsafe: {exc}") from None
    except OSError as exc:
        raise AppError(
            f"Could not reach the running app ({exc.strerror or exc})",
            "Quit it from the tray (or `desktop-vlm quit`) and start it again",
        ) from None
    if not reply.get("ok"):
        raise AppError(f"The running app refused the command: {reply.get('error', 'no reason')}")
    return 0


def _not_running(command: str, preset: str | None, handler: str | None) -> int:
    if command == "quit":
        print("desktop-vlm is not running")
        return 0
    if command == "show":
        from desktop_vlm.app import run

        return run()
    start_detached(command, preset, handler)
    return 0


def start_detached(
    command: str | None = None, preset: str | None = None, handler: str | None = None
) -> None:
    """Start the tray app in the background, performing ``command`` once it is up."""
    import subprocess  # only here: the forwarding path must stay light

    argv = [sys.executable, "-m", "desktop_vlm.app"]
    if command:
        argv += ["--then", command]
    if preset:
        argv += ["--preset", preset]
    if handler:
        argv += ["--handler", handler]
    subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
        env=os.environ.copy(),
    )
