"""Durable conversation history in SQLite (WAL mode), in the user data directory.

Everything is written as it happens: the conversation when its image is ready, each question
when asked, the answer while it streams (the caller flushes it about once a second) and when it
ends. An answer cut short by a crash or ``kill -9`` is therefore on disk, still marked
incomplete, and is shown as interrupted when the app starts again.

Full-text search runs over questions and answers (FTS5). A size cap prunes the oldest
conversations first. The store never sees the API key: it holds only what the person sent and
was answered.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from desktop_vlm.core.completions import Usage
from desktop_vlm.core.conversation import Conversation, ImageRef, Turn

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 500 * 1024 * 1024
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    preset_id TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    image_mime TEXT NOT NULL,
    image_b64 TEXT NOT NULL,
    image_width INTEGER NOT NULL,
    image_height INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS turns (
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    idx INTEGER NOT NULL,
    role TEXT NOT NULL,
    text TEXT NOT NULL,
    created REAL NOT NULL,
    model TEXT,
    prompt_tokens INTEGER,
    completion_tokens INTEGER,
    cost_usd REAL,
    ttft_s REAL,
    elapsed_s REAL,
    complete INTEGER NOT NULL,
    error TEXT,
    PRIMARY KEY (conversation_id, idx)
);
CREATE VIRTUAL TABLE IF NOT EXISTS turns_fts USING fts5(
    text, conversation_id UNINDEXED, idx UNINDEXED, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE INDEX IF NOT EXISTS conversations_updated ON conversations(updated);
"""


@dataclass(frozen=True)
class Summary:
    id: str
    title: str
    preset_id: str
    created: float
    snippet: str = ""


