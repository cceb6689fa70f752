"""Durable conversation history in SQLite (WAL mode), in the user data directory.

Everything is written as it happens: the conversation when its image is ready, each question
when asked, the answer while it streams (the caller flushes it about once a second) and when it
ends. An answer cut short by a crash or ``kill -9`` is therefore on disk, still marked
incomplete, and is shown as interrupted when the app starts again. The app calls this store from
one background thread in order (never from the GUI thread), so a slow disk or a database locked
by another program costs the person a notice, not a frozen window.

Images are stored as their bytes (BLOB), not base64 text. Full-text search runs over questions
and answers (FTS5). A size cap prunes the oldest conversations first; the file's page count,
read in O(1), tells when the content has to be measured at all. The store never sees the API key: it holds only what the person sent
and was answered.
"""

from __future__ import annotations

import base64
import json
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
SCHEMA_VERSION = 2
#: How long a write waits for a lock another process holds before it fails (off the GUI thread).
BUSY_TIMEOUT_MS = 3000

_SCHEMA = """
CREATE TABLE IF NOT EXISTS conversations (
    id TEXT PRIMARY KEY,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    preset_id TEXT NOT NULL,
    title TEXT NOT NULL DEFAULT '',
    image_mime TEXT NOT NULL,
    image BLOB NOT NULL,
    image_width INTEGER NOT NULL,
    image_height INTEGER NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}'
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
    shown TEXT NOT NULL DEFAULT '',
    label TEXT NOT NULL DEFAULT '',
    reasoning TEXT NOT NULL DEFAULT '',
    meta TEXT NOT NULL DEFAULT '{}',
    image_mime TEXT,
    image BLOB,
    image_width INTEGER,
    image_height INTEGER,
    PRIMARY KEY (conversation_id, idx)
);
CREATE VIRTUAL TABLE IF NOT EXISTS turns_fts USING fts5(
    text, conversation_id UNINDEXED, idx UNINDEXED, tokenize = 'unicode61 remove_diacritics 2'
);
CREATE INDEX IF NOT EXISTS conversations_updated ON conversations(updated);
"""

_TURN_COLUMNS = (
    "role, text, created, model, prompt_tokens, completion_tokens, cost_usd, ttft_s, elapsed_s, "
    "complete, error, shown, label, reasoning, meta, image_mime, image, image_width, image_height"
)


