"""The `desktop-vlm` console script.

`desktop-vlm capture` is what a keyboard shortcut runs, so the common hand-off to a running app
takes a path that imports only the standard library's socket and json: no argparse, no logging,
no Qt. Anything else, or any trouble on the fast path, goes to the full command line (cli.py),
which explains it.
"""

from __future__ import annotations

import sys

from desktop_vlm.core.vocabulary import CAPTURE_METHOD_NAMES, FORWARDED_COMMANDS

_OPTIONS = {"--preset": "preset", "--handler": "handler"}


def _fast_forward(argv: list[str]) -> int | None:
    """Exit code when the running app took the command, None to use the full CLI."""
    if argv and argv[0] not in FORWARDED_COMMANDS:
        return None
    command = argv[0] if argv else "show"
    options: dict[str, str] = {}
    rest = argv[1:]
    while rest:
        flag, _, value = rest[0].partition("=")
        if flag not in _OPTIONS or (command != "capture" and flag == "--handler"):
            return None
        if command == "quit":
            return None
        if not value:
            if len(rest) < 2:
                return None
            value, rest = rest[1], rest[2:]
        else:
            rest = rest[1:]
        options[_OPTIONS[flag]] = value
    if options.get("handler", "auto") not in CAPTURE_METHOD_NAMES:
        return None
    from desktop_vlm.platform import instance

    try:
        reply = instance.hand_off(command, options.get("preset"), options.get("handler"))
    except instance.NoReply:
        return 0  # delivered; the app is busy and will act on it
    except Exception:  # noqa: BLE001 - not running, or anything odd: the full CLI explains
        return None
    return 0 if reply.get("ok") else None


def main() -> int:
    argv = sys.argv[1:]
    code = _fast_forward(argv)
    if code is not None:
        return code
    from desktop_vlm.cli import main as full_main

    return full_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
