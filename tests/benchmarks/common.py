"""What the benchmarks share: figures, statistics, the machine description, and the real parts
they run against (a fake API server in its own process, an Xvfb desktop, the tray app).

Every figure is a ratio against a reference measured in the same run, interleaved with ours,
because the machines this runs on are noisy: what the load does to one it does to the other.
"""

from __future__ import annotations

import json
import os
import platform
import queue
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "tests"
if str(TESTS) not in sys.path:
    sys.path.insert(0, str(TESTS))

from support import desktop  # noqa: E402

PYTHON = sys.executable
RESULT_MARK = "BENCH-RESULT "


@dataclass
class Figure:
    """One row of the table. ``ratio`` is measured / reference (lower is better) or None."""

    name: str
    measured: str
    reference: str = "-"
    ratio: float | None = None
    target: str = "-"
    met: bool | None = None
    how: str = ""


def emit(figures: list[Figure], notes: list[str] | None = None) -> None:
    """Hand the figures to run.py (one marked JSON line on stdout)."""
    payload = {"figures": [asdict(f) for f in figures], "notes": notes or []}
    print(RESULT_MARK + json.dumps(payload), flush=True)


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms" if seconds == seconds else "n/a"


def spread(values: list[float]) -> str:
    """Median with the quartiles, for the notes: '123.4 ms (IQR 110.0-130.2, n=9)'."""
    if len(values) < 2:
        return ms(median(values))
    q = statistics.quantiles(values, n=4)
    return f"{ms(median(values))} (IQR {q[0] * 1000:.1f}-{q[2] * 1000:.1f} ms, n={len(values)})"


# --- the machine ------------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        kb = int(Path("/proc/meminfo").read_text().split("MemTotal:")[1].split()[0])
        ram = f"{kb / 1024 / 1024:.1f} GiB"
    except (OSError, IndexError, ValueError):
        pass
    os_name = platform.platform()
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = f"{line.split('=', 1)[1].strip(chr(34))}, Linux {platform.release()}"
    except OSError:
        pass
    qt = subprocess.run(
        [
            PYTHON,
            "-c",
            "import PySide6, PySide6.QtCore as c; print(PySide6.__version__, c.qVersion())",
        ],
        capture_output=True,
        text=True,
    ).stdout.split()
    import PIL

    try:
        load = " / ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        load = "?"
    return {
        "CPU": f"{cpu}, {os.cpu_count()} logical cores",
        "RAM": ram,
        "OS": os_name,
        "Python": platform.python_version(),
        "Qt": f"PySide6 {qt[0]}, Qt {qt[1]}" if len(qt) == 2 else "?",
        "Pillow": PIL.__version__,
        "Load average at start (1/5/15 min)": load,
    }


# --- the fake API server, in its own process ----------------------------------------------------


class ServerProcess:
    """tests/benchmarks/server.py in a subprocess, so its threads never hold our GIL.

    It reports, as JSON lines, when each request had fully arrived and when the first content
    token was written to the socket, in time.monotonic() (CLOCK_MONOTONIC: the same clock in
    every process of the machine).
    """

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [PYTHON, str(Path(__file__).with_name("server.py")), *args],
            stdout=subprocess.PIPE,
            stdin=subprocess.PIPE,
            text=True,
        )
        self.events: queue.Queue[dict] = queue.Queue()
        first = json.loads(self.proc.stdout.readline())
        self.url: str = first["url"]
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.events.put(json.loads(line))

    def next(self, kind: str, timeout: float = 60.0) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"the benchmark server reported no {kind!r}")
            event = self.events.get(timeout=left)
            if event["event"] == kind:
                return event

    def configure(self, **spec: object) -> None:
        """Change what every later request gets (see server.behaviour)."""
        self.proc.stdin.write(json.dumps(spec) + "\n")
        self.proc.stdin.flush()
        self.next("configured", timeout=10)

    def drain(self) -> None:
        while True:
            try:
                self.events.get_nowait()
            except queue.Empty:
                return

    def stop(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.terminate()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --- a desktop and the tray app --------------------------------------------------------------------


class Desktop:
    """A 1920x1080 Xvfb, a private session bus and trayer; fresh user dirs under ``base``."""

    def __init__(self, base: Path, *, tray: bool = True) -> None:
        self.services: list[desktop.Service] = []
        home = base / "home"
        home.mkdir(parents=True, exist_ok=True)
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("WAYLAND_DISPLAY", "QT_SCALE_FACTOR", "QT_SCREEN_SCALE_FACTORS")
            and not k.startswith(("DESKTOP_VLM_", "HYPERBOLIC_"))
        }
        env.update(HOME=str(home), QT_QPA_PLATFORM="xcb", XDG_SESSION_TYPE="x11")
        env.update(desktop.user_dirs(base / "user"))
        os.environ.update(env)  # what the helpers of support.desktop read
        display = desktop.start_xvfb(1920, 1080)
        self.services.append(display)
        env.update(display.env)
        os.environ.update(display.env)
        bus = desktop.start_session_bus()
        self.services.append(bus)
        env.update(bus.env)
        os.environ.update(bus.env)
        if tray:
            self.services.append(desktop.start_trayer(display))
        self.env = env

    def stop(self) -> None:
        while self.services:
            self.services.pop().stop()


class TrayApp:
    """``python -m desktop_vlm.app`` on a Desktop, ready once its log says 'tray ready'."""

    def __init__(self, env: dict[str, str], api_url: str) -> None:
        self.env = dict(env, DESKTOP_VLM_BASE_URL=api_url, DESKTOP_VLM_API_KEY="bench-key")
        self.log = Path(env["XDG_STATE_HOME"]) / "desktop-vlm" / "log" / "desktop-vlm.log"
        self.log.unlink(missing_ok=True)  # an earlier run's "tray ready" must not count
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [PYTHON, "-m", "desktop_vlm.app"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while "tray ready" not in self.log_text():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the tray app did not start: {self.log_text()[-1500:]}")
            time.sleep(0.002)
        self.ready_seen = time.monotonic()

    def log_text(self) -> str:
        try:
            return self.log.read_text()
        except OSError:
            return ""

    def reported_ready_ms(self) -> float | None:
        for line in reversed(self.log_text().splitlines()):
            if "tray ready in" in line:
                return float(line.split("tray ready in", 1)[1].split()[0])
        return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            subprocess.run(
                [PYTHON, "-m", "desktop_vlm", "quit"], env=self.env, capture_output=True, timeout=30
            )
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def quick_flag() -> bool:
    return "--quick" in sys.argv[1:]
