"""The chat window for the hostile matrix: chat_harness's Harness with a key in its store, an
optional real history database, and a timer ticking on the GUI thread to measure freezes.

Everything a person could see or the app could keep is gathered by ``seen()`` (window text, the
question box, notices, what was copied, the log records), so a test can search it all for the
key; ``stored()`` reads the history database's files from disk for the same search.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QTimer
from PySide6.QtGui import QGuiApplication

from desktop_vlm.core.config import Config
from desktop_vlm.gui.controller import Controller
from desktop_vlm.gui.history import History
from desktop_vlm.gui.notifier import Notifier
from desktop_vlm.gui.overlay import RegionOverlay
from desktop_vlm.gui.worker import StreamWorker
from desktop_vlm.services.endpoint import Endpoint
from desktop_vlm.services.history import HistoryStore
from desktop_vlm.services.secrets import KeyStore
from support.chat_harness import Harness

#: Interval of the ticking timer, in milliseconds.
TICK_MS = 20


class HostileWindow(Harness):
    def __init__(
        self,
        qtbot,
        api,
        config: Config,
        key: str,  # noqa: ANN001
        history_path: Path | None = None,
    ) -> None:
        # Harness.__init__ builds a controller without history; this one may have a store.
        self.qtbot = qtbot
        self.api = api
        self.copied: list[str] = []
        self.notices: list[tuple[str, str]] = []
        self.history_path = history_path
        self.worker = StreamWorker(Endpoint(KeyStore(environ={"DESKTOP_VLM_API_KEY": key})))
        self.notifier = Notifier(None)
        self.notifier.shown.connect(lambda t, b: self.notices.append((t, b)))
        store = HistoryStore(history_path) if history_path is not None else None
        self.history = History(store)
        self.controller = Controller(
            config,
            worker=self.worker,
            overlay=RegionOverlay(),
            notifier=self.notifier,
            grab=lambda handler=None: [],
            read_clipboard=lambda: None,
            write_clipboard=self.copied.append,
            history=self.history,
        )
        self.tick_times: list[float] = []
        self._timer: QTimer | None = None

    # --- freezes ----------------------------------------------------------------------------

    def ticks(self) -> Callable[[], int]:
        """(Re)start a timer ticking on the GUI thread; the count only grows while it runs."""
        self.tick_times = []
        if self._timer is None:
            self._timer = QTimer()
            self._timer.setInterval(TICK_MS)
            self._timer.timeout.connect(lambda: self.tick_times.append(time.monotonic()))
        self._timer.start()
        return lambda: len(self.tick_times)

    def longest_freeze(self) -> float:
        """The longest gap between two ticks since ``ticks()``, in seconds."""
        times = self.tick_times
        return max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)

    def responsive(self) -> bool:
        """The event loop still runs: a few more ticks arrive."""
        count = len(self.tick_times)
        self.qtbot.waitUntil(lambda: len(self.tick_times) >= count + 3, timeout=10_000)
        return True

    # --- what a person could see, and what was kept ------------------------------------------

    def seen(self) -> str:
        window = self.window
        parts = [f"{title}\n{body}" for title, body in self.notices] + list(self.copied)
        if window is not None:
            parts += [
                window.transcript_text(),
                window.question.toPlainText(),
                window.status.text(),
                window.windowTitle(),
            ]
        parts.append(QGuiApplication.clipboard().text())
        return "\n".join(parts)

    def stored(self) -> bytes:
        """The history database's bytes on disk (the file, its journal and WAL), after every
        queued write ran."""
        self.history.wait(30_000)
        if self.history_path is None:
            return b""
        # Read by another process: closing a file descriptor of the database in this process
        # would drop the store's POSIX locks on it (SQLite guards only its own descriptors),
        # and another program could then delete the WAL index under the store's feet.
        data = b""
        for suffix in ("", "-wal", "-journal"):
            path = Path(f"{self.history_path}{suffix}")
            if path.exists():
                data += subprocess.run(
                    ["cat", str(path)], capture_output=True, check=True, timeout=30
                ).stdout
        return data

    def close(self) -> None:
        self.worker.stop_all()
        if self._timer is not None:
            self._timer.stop()
        if self.window is not None:
            self.window.close()
        self.api.release()
        self.qtbot.waitUntil(lambda: self.worker.running() == 0, timeout=20_000)
        self.history.close()
