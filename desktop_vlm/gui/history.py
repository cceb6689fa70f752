"""The history store seen from the GUI: every read and write runs on one background thread, in
the order asked, so a slow disk, a database locked by another program or a full disk never
freezes a window. What is written is a snapshot taken on the GUI thread (a conversation keeps
changing while it streams).

A failure is told once (``problem``), with what to do; the conversation stays in memory and is
written again with its next change, and on a timer (2 s, doubling to 5 s) until the store
takes it, so nothing is lost while the store is locked or the disk full.
"""

from __future__ import annotations

import copy
import logging
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from desktop_vlm.core.conversation import Conversation
from desktop_vlm.gui.pool import ordered_pool, run_in_pool
from desktop_vlm.services.history import HistoryStore, Summary

log = logging.getLogger(__name__)

#: First and longest wait before writing again what could not be written.
RETRY_FIRST_MS = 2000
RETRY_MAX_MS = 5000


def _snapshot(conversation: Conversation) -> Conversation:
    """A copy the background thread can write while the original keeps changing."""
    return replace(
        conversation,
        turns=[replace(t, meta=copy.deepcopy(t.meta)) for t in conversation.turns],
        meta=copy.deepcopy(conversation.meta),
    )


def in_words(error: BaseException, path: str) -> tuple[str, str]:
    """(kind, message): why the history could not be written, and what to do, for a notice."""
    text = str(error).lower()
    if isinstance(error, sqlite3.OperationalError) and "locked" in text:
        return "locked", (
            f"The history database ({path}) is locked by another program. Answers are kept "
            "and saved as soon as it is free; close the other program."
        )
    if "readonly" in text or "read-only" in text or isinstance(error, PermissionError):
        return (
            "readonly",
            f"The history ({path}) cannot be written (read-only). Check its permissions.",
        )
    if "disk is full" in text or "no space" in text:
        return "full", f"The disk holding the history ({path}) is full. Free some space."
    if "malformed" in text or "not a database" in text or isinstance(error, sqlite3.DatabaseError):
        return "damaged", (
            f"The history database ({path}) is damaged. Move it away and restart the app to "
            "start a new one."
        )
    return (
        "other",
        f"The history ({path}) could not be saved ({type(error).__name__}). See the log.",
    )


class History(QObject):
    """Background access to one HistoryStore (or none when history is off or unavailable)."""

    problem = Signal(str)  # what went wrong, in words (told once per kind)

    def __init__(self, store: HistoryStore | None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._store = store
        self._pool = ordered_pool("history")
        self._told: set[str] = set()
        self._unsaved: dict[str, Conversation] = {}
        self._retry = QTimer(self, singleShot=True, timeout=self._save_unsaved)
        self._retry_ms = RETRY_FIRST_MS
        #: False when the person switched history off: nothing is written (reads still work).
        self.enabled = True

    @property
    def available(self) -> bool:
        return self._store is not None and self.enabled

    def save(self, conversation: Conversation) -> None:
        if self._store is None or not self.enabled or not conversation.turns:
            return
        snapshot = _snapshot(conversation)
        store = self._store
        self._queue(lambda: store.save_conversation(snapshot), conversation)

    def save_turn(self, conversation: Conversation, index: int) -> None:
        if self._store is None or not self.enabled:
            return
        if conversation.id in self._unsaved:
            self.save(conversation)  # the earlier write failed: write it whole
            return
        snapshot = _snapshot(conversation)
        store = self._store
        self._queue(lambda: store.save_turn(snapshot, index), conversation)

    def delete(self, conversation_id: str, done: Callable[[], None] | None = None) -> None:
        self._unsaved.pop(conversation_id, None)
        self._call(lambda store: store.delete(conversation_id), lambda _r: done and done())

    def delete_all(self, done: Callable[[], None] | None = None) -> None:
        self._unsaved.clear()
        self._call(lambda store: store.delete_all(), lambda _r: done and done())

    def list(self, done: Callable[[list[Summary]], None]) -> None:
        self._call(lambda store: store.list(), lambda rows: done(rows or []))

    def search(self, query: str, done: Callable[[list[Summary]], None]) -> None:
        self._call(lambda store: store.search(query), lambda rows: done(rows or []))

    def load(self, conversation_id: str, done: Callable[[Conversation | None], None]) -> None:
        self._call(lambda store: store.load(conversation_id), done)

    def wait(self, msecs: int = 5000) -> bool:
        """Block until every queued task ran (at shutdown, and in tests)."""
        return self._pool.waitForDone(msecs)

    def close(self) -> None:
        self._retry.stop()
        if self._unsaved and self._store is not None and self.enabled:
            self._save_unsaved()  # a last try at quitting
        self.wait()
        if self._store is not None:
            self._store.close()
            self._store = None

    # --- internals ------------------------------------------------------------------------

    def _save_unsaved(self) -> None:
        log.debug("history: writing again %d unsaved conversation(s)", len(self._unsaved))
        for conversation in list(self._unsaved.values()):
            self.save(conversation)

    def _queue(self, work: Callable[[], Any], conversation: Conversation) -> None:
        def done(_result: Any, error: BaseException | None) -> None:
            if error is None:
                if self._unsaved.pop(conversation.id, None) is not None:
                    log.info("history: written after all")
                if not self._unsaved:
                    self._retry.stop()
                    self._retry_ms = RETRY_FIRST_MS
                    self._told.clear()  # all is written: a new trouble is told again
                return
            self._unsaved[conversation.id] = conversation
            self._tell(error)
            if not self._retry.isActive():
                self._retry.start(self._retry_ms)
                self._retry_ms = min(self._retry_ms * 2, RETRY_MAX_MS)

        run_in_pool(work, done, parent=self, pool=self._pool)

    def _call(self, work: Callable[[HistoryStore], Any], then: Callable[[Any], None]) -> None:
        store = self._store
        if store is None:
            then(None)
            return

        def done(result: Any, error: BaseException | None) -> None:
            if error is not None:
                self._tell(error)
            then(result if error is None else None)

        run_in_pool(lambda: work(store), done, parent=self, pool=self._pool)

    def _tell(self, error: BaseException) -> None:
        path = str(self._store.path) if self._store is not None else "history"
        kind, message = in_words(error, path)
        if kind in self._told:
            log.debug("history: %s (%s)", message, error)
        else:
            log.warning("history: %s (%s)", message, error)
            self._told.add(kind)
            self.problem.emit(message)
