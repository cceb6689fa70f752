"""Issue item 5: the tray app at rest: start-up time, memory, CPU and wake-ups while idle.

On a private 1920x1080 Xvfb with trayer (the tray host) and a private session bus, interleaved
with a reference: the smallest PySide6 tray app (QApplication + QSystemTrayIcon, nothing else),
which is the floor any Qt tray app on this machine starts from.

- Start to tray ready: process start → the "tray ready" line in the log file (polled every 2 ms),
  and the app's own figure from that line (measured inside the process from QApplication on).
- Memory: VmRSS from /proc/PID/status and Pss from /proc/PID/smaps_rollup, once idle.
- Idle: utime + stime from /proc/PID/stat and the context switches of all threads from
  /proc/PID/task/*/status, over IDLE seconds; a voluntary context switch is a wake-up.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import (  # noqa: E402
    PYTHON,
    Desktop,
    Figure,
    TrayApp,
    emit,
    median,
    ms,
    quick_flag,
    spread,
)

REFERENCE_APP = """
import sys, time
from PySide6.QtGui import QIcon, QPixmap, QColor
from PySide6.QtWidgets import QApplication, QSystemTrayIcon
started = time.perf_counter()
app = QApplication(sys.argv[:1])
app.setQuitOnLastWindowClosed(False)
pixmap = QPixmap(22, 22)
pixmap.fill(QColor("teal"))
tray = QSystemTrayIcon(QIcon(pixmap))
tray.show()
with open(sys.argv[1], "a") as log:
    log.write("tray ready in %.0f ms\\n" % ((time.perf_counter() - started) * 1000))
sys.exit(app.exec())
"""


class ReferenceApp:
    def __init__(self, env: dict[str, str], folder: Path) -> None:
        self.log = folder / "reference.log"
        self.log.unlink(missing_ok=True)
        self.started = time.monotonic()
        self.proc = subprocess.Popen(
            [PYTHON, "-c", REFERENCE_APP, str(self.log)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while "tray ready" not in (self.log.read_text() if self.log.exists() else ""):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the reference tray app did not start")
            time.sleep(0.002)
        self.ready_seen = time.monotonic()

    def reported_ready_ms(self) -> float:
        return float(self.log.read_text().split("tray ready in", 1)[1].split()[0])

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def memory(pid: int) -> tuple[float, float]:
    """(RSS, PSS) in MiB."""
    rss = pss = float("nan")
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                pss = int(line.split()[1]) / 1024
    except OSError:
        pass
    return rss, pss


def cpu_and_switches(pid: int) -> tuple[float, int, int]:
    """(CPU seconds, voluntary, involuntary context switches) of all threads so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    vol = invol = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            for line in (task / "status").read_text().splitlines():
                if line.startswith("voluntary_ctxt_switches:"):
                    vol += int(line.split()[1])
                elif line.startswith("nonvoluntary_ctxt_switches:"):
                    invol += int(line.split()[1])
        except OSError:
            pass  # a thread ended meanwhile
    return cpu, vol, invol


def idle_figures(pid: int, seconds: float) -> tuple[float, float]:
    """(CPU ms per second, wake-ups per second) over ``seconds``."""
    cpu0, vol0, _ = cpu_and_switches(pid)
    time.sleep(seconds)
    cpu1, vol1, _ = cpu_and_switches(pid)
    return (cpu1 - cpu0) * 1000 / seconds, (vol1 - vol0) / seconds


def main() -> None:
    quick = quick_flag()
    starts = 3 if quick else 7
    idle_s = 5.0 if quick else 10.0
    with tempfile.TemporaryDirectory(prefix="bench-idle-") as tmp:
        folder = Path(tmp)
        desk = Desktop(folder, tray=True)
        try:
            ours_start, ours_inner, ref_start, ref_inner = [], [], [], []
            for i in range(starts + 1):  # the first pair warms the page cache and .pyc files
                for who in ("ours", "ref") if i % 2 == 0 else ("ref", "ours"):
                    if who == "ours":
                        app = TrayApp(desk.env, "http://127.0.0.1:9/v1")
                        if i:
                            ours_start.append(app.ready_seen - app.started)
                            ours_inner.append(app.reported_ready_ms() / 1000)
                        last_ours = app
                    else:
                        ref = ReferenceApp(desk.env, folder)
                        if i:
                            ref_start.append(ref.ready_seen - ref.started)
                            ref_inner.append(ref.reported_ready_ms() / 1000)
                        last_ref = ref
                    if i < starts:
                        (app if who == "ours" else ref).stop()
                        time.sleep(0.3)
            # The last pair stays up for the idle measurements (they do not disturb each other).
            time.sleep(2.0)  # let start-up work (fonts, D-Bus, tray embedding) settle
            ours_mem = memory(last_ours.proc.pid)
            ref_mem = memory(last_ref.proc.pid)
            ours_cpu, ours_wake = idle_figures(last_ours.proc.pid, idle_s)
            ref_cpu, ref_wake = idle_figures(last_ref.proc.pid, 0.5 * idle_s)
            last_ours.stop()
            last_ref.stop()
        finally:
            desk.stop()

    start = median(ours_start)
    figures = [
        Figure(
            "Start → tray ready",
            f"{ms(start)} (app's own log: {ms(median(ours_inner))})",
            f"{ms(median(ref_start))} ({ms(median(ref_inner))})",
            start / median(ref_start),
            "≤ 400 ms",
            start <= 0.400,
            "process start → 'tray ready' in the log; reference: a bare PySide6 tray icon app",
        ),
        Figure(
            "Idle memory (RSS / PSS)",
            f"{ours_mem[0]:.1f} / {ours_mem[1]:.1f} MiB",
            f"{ref_mem[0]:.1f} / {ref_mem[1]:.1f} MiB",
            ours_mem[0] / ref_mem[0],
            "RSS ≤ 75 MB",
            ours_mem[0] * 1.048576 <= 75,
            "/proc/PID/status VmRSS and smaps_rollup Pss, 2 s after ready",
        ),
        Figure(
            f"Idle CPU and wake-ups ({idle_s:.0f} s)",
            f"{ours_cpu:.2f} ms/s, {ours_wake:.1f} wake-ups/s",
            f"{ref_cpu:.2f} ms/s, {ref_wake:.1f} wake-ups/s",
            None,
            "no CPU, no polling",
            ours_cpu < 1.0 and ours_wake <= max(1.0, 2 * ref_wake),
            "utime+stime of the process, voluntary context switches of all its threads",
        ),
    ]
    notes = [
        f"start → tray ready: ours {spread(ours_start)}, bare tray app {spread(ref_start)}",
    ]
    emit(figures, notes)


if __name__ == "__main__":
    main()
