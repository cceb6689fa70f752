"""Incremental Server-Sent Events decoder (the WHATWG event-stream format), pure and stateful.

Bytes go in as they arrive from the network, in pieces of any size; complete events come out.
Lines end in CR, LF or CRLF, and a CRLF split across two pieces counts once. Lines are split as
bytes and decoded afterwards, which is safe because CR and LF never occur inside a multi-byte
UTF-8 sequence, so a character split across pieces is decoded whole.

The server is not trusted, so the decoder's cost is bounded by what it was fed, not by what the
server chooses to withhold: every byte is looked at a bounded number of times (the bytes of an
unfinished line are never scanned again), a line may not exceed ``max_line_bytes`` and an event
may not exceed ``max_event_bytes`` of data or ``max_event_lines`` data lines. Going past a limit
raises ``ProtocolError``; the decoder then refuses further input, since the stream is unusable.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from desktop_vlm.core.errors import ProtocolError

logger = logging.getLogger(__name__)

KIB = 1024
MIB = 1024 * KIB

#: Far beyond any real chunk of a chat-completions stream (a few hundred bytes of JSON).
MAX_LINE_BYTES = 1 * MIB
#: One event's data, all its data lines together.
MAX_EVENT_BYTES = 4 * MIB
#: Real servers send one data line per event; each line costs a list slot even when empty.
MAX_EVENT_LINES = 100_000

_HINT = (
    "This is not a normal chat-completions stream: check that the base URL points at an "
    "OpenAI-compatible server, then try again"
)


@dataclass(frozen=True)
class ServerSentEvent:
    data: str
    event: str = ""
    id: str = ""
    retry: int | None = None


def size_text(size: int) -> str:
    """A byte count as a person reads it: "1 MiB", "64 KiB", "1,500 bytes"."""
    for unit, name in ((MIB, "MiB"), (KIB, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit:,} {name}"
    return f"{size:,} bytes"


class SSEDecoder:
    def __init__(
        self,
        *,
        max_line_bytes: int = MAX_LINE_BYTES,
        max_event_bytes: int = MAX_EVENT_BYTES,
        max_event_lines: int = MAX_EVENT_LINES,
    ) -> None:
        if min(max_line_bytes, max_event_bytes, max_event_lines) < 1:
            raise ValueError("SSE limits must be positive")
        self.max_line_bytes = max_line_bytes
        self.max_event_bytes = max_event_bytes
        self.max_event_lines = max_event_lines
        # Holds only the unfinished last line, and that line never contains CR or LF.
        self._buffer = bytearray()
        self._pending_cr = False
        self._data: list[str] = []
        self._data_bytes = 0
        self._event = ""
        self._id = ""
        self._retry: int | None = None
        self._has_fields = False
        self._failure: tuple[str, str] | None = None
        self._scanned = 0

    @property
    def scanned_bytes(self) -> int:
        """How many bytes the line-end searches have looked at so far (for tests and benchmarks:
        it stays within twice the bytes fed, whatever the chunking)."""
        return self._scanned

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Take the next piece of the stream; return the events it completed.

        Raises ``ProtocolError`` when the stream breaks a limit; events completed earlier in the
        same piece are dropped with it, and every later call raises the same error.
        """
        if self._failure is not None:
            raise ProtocolError(*self._failure)
        events: list[ServerSentEvent] = []
        if not chunk:
            return events  # an empty read must not forget a CR still waiting for its LF
        if self._pending_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]  # second half of a CRLF split across pieces
        self._pending_cr = False
        buf = self._buffer
        # The leftover line was searched to its end by the previous call: start after it.
        known_clean = len(buf)
        buf += chunk
        n = len(buf)
        start = 0
        # The next CR / LF at or after ``start`` (-1: none before ``cr_to`` / ``lf_to``). Each
        # search resumes where the last one for that byte stopped, so no byte is scanned twice.
        cr = lf = -1
        cr_to = lf_to = known_clean
        while True:
            # A line end further than this would make the line too long: never look past it.
            window = min(n, start + self.max_line_bytes + 1)
            if cr < 0 and cr_to < window:
                cr = buf.find(b"\r", cr_to, window)
                self._scanned += (cr + 1 if cr >= 0 else window) - cr_to
                cr_to = cr + 1 if cr >= 0 else window
            if lf < 0 and lf_to < window:
                lf = buf.find(b"\n", lf_to, window)
                self._scanned += (lf + 1 if lf >= 0 else window) - lf_to
                lf_to = lf + 1 if lf >= 0 else window
            if cr < 0 and lf < 0:
                if n - start > self.max_line_bytes:
                    self._fail(
                        f"The server sent a line longer than {size_text(self.max_line_bytes)} "
                        "without a line break"
                    )
                break
            if cr < 0 or 0 <= lf < cr:
                end, nxt = lf, lf + 1
            elif cr + 1 < n:
                end, nxt = cr, cr + 2 if buf[cr + 1] == 0x0A else cr + 1
            else:  # CR is the last byte: the LF may follow in the next piece
                end, nxt = cr, cr + 1
                self._pending_cr = True
            event = self._line(bytes(buf[start:end]))
            if event is not None:
                events.append(event)
            start = nxt
            if cr < nxt:  # consumed (or -1 already): search again from the new line
                cr, cr_to = -1, max(cr_to, nxt)
            if lf < nxt:
                lf, lf_to = -1, max(lf_to, nxt)
        del buf[:start]
        return events

    def incomplete(self) -> bool:
        """True when the stream so far ends inside an event (bytes or fields not yet dispatched)."""
        return bool(self._buffer) or self._has_fields or self._failure is not None

    def _fail(self, message: str) -> None:
        logger.warning("Event stream refused: %s", message)
        self._failure = (message, _HINT)
        # What was held is useless now; let it go at once rather than with the decoder.
        self._buffer = bytearray()
        self._data = []
        raise ProtocolError(message, _HINT)

    def _line(self, raw: bytes) -> ServerSentEvent | None:
        line = raw.decode("utf-8", errors="replace")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # comment, e.g. a keep-alive
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            # The value's size on the wire: the line minus "data:" and one optional space.
            self._add_data(value, len(raw) - 5 - (raw[5:6] == b" ") if sep else 0)
        elif name == "event":
            self._event = value
        elif name == "id":
            if "\0" not in value:
                self._id = value
        elif name == "retry":
            if value.isascii() and value.isdigit():  # "²".isdigit() is True, int("²") fails
                self._retry = int(value)
        else:
            return None  # unknown field: ignored per the spec
        self._has_fields = True
        return None

    def _add_data(self, value: str, value_bytes: int) -> None:
        # The joined data is the lines with a line feed between each pair.
        self._data_bytes += value_bytes + (1 if self._data else 0)
        if self._data_bytes > self.max_event_bytes:
            self._fail(
                f"The server sent an event with more than {size_text(self.max_event_bytes)} "
                "of data without ending it"
            )
        if len(self._data) >= self.max_event_lines:
            self._fail(
                f"The server sent an event with more than {self.max_event_lines:,} data lines "
                "without ending it"
            )
        self._data.append(value)

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._has_fields:
            return None
        event = ServerSentEvent(
            data="\n".join(self._data), event=self._event, id=self._id, retry=self._retry
        )
        self._data = []
        self._data_bytes = 0
        self._event = ""
        self._retry = None
        self._has_fields = False
        # An event whose data is empty is not dispatched (the spec), but it still resets state.
        return event if event.data else None
