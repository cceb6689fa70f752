"""Text from a server or a model: surrogate halves joined across pieces, nothing that can steer a
terminal, and one-line server messages. Each test feeds what a hostile or sloppy server sends."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_vlm.core.text import (
    MAX_SEQUENCE_CHARS,
    JoinedText,
    TerminalFilter,
    clean_text,
    one_line,
    terminal_safe,
)

GRINNING = "\U0001f600"  # 😀, which UTF-16 writes as the pair \ud83d \ude00


def _reference_clean(text: str) -> str:
    """What clean_text must do, written the slow and obvious way."""
    out, i = [], 0
    while i < len(text):
        char = text[i]
        nxt = text[i + 1] if i + 1 < len(text) else ""
        if "\ud800" <= char <= "\udbff" and "\udc00" <= nxt <= "\udfff":
            out.append(chr(0x10000 + ((ord(char) - 0xD800) << 10) + (ord(nxt) - 0xDC00)))
            i += 2
            continue
        out.append("\ufffd" if "\ud800" <= char <= "\udfff" else char)
        i += 1
    return "".join(out)


def _split(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


# Text rich in what goes wrong: surrogate halves, astral characters, controls, escapes.
_SURROGATE = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
_TRICKY = st.sampled_from(
    ["\x1b", "[", "]", "P", "_", "^", "X", "\\", "\x07", "\x9c", "\x9b", "\x9d", "\x18", "0",
     "3", "1", ";", "m", "c", "(", "B", "\r", "\n", "\t", "\x00", "\x7f", "\x85", "\u202e",
     "\u2067", "a", "é", GRINNING, "\ud83d", "\ude00"]
)  # fmt: skip
_ANY_CHAR = st.one_of(st.characters(), _SURROGATE, _TRICKY)
_HOSTILE_TEXT = st.text(alphabet=_ANY_CHAR, max_size=60)


# --- surrogates ----------------------------------------------------------------------------


def test_a_pair_split_across_two_json_chunks_becomes_one_character() -> None:
    # GIVEN a server that wrote the emoji as a UTF-16 pair and cut the stream between its halves
    chunks = ['{"content": "Smile \\ud83d"}', '{"content": "\\ude00!"}']
    pieces = [json.loads(chunk)["content"] for chunk in chunks]
    assert pieces == ["Smile \ud83d", "\ude00!"]  # what Python's json really gives
    # WHEN the pieces are joined as they arrive
    joiner = JoinedText()
    shown = [joiner.add(piece) for piece in pieces] + [joiner.finish()]
    # THEN the person sees the emoji, and the text can be saved and copied
    assert "".join(shown) == f"Smile {GRINNING}!"
    assert joiner.text == f"Smile {GRINNING}!"
    joiner.text.encode("utf-8")
    # AND nothing was shown before it was whole: the half waited for the next piece
    assert shown[0] == "Smile "


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("\ud83d\ude00", GRINNING),
        ("a\ud83d", "a\ufffd"),  # a high half at the end of the whole text
        ("\ude00a", "\ufffda"),  # a low half with nothing before it
        ("\ude00\ud83d", "\ufffd\ufffd"),  # the halves in the wrong order
        ("\ud83d\ud83d\ude00", f"\ufffd{GRINNING}"),
        ("plain ascii", "plain ascii"),
        ("Grüße 日本 😀", "Grüße 日本 😀"),
    ],
)
def test_clean_text_joins_pairs_and_replaces_lone_halves(raw: str, clean: str) -> None:
    assert clean_text(raw) == clean
    clean_text(raw).encode("utf-8")


def test_a_half_pair_that_never_finds_its_other_half_is_shown_as_a_replacement() -> None:
    joiner = JoinedText()
    assert joiner.add("end\ud83d") == "end"
    assert joiner.add("") == ""  # an empty piece keeps the half waiting
    assert joiner.add("x") == "\ufffdx"
    assert joiner.add("\ud83d") == ""
    assert joiner.finish() == "\ufffd"
    assert joiner.text == "end\ufffdx\ufffd"


@settings(max_examples=500, deadline=None)
@given(text=st.text(alphabet=_ANY_CHAR, max_size=40), cuts=st.lists(st.integers(0, 99)))
def test_any_split_of_any_text_joins_to_the_clean_whole(text: str, cuts: list[int]) -> None:
    # GIVEN any text, lone surrogates included, cut anywhere (also between a pair's halves)
    joiner = JoinedText()
    # WHEN its pieces are joined as they arrive
    shown = [joiner.add(piece) for piece in _split(text, cuts)] + [joiner.finish()]
    # THEN every piece that came out encodes as UTF-8
    for piece in shown:
        piece.encode("utf-8")
    # AND together they are the whole text, repaired as a whole
    assert "".join(shown) == clean_text(text) == _reference_clean(text)


# --- terminal safety -----------------------------------------------------------------------

ATTACKS = {
    "colours": ("\x1b[1;31mred\x1b[0m", "red"),
    "clear screen and home": ("\x1b[2J\x1b[Hhello", "hello"),
    "private mode CSI": ("\x1b[?1049hx\x1b[?25l", "x"),
    "OSC 52 clipboard, BEL": ("a\x1b]52;c;Y3VybCBldmlsLnNoIHwgc2g=\x07b", "ab"),
    "OSC 52 clipboard, ST": ("a\x1b]52;c;Y3VybA==\x1b\\b", "ab"),
    "OSC 8 hyperlink": ("\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\", "click"),
    "window title": ("\x1b]0;sudo rm -rf\x07ok", "ok"),
    "DCS": ("a\x1bP1$qm\x1b\\b", "ab"),
    "APC, PM, SOS": ("\x1b_apc\x1b\\1\x1b^pm\x1b\\2\x1bXsos\x1b\\3", "123"),
    "8-bit CSI": ("\x9b31mred", "red"),
    "8-bit OSC and ST": ("a\x9d52;c;Zm9v\x9cb", "ab"),
    "C1 controls": ("a\x80\x85\x8d\x92b", "ab"),
    "8-bit APC swallows to its ST": ("a\x9fhidden\x9cb", "ab"),
    "reset and charset": ("\x1bc\x1b(0\x1b)Bok\x1b7\x1b8", "ok"),
    "carriage return overwrite": ("rm -rf /\rls -l", "rm -rf /ls -l"),
    "CRLF keeps the line feed": ("one\r\ntwo", "one\ntwo"),
    "backspace, bell, NUL, DEL": ("a\x08\x07\x00\x7fb\x0b\x0c", "ab"),
    "bidi override (trojan source)": ("if admin\u202e } \u2066x\u2069\u202a\u202c", "if admin } x"),
    "CAN aborts a sequence": ("\x1b[31\x18ok", "ok"),
    "string cut by a new ESC": ("\x1b]0;title\x1b[31mred", "red"),
}


@pytest.mark.parametrize("name", ATTACKS)
def test_terminal_safe_removes_what_steers_a_terminal(name: str) -> None:
    raw, shown = ATTACKS[name]
    assert terminal_safe(raw) == shown


def test_ordinary_text_is_left_alone() -> None:
    text = "Total: 12,50 €\n\tcafé 日本語 عربى 👩‍👩‍👧 e\u0301 «quotes» ‹›\u00a0x"
    assert terminal_safe(text) == text
    assert terminal_safe("") == ""


def test_a_sequence_split_across_pieces_is_held_as_state_and_dropped_whole() -> None:
    # GIVEN a colour sequence and a clipboard write, each cut between two streamed pieces
    terminal = TerminalFilter()
    # WHEN the pieces arrive
    out = [
        terminal.feed("The answer \x1b["),
        terminal.feed("31mis"),
        terminal.feed(" 42\x1b]5"),
        terminal.feed("2;c;ZXZpbA=="),
        terminal.feed("\x1b"),
        terminal.feed("\\."),
        terminal.finish(),
    ]
    # THEN the text before each sequence comes out at once and nothing of the sequences does
    assert out == ["The answer ", "is", " 42", "", "", ".", ""]


def test_an_endless_sequence_is_given_up_after_the_bound_and_the_text_after_it_shows() -> None:
    # GIVEN an OSC that is never terminated, followed by more answer text, streamed in pieces
    body = "\x1b]52;c;" + "A" * (MAX_SEQUENCE_CHARS - 7)  # exactly the bound
    terminal = TerminalFilter()
    out = "".join(terminal.feed(body[i : i + 100]) for i in range(0, len(body), 100))
    # THEN the sequence is dropped up to the bound
    assert out == ""
    # AND what follows it is shown, not swallowed by a sequence that never ends
    assert terminal.feed("visible") == "visible"


def test_an_unfinished_sequence_at_the_end_is_dropped_and_the_filter_starts_fresh() -> None:
    terminal = TerminalFilter()
    assert terminal.feed("ok\x1b]0;half a title") == "ok"
    assert terminal.finish() == ""
    assert terminal.feed("next answer") == "next answer"


_FORBIDDEN = {chr(c) for c in [*range(0x00, 0x09), *range(0x0B, 0x20), *range(0x7F, 0xA0)]}
_FORBIDDEN |= set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@settings(max_examples=500, deadline=None)
@given(text=_HOSTILE_TEXT, cuts=st.lists(st.integers(0, 99), max_size=8))
def test_nothing_that_steers_a_terminal_survives_in_any_chunking(text: str, cuts: list[int]):
    # GIVEN any text, cut into any pieces
    terminal = TerminalFilter(max_sequence_chars=8)  # small, so the bound is exercised too
    # WHEN it is filtered as it streams
    streamed = "".join(terminal.feed(piece) for piece in _split(text, cuts)) + terminal.finish()
    # THEN no control character, escape or bidi override is left, and it encodes as UTF-8
    assert not _FORBIDDEN & set(streamed)
    streamed.encode("utf-8")
    # AND the chunking made no difference
    whole = TerminalFilter(max_sequence_chars=8)
    assert streamed == whole.feed(text) + whole.finish()


@settings(max_examples=200, deadline=None)
@given(
    text=st.text(
        alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters=sorted(_FORBIDDEN))
    )
)
def test_text_without_controls_passes_unchanged(text: str) -> None:
    assert terminal_safe(text) == text


# --- one line ------------------------------------------------------------------------------


def test_one_line_flattens_a_server_message_for_a_notice() -> None:
    # GIVEN a multi-line error body with indentation, a colour code and a carriage return
    message = "  Invalid request:\n\n\t\x1b[31mmodel\x1b[0m  not found\r\n  (see docs)  "
    # THEN it is one tidy line
    assert one_line(message, 100) == "Invalid request: model not found (see docs)"


def test_one_line_cuts_at_the_limit_with_an_ellipsis() -> None:
    text = "word " * 100
    line = one_line(text, 24)
    assert len(line) <= 24
    assert line == "word word word word wor…"
    assert one_line("short", 5) == "short"
    assert one_line("longer", 1) == "…"
    with pytest.raises(ValueError):
        one_line("x", 0)


@settings(max_examples=300, deadline=None)
@given(text=_HOSTILE_TEXT, limit=st.integers(1, 30))
def test_one_line_is_always_one_safe_line_within_the_limit(text: str, limit: int) -> None:
    line = one_line(text, limit)
    assert len(line) <= limit
    assert "\n" not in line and "\t" not in line and line == line.strip()
    assert not _FORBIDDEN & set(line)
    line.encode("utf-8")
