"""The hostile-input matrix: nothing a server, a model, a file or another program sends can hurt.

Each attack runs where a person meets it: at the command line (a real `desktop-vlm` process,
its output, its exit code and its peak memory) and in the chat window (the real controller,
stream worker and history database in this process, with a timer ticking on the GUI thread).
Some need the whole tray app (a real `desktop-vlm.app` process driven by `desktop-vlm clipboard`
and `capture` from other processes). For every case:

- no crash: no traceback, a documented exit code, the window still answers;
- no key leak: the canary key is in no output, window text, notice, log, history database, file;
- no freeze over 1 s on the GUI thread (the longest gap between two timer ticks);
- peak memory under 300 MB per process (the CLI's own peak; the test process's peak growth);
- nothing lost: the partial answer kept, a follow-up's text back in the question box.

The figures each case measured go to ``$DESKTOP_VLM_FIGURES`` (default: ``hostile-figures.json``
in pytest's base temp directory); the README's Reliability table is made from them.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication, QTextCursor
from support import desktop
from support.app_process import App, chat_requests, start_app, wait_until, window_visible
from support.chat_harness import anchors
from support.cli_run import one_line_error
from support.fake_api import (
    Behaviour,
    EchoKey,
    EndlessJSON,
    EndlessSSE,
    Escaped,
    FakeAPI,
    GzipBomb,
    Models,
    Stall,
    Status,
    Stream,
    Trickle,
)
from support.hostile import lifetime_peak_mb, peak_mb, reset_peak, rss_mb, run_measured
from support.hostile_window import HostileWindow

from desktop_vlm.core import retry as retry_module
from desktop_vlm.core.config import Config, with_base_url
from desktop_vlm.core.errors import ExitCode
from desktop_vlm.core.logsafe import install_redaction

pytestmark = pytest.mark.reliability

CANARY = "sk-hostilecanary-7c1e9a3f5b2d4086a1c3e5f7092b4d6e"
#: Peak resident memory allowed to one process (a CLI run; the test process's growth).
PEAK_MB = 300
#: The longest the GUI thread may stop ticking, in seconds.
FREEZE_S = 1.0
QUESTION = "And the total?"
WAIT = 20_000

log = logging.getLogger(__name__)
FIGURES: dict[str, dict] = {}


def record(case: str, **figures: float | int | str) -> None:
    """Keep what a passing case measured, for the README (written out at the module's end)."""
    FIGURES.setdefault(case, {}).update(figures)


@pytest.fixture(scope="module", autouse=True)
def figures_file(tmp_path_factory) -> Iterator[None]:
    yield
    chosen = os.environ.get("DESKTOP_VLM_FIGURES")
    path = Path(chosen) if chosen else tmp_path_factory.getbasetemp() / "hostile-figures.json"
    path.write_text(json.dumps(FIGURES, indent=1, sort_keys=True))
    log.warning("hostile matrix figures: %s", path)


# --- what every case checks ------------------------------------------------------------------


def key_views(data: bytes) -> Iterator[bytes]:
    """``data`` as it is, percent-decoded, and every base64-looking run in it decoded (at each
    of the four alignments): the forms a server's echo of the key can take."""
    yield data
    yield urllib.parse.unquote_to_bytes(data)
    for run in re.findall(rb"[A-Za-z0-9+/]{16,}", data):
        for shift in range(4):
            piece = run[shift:]
            try:
                yield base64.b64decode(piece[: len(piece) // 4 * 4])
            except ValueError:
                continue


def assert_no_key(data: bytes | str, where: str, key: str = CANARY) -> None:
    """The key, or a piece of it long enough to matter, is not in ``data`` in any form."""
    if isinstance(data, str):
        data = data.encode("utf-8", "replace")
    pieces = [p.encode() for p in (key, key[:12], key[-12:], key[12:28])]
    for view in key_views(data):
        for piece in pieces:
            assert piece not in view, f"key material {piece[:6]!r}... found in {where}"


def user_files(dirs: dict[str, str]) -> bytes:
    """Every file under the per-test config, data, cache, state and runtime directories."""
    data = b""
    for folder in dirs.values():
        for path in Path(folder).rglob("*"):
            if path.is_file() and not path.is_symlink():
                # read by another process: see HostileWindow.stored (a database may be open here)
                data += subprocess.run(
                    ["cat", str(path)], capture_output=True, check=True, timeout=30
                ).stdout
    return data


def write_config(dirs: dict[str, str], text: str | bytes) -> Path:
    path = Path(dirs["XDG_CONFIG_HOME"]) / "desktop-vlm" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    return path


def network_config(read_timeout: float | None = None, extra: str = "") -> str:
    text = "[network]\nmax_retries = 0\n" + extra
    if read_timeout:
        text += f"read_timeout = {read_timeout:g}\n"
    return text


def cli(
    tmp_path: Path,
    *args: str,
    env: dict | None = None,
    stdin: bytes | None = None,
    timeout: float = 90,
) -> subprocess.CompletedProcess:
    """`desktop-vlm ARGS` measured: fails on a traceback or a peak over PEAK_MB."""
    result, peak = run_measured(tmp_path, *args, env=env, stdin=stdin, timeout=timeout)
    output = result.stdout + result.stderr
    assert b"Traceback" not in output, output.decode(errors="replace")[-3000:]
    assert result.returncode in {int(c) for c in ExitCode}, result.returncode
    assert result.returncode != ExitCode.INTERNAL, output.decode(errors="replace")[-2000:]
    assert peak < PEAK_MB, f"peak RSS {peak:.0f} MB"
    result.peak_mb = peak  # type: ignore[attr-defined]
    return result


def server_env(api: FakeAPI) -> dict[str, str]:
    """The environment of a CLI run against the test server, with the canary key (which also
    keeps the run away from the keyring)."""
    return {"DESKTOP_VLM_BASE_URL": api.url, "DESKTOP_VLM_API_KEY": CANARY}


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.effect_noise((160, 120), 40).convert("RGB").save(path)
    return path


@pytest.fixture
def gui(qtbot, fake_api, tmp_path, monkeypatch, caplog) -> Iterator[HostileWindow]:
    """The chat window with a real history database and a log file written as the app's is."""
    monkeypatch.setattr(retry_module.random, "uniform", lambda a, b: 0.01)
    caplog.set_level(logging.INFO)
    handler = logging.FileHandler(tmp_path / "app.log", encoding="utf-8")
    install_redaction(handler)
    logging.getLogger().addHandler(handler)
    config = replace(with_base_url(Config(), fake_api.url), max_retries=0)
    harness = HostileWindow(qtbot, fake_api, config, CANARY, tmp_path / "history.sqlite3")
    harness.ticks()
    yield harness
    harness.close()
    logging.getLogger().removeHandler(handler)
    handler.close()


def check_window(gui: HostileWindow, caplog, tmp_path: Path, case: str, rss_before: float) -> None:
    """What every chat-window case must leave: a running window, no key anywhere, no freeze,
    bounded memory, no exception in the log."""
    assert gui.responsive()
    assert_no_key(gui.seen(), f"{case}: the window, notices or clipboard")
    assert_no_key(gui.stored(), f"{case}: the history database")
    assert_no_key((tmp_path / "app.log").read_bytes(), f"{case}: the log")
    dirs = {
        name: os.environ[name]
        for name in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME")
    }
    assert_no_key(user_files(dirs), f"{case}: the user's files")
    for item in caplog.records:
        assert item.exc_info is None and "Traceback" not in item.getMessage(), item.getMessage()
        assert item.levelno < logging.ERROR, item.getMessage()
    freeze = gui.longest_freeze()
    growth = peak_mb() - rss_before
    assert freeze < FREEZE_S, f"{case}: the GUI thread froze for {freeze:.2f} s"
    assert growth < PEAK_MB, f"{case}: memory grew by {growth:.0f} MB"
    record(case, gui_freeze_s=round(freeze, 3), gui_peak_growth_mb=round(growth, 1))


def start_case(gui: HostileWindow) -> float:
    """Fresh freeze and peak-memory measurements from here; the RSS to grow from."""
    gui.ticks()
    reset_peak()
    return rss_mb()


def first_answer(gui: HostileWindow, text: str = "Answer one.") -> None:
    gui.api.enqueue(Stream(text))
    gui.ask()
    gui.wait_text(text)
    gui.wait_idle()


def wait_done(gui: HostileWindow, timeout: int = 90_000) -> None:
    gui.qtbot.waitUntil(
        lambda: not gui.controller.busy and not gui.window.streaming, timeout=timeout
    )


def click_href(gui: HostileWindow, href: str) -> None:
    """Press the mouse on the link whose target is ``href``, where it is drawn."""
    transcript = gui.window.transcript
    matches = [a for a in anchors(transcript) if a[1] == href]
    assert matches, f"no link to {href!r}; links: {[a[1] for a in anchors(transcript)]}"
    cursor = QTextCursor(transcript.document())
    cursor.setPosition(matches[-1][2] + 1)
    transcript.setTextCursor(cursor)
    transcript.ensureCursorVisible()
    rect = transcript.cursorRect(cursor)
    gui.qtbot.mouseClick(
        transcript.viewport(),
        Qt.MouseButton.LeftButton,
        pos=QPoint(rect.left() - 2, rect.center().y()),
    )


def app_href(gui: HostileWindow, kind: str) -> str:
    """The href of the app's own last ``kind`` link (Copy, Regenerate, ...)."""
    hrefs = [h for _t, h, _p in anchors(gui.window.transcript) if f":{kind}:" in h]
    assert hrefs, f"no {kind} link"
    return hrefs[-1]


def copy_answer(gui: HostileWindow) -> str:
    """What Copy under the last answer puts on the clipboard."""
    QGuiApplication.clipboard().clear()
    click_href(gui, app_href(gui, "copy"))
    gui.qtbot.waitUntil(lambda: bool(QGuiApplication.clipboard().text()), timeout=WAIT)
    return QGuiApplication.clipboard().text()


# --- the server's attacks: through the command line and through the chat window ---------------


@dataclass(frozen=True)
class Attack:
    """What the server does, the words a person must see, the CLI's exit code."""

    behaviour: Behaviour
    words: str
    code: ExitCode
    #: Part of the answer arrives first: it is kept.
    midstream: bool = False
    read_timeout: float | None = None
    #: For an attack that still answers: the exact answer printed and shown.
    answer: str | None = None


PORTAL = b"<html><head><title>Hotel Wi-Fi</title></head><body>Log in to continue</body></html>"

ATTACKS: dict[str, Attack] = {
    # the key echoed back by the server, in every position it can take
    "key-in-error-event": Attack(
        EchoKey("error-event"), "over its quota", ExitCode.SERVER, midstream=True
    ),
    "key-in-redirect-location": Attack(EchoKey("location"), "redirected", ExitCode.PROTOCOL),
    "key-as-reason-phrase": Attack(EchoKey("reason-phrase"), "HTTP 502", ExitCode.SERVER),
    "key-in-json-error": Attack(EchoKey("json-error"), "Invalid API key", ExitCode.BAD_REQUEST),
    "key-percent-encoded": Attack(EchoKey("percent-encoded"), "Rejected", ExitCode.BAD_REQUEST),
    "key-in-basic-header-echo": Attack(
        EchoKey("basic-header"), "Authorization: Basic", ExitCode.BAD_REQUEST
    ),
    "key-in-answer-split": Attack(
        EchoKey("answer-split"),
        "",
        ExitCode.OK,
        answer="Your key is [redacted][redacted] and it works.",
    ),
    # bombs and streams that never end
    "gzip-bomb-answer": Attack(GzipBomb(), "passed 8 MB", ExitCode.PROTOCOL),
    "json-never-ends": Attack(EndlessJSON(), "passed 8 MB", ExitCode.PROTOCOL),
    "sse-data-never-dispatched": Attack(EndlessSSE("data"), "without ending it", ExitCode.PROTOCOL),
    "sse-line-never-ends": Attack(EndlessSSE("line"), "without a line break", ExitCode.PROTOCOL),
    "sse-comments-forever": Attack(
        EndlessSSE("comments", interval=0.05),
        "sent nothing of the answer for 2 s",
        ExitCode.NETWORK,
        read_timeout=2,
    ),
    # the person must be told it timed out, not merely that "the connection failed"
    "one-byte-per-second": Attack(
        Trickle(after_tokens=2), "2 s", ExitCode.NETWORK, midstream=True, read_timeout=2
    ),
    "captive-portal-200-html": Attack(
        Status(200, body=PORTAL, content_type="text/html"), "text/html", ExitCode.PROTOCOL
    ),
    # text that is not valid Unicode as it arrives
    "emoji-in-utf16-halves": Attack(Escaped(), "", ExitCode.OK, answer="Smile: \U0001f600 done."),
    "lone-surrogate": Attack(
        Escaped(("A lone ", "\ud83d", " half.")), "", ExitCode.OK, answer="A lone \ufffd half."
    ),
}


@pytest.mark.parametrize("attack_id", list(ATTACKS))
def test_attack_on_the_command_line(attack_id, fake_api, fresh_user_dirs, photo, tmp_path):
    attack = ATTACKS[attack_id]
    # GIVEN a server that attacks this way, and no retries
    write_config(fresh_user_dirs, network_config(attack.read_timeout))
    fake_api.default = attack.behaviour
    # WHEN a person asks about an image
    result = cli(tmp_path, "ask", str(photo), "--model", "m", env=server_env(fake_api))
    # THEN the answer, or one line saying what went wrong, with the documented exit code
    assert result.returncode == attack.code, result.stderr.decode()[-2000:]
    if attack.answer is not None:
        assert result.stdout.decode() == attack.answer + "\n"
    else:
        line = one_line_error(result)
        assert attack.words.lower() in line.lower(), line
    if attack.midstream:
        assert result.stdout.decode().startswith("This answer")  # the partial answer is kept
    # and the key is in no output and no file
    assert_no_key(result.stdout + result.stderr, "the output")
    assert_no_key(user_files(fresh_user_dirs), "the user's files")
    record(f"cli:{attack_id}", cli_peak_mb=round(result.peak_mb, 1))


@pytest.mark.parametrize("attack_id", list(ATTACKS))
def test_attack_in_the_chat_window(attack_id, gui, fake_api, caplog, tmp_path):
    attack = ATTACKS[attack_id]
    config = replace(gui.controller.config, read_timeout=attack.read_timeout or 120.0)
    gui.controller.apply_config(config)
    # GIVEN a conversation with one answer
    first_answer(gui)
    before = len(chat_requests(fake_api))
    rss = start_case(gui)
    # WHEN the server attacks the follow-up
    fake_api.enqueue(attack.behaviour)
    gui.type_question(QUESTION)
    wait_done(gui)
    # THEN the window shows the answer, or says why, and keeps everything
    text = gui.window.transcript_text()
    assert "Answer one." in text
    if attack.answer is not None:
        assert attack.answer.replace("[redacted][redacted]", "[redacted]") in text.replace(
            "[redacted][redacted]", "[redacted]"
        )
    else:
        assert attack.words.lower() in text.lower(), text[-1500:]
        if attack.midstream:
            assert "This answer" in text  # the partial answer
        else:
            assert gui.window.question.toPlainText() == QUESTION  # the question, back in the box
    assert len(chat_requests(fake_api)) - before == 1
    check_window(gui, caplog, tmp_path, f"gui:{attack_id}", rss)
    if attack.answer is None:
        # WHEN the person retries against a server that behaves
        fake_api.enqueue(Stream("Now it works."))
        click_href(gui, app_href(gui, "retry"))
        gui.wait_text("Now it works.")
        gui.wait_idle()
        # THEN the question was asked once more, after the first answer
        messages = chat_requests(fake_api)[-1].json["messages"]
        assert [m["role"] for m in messages] == ["user", "assistant", "user"]
        assert messages[-1]["content"] == QUESTION


# --- a gzip bomb for the model list, which the window fetches by itself -----------------------


def test_gzip_bomb_model_list_on_the_command_line(fake_api, fresh_user_dirs, tmp_path):
    fake_api.models_default = GzipBomb()
    result = cli(tmp_path, "models", env=server_env(fake_api))
    assert result.returncode == ExitCode.PROTOCOL
    assert "passed 8 MB" in one_line_error(result)
    record("cli:gzip-bomb-model-list", cli_peak_mb=round(result.peak_mb, 1))


def test_gzip_bomb_model_list_in_the_chat_window(gui, fake_api, caplog, tmp_path):
    # GIVEN a server whose model list is a gzip bomb
    fake_api.models_default = GzipBomb()
    rss = start_case(gui)
    # WHEN the window opens (it fetches the list by itself) and a person asks with no model set
    gui.controller.open_window()
    gui.ask()
    wait_done(gui)
    # THEN it says why, and the bomb cost neither a freeze nor memory
    assert "passed 8 MB" in gui.window.transcript_text()
    assert len([r for r in fake_api.requests if r.path.endswith("/models")]) >= 2
    check_window(gui, caplog, tmp_path, "gui:gzip-bomb-model-list", rss)
    # WHEN the list is fine again, Retry answers
    fake_api.models_default = Models()
    fake_api.enqueue(Stream("Listed and answered."))
    click_href(gui, app_href(gui, "retry"))
    gui.wait_text("Listed and answered.")


# --- hostile Markdown: text is text, images are never loaded, links cannot act -------------

LOOKS_LIKE_HTML = ("If a<b and c>d then e.", "List<String>", "<div>x</div>", "#include <stdio.h>")
FORGED_APP_LINK = "dvlm-0123456789abcdef:regenerate:1:-1"


def hostile_markdown(decoy: Path, port: int) -> str:
    return "\n\n".join(
        [
            *LOOKS_LIKE_HTML,
            "![x](/etc/passwd)",
            f"![x]({decoy})",
            f"![x](http://127.0.0.1:{port}/img.png)",
            "[regenerate](action:regenerate)",
            '<a href="action:regenerate">regenerate</a>',
            f"[Regenerate]({FORGED_APP_LINK})",
        ]
    )


@pytest.fixture
def decoy(tmp_path: Path) -> Path:
    """A real image an answer names by path: it must never be opened."""
    path = tmp_path / "private" / "decoy.png"
    path.parent.mkdir()
    Image.new("RGB", (8, 8), (200, 0, 0)).save(path)
    return path


def test_hostile_markdown_is_printed_as_sent(fake_api, photo, decoy, tmp_path):
    answer = hostile_markdown(decoy, fake_api.port)
    fake_api.default = Stream(answer)
    result = cli(tmp_path, "ask", str(photo), "--model", "m", env=server_env(fake_api))
    assert result.returncode == 0
    assert result.stdout.decode() == answer + "\n"
    assert [r.path for r in fake_api.requests if "img" in r.path] == []


def test_hostile_markdown_in_the_chat_window(gui, fake_api, decoy, caplog, tmp_path):
    from support.hostile import OpenWatch

    watch = OpenWatch(decoy)
    try:
        rss = start_case(gui)
        # WHEN an answer holds text that looks like HTML, images by path and URL, and links
        first_answer(gui, "Plain first answer.")
        fake_api.enqueue(Stream(hostile_markdown(decoy, fake_api.port)))
        gui.type_question("Show me some code")
        wait_done(gui)
        text = gui.window.transcript_text()
        # THEN what looks like HTML is shown exactly as written, and Copy gives it exactly
        lines = text.splitlines()
        for sample in LOOKS_LIKE_HTML:
            assert sample in lines, f"{sample!r} not shown as written"
        copied = copy_answer(gui).splitlines()
        for sample in LOOKS_LIKE_HTML:
            assert sample in copied, f"{sample!r} not copied as written"
        # AND no image named by the answer was loaded: no request made, no file opened
        gui.qtbot.wait(300)
        opened = watch.count()
        assert "root:" not in text  # nothing of /etc/passwd
        assert [r.path for r in fake_api.requests if "img" in r.path] == []
        # AND the answer's links, clicked, do nothing: no request is sent
        before = len(chat_requests(fake_api))
        hrefs = [h for _t, h, _p in anchors(gui.window.transcript)]
        assert "action:regenerate" in hrefs and FORGED_APP_LINK in hrefs
        for href in ("action:regenerate", FORGED_APP_LINK):
            click_href(gui, href)
        gui.qtbot.wait(500)
        assert len(chat_requests(fake_api)) == before
        assert '<a href="action:regenerate">regenerate</a>' in text  # raw HTML is text
        check_window(gui, caplog, tmp_path, "gui:hostile-markdown", rss)
        # WHEN the app's own Regenerate link is clicked, it does send (the clicks are real)
        click_href(gui, app_href(gui, "regenerate"))
        wait_until(lambda: len(chat_requests(fake_api)) == before + 1, what="regenerate")
        assert opened == 0, f"the transcript opened a file an answer named ({opened} events)"
    finally:
        watch.close()


# --- one line of 600,000 characters, streamed, then reopened from history --------------------

LONG_LINE = ("abcdefghijklmnopqrstuvwxyz0123456789" * 16_667)[:600_000]


def long_stream() -> Stream:
    return Stream([LONG_LINE[i : i + 4000] for i in range(0, len(LONG_LINE), 4000)])


def test_long_line_on_the_command_line(fake_api, photo, tmp_path):
    fake_api.default = long_stream()
    result = cli(tmp_path, "ask", str(photo), "--model", "m", env=server_env(fake_api))
    assert result.returncode == 0
    assert result.stdout.decode() == LONG_LINE + "\n"
    record("cli:long-line", cli_peak_mb=round(result.peak_mb, 1))


def test_long_line_streamed_and_reopened_from_history(qtbot, gui, fake_api, caplog, tmp_path):
    # WHEN an answer of one 600,000-character line without a space streams in
    rss = start_case(gui)
    fake_api.enqueue(long_stream())
    gui.ask()
    wait_done(gui)
    conversation_id = gui.window.conversation_id
    # THEN it is all there, and Copy gives it whole
    assert copy_answer(gui) == LONG_LINE
    check_window(gui, caplog, tmp_path, "gui:long-line-streamed", rss)
    gui.close()
    # WHEN the app starts again and the conversation is opened from the history
    again = HostileWindow(qtbot, fake_api, gui.controller.config, CANARY, gui.history_path)
    try:
        rss = start_case(again)
        again.controller.open_window()
        again.controller.show_conversation(conversation_id)
        qtbot.waitUntil(lambda: LONG_LINE[-40:] in again.window.transcript_text(), timeout=WAIT)
        # THEN the whole line is there, and Copy gives it whole
        assert copy_answer(again) == LONG_LINE
        # AND the window still answers: a follow-up streams and Stop ends it at the server
        fake_api.enqueue(Stall(after_tokens=2))
        again.type_question("Shorter, please")
        again.wait_text("This answer")
        qtbot.mouseClick(again.window.composer.stop_button, Qt.MouseButton.LeftButton)
        assert fake_api.disconnects.wait(10)
        wait_done(again)
        assert "This answer" in again.window.transcript_text()
        check_window(again, caplog, tmp_path, "gui:long-line-reopened", rss)
    finally:
        again.close()


# --- surrogates: saved, sent again, exported --------------------------------------------------

SURROGATES = {
    "emoji-in-utf16-halves": (Escaped(), "Smile: \U0001f600 done."),
    "lone-surrogate": (Escaped(("A lone ", "\ud83d", " half.")), "A lone \ufffd half."),
}


@pytest.mark.parametrize("case", list(SURROGATES))
def test_surrogates_are_saved_sent_again_and_exported(
    case, gui, fake_api, caplog, tmp_path, monkeypatch
):
    from PySide6.QtWidgets import QFileDialog

    from desktop_vlm.services.history import HistoryStore

    behaviour, shown = SURROGATES[case]
    rss = start_case(gui)
    # WHEN the answer arrives as UTF-16 halves in separate events (or as half a pair)
    fake_api.enqueue(behaviour)
    gui.ask()
    gui.wait_text(shown)
    gui.wait_idle()
    conversation_id = gui.window.conversation_id
    # THEN it is saved to the history as shown
    gui.history.wait(10_000)
    reader = HistoryStore(gui.history_path)
    try:
        saved = reader.load(conversation_id)
    finally:
        reader.close()
    assert saved is not None and saved.turns[-1].text == shown
    # AND a follow-up sends it back as valid JSON and gets its answer
    fake_api.enqueue(Stream("Follow-up fine."))
    gui.type_question(QUESTION)
    gui.wait_text("Follow-up fine.")
    gui.wait_idle()
    messages = chat_requests(fake_api)[-1].json["messages"]
    assert messages[1] == {"role": "assistant", "content": shown}
    # AND export writes a UTF-8 file with it
    target = tmp_path / "export.md"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    gui.window.export_markdown()
    exported = target.read_bytes().decode("utf-8")  # strict: fails on anything else
    assert shown in exported and "Follow-up fine." in exported
    check_window(gui, caplog, tmp_path, f"gui:{case}", rss)


# --- escape sequences for the terminal --------------------------------------------------------

OSC52 = "\x1b]52;c;ZWNobyBwd25lZA==\x07"  # "set the clipboard to 'echo pwned'"
CSI_CLEAR = "\x1b[2J\x1b[H"
CSI_RED = "\x1b[31m"
BIDI = "\u202e"  # right-to-left override: "gnp.exe" shows as "exe.png"
TERMINAL_ANSWER = f"Total: 12.00{OSC52} paid{CSI_CLEAR} in cash{CSI_RED} {BIDI}gnp.exe\u202c\n"
TERMINAL_ERROR = f"Bad model{OSC52} name{CSI_CLEAR} here{CSI_RED} {BIDI}txt.exe"
SEQUENCES = (b"\x1b]", b"\x1b[2J", b"\x1b[H", b"\x1b[31m", "\u202e".encode(), "\u202c".encode())


@pytest.mark.parametrize("where", ["answer", "error-message"])
def test_terminal_escapes_never_reach_a_terminal(where, fake_api, photo):
    from support.hostile import run_on_pty

    # GIVEN a server that writes escape sequences into the answer or its error message
    if where == "answer":
        fake_api.default = Stream(TERMINAL_ANSWER)
        words = b"Total: 12.00 paid in cash gnp.exe"
    else:
        fake_api.default = Status(400, message=TERMINAL_ERROR)
        words = b"Bad model name here txt.exe"
    # WHEN `ask` writes to a terminal (stdout and stderr on a pseudo-terminal)
    code, screen = run_on_pty("ask", str(photo), "--model", "m", env=server_env(fake_api))
    # THEN the text arrives and none of the sequences does
    assert code == (0 if where == "answer" else ExitCode.BAD_REQUEST), screen
    assert words in screen, screen
    assert b"Traceback" not in screen
    for sequence in SEQUENCES:
        assert sequence not in screen, f"{sequence!r} reached the terminal"


def test_terminal_filtering_leaves_piped_output_unchanged(fake_api, photo, tmp_path):
    fake_api.default = Stream(TERMINAL_ANSWER)
    result = cli(tmp_path, "ask", str(photo), "--model", "m", env=server_env(fake_api))
    assert result.returncode == 0
    assert result.stdout == TERMINAL_ANSWER.encode()  # a file gets exactly what was answered


# --- the history database: locked, corrupt, read-only, on a full disk -------------------------

LOCKER = (
    "import sqlite3, sys\n"
    "db = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
    "db.execute('BEGIN EXCLUSIVE')\n"
    "print('locked', flush=True)\n"
    "sys.stdin.read()\n"
    "db.execute('COMMIT')\n"
)


def saved_texts(path: Path) -> list[str]:
    """Every turn's text in the history database, read by another connection (none while the
    database is busy: a reader may meet the writer's journal half-way)."""
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
        try:
            return [row[0] for row in db.execute("SELECT text FROM turns ORDER BY created")]
        finally:
            db.close()
    except sqlite3.OperationalError:
        return []


def history_notices(gui: HostileWindow) -> list[str]:
    return [body for title, body in gui.notices if title == "History"]


def test_history_locked_by_another_program(gui, fake_api, caplog, tmp_path):
    # GIVEN another program holding the history database's write lock
    locker = subprocess.Popen(
        [sys.executable, "-c", LOCKER, str(gui.history_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert locker.stdout.readline().strip() == b"locked"
        rss = start_case(gui)
        # WHEN answers arrive meanwhile
        fake_api.enqueue(Stream("Kept while locked.", delay=0.05))
        gui.ask()
        gui.wait_text("Kept while locked.")
        gui.wait_idle()
        # THEN the window works on, says once what is wrong, and keeps the answer in memory
        gui.qtbot.waitUntil(lambda: bool(history_notices(gui)), timeout=WAIT)
        assert "locked" in history_notices(gui)[0]
        gui.qtbot.waitUntil(lambda: gui.history.wait(0), timeout=60_000)  # every write tried
        assert len(history_notices(gui)) == 1
        assert "Kept while locked." in gui.window.transcript_text()
        check_window(gui, caplog, tmp_path, "gui:history-locked", rss)
    finally:
        locker.stdin.close()
        locker.wait(10)
        locker.stdout.close()
    # WHEN the lock goes, THEN the answer reaches the database without anything else happening
    # (the history writes again every RETRY_MAX_MS at most, each try waiting out the busy lock)
    gui.qtbot.waitUntil(
        lambda: "Kept while locked." in saved_texts(gui.history_path), timeout=20_000
    )


@pytest.fixture
def small_disk(fresh_user_dirs) -> Iterator[Path]:
    """A 1 MB tmpfs over the data directory (root only)."""
    if os.getuid() != 0:
        pytest.skip("mounting a small disk needs root")
    folder = Path(fresh_user_dirs["XDG_DATA_HOME"]) / "desktop-vlm"
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", str(folder)],
        check=True,
        timeout=30,
    )
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False, timeout=30)


def fill(folder: Path) -> Path:
    """Fill the disk holding ``folder`` to the last byte; returns the filler file."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        for size in (65536, 4096, 512, 1):
            try:
                while os.write(fd, b"\0" * size):
                    pass
            except OSError:  # ENOSPC: on to smaller writes, down to the last byte
                continue
    finally:
        os.close(fd)
    return filler


def test_history_on_a_full_disk(qtbot, fake_api, small_disk, caplog, tmp_path, monkeypatch):
    monkeypatch.setattr(retry_module.random, "uniform", lambda a, b: 0.01)
    caplog.set_level(logging.INFO)
    config = replace(with_base_url(Config(), fake_api.url), max_retries=0)
    (tmp_path / "app.log").touch()
    gui = HostileWindow(qtbot, fake_api, config, CANARY, small_disk / "history.sqlite3")
    try:
        first_answer(gui, "Saved before the disk filled.")
        gui.history.wait(10_000)
        # GIVEN the disk then fills up
        filler = fill(small_disk)
        rss = start_case(gui)
        # WHEN an answer with a long text arrives
        long_answer = "Line of the answer that needs room. " * 2000
        fake_api.enqueue(Stream(long_answer.strip()))
        gui.type_question(QUESTION)
        gui.wait_text("Line of the answer")
        wait_done(gui)
        # THEN a notice says the disk is full, and the answer stays on screen and in memory
        gui.qtbot.waitUntil(lambda: bool(history_notices(gui)), timeout=WAIT)
        assert "full" in history_notices(gui)[0].lower()
        assert copy_answer(gui) == long_answer.strip()
        check_window(gui, caplog, tmp_path, "gui:history-disk-full", rss)
        # WHEN space is freed and the conversation goes on, THEN the answer reaches the database
        filler.unlink()
        fake_api.enqueue(Stream("Room again."))
        gui.type_question("Thanks")
        gui.wait_text("Room again.")
        gui.wait_idle()
        gui.qtbot.waitUntil(
            lambda: any(t.startswith("Line of the answer") for t in saved_texts(gui.history_path)),
            timeout=15_000,
        )
    finally:
        gui.close()


def corrupt_history(dirs: dict[str, str]) -> bytes:
    path = Path(dirs["XDG_DATA_HOME"]) / "desktop-vlm" / "history.sqlite3"
    path.parent.mkdir(parents=True, exist_ok=True)
    garbage = b"this is not a database\0" + os.urandom(8000)
    path.write_bytes(garbage)
    return garbage


@pytest.fixture
def read_only_data(fresh_user_dirs) -> Iterator[Path]:
    """The data directory, with a history in it, made read-only (a read-only bind mount as
    root, for whom file modes do not count)."""
    from desktop_vlm.services.history import HistoryStore

    folder = Path(fresh_user_dirs["XDG_DATA_HOME"]) / "desktop-vlm"
    HistoryStore(folder / "history.sqlite3").close()
    if os.getuid() == 0:
        subprocess.run(["mount", "--bind", str(folder), str(folder)], check=True, timeout=30)
        subprocess.run(["mount", "-o", "remount,ro,bind", str(folder)], check=True, timeout=30)
    else:
        folder.chmod(0o500)
    try:
        yield folder
    finally:
        if os.getuid() == 0:
            subprocess.run(["umount", "-l", str(folder)], check=False, timeout=30)
        else:
            folder.chmod(0o700)


def serve_clipboard(env: dict, picture: Path) -> subprocess.Popen:
    """xclip offering ``picture`` on the clipboard, in the foreground (-quiet) so that it can
    be ended by its own process id."""
    xclip = subprocess.Popen(
        ["xclip", "-quiet", "-selection", "clipboard", "-t", "image/png", "-i", str(picture)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    time.sleep(0.2)  # until it owns the selection
    return xclip


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(5)


def copy_image_and_ask(app: App, picture: Path, preset: str = "describe") -> None:
    xclip = serve_clipboard(app.env, picture)
    try:
        result = app.cli("clipboard", "--preset", preset)
        assert result.returncode == 0, result.stderr
        app.wait_log("request finished")
    finally:
        stop(xclip)


@pytest.mark.parametrize("condition", ["corrupt", "read-only", "full-disk"])
def test_unusable_history_when_the_app_starts(condition, request, fake_api, fresh_user_dirs, photo):
    # GIVEN a history database that cannot be used
    if condition == "corrupt":
        garbage = corrupt_history(fresh_user_dirs)
    elif condition == "read-only":
        request.getfixturevalue("read_only_data")
    else:
        fill(request.getfixturevalue("small_disk"))
    # WHEN the app starts and answers a request
    fake_api.default = Stream("Answered without a history.")
    app = start_app(fake_api, fresh_user_dirs, extra_env={"DESKTOP_VLM_API_KEY": CANARY})
    try:
        copy_image_and_ask(app, photo)
        check_app(app, fresh_user_dirs, f"app:history-{condition}-at-start")
        # THEN a notice says what is wrong with the history and what to do
        notices = [ln for ln in app.log_text().splitlines() if "notice:" in ln]
        assert any("histor" in ln.lower() for ln in notices), (
            "no notice about the history; the log says: "
            + " | ".join(ln for ln in app.log_text().splitlines() if "histor" in ln.lower())
        )
    finally:
        app.stop()
    if condition == "corrupt":  # the person's data is not overwritten either
        path = Path(fresh_user_dirs["XDG_DATA_HOME"]) / "desktop-vlm" / "history.sqlite3"
        assert path.read_bytes() == garbage


# --- config.toml that cannot be read as it is -------------------------------------------------

CONFIG_TEXT = 'default_preset = "describe"\n\n[network]\nread_timeout = 7\n'
TYPO_TEXT = 'default_preset = "describe"\n\n[network\nread_timeout = 7\n'


@pytest.fixture
def keys() -> Iterator:
    """The real keyring, under a service name no other test uses."""
    import uuid

    from desktop_vlm.core.errors import KeyringError
    from desktop_vlm.services.secrets import KeyStore

    store = KeyStore(service=f"desktop-vlm-hostile-{uuid.uuid4().hex[:8]}")
    yield store
    try:
        store.delete("hyperbolic")
    except KeyringError:
        pass


def settings_dialog(qtbot, keys, path: Path):  # noqa: ANN001, ANN201 - a SettingsDialog
    """The settings dialog wired as the app wires it: the file read for editing, and saved
    only if it did not change meanwhile."""
    from desktop_vlm.gui.settings import SettingsDialog
    from desktop_vlm.services.config_file import load_for_editing, save_config

    editable = load_for_editing(path)
    dialog = SettingsDialog(
        editable.config,
        keys,
        lambda config: save_config(config, path, editable.fingerprint),
        lambda url, key: [],
        None,
        unreadable=editable.problem,
        config_path=str(path),
        discover=lambda: [],
    )
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitExposed(dialog)
    qtbot.waitUntil(lambda: not dialog.busy, timeout=WAIT)
    return dialog


def press_ok(qtbot, dialog) -> None:  # noqa: ANN001
    qtbot.mouseClick(dialog.ok_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not dialog.busy, timeout=WAIT)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_config_with_a_bom_or_in_utf16_is_read(encoding, qtbot, keys, fresh_user_dirs, tmp_path):
    from desktop_vlm.services.settings import load_config

    path = write_config(fresh_user_dirs, CONFIG_TEXT.encode(encoding))
    # WHEN the command line reads it
    result = cli(tmp_path, "presets")
    # THEN it is read without a warning
    assert result.returncode == 0 and result.stderr == b"", result.stderr
    assert "* describe" in result.stdout.decode()
    # WHEN the settings dialog opens it and OK is pressed
    dialog = settings_dialog(qtbot, keys, path)
    assert dialog.unreadable_row.isHidden()
    press_ok(qtbot, dialog)
    # THEN it is saved, and says what it said
    assert not dialog.isVisible(), dialog.error_label.text()
    config = load_config(path).config
    assert config.default_preset == "describe" and config.read_timeout == 7


def test_config_with_a_typo_is_never_overwritten_by_settings(qtbot, keys, fresh_user_dirs):
    path = write_config(fresh_user_dirs, TYPO_TEXT)
    # WHEN the settings dialog opens a config.toml with one typo
    dialog = settings_dialog(qtbot, keys, path)
    # THEN it says it cannot read it and offers to open it
    assert not dialog.unreadable_row.isHidden()
    assert "not valid TOML" in dialog.unreadable.text() and str(path) in dialog.unreadable.text()
    assert not dialog.open_file.isHidden() and dialog.open_file.isEnabled()
    # AND OK (or Apply) leaves the file byte for byte as it was
    dialog.general.history_check.toggle()
    press_ok(qtbot, dialog)
    qtbot.mouseClick(dialog.apply_button, Qt.MouseButton.LeftButton)
    assert path.read_bytes() == TYPO_TEXT.encode()


def test_config_edited_by_hand_while_settings_is_open_survives(qtbot, keys, fresh_user_dirs):
    path = write_config(fresh_user_dirs, CONFIG_TEXT)
    dialog = settings_dialog(qtbot, keys, path)
    # GIVEN the person edits config.toml by hand while the dialog is open
    edited = CONFIG_TEXT + "\n# my own note\n[image]\njpeg_quality = 80\n"
    path.write_text(edited)
    # WHEN they change a setting in the dialog and press OK
    dialog.general.history_check.toggle()
    press_ok(qtbot, dialog)
    # THEN saving is refused with a message, and the hand edit is still there
    assert dialog.isVisible()
    assert "changed by another program" in dialog.error_label.text()
    assert path.read_text() == edited


# --- keys that cannot be sent ---------------------------------------------------------------

NON_LATIN1_KEY = "sk-ключ-" + "7f3a9c1e5b2d4f6a8c0e"
TWO_LINE_KEY = "sk-first-line-0123456789abcdef\nsk-second-line-0123456789abcdef"


def test_key_outside_latin1_in_the_environment_is_refused(fake_api, photo, tmp_path):
    env = {
        "DESKTOP_VLM_BASE_URL": "https://api.example.test/v1",
        "DESKTOP_VLM_API_KEY": NON_LATIN1_KEY,
    }
    for args in (["ask", str(photo), "--model", "m"], ["models"]):
        result = cli(tmp_path, *args, env=env)
        # THEN one clear line, exit 2 or 6 (never 1), and not the key
        assert result.returncode in (ExitCode.USAGE, ExitCode.KEYRING), result.stderr
        line = one_line_error(result)
        assert "DESKTOP_VLM_API_KEY" in line and "ASCII" in line, line
        assert NON_LATIN1_KEY.encode() not in result.stdout + result.stderr


def test_key_outside_latin1_at_key_set_is_refused(tmp_path):
    result = cli(tmp_path, "key", "set", stdin=(NON_LATIN1_KEY + "\n").encode())
    assert result.returncode in (ExitCode.USAGE, ExitCode.KEYRING), result.stderr
    line = one_line_error(result)
    assert "ASCII" in line, line
    assert NON_LATIN1_KEY.encode() not in result.stdout + result.stderr
    status = cli(tmp_path, "key", "status")
    assert status.returncode == ExitCode.KEY_MISSING  # nothing was stored


def test_two_line_key_pasted_in_settings_is_refused(qtbot, keys, fresh_user_dirs):
    from desktop_vlm.services import paths

    path = paths.config_file()
    dialog = settings_dialog(qtbot, keys, path)
    profile = dialog.provider.selected_profile()
    # WHEN a person pastes two lines into the key field and presses OK
    QGuiApplication.clipboard().setText(TWO_LINE_KEY)
    field = dialog.provider.api_key
    field.setFocus()
    qtbot.keyClick(field, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
    assert field.text()
    press_ok(qtbot, dialog)
    # THEN the dialog stays open and says why, and nothing is stored anywhere
    assert dialog.isVisible()
    assert "line" in dialog.error_label.text().lower(), dialog.error_label.text()
    assert keys.get(profile) is None
    assert not path.exists()
    for piece in TWO_LINE_KEY.split("\n"):
        assert piece not in dialog.error_label.text()


# --- proxies and private certificate authorities ----------------------------------------------


@dataclass(frozen=True)
class NetCase:
    """How the TLS test server is reached, and what must come of it."""

    #: Where the private CA is given: "env" (SSL_CERT_FILE), "config" (ca_bundle) or nowhere.
    ca: str | None = "env"
    host: str = "127.0.0.1"
    proxy: bool = False
    no_proxy: str = ""
    userinfo: str = ""
    code: ExitCode = ExitCode.OK
    words: str = ""
    #: Tunnels the proxy must have opened.
    tunnels: int = 0


PASSWORD = "hunter2-Zq9-pw"
NET_CASES = {
    "private-ca-from-SSL_CERT_FILE": NetCase(ca="env"),
    "private-ca-from-config-ca_bundle": NetCase(ca="config"),
    "private-ca-not-given": NetCase(ca=None, code=ExitCode.NETWORK, words="TLS certificate"),
    "through-HTTPS_PROXY": NetCase(proxy=True, host="vlm.test", tunnels=1),
    "NO_PROXY-bypasses-the-proxy": NetCase(
        proxy=True,
        host="vlm.test",
        no_proxy="vlm.test",
        code=ExitCode.NETWORK,
        words="could not be resolved",
    ),
    "loopback-bypasses-the-proxy": NetCase(proxy=True),
    "password-in-base-url": NetCase(
        userinfo=f"alice:{PASSWORD}@", code=ExitCode.CONFIG, words="user name or password"
    ),
}


@pytest.fixture(scope="module")
def certificates(tmp_path_factory):  # noqa: ANN201 - support.hostile_net.Certificates
    from support.hostile_net import PROXIED_HOST, make_certificates

    return make_certificates(tmp_path_factory.mktemp("tls"), ("127.0.0.1", PROXIED_HOST))


@pytest.fixture
def network(certificates) -> Iterator[tuple]:
    """The TLS test server and a CONNECT proxy that tunnels every host to it."""
    from support.hostile_net import ConnectProxy, TLSFakeAPI

    with TLSFakeAPI(certificates) as server, ConnectProxy(("127.0.0.1", server.port)) as proxy:
        server.default = Stream("Answered over TLS.")
        yield server, proxy


def net_setup(case: NetCase, server, proxy, certificates) -> tuple[str, dict, str]:  # noqa: ANN001
    """(base URL, environment, config.toml text) for ``case``."""
    url = f"https://{case.userinfo}{case.host}:{server.port}/v1"
    env = {}
    if case.ca == "env":
        env["SSL_CERT_FILE"] = str(certificates.ca)
    if case.proxy:
        env["HTTPS_PROXY"] = proxy.url
    if case.no_proxy:
        env["NO_PROXY"] = case.no_proxy
    bundle = f'ca_bundle = "{certificates.ca}"\n' if case.ca == "config" else ""
    return url, env, network_config(extra=bundle)


@pytest.mark.parametrize("case_id", list(NET_CASES))
def test_proxies_and_private_cas_on_the_command_line(
    case_id, network, certificates, fresh_user_dirs, photo, tmp_path
):
    case = NET_CASES[case_id]
    server, proxy = network
    url, env, config = net_setup(case, server, proxy, certificates)
    write_config(fresh_user_dirs, config)
    result = cli(
        tmp_path,
        "ask",
        str(photo),
        "--model",
        "m",
        env={**env, "DESKTOP_VLM_BASE_URL": url, "DESKTOP_VLM_API_KEY": CANARY},
    )
    assert PASSWORD.encode() not in result.stdout + result.stderr, result.stderr.decode()
    assert result.returncode == case.code, result.stderr.decode()
    if case.code == ExitCode.OK:
        assert result.stdout.decode() == "Answered over TLS.\n"
        assert chat_requests(server)[-1].bearer == CANARY
    else:
        line = one_line_error(result)
        assert case.words in line, line
        assert chat_requests(server) == []
    assert len(proxy.tunnels) == case.tunnels, proxy.tunnels
    assert_no_key(b"".join(proxy.heads), "what the proxy saw")
    assert_no_key(result.stdout + result.stderr, "the output")
    record(f"cli:{case_id}", cli_peak_mb=round(result.peak_mb, 1))


@pytest.mark.parametrize("case_id", list(NET_CASES))
def test_proxies_and_private_cas_in_the_chat_window(
    case_id, qtbot, network, certificates, monkeypatch, caplog, tmp_path
):
    case = NET_CASES[case_id]
    server, proxy = network
    url, env, _config = net_setup(case, server, proxy, certificates)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    caplog.set_level(logging.INFO)
    (tmp_path / "app.log").touch()
    config = replace(
        with_base_url(Config(), url),
        max_retries=0,
        ca_bundle=str(certificates.ca) if case.ca == "config" else "",
    )
    gui = HostileWindow(qtbot, server, config, CANARY, tmp_path / "history.sqlite3")
    try:
        rss = start_case(gui)
        gui.ask()
        wait_done(gui)
        text = gui.window.transcript_text()
        if case.code == ExitCode.OK:
            assert "Answered over TLS." in text
        else:
            assert case.words in text, text[-800:]
        # (the window lists the models first: each request may open a tunnel of its own)
        if case.tunnels:
            assert proxy.tunnels and {t.split(":")[0] for t in proxy.tunnels} == {case.host}
        else:
            assert proxy.tunnels == []
        assert_no_key(b"".join(proxy.heads), "what the proxy saw")
        assert PASSWORD not in gui.seen()
        check_window(gui, caplog, tmp_path, f"gui:{case_id}", rss)
    finally:
        gui.close()


# --- the app's runtime directory, tampered with -----------------------------------------------


@pytest.mark.parametrize("args", [[], ["capture"]], ids=["desktop-vlm", "desktop-vlm-capture"])
@pytest.mark.parametrize("tamper", ["symlink", "not-owned"])
def test_tampered_runtime_dir_is_refused(tamper, args, fresh_user_dirs, tmp_path):
    runtime = Path(fresh_user_dirs["XDG_RUNTIME_DIR"]) / "desktop-vlm"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir(mode=0o700)
    # GIVEN the app's runtime directory is a symlink, or belongs to someone else
    if tamper == "symlink":
        runtime.symlink_to(elsewhere)
    else:
        if os.getuid() != 0:
            pytest.skip("giving a directory to another user needs root")
        runtime.mkdir(mode=0o700)
        os.chown(runtime, 65534, 65534)
    # WHEN the app or a capture is started
    result = cli(tmp_path, *args, timeout=60)
    # THEN one line says so, it exits non-zero, and nothing was put there
    assert result.returncode == ExitCode.APP, result.stderr
    line = one_line_error(result)
    assert str(runtime) in line, line
    assert list(elsewhere.iterdir()) == [] and (tamper == "symlink" or not any(runtime.iterdir()))


# --- command floods and a busy app ------------------------------------------------------------

NOTE_PRESET = (
    '\n[presets.note]\ntitle = "Note"\nprompt = "Describe it in one line."\nactions = ["notify"]\n'
)


@pytest.fixture(scope="module")
def shared_app(tmp_path_factory) -> Iterator[tuple[App, FakeAPI, dict[str, str]]]:
    """One tray app (with its own server and user directories) for the flood and memory cases."""
    dirs = desktop.user_dirs(tmp_path_factory.mktemp("shared-app") / "user")
    write_config(dirs, network_config() + NOTE_PRESET)
    with FakeAPI() as api:
        app = start_app(api, dirs, extra_env={"DESKTOP_VLM_API_KEY": CANARY})
        try:
            yield app, api, dirs
        finally:
            app.stop()
    assert not api.errors, api.errors


def check_app(app: App, dirs: dict[str, str], case: str) -> None:
    """The tray app still runs, wrote no traceback (log or stderr), kept the key out of its
    log and files, and stayed under the memory bound."""
    stderr = (Path(dirs["XDG_STATE_HOME"]) / "app-stderr.txt").read_text(errors="replace")
    assert app.proc.poll() is None, stderr[-1500:]
    assert "Traceback" not in app.log_text() and "Traceback" not in stderr, stderr[-1500:]
    assert_no_key(app.log_text(), "the app's log")
    assert_no_key(user_files(dirs), "the app's files")
    peak = lifetime_peak_mb(app.proc.pid)
    assert peak < PEAK_MB, f"the app's peak RSS is {peak:.0f} MB"
    record(case, app_peak_mb=round(peak, 1))


def stored_conversations(dirs: dict[str, str]) -> int:
    path = Path(dirs["XDG_DATA_HOME"]) / "desktop-vlm" / "history.sqlite3"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as db:
        return db.execute("SELECT count(*) FROM conversations").fetchone()[0]


def test_twenty_clipboard_commands_send_one_request(shared_app, tmp_path):
    app, api, dirs = shared_app
    picture = tmp_path / "same.png"
    Image.effect_noise((200, 150), 60).convert("RGB").save(picture)
    requests_before, conversations_before = len(chat_requests(api)), stored_conversations(dirs)
    finished_before = app.log_text().count("request finished")
    # GIVEN a model that takes its time (held until the presses are over)
    api.default = Stream("One answer for twenty presses.", pause_after=0)
    xclip = serve_clipboard(app.env, picture)
    try:
        # WHEN the clipboard shortcut is pressed 20 times in a row with the same image
        for _ in range(20):
            result = app.cli("clipboard", "--preset", "describe")
            assert result.returncode == 0, result.stderr
        wait_until(lambda: app.log_text().count("received clipboard") >= 20, what="20 commands")
        wait_until(
            lambda: (
                len(chat_requests(api))
                - requests_before
                + app.log_text().count("is running already")
                >= 20
            ),
            timeout=30,
            what="every press handled",
        )
        api.release()
        wait_until(
            lambda: app.log_text().count("request finished") > finished_before, what="the answer"
        )
    finally:
        api.release()
        api.default = Stream("Hello from the fake server.")
        stop(xclip)
    # THEN one request went out and one conversation was kept
    assert len(chat_requests(api)) - requests_before == 1
    assert stored_conversations(dirs) - conversations_before == 1
    check_app(app, dirs, "app:20-clipboard-commands")


def test_unknown_preset_sent_to_the_running_app(shared_app):
    app, _api, dirs = shared_app
    result = app.cli("capture", "--preset", "nosuchpreset")
    assert result.returncode == ExitCode.USAGE, result.stderr
    line = one_line_error(result)
    assert "nosuchpreset" in line, line
    assert not window_visible(app.env, "region capture")
    check_app(app, dirs, "app:unknown-preset")


@pytest.mark.parametrize("busy_s", [2, 6], ids=["busy-2s", "busy-longer-than-the-client-waits"])
def test_busy_app_acts_on_a_clipboard_command_once(busy_s, qtbot, fresh_user_dirs):
    from desktop_vlm.platform.instance_server import InstanceServer

    # GIVEN the app's instance socket, served by this process's event loop
    server = InstanceServer()
    server.start()
    received: list[str] = []
    server.command_received.connect(lambda command, preset, handler: received.append(command))
    try:
        # WHEN `desktop-vlm clipboard` arrives while the event loop is blocked
        proc = subprocess.Popen(
            [sys.executable, "-m", "desktop_vlm", "clipboard"],
            env=dict(os.environ),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        time.sleep(busy_s)  # the GUI thread is busy: nothing of Qt's loop runs meanwhile
        qtbot.waitUntil(lambda: proc.poll() is not None, timeout=30_000)
        qtbot.wait(1500)  # anything sent again would have arrived by now
        out, err = proc.communicate()
        # THEN the command line was satisfied once, and the app acts once
        assert proc.returncode == 0, err
        assert b"Traceback" not in out + err
        assert received == ["clipboard"]
    finally:
        server.stop()


# --- memory over many captures ----------------------------------------------------------------

PATTERN_SCRIPT = Path(__file__).resolve().parents[1] / "support" / "overlay_pattern.py"


def settled_rss_mb(pid: int, timeout: float = 8.0) -> float:
    """The app's resident memory once the work a finished answer leaves behind (the history
    save, the image kept for a closer look, freed buffers) is done: the same to 1 MB over 0.5 s."""
    deadline = time.monotonic() + timeout
    last = rss_mb(pid)
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = rss_mb(pid)
        if abs(now - last) < 1:
            return now
        last = now
    return last


def capture_in_a_row(app: App, preset: str, count: int, on_each=None) -> None:  # noqa: ANN001
    """``count`` captures of the same region with ``preset``, each waited for to its answer."""
    finished = app.log_text().count("request finished")
    for number in range(1, count + 1):
        assert app.cli("capture", "--preset", preset).returncode == 0
        wait_until(lambda: window_visible(app.env, "region capture"), what="the overlay")
        answered = lambda n=number: app.log_text().count("request finished") >= finished + n  # noqa: E731
        for _attempt in range(3):
            app.drag(100, 100, 1099, 749)
            try:
                wait_until(answered, timeout=5, what=f"the answer to capture {number}")
                break
            except AssertionError:
                # xdotool can press before the overlay takes the pointer: drag again
                if not window_visible(app.env, "region capture"):
                    raise
        if not answered():
            stderr = (app.log.parents[2] / "app-stderr.txt").read_text(errors="replace")
            raise AssertionError(
                f"capture {number} was never answered; the app's stderr: {stderr[-1200:]}"
            )
        if on_each is not None:
            on_each(number)


@pytest.fixture
def noisy_screen(shared_app, tmp_path) -> Iterator[None]:
    """A screen full of detail (incompressible noise) where the captures are made."""
    app = shared_app[0]
    pattern = subprocess.Popen(
        [
            sys.executable,
            str(PATTERN_SCRIPT),
            "60",
            "60",
            "1100",
            "750",
            "11",
            str(tmp_path / "pattern.png"),
        ],
        env=app.env,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert pattern.stdout.readline().strip() == b"READY"
        yield
    finally:
        stop(pattern)
        pattern.stdout.close()


def test_thirty_captures_do_not_grow_the_app_without_bound(shared_app, noisy_screen):
    app, _api, dirs = shared_app
    rss: dict[int, float] = {}

    def measure(number: int) -> None:
        if number in (5, 30):
            rss[number] = settled_rss_mb(app.proc.pid)

    # WHEN 1000 x 650 pixels of noise are captured 30 times in a row, each opening the window
    capture_in_a_row(app, "describe", 30, measure)
    # THEN the app's memory after 30 is about what it was after 5
    growth = rss[30] - rss[5]
    record("app:30-captures", rss_after_5_mb=round(rss[5], 1), rss_after_30_mb=round(rss[30], 1))
    assert rss[30] < PEAK_MB, f"{rss[30]:.0f} MB after 30 captures"
    assert growth < 30, f"RSS grew {growth:.0f} MB from 5 to 30 captures ({rss})"
    check_app(app, dirs, "app:30-captures")


def test_quick_captures_in_a_row_are_all_answered(shared_app, noisy_screen):
    app, _api, dirs = shared_app
    # WHEN a preset that only notifies (a small card near the region) is captured 12 times
    capture_in_a_row(app, "note", 12)
    # THEN every capture was answered, and nothing went wrong inside the app
    check_app(app, dirs, "app:12-quick-captures")


def test_past_conversations_leave_memory_and_return_from_history(gui, fake_api):
    ids = []
    # GIVEN six conversations, one after the other
    for number in range(6):
        first_answer(gui, f"Answer number {number}.")
        ids.append(gui.window.conversation_id)
    # THEN the oldest ones (and their images) are no longer held in memory
    assert gui.session.find(ids[0]) is None
    # WHEN the first one is opened again, THEN it comes back from the history, image and all
    gui.controller.show_conversation(ids[0])
    gui.qtbot.waitUntil(lambda: gui.window.conversation_id == ids[0], timeout=WAIT)
    gui.wait_text("Answer number 0.")
    assert gui.window.conversation.image.data
