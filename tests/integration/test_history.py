"""Durable history: round trips, search, deletion, the size cap, and an answer that survives
the app being killed with SIGKILL in the middle of streaming."""

from __future__ import annotations

import base64
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from support.fake_api import Stream

from desktop_vlm.core.completions import Usage
from desktop_vlm.core.conversation import Conversation, ImageRef
from desktop_vlm.services.history import HistoryStore

PNG_B64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR4nGNgYGD4DwABBAEAwS2OUAAAAABJRU5ErkJggg=="
IMAGE = ImageRef("image/png", base64.b64decode(PNG_B64), 1, 1)


def conversation(question: str, answer: str, preset: str = "describe") -> Conversation:
    conv = Conversation(image=IMAGE, preset_id=preset, title=preset.title())
    conv.ask(question)
    turn = conv.begin_answer("m/vl")
    turn.text = answer
    turn.complete = True
    turn.usage = Usage(100, 7)
    turn.cost_usd = 0.00002
    return conv


@pytest.fixture
def store(tmp_path: Path) -> HistoryStore:
    s = HistoryStore(tmp_path / "history.sqlite3")
    yield s
    s.close()


def test_round_trip_keeps_every_field(store):
    conv = conversation("What is this?", "A **receipt** from Café Ünïcode.")
    conv.ask("Total?")
    second = conv.begin_answer("m/vl")
    second.text = "13.49"
    second.complete = False
    second.error = "stopped"
    store.save_conversation(conv)
    loaded = store.load(conv.id)
    assert loaded.to_dict() == conv.to_dict()


def test_images_are_stored_as_bytes_not_base64_text(store):
    store.save_conversation(conversation("q", "a"))
    kind, size = store._db.execute(
        "SELECT typeof(image), length(image) FROM conversations"
    ).fetchone()
    assert (kind, size) == ("blob", len(IMAGE.data))


def test_a_version_1_database_is_converted_with_everything_kept(tmp_path):
    # GIVEN a history written by the previous version (images as base64 text)
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path)
    db.executescript(
        """
        CREATE TABLE conversations (id TEXT PRIMARY KEY, created REAL NOT NULL, updated REAL
          NOT NULL, preset_id TEXT NOT NULL, title TEXT NOT NULL DEFAULT '', image_mime TEXT NOT
          NULL, image_b64 TEXT NOT NULL, image_width INTEGER NOT NULL, image_height INTEGER NOT
          NULL);
        CREATE TABLE turns (conversation_id TEXT NOT NULL, idx INTEGER NOT NULL, role TEXT NOT
          NULL, text TEXT NOT NULL, created REAL NOT NULL, model TEXT, prompt_tokens INTEGER,
          completion_tokens INTEGER, cost_usd REAL, ttft_s REAL, elapsed_s REAL, complete INTEGER
          NOT NULL, error TEXT, PRIMARY KEY (conversation_id, idx));
        CREATE VIRTUAL TABLE turns_fts USING fts5(text, conversation_id UNINDEXED, idx UNINDEXED);
        PRAGMA user_version=1;
        """
    )
    db.execute(
        "INSERT INTO conversations VALUES ('c1', 1.0, 2.0, 'ocr', 'Old', 'image/png', ?, 1, 1)",
        (PNG_B64,),
    )
    db.execute(
        "INSERT INTO turns VALUES ('c1', 0, 'user', 'Read it', 1.0, NULL, NULL, NULL, "
        "NULL, NULL, NULL, 1, NULL)"
    )
    db.execute(
        "INSERT INTO turns VALUES ('c1', 1, 'assistant', 'Old answer', 1.5, 'm', 10, 2, "
        "NULL, 0.5, 1.0, 1, NULL)"
    )
    db.execute("INSERT INTO turns_fts VALUES ('Old answer', 'c1', 1)")
    db.commit()
    db.close()
    # WHEN the new version opens it
    store = HistoryStore(path)
    loaded = store.load("c1")
    # THEN the conversation is all there, its image as bytes, and search still finds it
    assert loaded.image.data == IMAGE.data
    assert [t.text for t in loaded.turns] == ["Read it", "Old answer"]
    assert loaded.turns[1].usage.total_tokens == 12
    assert [s.id for s in store.search("answer")] == ["c1"]
    store.close()


