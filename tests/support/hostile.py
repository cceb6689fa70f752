"""Probes for the hostile matrix (tests/system/test_hostile.py) that look from outside: a CLI
run with its own peak memory, a CLI run on a pseudo-terminal, the resident memory of a process,
and a watch on a file that must never be opened.

Each probe measures; the tests decide what is acceptable.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os
import pty
import select
import struct
import subprocess
import sys
import time
from pathlib import Path

_MEASURE = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[2:]).returncode\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(rc)\n"
)


def run_measured(
    tmp_path: Path,
    *args: str,
    env: dict | None = None,
    stdin: bytes | None = None,
    timeout: float = 120,
) -> tuple[subprocess.CompletedProcess, float]:
    """`desktop-vlm ARGS` in a fresh wrapper process: the result and the CLI's peak RSS in MB.

    RUSAGE_CHILDREN of the wrapper covers exactly one child, the CLI (this process's would
    remember the largest child the whole test session ever waited for).
    """
    out = tmp_path / f"peak-{time.monotonic_ns()}.txt"
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(out), sys.executable, "-m", "desktop_vlm", *args],
        capture_output=True,
        input=stdin,
        env=dict(os.environ, **(env or {})),
        timeout=timeout,
    )
    return result, int(out.read_text()) / 1024


def run_on_pty(*args: str, env: dict | None = None, timeout: float = 60) -> tuple[int, bytes]:
    """`desktop-vlm ARGS` with stdout and stderr on one pseudo-terminal, as in a terminal
    window: the exit code and every byte the terminal received."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "desktop_vlm", *args],
        stdin=subprocess.DEVNULL,
        stdout=slave,
        stderr=slave,
        env=dict(os.environ, **(env or {})),
        close_fds=True,
    )
    os.close(slave)
    received = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if not ready:
                if proc.poll() is not None and not _readable(master):
                    break
                continue
            try:
                data = os.read(master, 65536)
            except OSError as exc:  # EIO: the last writer closed the terminal
                if exc.errno != errno.EIO:
                    raise
                break
            if not data:
                break
            received += data
        code = proc.wait(max(deadline - time.monotonic(), 1))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(5)
        os.close(master)
    return code, bytes(received)


def _readable(fd: int) -> bool:
    return bool(select.select([fd], [], [], 0)[0])


# --- memory ---------------------------------------------------------------------------------


def _status_mb(pid: int | str, field: str) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise LookupError(f"no {field} for process {pid}")


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process now, in MB."""
    return _status_mb(pid, "VmRSS")


def lifetime_peak_mb(pid: int | str) -> float:
    """The most resident memory a process ever had (VmHWM), in MB."""
    return _status_mb(pid, "VmHWM")


def reset_peak() -> bool:
    """Start this process's peak resident memory afresh (Linux's clear_refs "5"); False when
    the kernel does not allow it, and then ``peak_mb`` is the process's lifetime peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def peak_mb() -> float:
    """This process's peak resident memory since ``reset_peak`` (VmHWM), in MB."""
    return _status_mb("self", "VmHWM")


# --- a file that must never be opened -------------------------------------------------------

_IN_ACCESS = 0x001
_IN_OPEN = 0x020
_EVENT = struct.Struct("iIII")


class OpenWatch:
    """Counts opens and reads of one file by any process (inotify), for "no file is read"."""

    def __init__(self, path: Path) -> None:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        self._fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self._fd < 0:
            raise OSError(ctypes.get_errno(), "inotify_init1 failed")
        if libc.inotify_add_watch(self._fd, os.fsencode(path), _IN_OPEN | _IN_ACCESS) < 0:
            os.close(self._fd)
            raise OSError(ctypes.get_errno(), f"cannot watch {path}")
        self.events = 0

    def count(self) -> int:
        """Opens and reads seen so far."""
        while True:
            try:
                data = os.read(self._fd, 4096)
            except BlockingIOError:
                return self.events
            offset = 0
            while offset + _EVENT.size <= len(data):
                _wd, _mask, _cookie, length = _EVENT.unpack_from(data, offset)
                self.events += 1
                offset += _EVENT.size + length

    def close(self) -> None:
        os.close(self._fd)
