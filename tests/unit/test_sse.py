"""The Server-Sent Events decoder, fed the way a network delivers bytes: whole, in two pieces
split anywhere, one byte at a time, and at random."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_vlm.core.errors import ProtocolError
from desktop_vlm.core.sse import ServerSentEvent, SSEDecoder

# A stream with every feature: comments, multi-line data, fields, unknown fields, multi-byte
# characters (2, 3 and 4 bytes) and a keep-alive comment between events. Written with LF and
# converted to the other line endings below.
STREAM = (
    ": connected\n"
    "\n"
    'data: {"choices":[{"delta":{"content":"Grüße € 😀"}}]}\n'
    "\n"
    "event: update\n"
    "id: 7\n"
    "retry: 1500\n"
    "data: first line\n"
    ": a comment between data lines\n"
    "data:second line, no space after the colon\n"
    "data:  two spaces keep one\n"
    "unknown: ignored\n"
    "dataX: not data\n"
    "\n"
    ": keep-alive\n"
    "data: [DONE]\n"
    "\n"
)
EXPECTED = [
    ServerSentEvent(data='{"choices":[{"delta":{"content":"Grüße € 😀"}}]}'),
    ServerSentEvent(
        data="first line\nsecond line, no space after the colon\n two spaces keep one",
        event="update",
        id="7",
        retry=1500,
    ),
    # The id persists (it is the stream's "last event ID"); event type and retry do not.
    ServerSentEvent(data="[DONE]", id="7"),
]
ENDINGS = {"LF": "\n", "CRLF": "\r\n", "CR": "\r"}


def encoded(ending: str) -> bytes:
    return STREAM.replace("\n", ENDINGS[ending]).encode("utf-8")


def decode(pieces: list[bytes]) -> tuple[list[ServerSentEvent], SSEDecoder]:
    decoder = SSEDecoder()
    events: list[ServerSentEvent] = []
    for piece in pieces:
        events += decoder.feed(piece)
    return events, decoder


@pytest.mark.parametrize("ending", ENDINGS)
def test_a_whole_stream_decodes_to_its_events(ending: str) -> None:
    # GIVEN the whole stream in one piece
    # WHEN it is decoded
    events, decoder = decode([encoded(ending)])
    # THEN every event comes out once, with its fields, and nothing is left over
    assert events == EXPECTED
    assert not decoder.incomplete()


@pytest.mark.parametrize("ending", ENDINGS)
def test_every_split_into_two_pieces_gives_the_same_events(ending: str) -> None:
    data = encoded(ending)
    for cut in range(len(data) + 1):
        # GIVEN the stream cut at byte ``cut`` (inside CRLFs and multi-byte characters too)
        events, decoder = decode([data[:cut], data[cut:]])
        # THEN the events are exactly those of the whole stream
        assert events == EXPECTED, f"cut at byte {cut}: {data[:cut][-12:]!r} | {data[cut:][:12]!r}"
        assert not decoder.incomplete()


@pytest.mark.parametrize("ending", ENDINGS)
def test_one_byte_at_a_time_gives_the_same_events(ending: str) -> None:
    data = encoded(ending)
    events, decoder = decode([data[i : i + 1] for i in range(len(data))])
    assert events == EXPECTED
    assert not decoder.incomplete()


def test_crlf_split_across_pieces_is_one_line_end_not_an_empty_line() -> None:
    # GIVEN two data lines of one event, the first ending in a CRLF whose CR ends one piece
    # and whose LF starts the next
    decoder = SSEDecoder()
    first = decoder.feed(b"data: a\r")
    second = decoder.feed(b"\ndata: b\r\n")
    # THEN the LF did not count as an empty line (which would dispatch "a" on its own)
    assert first == [] and second == []
    assert decoder.incomplete()
    # AND the blank line dispatches one event with both lines
    assert decoder.feed(b"\r\n") == [ServerSentEvent(data="a\nb")]


def test_an_empty_read_between_cr_and_lf_does_not_break_the_pair() -> None:
    # GIVEN a network read that returned no bytes between the CR and the LF of one line end
    events, _ = decode([b"data: a\r", b"", b"\ndata: b\r\n", b"\r\n"])
    # THEN it is still one line end
    assert events == [ServerSentEvent(data="a\nb")]


def test_cr_at_the_end_of_a_piece_then_a_real_line_is_a_line_end() -> None:
    # A lone CR is a line end by itself: the line before it is complete even though the
    # decoder cannot know yet whether an LF follows.
    events, _ = decode([b"data: a\r", b"\r", b"data: b\r\r"])
    assert events == [ServerSentEvent(data="a"), ServerSentEvent(data="b")]


def test_comment_lines_produce_nothing() -> None:
    events, decoder = decode([b": keep-alive\n\n:\n\n: another\r\n\r\n"])
    assert events == []
    assert not decoder.incomplete()


def test_data_without_a_space_after_the_colon() -> None:
    events, _ = decode([b"data:{}\n\n"])
    assert events == [ServerSentEvent(data="{}")]


def test_unknown_fields_and_lines_without_colon_are_ignored() -> None:
    events, _ = decode([b"foo: bar\nbaz\ndata: x\nDATA: y\nid\x00: 3\n\n"])
    assert events == [ServerSentEvent(data="x")]


def test_event_type_id_and_retry() -> None:
    events, _ = decode(
        [
            b"event: ping\nid: abc\nretry: 3000\ndata: 1\n\n",
            b"data: 2\n\n",
            b"id: \ndata: 3\n\n",
            b"id: x\x00y\nretry: soon\ndata: 4\n\n",
        ]
    )
    assert events == [
        ServerSentEvent(data="1", event="ping", id="abc", retry=3000),
        ServerSentEvent(data="2", id="abc"),  # the last event ID persists
        ServerSentEvent(data="3", id=""),  # an empty id field resets it
        ServerSentEvent(data="4", id=""),  # an id with NUL and a non-numeric retry are ignored
    ]


def test_retry_with_non_ascii_digits_is_ignored_not_a_crash() -> None:
    # "²".isdigit() is True in Python, but int("²") raises: a hostile server must not crash us.
    events, _ = decode(["retry: ²\nretry: ٣\ndata: x\n\n".encode()])
    assert events == [ServerSentEvent(data="x")]


def test_event_without_data_is_not_dispatched_and_does_not_leak_into_the_next() -> None:
    events, _ = decode([b"event: lonely\n\ndata: x\n\n"])
    assert events == [ServerSentEvent(data="x", event="")]


@pytest.mark.parametrize("text", ["é", "€", "😀", "日本語テキスト"])
def test_multibyte_character_split_across_pieces_is_decoded_whole(text: str) -> None:
    data = f"data: {text}\n\n".encode()
    for cut in range(len(data) + 1):
        events, _ = decode([data[:cut], data[cut:]])
        assert events == [ServerSentEvent(data=text)], f"cut at byte {cut}"


def test_invalid_utf8_is_replaced_not_raised() -> None:
    events, _ = decode([b"data: \xff\xfe ok\n\n"])
    assert events == [ServerSentEvent(data="\ufffd\ufffd ok")]


@pytest.mark.parametrize(
    ("stream", "incomplete"),
    [
        (b"", False),
        (b"data: partial", True),  # bytes of an unfinished line
        (b"data: whole line\n", True),  # a field, but no blank line yet
        (b"data: whole line\r", True),
        (b"data: done\n\n", False),
        (b"data: done\r\n\r\n", False),
        (b": comment\n", False),
        (b"data: done\n\n: keep-alive\n", False),
        (b"data: done\n\nevent: next\n", True),
    ],
)
def test_incomplete_says_whether_the_stream_ended_inside_an_event(
    stream: bytes, incomplete: bool
) -> None:
    _, decoder = decode([stream])
    assert decoder.incomplete() is incomplete


# --- property: any events, any line endings, any split points ----------------------------

_LINE_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
    max_size=12,
)


@st.composite
def _events(draw: st.DrawFn) -> list[dict]:
    events = []
    for _ in range(draw(st.integers(0, 5))):
        lines = draw(st.lists(_LINE_TEXT, min_size=1, max_size=3).filter(lambda v: "\n".join(v)))
        events.append(
            {
                "data": lines,
                "event": draw(st.one_of(st.none(), _LINE_TEXT)),
                "id": draw(st.one_of(st.none(), _LINE_TEXT.filter(lambda v: "\0" not in v))),
                "retry": draw(st.one_of(st.none(), st.integers(0, 10**9))),
                "comment": draw(st.one_of(st.none(), _LINE_TEXT)),
            }
        )
    return events


def _lines_of(events: list[dict], no_space: list[bool]) -> tuple[list[str], list[ServerSentEvent]]:
    lines: list[str] = []
    expected: list[ServerSentEvent] = []
    last_id = ""
    spaces = iter(no_space * 50)
    for event in events:
        if event["comment"] is not None:
            lines.append(":" + event["comment"])
        if event["event"] is not None:
            lines.append("event: " + event["event"])
        if event["id"] is not None:
            lines.append("id: " + event["id"])
            last_id = event["id"]
        if event["retry"] is not None:
            lines.append(f"retry: {event['retry']}")
        for value in event["data"]:
            tight = next(spaces, False) and not value.startswith(" ")
            lines.append(("data:" if tight else "data: ") + value)
        lines.append("")
        expected.append(
            ServerSentEvent(
                data="\n".join(event["data"]),
                event=event["event"] or "",
                id=last_id,
                retry=event["retry"],
            )
        )
    return lines, expected


@settings(max_examples=300, deadline=None)
@given(
    events=_events(),
    endings=st.lists(st.sampled_from(["\n", "\r\n", "\r"]), min_size=1, max_size=8),
    no_space=st.lists(st.booleans(), min_size=1, max_size=4),
    cuts=st.lists(st.integers(0, 10_000), max_size=8),
)
def test_random_events_with_random_line_endings_and_splits_decode_exactly(
    events: list[dict], endings: list[str], no_space: list[bool], cuts: list[int]
) -> None:
    lines, expected = _lines_of(events, no_space)
    text = ""
    previous = ""
    for index, line in enumerate(lines):
        ending = endings[index % len(endings)]
        if previous == "\r" and not line and ending == "\n":
            # CR then a blank line ending in LF is CRLF on the wire: one line end, by the
            # format's own rules. A server cannot mean anything else by it.
            ending = "\r"
        text += line + ending
        previous = ending
    data = text.encode("utf-8")
    points = sorted({c % (len(data) + 1) for c in cuts})
    pieces = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]

    got, decoder = decode(pieces)

    assert got == expected
    assert not decoder.incomplete()


# --- a hostile server: limits, and work that grows with the bytes fed, not their square -----

CHUNK = 64 * 1024


def _feed_until_refused(decoder: SSEDecoder, chunks) -> tuple[int, ProtocolError | None]:
    """Feed ``chunks`` until the decoder refuses; return the bytes fed and the error."""
    fed = 0
    for chunk in chunks:
        fed += len(chunk)
        try:
            decoder.feed(chunk)
        except ProtocolError as exc:
            return fed, exc
    return fed, None


def test_a_50_mb_line_without_a_line_break_is_refused_at_1_mib_after_linear_work() -> None:
    # GIVEN a server that sends one 50 MB line, 64 KiB at a time, and never ends it
    decoder = SSEDecoder()
    chunks = (b"data: " + b"x" * (CHUNK - 6) if i == 0 else b"x" * CHUNK for i in range(800))
    # WHEN it is decoded
    fed, error = _feed_until_refused(decoder, chunks)
    # THEN the decoder refuses as soon as the line passes 1 MiB, not at 50 MB
    assert error is not None
    assert 1024 * 1024 < fed <= 1024 * 1024 + CHUNK
    # AND says what the server did and what to do
    assert str(error).startswith("The server sent a line longer than 1 MiB without a line break")
    assert "base URL" in error.hint
    # AND every byte was looked at a bounded number of times (the old decoder rescanned the
    # whole buffer on every read: 17 reads of a growing line scanned ~9 times the bytes fed)
    assert decoder.scanned_bytes <= 2 * fed
    # AND the refused stream stays refused
    with pytest.raises(ProtocolError):
        decoder.feed(b"\n\n")
    assert decoder.incomplete()


@pytest.mark.parametrize("chunk_size", [1, 7, 4096, 65536])
def test_work_stays_linear_whatever_the_chunk_size(chunk_size: int) -> None:
    # GIVEN a long unfinished line (below the limit) fed in pieces of any size
    limit = 256 * 1024
    decoder = SSEDecoder(max_line_bytes=limit)
    line = b"data: " + b"y" * (limit - 6)
    for i in range(0, len(line), chunk_size):
        decoder.feed(line[i : i + chunk_size])
    # THEN the searches looked at each byte at most twice (once for CR, once for LF)
    assert decoder.scanned_bytes <= 2 * len(line)
    # AND the line still decodes once it ends
    assert decoder.feed(b"\n\n") == [ServerSentEvent(data="y" * (limit - 6))]


def test_many_lines_in_one_piece_are_scanned_once() -> None:
    # GIVEN one piece with 100,000 LF-terminated lines and a single CR at its very end (the old
    # decoder searched for that CR from every line start: 100,000 scans of the rest)
    piece = b"data: x\n" * 100_000 + b"\r"
    decoder = SSEDecoder()
    decoder.feed(piece)
    # THEN the total work is a small multiple of the piece's size
    assert decoder.scanned_bytes <= 2 * len(piece)


def test_10_million_data_lines_without_a_blank_line_are_refused_at_the_line_limit() -> None:
    # GIVEN a server sending empty data lines forever without ever ending the event (each one
    # adds no data bytes, only a list slot; 10 million of them took gigabytes)
    decoder = SSEDecoder()
    lines_per_chunk = 10_000
    chunks = (b"data:\n" * lines_per_chunk for _ in range(1_000))  # 10 million lines
    # WHEN it is decoded
    fed, error = _feed_until_refused(decoder, chunks)
    # THEN it is refused just past 100,000 lines, long before 10 million
    assert error is not None
    assert fed // len(b"data:\n") <= 100_000 + lines_per_chunk
    assert "more than 100,000 data lines without ending it" in str(error)


def test_an_event_growing_past_4_mib_of_data_is_refused() -> None:
    # GIVEN data lines of 1 KiB each that never reach a blank line
    decoder = SSEDecoder()
    line = b"data: " + b"z" * 1024 + b"\n"
    chunks = (line * 64 for _ in range(1_000))  # 64 MiB if nothing stopped it
    fed, error = _feed_until_refused(decoder, chunks)
    # THEN the decoder stops at 4 MiB of data
    assert error is not None
    assert fed <= 4 * 1024 * 1024 + 64 * len(line) + len(line) * 64
    assert "an event with more than 4 MiB of data without ending it" in str(error)


def test_limits_allow_exactly_their_size() -> None:
    # GIVEN limits of 16-byte lines and 10 data bytes per event
    def decoder() -> SSEDecoder:
        return SSEDecoder(max_line_bytes=16, max_event_bytes=10, max_event_lines=3)

    # THEN a line of exactly 16 bytes passes, finished or not; 17 do not
    assert decoder().feed(b"data: 0123456789\n\n") == [ServerSentEvent(data="0123456789")]
    assert decoder().feed(b": comment is 16b") == []
    with pytest.raises(ProtocolError, match="longer than 16 bytes"):
        decoder().feed(b": comment is 17b!")
    with pytest.raises(ProtocolError, match="longer than 16 bytes"):
        decoder().feed(b": comment is 17b!\n")
    # AND 10 data bytes in one event pass (two lines of 4 and the line feed joining them)
    assert decoder().feed(b"data: 1234\ndata:5678\n\n") == [ServerSentEvent(data="1234\n5678")]
    with pytest.raises(ProtocolError, match="more than 10 bytes of data"):
        decoder().feed(b"data: 1234\ndata: 567890\n")
    # AND the line count is per event: three lines pass, a fourth does not
    assert len(decoder().feed(b"data:\ndata:\ndata:a\n\n" * 5)) == 5
    with pytest.raises(ProtocolError, match="more than 3 data lines"):
        decoder().feed(b"data:\ndata:\ndata:\ndata:\n")


def test_comments_and_other_fields_forever_do_not_accumulate() -> None:
    # GIVEN a server that repeats comments and event names without ever sending data
    decoder = SSEDecoder(max_event_lines=10)
    for _ in range(100):
        assert decoder.feed(b": ping\nevent: again\nid: 1\nretry: 5\n" * 100) == []
    # THEN nothing piled up: the only state is the last value of each field
    last = ServerSentEvent(data="x", event="again", id="1", retry=5)
    assert decoder.feed(b"data: x\n\n") == [last]


# --- property: any bytes at all, any chunking ------------------------------------------------

# Stray CRs, broken and split UTF-8, NULs, fields with and without values.
_TOKENS = (
    b"\r|\n|\r\n|:| |data|data:|data: |event:|id:|retry:|7|x"
    b"|\xc3\xa9|\xf0\x9f\x98\x80|\xff|\xe2\x82|\x00"
)
_SOUP = st.lists(st.sampled_from(_TOKENS.split(b"|")), max_size=80).map(b"".join)


def _pieces(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({c % (len(data) + 1) for c in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def _outcome(pieces: list[bytes], **limits: int) -> tuple[list[ServerSentEvent], str | None, bool]:
    decoder = SSEDecoder(**limits)
    events: list[ServerSentEvent] = []
    for piece in pieces:
        try:
            events += decoder.feed(piece)
        except ProtocolError as exc:
            return events, str(exc), decoder.incomplete()
    return events, None, decoder.incomplete()


@settings(max_examples=400, deadline=None)
@given(data=_SOUP, cuts=st.lists(st.integers(0, 10_000), max_size=10))
def test_any_bytes_in_any_chunking_give_the_same_events(data: bytes, cuts: list[int]) -> None:
    # GIVEN arbitrary bytes (stray CRs, broken UTF-8, NULs, fields without values)
    # WHEN they arrive whole, or cut at arbitrary points
    whole = _outcome([data])
    chunked = _outcome(_pieces(data, cuts))
    # THEN the events, and whether the stream ended inside one, are the same
    assert chunked == whole
    # AND the scan stayed linear
    decoder = SSEDecoder()
    for piece in _pieces(data, cuts):
        decoder.feed(piece)
    assert decoder.scanned_bytes <= 2 * len(data)


@settings(max_examples=400, deadline=None)
@given(data=_SOUP, cuts=st.lists(st.integers(0, 10_000), max_size=10))
def test_limits_trip_the_same_way_in_any_chunking(data: bytes, cuts: list[int]) -> None:
    limits = {"max_line_bytes": 12, "max_event_bytes": 9, "max_event_lines": 2}
    # GIVEN the same bytes one at a time (the decoder sees every event before any violation)
    singles = _outcome([data[i : i + 1] for i in range(len(data))], **limits)
    # WHEN they arrive in arbitrary pieces
    chunked = _outcome(_pieces(data, cuts), **limits)
    # THEN the same limit trips (or none does), and the events that came out are the first
    # ones of the stream (a piece that breaks a limit takes its own complete events with it)
    assert chunked[1] == singles[1]
    assert chunked[0] == singles[0][: len(chunked[0])]
    if chunked[1] is None:
        assert chunked == singles