def test_file_is_private_and_uses_wal(store):
    assert stat.S_IMODE(store.path.stat().st_mode) == 0o600
    mode = store._db.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_search_finds_words_in_answers_and_questions(store):
    a = conversation("Read the receipt", "Coffee 4.50, sandwich 8.99, total 13.49")
    b = conversation("Describe", "A red bicycle leaning on a wall")
    store.save_conversation(a)
    store.save_conversation(b)
    assert [s.id for s in store.search("sandwich")] == [a.id]
    assert [s.id for s in store.search("bicyc")] == [b.id]  # prefix
    assert [s.id for s in store.search("RECEIPT")] == [a.id]  # questions too, any case
    assert store.search("sandwich bicycle") == []  # all words must match
    assert "sandwich" in store.search("sandwich")[0].snippet
    assert store.search('"; DROP TABLE turns; --') == []  # no FTS syntax errors
    assert {s.id for s in store.search("")} == {a.id, b.id}


def test_delete_one_and_all(store):
    a, b = conversation("q1", "alpha"), conversation("q2", "beta")
    store.save_conversation(a)
    store.save_conversation(b)
    store.delete(a.id)
    assert [s.id for s in store.list()] == [b.id]
    assert store.search("alpha") == []
    store.delete_all()
    assert store.list() == [] and store.search("beta") == []


def test_size_cap_prunes_oldest_first(tmp_path):
    store = HistoryStore(tmp_path / "h.sqlite3", max_bytes=20_000)
    ids = []
    for n in range(6):
        conv = conversation(f"question {n}", "x" * 5_000)
        store.save_conversation(conv)
        ids.append(conv.id)
        time.sleep(0.01)
    kept = [s.id for s in store.list()]
    assert ids[-1] in kept and ids[0] not in kept
    assert kept == [i for i in reversed(ids) if i in kept]  # the newest survive
    assert len(kept) < 6


def test_answer_written_as_it_streams_survives_sigkill(tmp_path):
    # GIVEN a process that writes a partial answer the way the app does, then dies with SIGKILL
    path = tmp_path / "history.sqlite3"
    script = textwrap.dedent(
        f"""
        import os, signal
        from desktop_vlm.core.conversation import Conversation, ImageRef
        from desktop_vlm.services.history import HistoryStore
        store = HistoryStore({str(path)!r})
        conv = Conversation(image=ImageRef("image/png", b"AAAA", 1, 1), preset_id="describe", id="c1")
        conv.ask("Describe it")
        store.save_conversation(conv)
        turn = conv.begin_answer("m/vl")
        for piece in ["The image ", "shows a ", "half-finished"]:
            turn.text += piece
            store.save_turn(conv, 1)
        os.kill(os.getpid(), signal.SIGKILL)
        """
    )
    result = subprocess.run([sys.executable, "-c", script], timeout=60)
    assert result.returncode == -signal.SIGKILL
    # THEN the next start finds the answer, marked as interrupted
    loaded = HistoryStore(path).load("c1")
    answer = loaded.turns[-1]
    assert answer.text == "The image shows a half-finished"
    assert not answer.complete and answer.error == "interrupted"


def test_app_killed_mid_answer_keeps_it_and_lists_it_after_restart(fake_api, fresh_user_dirs):
    from support.app_process import start_app, wait_until, window_visible

    fake_api.default = Stream(["token "] * 2000, delay=0.01)
    app = start_app(fake_api, fresh_user_dirs)
    try:
        # clipboard path: no mouse needed
        png = Path(fresh_user_dirs["XDG_STATE_HOME"]) / "c.png"
        from PIL import Image

        Image.new("RGB", (60, 40), "teal").save(png)
        xclip = subprocess.Popen(
            ["xclip", "-selection", "clipboard", "-t", "image/png", "-i", str(png)], env=app.env
        )
        xclip.wait(10)
        assert app.cli("clipboard").returncode == 0
        db = Path(fresh_user_dirs["XDG_DATA_HOME"]) / "desktop-vlm" / "history.sqlite3"

        def partial_on_disk() -> bool:
            if not db.exists():
                return False
            store = HistoryStore(db)
            try:
                items = store.list()
                if not items:
                    return False
                turns = store.load(items[0].id).turns
                return len(turns) == 2 and turns[1].text.count("token") >= 20
            finally:
                store.close()

        wait_until(partial_on_disk, timeout=30, what="the partial answer on disk")
        app.proc.send_signal(signal.SIGKILL)
        app.proc.wait(10)
    finally:
        subprocess.run(["pkill", "-f", f"xclip.*{png.name}"], check=False)
        app.stop()
    store = HistoryStore(db)
    (summary,) = store.list()
    answer = store.load(summary.id).turns[-1]
    assert answer.text.startswith("token token") and not answer.complete
    assert answer.error == "interrupted"
    store.close()
    # and a new app shows it in the chat window's history
    fake_api.default = Stream("fine")
    again = start_app(fake_api, fresh_user_dirs)
    try:
        assert again.cli().returncode == 0  # plain start: brings the chat window forward
        wait_until(lambda: window_visible(again.env, "^desktop-vlm$"), what="chat window")
    finally:
        again.stop()
    assert os.path.exists(db)