class HistoryStore:
    """Thread-safe (one connection, one lock); every method is a short transaction."""

    def __init__(self, path: Path | str, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        path = Path(path)
        self.path = path
        self.max_bytes = max_bytes
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        self._lock = threading.Lock()
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        self._db = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA foreign_keys=ON")
        self._db.executescript(_SCHEMA)
        self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # --- writing --------------------------------------------------------------------------

    def save_conversation(self, conversation: Conversation) -> None:
        """Insert or update the conversation and all its turns."""
        with self._lock, self._tx():
            self._upsert_conversation(conversation)
            for index in range(len(conversation.turns)):
                self._upsert_turn(conversation, index)
            self._db.execute(
                "DELETE FROM turns WHERE conversation_id = ? AND idx >= ?",
                (conversation.id, len(conversation.turns)),
            )
            self._db.execute(
                "DELETE FROM turns_fts WHERE conversation_id = ? AND idx >= ?",
                (conversation.id, len(conversation.turns)),
            )
        self.prune()

    def save_turn(self, conversation: Conversation, index: int) -> None:
        """Write one turn (e.g. the answer streamed so far); cheap enough to call every second."""
        with self._lock, self._tx():
            self._upsert_turn(conversation, index)
            self._db.execute(
                "UPDATE conversations SET updated = ? WHERE id = ?", (time.time(), conversation.id)
            )

    def delete(self, conversation_id: str) -> None:
        with self._lock, self._tx():
            self._db.execute("DELETE FROM turns_fts WHERE conversation_id = ?", (conversation_id,))
            self._db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))

    def delete_all(self) -> None:
        with self._lock, self._tx():
            self._db.execute("DELETE FROM turns_fts")
            self._db.execute("DELETE FROM conversations")
        with self._lock:
            self._db.execute("VACUUM")

    def prune(self) -> int:
        """Drop the oldest conversations until the stored size is under the cap."""
        removed = 0
        with self._lock:
            total = self._size()
            if total <= self.max_bytes:
                return 0
            rows = self._db.execute(
                "SELECT c.id, length(c.image_b64) + coalesce(sum(length(t.text)), 0) "
                "FROM conversations c LEFT JOIN turns t ON t.conversation_id = c.id "
                "GROUP BY c.id ORDER BY c.updated ASC"
            ).fetchall()
            with self._tx():
                for conversation_id, size in rows:
                    if total <= self.max_bytes:
                        break
                    self._db.execute(
                        "DELETE FROM turns_fts WHERE conversation_id = ?", (conversation_id,)
                    )
                    self._db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
                    total -= size or 0
                    removed += 1
        if removed:
            log.info(
                "history: pruned %d oldest conversation(s) to stay under the size cap", removed
            )
        return removed

    # --- reading --------------------------------------------------------------------------

    def list(self, limit: int = 200) -> list[Summary]:
        with self._lock:
            rows = self._db.execute(
                "SELECT id, title, preset_id, created FROM conversations "
                "ORDER BY updated DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [Summary(*row) for row in rows]

    def search(self, query: str, limit: int = 100) -> list[Summary]:
        """Conversations whose questions or answers contain all the words of ``query``."""
        words = [w for w in query.split() if w]
        if not words:
            return self.list(limit)
        # Each word as a quoted prefix term: punctuation in the query cannot break FTS syntax.
        match = " ".join('"' + w.replace('"', '""') + '"*' for w in words)
        with self._lock:
            # snippet() cannot be used with GROUP BY: take the best hit per conversation here.
            hits = self._db.execute(
                "SELECT conversation_id, snippet(turns_fts, 0, '[', ']', '…', 8) "
                "FROM turns_fts WHERE turns_fts MATCH ? ORDER BY rank LIMIT 2000",
                (match,),
            ).fetchall()
            snippets: dict[str, str] = {}
            for conversation_id, snippet in hits:
                snippets.setdefault(conversation_id, snippet)
            rows = []
            if snippets:
                marks = ",".join("?" * len(snippets))
                rows = self._db.execute(
                    f"SELECT id, title, preset_id, created FROM conversations WHERE id IN ({marks}) "
                    "ORDER BY updated DESC LIMIT ?",
                    (*snippets, limit),
                ).fetchall()
        return [Summary(*row, snippets[row[0]]) for row in rows]

    def load(self, conversation_id: str) -> Conversation | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, created, preset_id, title, image_mime, image_b64, image_width, "
                "image_height FROM conversations WHERE id = ?",
                (conversation_id,),
            ).fetchone()
            if row is None:
                return None
            turn_rows = self._db.execute(
                "SELECT role, text, created, model, prompt_tokens, completion_tokens, cost_usd, "
                "ttft_s, elapsed_s, complete, error FROM turns WHERE conversation_id = ? "
                "ORDER BY idx",
                (conversation_id,),
            ).fetchall()
        conv_id, created, preset_id, title, mime, b64, width, height = row
        turns = []
        for (
            role,
            text,
            t_created,
            model,
            p_tokens,
            c_tokens,
            cost,
            ttft,
            elapsed,
            complete,
            error,
        ) in turn_rows:
            usage = None if p_tokens is None and c_tokens is None else Usage(p_tokens, c_tokens)
            if role == "assistant" and not complete and not error:
                error = "interrupted"  # the app stopped while this answer streamed
            turns.append(
                Turn(
                    role=role,
                    text=text,
                    created=t_created,
                    model=model,
                    usage=usage,
                    cost_usd=cost,
                    ttft_s=ttft,
                    elapsed_s=elapsed,
                    complete=bool(complete),
                    error=error,
                )
            )
        return Conversation(
            image=ImageRef(mime, b64, width, height),
            preset_id=preset_id,
            turns=turns,
            id=conv_id,
            created=created,
            title=title,
        )

    # --- internals ------------------------------------------------------------------------

    def _tx(self):  # noqa: ANN202
        return _Transaction(self._db)

    def _size(self) -> int:
        row = self._db.execute(
            "SELECT (SELECT coalesce(sum(length(image_b64)), 0) FROM conversations) + "
            "(SELECT coalesce(sum(length(text)), 0) FROM turns)"
        ).fetchone()
        return int(row[0])

    def _upsert_conversation(self, c: Conversation) -> None:
        self._db.execute(
            "INSERT INTO conversations (id, created, updated, preset_id, title, image_mime, "
            "image_b64, image_width, image_height) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET updated = excluded.updated, title = excluded.title, "
            "preset_id = excluded.preset_id",
            (
                c.id,
                c.created,
                time.time(),
                c.preset_id,
                c.title,
                c.image.mime,
                c.image.base64,
                c.image.width,
                c.image.height,
            ),
        )

    def _upsert_turn(self, c: Conversation, index: int) -> None:
        t = c.turns[index]
        usage = t.usage or Usage()
        self._db.execute(
            "INSERT INTO turns (conversation_id, idx, role, text, created, model, prompt_tokens, "
            "completion_tokens, cost_usd, ttft_s, elapsed_s, complete, error) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(conversation_id, idx) DO UPDATE SET role = excluded.role, "
            "text = excluded.text, model = excluded.model, prompt_tokens = excluded.prompt_tokens, "
            "completion_tokens = excluded.completion_tokens, cost_usd = excluded.cost_usd, "
            "ttft_s = excluded.ttft_s, elapsed_s = excluded.elapsed_s, "
            "complete = excluded.complete, error = excluded.error",
            (
                c.id,
                index,
                t.role,
                t.text,
                t.created,
                t.model,
                usage.prompt_tokens,
                usage.completion_tokens,
                t.cost_usd,
                t.ttft_s,
                t.elapsed_s,
                int(t.complete),
                t.error,
            ),
        )
        self._db.execute(
            "DELETE FROM turns_fts WHERE conversation_id = ? AND idx = ?", (c.id, index)
        )
        self._db.execute(
            "INSERT INTO turns_fts (text, conversation_id, idx) VALUES (?, ?, ?)",
            (t.text, c.id, index),
        )


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
