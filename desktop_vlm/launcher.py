"""Hand a command to the running app, or start one.

Runs in the short-lived process a keyboard shortcut starts, so it imports no Qt unless it has to
become the app itself (plain ``desktop-vlm`` with no app running).
"""

from __future__ import annotations

import logging
import os
import sys
import time

from desktop_vlm.core.errors import AppError, UsageError
from desktop_vlm.platform import instance

log = logging.getLogger(__name__)

#: How long `capture` waits for an app it started to answer.
START_WAIT_S = 15.0


def forward(command: str, preset: str | None = None, handler: str | None = None) -> int:
    try:
        reply = instance.hand_off(command, preset, handler)
    except instance.NotRunning:
        return _not_running(command, preset, handler)
    except instance.NoReply:
        return 0  # delivered: the app is busy and will act on it
    except PermissionError as exc:
        raise AppError(f"The app's private directory is unsafe: {exc}") from None
    except OSError as exc:
        raise AppError(
            f"Could not reach the running app ({exc.strerror or exc})",
            "Quit it from the tray (or `desktop-vlm quit`) and start it again",
        ) from None
    return _checked(reply)


def _checked(reply: dict) -> int:
    if reply.get("ok"):
        return 0
    error = str(reply.get("error", "no reason"))[:300]
    if error.startswith("There is no preset"):
        raise UsageError(error, "List them with `desktop-vlm presets`")
    raise AppError(f"The running app refused the command: {error}")


def _not_running(command: str, preset: str | None, handler: str | None) -> int:
    if command == "quit":
        print("desktop-vlm is not running")
        return 0
    if command == "show":
        from desktop_vlm.app import run

        return run()
    proc = start_detached()
    # Hand the command over once the new app listens, so a failure to start is reported here
    # (exit 14) instead of vanishing with a detached process.
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline:
        try:
            return _checked(instance.hand_off(command, preset, handler, wait_s=0.2))
        except instance.NotRunning:
            if proc.poll() is not None:
                break
        except instance.NoReply:
            return 0
    raise AppError(
        "The tray app could not be started"
        + (f" (it exited with status {proc.returncode})" if proc.poll() is not None else ""),
        "Run `desktop-vlm` in a terminal to see why",
    )


def start_detached():  # noqa: ANN201 - subprocess.Popen
    """Start the tray app in the background, detached from this terminal."""
    import subprocess  # only here: the forwarding path must stay light

    return subprocess.Popen(
        [sys.executable, "-m", "desktop_vlm.app"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        close_fds=True,
        env=os.environ.copy(),
    )
