"""Incremental Server-Sent Events decoder (the WHATWG event-stream format), pure and stateful.

Bytes go in as they arrive from the network, in pieces of any size; complete events come out.
Lines end in CR, LF or CRLF, and a CRLF split across two pieces counts once. Lines are split as
bytes and decoded afterwards, which is safe because CR and LF never occur inside a multi-byte
UTF-8 sequence, so a character split across pieces is decoded whole.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSentEvent:
    data: str
    event: str = ""
    id: str = ""
    retry: int | None = None


class SSEDecoder:
    def __init__(self) -> None:
        self._buffer = bytearray()
        self._pending_cr = False
        self._data: list[str] = []
        self._event = ""
        self._id = ""
        self._retry: int | None = None
        self._has_fields = False

    def feed(self, chunk: bytes) -> list[ServerSentEvent]:
        """Take the next piece of the stream; return the events it completed."""
        events: list[ServerSentEvent] = []
        if not chunk:
            return events  # an empty read must not forget a CR still waiting for its LF
        if self._pending_cr and chunk[:1] == b"\n":
            chunk = chunk[1:]  # second half of a CRLF split across pieces
        self._pending_cr = False
        buf = self._buffer
        buf += chunk
        start = 0
        n = len(buf)
        while start < n:
            cr = buf.find(b"\r", start)
            lf = buf.find(b"\n", start)
            if cr == -1 and lf == -1:
                break
            if cr == -1 or (lf != -1 and lf < cr):
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
        del buf[:start]
        return events

    def incomplete(self) -> bool:
        """True when the stream so far ends inside an event (bytes or fields not yet dispatched)."""
        return bool(self._buffer) or self._has_fields

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
            self._data.append(value)
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

    def _dispatch(self) -> ServerSentEvent | None:
        if not self._has_fields:
            return None
        event = ServerSentEvent(
            data="\n".join(self._data), event=self._event, id=self._id, retry=self._retry
        )
        self._data = []
        self._event = ""
        self._retry = None
        self._has_fields = False
        # An event whose data is empty is not dispatched (the spec), but it still resets state.
        return event if event.data else None
