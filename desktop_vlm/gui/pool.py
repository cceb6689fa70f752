"""The one way work leaves the GUI thread (besides the stream worker): ``run_in_pool``.

A function runs on a QThreadPool thread; its result or exception comes back to a callback on the
GUI thread through a queued signal. Work whose order matters (history writes) goes to a pool of
one thread, which runs tasks in the order they were started.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

log = logging.getLogger(__name__)

Done = Callable[[Any, BaseException | None], None]


class FunctionRunnable(QRunnable):
    """Run a function on a QThreadPool thread (results go back through signals)."""

    def __init__(self, fn: Callable[[], None]) -> None:
        super().__init__()
        self._fn = fn
        self.setAutoDelete(True)

    def run(self) -> None:
        self._fn()


class _Call(QObject):
    """One function run on a pool thread; its outcome is delivered on the GUI thread."""

    _outcome = Signal(object, object)  # result, error

    def __init__(self, fn: Callable[[], Any], done: Done | None, parent: QObject | None) -> None:
        super().__init__(parent)
        self._fn = fn
        self._done = done
        # This object lives on the GUI thread, so Qt queues the emission from the pool thread.
        self._outcome.connect(self._deliver)

    def run(self) -> None:
        try:
            result, error = self._fn(), None
        except Exception as exc:  # noqa: BLE001 - every failure goes to the callback
            result, error = None, exc
        try:
            self._outcome.emit(result, error)
        except RuntimeError:
            pass  # the receiver was deleted meanwhile: nobody is waiting

    @Slot(object, object)
    def _deliver(self, result: Any, error: BaseException | None) -> None:
        try:
            if self._done is not None:
                self._done(result, error)
            elif error is not None:
                log.error("background work failed", exc_info=error)
        finally:
            self.deleteLater()


def run_in_pool(
    fn: Callable[[], Any],
    done: Done | None = None,
    *,
    parent: QObject | None = None,
    pool: QThreadPool | None = None,
) -> None:
    """Run ``fn()`` off the GUI thread; ``done(result, error)`` runs on the GUI thread.

    With ``parent``, a callback whose parent was deleted meanwhile is not called.
    """
    call = _Call(fn, done, parent)
    (pool or QThreadPool.globalInstance()).start(FunctionRunnable(call.run))


def ordered_pool(name: str) -> QThreadPool:
    """A pool of one thread: tasks run one at a time, in the order they were started."""
    pool = QThreadPool()
    pool.setObjectName(name)
    pool.setMaxThreadCount(1)
    pool.setExpiryTimeout(30_000)
    return pool