@dataclass(frozen=True)
class Summary:
    id: str
    title: str
    preset_id: str
    created: float
    #: The start of the first answer (or the search hit), as stored: the caller cleans it.
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
        self._db = sqlite3.connect(
            path, check_same_thread=False, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
        )
        try:
            self._db.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA foreign_keys=ON")
            version = self._db.execute("PRAGMA user_version").fetchone()[0]
            if version == 1:
                self._migrate_from_1()
            self._create_schema()
            self._db.execute(f"PRAGMA user_version={SCHEMA_VERSION}")
        except BaseException:
            self._db.close()
            raise

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
            for table in ("turns", "turns_fts"):
                self._db.execute(
                    f"DELETE FROM {table} WHERE conversation_id = ? AND idx >= ?",
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

    def size(self) -> int:
        """Bytes the database holds (its pages), without reading any row."""
        with self._lock:
            return self._size()

    def prune(self) -> int:
        """Drop the oldest conversations until what is stored is under the cap (the newest
        conversation always stays). The file's page count, read in O(1), is an upper bound of
        the content, so the content is only measured when the file is near the cap."""
        with self._lock:
            if self._size() <= self.max_bytes:
                return 0
            rows = self._db.execute(
                "SELECT c.id, length(c.image) + coalesce(sum(length(t.text)), 0) "
                "FROM conversations c LEFT JOIN turns t ON t.conversation_id = c.id "
                "GROUP BY c.id ORDER BY c.updated ASC"
            ).fetchall()
            excess = sum(size or 0 for _, size in rows) - self.max_bytes
            removed = 0
            with self._tx():
                for conversation_id, size in rows[:-1]:
                    if excess <= 0:
                        break
                    self._db.execute(
                        "DELETE FROM turns_fts WHERE conversation_id = ?", (conversation_id,)
                    )
                    self._db.execute("DELETE FROM conversations WHERE id = ?", (conversation_id,))
                    excess -= size or 0
                    removed += 1
        if removed:
            log.info("history: pruned %d oldest conversation(s) to stay under the cap", removed)
        return removed

    # --- reading --------------------------------------------------------------------------

    def list(self, limit: int = 200) -> list[Summary]:
        """Conversations with at least one answer, newest first, with their first answer's
        start (attempts that never got an answer do not clutter the list)."""
        with self._lock:
            rows = self._db.execute(
                "SELECT c.id, c.title, c.preset_id, c.created, "
                "(SELECT substr(t.text, 1, 200) FROM turns t WHERE t.conversation_id = c.id "
                " AND t.role = 'assistant' AND t.text != '' ORDER BY t.idx LIMIT 1) AS first "
                "FROM conversations c WHERE EXISTS (SELECT 1 FROM turns t WHERE "
                "t.conversation_id = c.id AND t.role = 'assistant' AND t.text != '') "
                "ORDER BY c.updated DESC LIMIT ?",
                (limit,),
            ).fetchall()
        return [Summary(*row[:4], snippet=row[4] or "") for row in rows]

    def search(self, query: str, limit: int = 100) -> list[Summary]:
        """Conversations whose questions or answers contain all the words of ``query``."""
        words = [w for w in query.split() if w][:20]
        if not words:
            return self.list(limit)
        # Each word as a quoted prefix term: punctuation in the query cannot break FTS syntax.
        match = " ".join('"' + w[:100].replace('"', '""') + '"*' for w in words)
        with self._lock:
            # snippet() cannot be used with GROUP BY: take the best hit per conversation here.
            hits = self._db.execute(
                "SELECT conversation_id, snippet(turns_fts, 0, '', '', '…', 10) "
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
                    f"SELECT id, title, preset_id, created FROM conversations WHERE id IN ({marks})"
                    " ORDER BY updated DESC LIMIT ?",
                    (*snippets, limit),
                ).fetchall()
        return [Summary(*row, snippets[row[0]]) for row in rows]

    def load(self, conversation_id: str) -> Conversation | None:
        with self._lock:
            row = self._db.execute(
                "SELECT id, created, preset_id, title, image_mime, image, image_width, "
                "image_height, meta FROM conversations WHERE id = ?",
                (conversation_id,),
            ).fetchone()
            if row is None:
                return None
            turn_rows = self._db.execute(
                f"SELECT {_TURN_COLUMNS} FROM turns WHERE conversation_id = ? ORDER BY idx",
                (conversation_id,),
            ).fetchall()
        conv_id, created, preset_id, title, mime, data, width, height, meta = row
        return Conversation(
            image=ImageRef(mime, bytes(data), width, height),
            preset_id=preset_id,
            turns=[_turn(r) for r in turn_rows],
            id=conv_id,
            created=created,
            title=title,
            meta=_json(meta),
        )

    # --- internals ------------------------------------------------------------------------

    def _tx(self):  # noqa: ANN202
        return _Transaction(self._db)

    def _size(self) -> int:
        pages = self._db.execute("PRAGMA page_count").fetchone()[0]
        free = self._db.execute("PRAGMA freelist_count").fetchone()[0]
        page = self._db.execute("PRAGMA page_size").fetchone()[0]
        return int((pages - free) * page)

    def _upsert_conversation(self, c: Conversation) -> None:
        self._db.execute(
            "INSERT INTO conversations (id, created, updated, preset_id, title, image_mime, "
            "image, image_width, image_height, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(id) DO UPDATE SET updated = excluded.updated, title = excluded.title, "
            "preset_id = excluded.preset_id, meta = excluded.meta",
            (
                c.id,
                c.created,
                time.time(),
                c.preset_id,
                c.title,
                c.image.mime,
                c.image.data,
                c.image.width,
                c.image.height,
                json.dumps(c.meta, ensure_ascii=False),
            ),
        )

    def _upsert_turn(self, c: Conversation, index: int) -> None:
        t = c.turns[index]
        usage = t.usage or Usage()
        image = t.image
        self._db.execute(
            f"INSERT OR REPLACE INTO turns (conversation_id, idx, {_TURN_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                t.shown,
                t.label,
                t.reasoning,
                json.dumps(t.meta, ensure_ascii=False),
                image.mime if image else None,
                image.data if image else None,
                image.width if image else None,
                image.height if image else None,
            ),
        )
        self._db.execute(
            "DELETE FROM turns_fts WHERE conversation_id = ? AND idx = ?", (c.id, index)
        )
        self._db.execute(
            "INSERT INTO turns_fts (text, conversation_id, idx) VALUES (?, ?, ?)",
            (t.display_text, c.id, index),
        )

    def _create_schema(self) -> None:
        # One statement at a time: executescript() would commit a transaction in progress.
        for statement in _SCHEMA.split(";"):
            if statement.strip():
                self._db.execute(statement)

    def _migrate_from_1(self) -> None:
        """Version 1 kept images as base64 text and fewer turn fields: convert in place."""
        log.info("history: converting the database to version %d", SCHEMA_VERSION)
        with self._tx():
            self._db.execute("ALTER TABLE conversations RENAME TO conversations_v1")
            self._db.execute("ALTER TABLE turns RENAME TO turns_v1")
            self._create_schema()
            for row in self._db.execute(
                "SELECT id, created, updated, preset_id, title, image_mime, image_b64, "
                "image_width, image_height FROM conversations_v1"
            ).fetchall():
                data = base64.b64decode(row[6]) if row[6] else b""
                self._db.execute(
                    "INSERT INTO conversations (id, created, updated, preset_id, title, "
                    "image_mime, image, image_width, image_height) VALUES (?,?,?,?,?,?,?,?,?)",
                    (*row[:6], data, row[7], row[8]),
                )
            self._db.execute(
                "INSERT INTO turns (conversation_id, idx, role, text, created, model, "
                "prompt_tokens, completion_tokens, cost_usd, ttft_s, elapsed_s, complete, error) "
                "SELECT conversation_id, idx, role, text, created, model, prompt_tokens, "
                "completion_tokens, cost_usd, ttft_s, elapsed_s, complete, error FROM turns_v1"
            )
            self._db.execute("DROP TABLE turns_v1")
            self._db.execute("DROP TABLE conversations_v1")


def _json(text: str | None) -> dict:
    try:
        value = json.loads(text or "{}")
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _turn(row: tuple) -> Turn:
    (
        role,
        text,
        created,
        model,
        p_tokens,
        c_tokens,
        cost,
        ttft,
        elapsed,
        complete,
        error,
        shown,
        label,
        reasoning,
        meta,
        i_mime,
        i_data,
        i_width,
        i_height,
    ) = row
    usage = None if p_tokens is None and c_tokens is None else Usage(p_tokens, c_tokens)
    if role == "assistant" and not complete and not error:
        error = "interrupted"  # the app stopped while this answer streamed
    image = ImageRef(i_mime, bytes(i_data), i_width, i_height) if i_data is not None else None
    return Turn(
        role=role,
        text=text,
        created=created,
        shown=shown or "",
        label=label or "",
        image=image,
        model=model,
        usage=usage,
        cost_usd=cost,
        ttft_s=ttft,
        elapsed_s=elapsed,
        complete=bool(complete),
        error=error,
        reasoning=reasoning or "",
        meta=_json(meta),
    )


class _Transaction:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, exc, tb) -> None:  # noqa: ANN001
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")
