"""Every connection a process tries and every name it looks up, from Python's audit events
(``socket.connect``, ``socket.getaddrinfo``): in this process (``Connections``) or in a command
run under ``AUDITED`` (``audited``). ``off_machine`` keeps what leaves this machine."""

from __future__ import annotations

import ipaddress
import json
import os
import subprocess
import sys
from pathlib import Path

# Runs desktop-vlm with an audit hook that writes each connect and lookup to a file (argv[1]).
AUDITED = """
import json, sys
log = open(sys.argv[1], "w")
def hook(event, args):
    if event == "socket.connect":
        addr = args[1]
        shown = list(addr) if isinstance(addr, tuple) else str(addr)
        log.write(json.dumps(["connect", shown]) + "\\n"); log.flush()
    elif event == "socket.getaddrinfo":
        log.write(json.dumps(["lookup", str(args[0])]) + "\\n"); log.flush()
sys.addaudithook(hook)
sys.argv = ["desktop-vlm", *sys.argv[2:]]
from desktop_vlm.entry import main
raise SystemExit(main())
"""


def off_machine(seen: list) -> list:
    """The (kind, address) events that reach beyond loopback; Unix sockets are local."""
    bad = []
    for kind, what in seen:
        is_inet = isinstance(what, list | tuple)
        if kind == "connect" and not is_inet:
            continue  # a Unix socket (D-Bus)
        host = what[0] if is_inet else what
        if isinstance(host, bytes):
            host = host.decode()
        if host in ("localhost", None):
            continue
        try:
            if ipaddress.ip_address(host).is_loopback:
                continue
        except ValueError:
            pass
        bad.append((kind, what))
    return bad


def audited(tmp_path: Path, *args: str, env: dict) -> tuple[subprocess.CompletedProcess, list]:
    """Run ``desktop-vlm ARGS`` and return its result and every connect/lookup it made."""
    events = tmp_path / "connections.jsonl"
    result = subprocess.run(
        [sys.executable, "-c", AUDITED, str(events), *args],
        capture_output=True,
        env=dict(os.environ, **env),
        timeout=120,
    )
    seen = [json.loads(line) for line in events.read_text().splitlines()]
    return result, seen


class Connections:
    """This process's connects and lookups while ``on`` (audit hooks cannot be removed, so the
    one hook records only while a test asks it to)."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, object]] = []
        self.on = False
        sys.addaudithook(self._hook)

    def _hook(self, event: str, args: tuple) -> None:
        if not self.on:
            return
        if event == "socket.connect":
            self.seen.append(("connect", args[1]))
        elif event == "socket.getaddrinfo":
            self.seen.append(("lookup", args[0]))

    def off_machine(self) -> list:
        return off_machine(self.seen)
