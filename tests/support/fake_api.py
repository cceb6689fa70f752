"""An OpenAI-compatible chat-completions server on loopback that a test can script.

It speaks what Hyperbolic's page describes (``POST /v1/chat/completions`` with Bearer auth,
``GET /v1/models``) and streams Server-Sent Events byte for byte the way OpenAI and vLLM do:
``data: {chunk}`` events over chunked transfer encoding, a role chunk first, a finish chunk, an
optional usage chunk with ``"choices": []``, then ``data: [DONE]``.

A test queues *behaviours* (``Stream``, ``Status``, ``Stall``, ``Reset``...), consumed one per
request, to make the server fail the ways real ones do: error statuses with the bodies real
servers send, HTML error pages from a proxy, broken JSON, streams cut mid-event, stalls that only
a read timeout ends, TCP resets, connections closed without a status line.

Everything is real HTTP over real sockets. Timing is done with ``time.sleep`` between flushed
writes, so a client sees tokens arrive over time; stalls wait for ``release()`` (or ``stop()``)
and notice when the client hangs up, which is how a test proves that a Stop button really ended
the request on the server (``disconnects``).
"""

from __future__ import annotations

import base64
import functools
import itertools
import json
import logging
import re
import socket
import struct
import sys
import threading
import time
import uuid
import zlib
from collections import deque
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import KW_ONLY, dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from socketserver import TCPServer
from typing import Any, Literal
from urllib.parse import urlsplit

import pytest
from requests.structures import CaseInsensitiveDict

try:  # Linux: lets a reset wait until the peer has the bytes already written
    import fcntl
    import termios

    _TIOCOUTQ: int | None = termios.TIOCOUTQ
except (ImportError, AttributeError):  # pragma: no cover - other platforms
    _TIOCOUTQ = None

__all__ = [
    "Behaviour",
    "CloseWithoutResponse",
    "Complete",
    "Counter",
    "CutMidEvent",
    "ECHO_POSITIONS",
    "EchoKey",
    "EndlessJSON",
    "EndlessSSE",
    "ErrorEvent",
    "Escaped",
    "FakeAPI",
    "GzipBomb",
    "HtmlError",
    "Huge",
    "InvalidJSON",
    "Models",
    "NeverRespond",
    "RecordedRequest",
    "Reasoning",
    "RejectParameter",
    "BodyLimit",
    "Reset",
    "Stall",
    "Status",
    "Stream",
    "Trickle",
    "fake_api",
]

logger = logging.getLogger(__name__)

DEFAULT_MODELS = ("fake-org/fake-vlm-7b", "fake-org/fake-vlm-72b")
#: The model named in answers when the request names none (GET requests, broken bodies).
FALLBACK_MODEL = "fake-model"
PARTIAL_TEXT = "This answer starts well and then "
# How often waiting handlers look for stop(), release() and a client that hung up.
_POLL = 0.02


class _ClientGone(Exception):
    """The client closed or reset the connection while the server was answering."""


class _HangUp(Exception):
    """The behaviour ends the connection here, without finishing the response."""


# --------------------------------------------------------------------------------------------
# Recorded requests and the disconnect counter


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: CaseInsensitiveDict[str]
    body: bytes
    json: Any
    #: time.monotonic() when the request line arrived.
    time: float

    @property
    def bearer(self) -> str | None:
        """The key of an ``Authorization: Bearer KEY`` header, if any."""
        scheme, _, key = self.headers.get("Authorization", "").partition(" ")
        return key.strip() if scheme.lower() == "bearer" else None


@functools.total_ordering
class Counter:
    """A thread-safe count that can also be waited on like a ``threading.Event``.

    ``api.disconnects.wait(5)`` waits for the first disconnect; ``api.disconnects == 1`` and
    ``int(api.disconnects)`` read the count.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._count = 0

    @property
    def count(self) -> int:
        with self._cond:
            return self._count

    def increment(self) -> None:
        with self._cond:
            self._count += 1
            self._cond.notify_all()

    def is_set(self) -> bool:
        return self.count > 0

    def wait(self, timeout: float | None = None, *, count: int = 1) -> bool:
        """True once the count reaches ``count``; False if ``timeout`` passed first."""
        with self._cond:
            return self._cond.wait_for(lambda: self._count >= count, timeout)

    def __int__(self) -> int:
        return self.count

    __index__ = __int__

    def __bool__(self) -> bool:
        return self.is_set()

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Counter):
            other = other.count
        return self.count == other if isinstance(other, int) else NotImplemented

    def __lt__(self, other: object) -> bool:
        if isinstance(other, Counter):
            other = other.count
        return self.count < other if isinstance(other, int) else NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Counter({self.count})"


# --------------------------------------------------------------------------------------------
# Behaviours


def split_tokens(text: str) -> list[str]:
    """Word-sized tokens whose concatenation is exactly ``text``."""
    return re.findall(r"\S+\s*|\s+", text)


def _as_tokens(text: str | Sequence[str]) -> list[str]:
    return split_tokens(text) if isinstance(text, str) else list(text)


def _first_tokens(text: str | Sequence[str], count: int) -> list[str]:
    """``count`` tokens from ``text``, starting over when it runs out."""
    tokens = _as_tokens(text) or ["token "]
    return list(itertools.islice(itertools.cycle(tokens), count))


class Behaviour:
    """What the server does with one request. Subclasses are small dataclasses."""

    def serve(self, ex: Exchange) -> None:
        raise NotImplementedError


@dataclass(frozen=True)
class Stream(Behaviour):
    """A normal answer: streamed as SSE when the request says ``"stream": true``, else JSON.

    ``pause_after=N`` holds the stream after N content tokens until ``release()``, so a test
    can look at a half-shown answer without racing the server.
    """

    text: str | Sequence[str] = "Hello from the fake server."
    _: KW_ONLY
    delay: float = 0.0
    first_token_delay: float = 0.0
    line_ending: str = "\n"
    comments: bool = False
    multiline_data: bool = False
    space_after_colon: bool = True
    write_size: int | None = None
    include_usage: bool | None = None
    usage: tuple[int, int] | None = None
    model: str | None = None
    finish_reason: str | None = "stop"
    done: bool = True
    role_chunk: bool = True
    empty_chunks: bool = False
    pause_after: int | None = None

    @property
    def tokens(self) -> list[str]:
        return _as_tokens(self.text)

    def serve(self, ex: Exchange) -> None:
        tokens = self.tokens
        usage = self.usage or (ex.prompt_tokens(), len(tokens))
        model = self.model or ex.model
        if not ex.wants_stream:
            ex.pause(self.first_token_delay + self.delay * max(len(tokens) - 1, 0))
            ex.send_json(200, completion_body("".join(tokens), model, usage, self.finish_reason))
            return
        events = ex.start_stream(
            line_ending=self.line_ending,
            comments=self.comments,
            multiline_data=self.multiline_data,
            space_after_colon=self.space_after_colon,
            write_size=self.write_size,
            include_usage=self.include_usage,
            model=model,
        )
        if self.empty_chunks:
            events.chunk([])  # Azure-style preamble without choices
        if self.role_chunk:
            events.delta({"role": "assistant", "content": ""})
        if self.empty_chunks:
            events.delta({"content": None})
        for index, token in enumerate(tokens):
            if index == self.pause_after:
                ex.hold()
            ex.pause(self.first_token_delay if index == 0 else self.delay)
            events.delta({"content": token})
            if self.empty_chunks and index == 0:
                events.delta({"content": ""})
        if self.finish_reason is not None:
            events.delta({}, finish_reason=self.finish_reason)
        if events.include_usage:
            events.usage(*usage)
        if self.done:
            events.done()
        events.end()


@dataclass(frozen=True)
class Complete(Behaviour):
    """A plain ``chat.completion`` JSON answer even when the request asked for a stream."""

    text: str = "Hello from the fake server."
    _: KW_ONLY
    usage: tuple[int, int] | None = None
    model: str | None = None
    finish_reason: str | None = "stop"

    def serve(self, ex: Exchange) -> None:
        usage = self.usage or (ex.prompt_tokens(), len(split_tokens(self.text)))
        body = completion_body(self.text, self.model or ex.model, usage, self.finish_reason)
        ex.send_json(200, body)


@dataclass(frozen=True)
class Models(Behaviour):
    """The model list (``ids=None``: the server's ``models``)."""

    ids: Sequence[str] | None = None
    _: KW_ONLY
    #: Answer only after ``release()`` (a slow server, while another client asks too).
    hold: bool = False

    def serve(self, ex: Exchange) -> None:
        if self.hold:
            ex.hold()
        ids = ex.api.models if self.ids is None else self.ids
        data = [
            {"id": i, "object": "model", "created": 1_700_000_000, "owned_by": "fake-api"}
            for i in ids
        ]
        ex.send_json(200, {"object": "list", "data": data})


# (type, code) and message of the OpenAI-shaped error body each status gets by default.
_ERRORS: dict[int, tuple[str, str | None, str]] = {
    400: (
        "invalid_request_error",
        None,
        "This model's maximum context length is 32768 tokens; the request asked for more.",
    ),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided."),
    403: ("invalid_request_error", "permission_denied", "You do not have access to this model."),
    404: ("invalid_request_error", "model_not_found", "The model `{model}` does not exist."),
    408: ("timeout", None, "Request timed out."),
    413: ("invalid_request_error", "request_too_large", "Request too large for this server."),
    429: (
        "requests",
        "rate_limit_exceeded",
        "Rate limit reached for requests. Please try again in a moment.",
    ),
    500: (
        "server_error",
        None,
        "The server had an error while processing your request. Sorry about that!",
    ),
    502: ("server_error", None, "Bad gateway: the model server did not answer."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later."),
    504: ("server_error", None, "Gateway timeout: the model server took too long to answer."),
}


def error_body(code: int, message: str | None = None, model: str = FALLBACK_MODEL) -> Any:
    """The body a real server sends with ``code``: OpenAI's shape, or FastAPI's for 422."""
    if code == 422:
        return {
            "detail": [
                {
                    "type": "missing",
                    "loc": ["body", "messages"],
                    "msg": message or "Field required",
                    "input": {"model": model},
                }
            ]
        }
    try:
        phrase = HTTPStatus(code).phrase
    except ValueError:
        phrase = "Error"
    kind, err_code, default = _ERRORS.get(
        code, ("server_error" if code >= 500 else "invalid_request_error", None, f"{phrase}.")
    )
    text = message if message is not None else default.format(model=model)
    return {"error": {"message": text, "type": kind, "param": None, "code": err_code}}


@dataclass(frozen=True)
class Status(Behaviour):
    """Any HTTP error status with a realistic body (or exactly ``body`` when given)."""

    code: int
    _: KW_ONLY
    message: str | None = None
    body: bytes | str | Mapping[str, Any] | list[Any] | None = None
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    retry_after: float | None = None

    def serve(self, ex: Exchange) -> None:
        if self.body is None:
            model = ex.model if ex.recorded.json is not None else "unknown"
            payload = json.dumps(error_body(self.code, self.message, model)).encode()
        elif isinstance(self.body, bytes):
            payload = self.body
        elif isinstance(self.body, str):
            payload = self.body.encode()
        else:
            payload = json.dumps(self.body).encode()
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["Retry-After"] = f"{self.retry_after:g}"
        ex.send_body(self.code, payload, self.content_type, headers)


@dataclass(frozen=True)
class HtmlError(Behaviour):
    """The HTML page nginx shows when the model server behind it is down."""

    code: int = 502

    def serve(self, ex: Exchange) -> None:
        try:
            title = f"{self.code} {HTTPStatus(self.code).phrase}"
        except ValueError:
            title = f"{self.code} Error"
        page = (
            f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
            f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n"
            "</body>\r\n</html>\r\n"
        )
        ex.send_body(self.code, page.encode(), "text/html", server="nginx")


@dataclass(frozen=True)
class InvalidJSON(Behaviour):
    """200 with a body that is not JSON, or an SSE stream with a data line that is not JSON.

    ``streaming=None`` follows the request's ``stream`` flag.
    """

    streaming: bool | None = None
    _: KW_ONLY
    after_tokens: int = 0
    text: str | Sequence[str] = PARTIAL_TEXT

    def serve(self, ex: Exchange) -> None:
        streaming = ex.wants_stream if self.streaming is None else self.streaming
        broken = '{"id": "chatcmpl-broken", "object": "chat.completion", "choices": [{"mes'
        if not streaming:
            ex.send_body(200, broken.encode(), "application/json")
            return
        events = ex.start_stream()
        events.delta({"role": "assistant", "content": ""})
        for token in _first_tokens(self.text, self.after_tokens):
            events.delta({"content": token})
        events.data('{"id": "chatcmpl-broken", "choices": [{"delta": {"content": "Hel')
        events.done()
        events.end()


def _partial_stream(ex: Exchange, text: str | Sequence[str], count: int) -> EventStream:
    events = ex.start_stream()
    events.delta({"role": "assistant", "content": ""})
    for token in _first_tokens(text, count):
        events.delta({"content": token})
    return events


@dataclass(frozen=True)
class CutMidEvent(Behaviour):
    """N tokens, then half of an event with no blank line after it, then the connection closes.

    By default the chunked body ends properly, so only the event stream is cut (what a proxy
    that times out does); ``abrupt=True`` also leaves the HTTP body unfinished. A non-streamed
    request gets half of its JSON body.
    """

    after_tokens: int = 1
    _: KW_ONLY
    text: str | Sequence[str] = PARTIAL_TEXT
    abrupt: bool = False

    def serve(self, ex: Exchange) -> None:
        if not ex.wants_stream:
            body = json.dumps(completion_body("".join(_as_tokens(self.text)), ex.model, (1, 1)))
            ex.send_head(200, "application/json", {"Content-Length": str(len(body))})
            ex.write(body[: len(body) // 2].encode())
            raise _HangUp
        events = _partial_stream(ex, self.text, self.after_tokens)
        events.raw(b'data: {"id": "chatcmpl-cut", "object": "chat.completion.chunk", "choi')
        if not self.abrupt:
            events.end()
        raise _HangUp


@dataclass(frozen=True)
class ErrorEvent(Behaviour):
    """N tokens, then ``data: {"error": {...}}`` (then ``[DONE]``, as vLLM does).

    A non-streamed request gets the error object as a 200 JSON body.
    """

    after_tokens: int = 1
    message: str = "The model server ran out of memory while answering."
    _: KW_ONLY
    error_type: str = "server_error"
    code: str | int | None = "internal_error"
    text: str | Sequence[str] = PARTIAL_TEXT
    done: bool = True

    def serve(self, ex: Exchange) -> None:
        error = {"error": {"message": self.message, "type": self.error_type, "code": self.code}}
        if not ex.wants_stream:
            ex.send_json(200, error)
            return
        events = _partial_stream(ex, self.text, self.after_tokens)
        events.event(error)
        if self.done:
            events.done()
        events.end()


@dataclass(frozen=True)
class Stall(Behaviour):
    """N tokens, then silence on an open connection until ``release()`` or ``stop()``.

    Afterwards the connection closes without finishing the response. A non-streamed request
    gets its status line and headers, then no body.
    """

    after_tokens: int = 0
    _: KW_ONLY
    text: str | Sequence[str] = PARTIAL_TEXT

    def serve(self, ex: Exchange) -> None:
        if ex.wants_stream:
            _partial_stream(ex, self.text, self.after_tokens)
        else:
            ex.send_head(200, "application/json", {"Content-Length": "1000"})
        ex.hold()
        raise _HangUp


@dataclass(frozen=True)
class NeverRespond(Behaviour):
    """Read the request, answer nothing until ``release()`` or ``stop()``, then close."""

    def serve(self, ex: Exchange) -> None:
        ex.hold()
        raise _HangUp


@dataclass(frozen=True)
class Reset(Behaviour):
    """N tokens, then a TCP reset (RST, not FIN). A non-streamed request is reset unanswered."""

    after_tokens: int = 0
    _: KW_ONLY
    text: str | Sequence[str] = PARTIAL_TEXT

    def serve(self, ex: Exchange) -> None:
        if ex.wants_stream:
            _partial_stream(ex, self.text, self.after_tokens)
        ex.reset()


@dataclass(frozen=True)
class Huge(Behaviour):
    """An answer of about ``size_bytes`` of content, streamed as fast as the client reads."""

    size_bytes: int
    _: KW_ONLY
    token_size: int = 512

    def content(self) -> Iterator[str]:
        pattern = "The quick brown fox jumps over the lazy dog. " * (self.token_size // 45 + 2)
        sent = 0
        while sent < self.size_bytes:
            token = pattern[: min(self.token_size, self.size_bytes - sent)]
            sent += len(token)
            yield token

    def serve(self, ex: Exchange) -> None:
        if not ex.wants_stream:
            text = "".join(self.content())
            ex.send_json(200, completion_body(text, ex.model, (ex.prompt_tokens(), len(text))))
            return
        events = ex.start_stream()
        events.delta({"role": "assistant", "content": ""})
        count = 0
        for token in self.content():
            events.delta({"content": token})
            count += 1
        events.delta({}, finish_reason="length")
        if events.include_usage:
            events.usage(ex.prompt_tokens(), count)
        events.done()
        events.end()


@dataclass(frozen=True)
class RejectParameter(Behaviour):
    """A 400 when the request carries ``param`` (as OpenAI's reasoning models answer
    ``max_tokens`` and a ``temperature`` other than 1, and old servers ``stream_options``);
    otherwise ``then`` serves it. Chain several for a model that refuses several."""

    param: str
    message: str = ""
    then: Behaviour = field(default_factory=lambda: Stream("Answered as asked."))

    MESSAGES = {
        "max_tokens": "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead.",
        "temperature": "Unsupported value: 'temperature' does not support 0.2 with this model. "
        "Only the default (1) value is supported.",
        "stream_options": "Unrecognized request argument supplied: stream_options",
    }

    def serve(self, ex: Exchange) -> None:
        body = ex.recorded.json if isinstance(ex.recorded.json, dict) else {}
        if self.param in body:
            message = self.message or self.MESSAGES.get(self.param, f"Unknown {self.param}")
            error = {
                "error": {
                    "message": message,
                    "type": "invalid_request_error",
                    "param": self.param,
                    "code": "unsupported_parameter",
                }
            }
            ex.send_json(400, error)
            return
        self.then.serve(ex)


@dataclass(frozen=True)
class Reasoning(Behaviour):
    """A reasoning model: its thinking streamed as ``delta.<key>`` before the answer."""

    thinking: str | Sequence[str] = "Let me look at the image first."
    text: str | Sequence[str] = "It is a receipt."
    key: str = "reasoning_content"

    def serve(self, ex: Exchange) -> None:
        events = ex.start_stream()
        events.delta({"role": "assistant", "content": ""})
        for token in _as_tokens(self.thinking):
            events.delta({self.key: token, "content": ""})
        for token in _as_tokens(self.text):
            events.delta({"content": token})
        events.delta({}, finish_reason="stop")
        events.done()
        events.end()


@dataclass(frozen=True)
class BodyLimit(Behaviour):
    """413 for a request body over ``max_bytes`` (Groq: 4 MB of base64 image), else ``then``."""

    max_bytes: int
    then: Behaviour = field(default_factory=lambda: Stream("Small enough."))

    def serve(self, ex: Exchange) -> None:
        if len(ex.recorded.body) > self.max_bytes:
            ex.send_json(
                413,
                {"error": {"message": "Request Entity Too Large", "type": "invalid_request_error"}},
            )
            return
        self.then.serve(ex)


@dataclass(frozen=True)
class CloseWithoutResponse(Behaviour):
    """Read the request, then close the connection without sending a status line."""

    def serve(self, ex: Exchange) -> None:
        raise _HangUp


# -- hostile servers: bombs, streams that never end, trickles, a key echoed back ---------------
# (tests/system/test_hostile.py). Each one stops when the client hangs up, when the server stops,
# or after ``limit_bytes`` on the wire, so a client without bounds makes the test fail, not hang.

#: What an endless behaviour sends at most, so a client that never gives up cannot hang a test.
ENDLESS_LIMIT = 1 << 30


def _chunk(ex: Exchange, data: bytes) -> None:
    """One HTTP chunk of a chunked body (nothing for empty data: that would end the body)."""
    if data:
        ex.write(b"%X\r\n%s\r\n" % (len(data), data))


def _chunked_head(ex: Exchange, content_type: str, **headers: str) -> None:
    ex.send_head(200, content_type, {"Transfer-Encoding": "chunked", **headers})


@dataclass(frozen=True)
class GzipBomb(Behaviour):
    """200 JSON with ``Content-Encoding: gzip`` although the client asked for none, whose body
    inflates to ``inflated_bytes`` (4 GiB from about 4 MB on the wire): a model list or an
    answer that only a client bounding the *decoded* size survives."""

    inflated_bytes: int = 4 << 30

    def serve(self, ex: Exchange) -> None:
        _chunked_head(ex, "application/json", **{"Content-Encoding": "gzip"})
        packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        _chunk(ex, packer.compress(b'{"object": "list", "data": ['))
        block = b" " * (1 << 20)
        for _ in range(self.inflated_bytes // len(block)):
            _chunk(ex, packer.compress(block))
        _chunk(ex, packer.compress(b"]}") + packer.flush())
        ex.write(b"0\r\n\r\n")


@dataclass(frozen=True)
class EndlessJSON(Behaviour):
    """200 application/json that never ends: ``[`` and then digits, as fast as they are read."""

    limit_bytes: int = ENDLESS_LIMIT

    def serve(self, ex: Exchange) -> None:
        _chunked_head(ex, "application/json")
        _chunk(ex, b"[")
        digits = b"1234567890" * 6554
        for _ in range(self.limit_bytes // len(digits)):
            _chunk(ex, digits)
        raise _HangUp


@dataclass(frozen=True)
class EndlessSSE(Behaviour):
    """An event stream that never gives the client anything to show.

    ``kind``: "data" sends data lines and never the blank line that dispatches them; "line"
    sends one line that never ends; "comments" sends keep-alive comments (``: ping``) every
    ``interval`` seconds and never an answer.
    """

    kind: Literal["data", "line", "comments"]
    _: KW_ONLY
    interval: float = 0.0
    limit_bytes: int = ENDLESS_LIMIT

    def serve(self, ex: Exchange) -> None:
        _chunked_head(ex, "text/event-stream; charset=utf-8", **{"Cache-Control": "no-cache"})
        if self.kind == "data":
            line = b'data: {"choices": [{"index": 0, "delta": {"content": "more "}}]}\n'
            piece = line * 256
        elif self.kind == "line":
            _chunk(ex, b'data: {"choices": [{"index": 0, "delta": {"content": "')
            piece = b"a" * 65536
        else:
            piece = b": ping\n\n"
        for _ in range(self.limit_bytes // len(piece)):
            ex.pause(self.interval)
            _chunk(ex, piece)
        raise _HangUp


@dataclass(frozen=True)
class Trickle(Behaviour):
    """``after_tokens`` tokens at once, then the rest of the stream at ``bytes_per_second``:
    every single byte resets a per-read socket timeout, so only a deadline on progress ends it."""

    after_tokens: int = 2
    _: KW_ONLY
    text: str | Sequence[str] = PARTIAL_TEXT
    rest: str = "and then it goes on very, very slowly."
    bytes_per_second: float = 1.0

    def serve(self, ex: Exchange) -> None:
        _partial_stream(ex, self.text, self.after_tokens)
        chunk = {
            "id": "chatcmpl-trickle",
            "object": "chat.completion.chunk",
            "model": ex.model,
            "choices": [{"index": 0, "delta": {"content": self.rest}}],
        }
        tail = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
        for index in range(len(tail)):
            ex.pause(1.0 / self.bytes_per_second)
            _chunk(ex, tail[index : index + 1])
        ex.write(b"0\r\n\r\n")


@dataclass(frozen=True)
class Escaped(Behaviour):
    """An answer whose pieces go out one event each as ASCII-escaped JSON, so a piece can be
    one half of a UTF-16 surrogate pair (``"\\ud83d"`` then ``"\\ude00"``), as some servers
    split an emoji, or a lone half that has no character at all."""

    pieces: Sequence[str] = ("Smile: ", "\ud83d", "\ude00", " done.")

    def serve(self, ex: Exchange) -> None:
        if not ex.wants_stream:
            body = completion_body("".join(self.pieces), ex.model, (ex.prompt_tokens(), 4))
            ex.send_body(200, json.dumps(body, ensure_ascii=True).encode(), "application/json")
            return
        events = ex.start_stream()
        events.delta({"role": "assistant", "content": ""})
        for piece in self.pieces:
            choice = {"index": 0, "delta": {"content": piece}, "finish_reason": None}
            chunk = {
                "id": events.id,
                "object": "chat.completion.chunk",
                "model": events.model,
                "choices": [choice],
            }
            events.data(json.dumps(chunk, ensure_ascii=True))
        events.delta({}, finish_reason="stop")
        events.done()
        events.end()


#: Where EchoKey puts the key it was sent.
ECHO_POSITIONS = (
    "error-event",
    "location",
    "reason-phrase",
    "json-error",
    "percent-encoded",
    "basic-header",
    "answer-split",
)


@dataclass(frozen=True)
class EchoKey(Behaviour):
    """A server that repeats the Bearer key it was sent, in one of ``ECHO_POSITIONS``:

    - "error-event": two tokens, then an ``error`` event inside the stream quoting the key;
    - "location": a 302 whose ``Location`` is ``https://x/?key=KEY``;
    - "reason-phrase": an HTML error page whose status line is ``HTTP/1.1 502 KEY``;
    - "json-error": a 400 with the key in its JSON error message;
    - "percent-encoded": a 400 quoting the key with every byte percent-encoded;
    - "basic-header": a 400 echoing ``Authorization: Basic base64(user:KEY)``;
    - "answer-split": an answer that contains the key, split across two events.
    """

    where: str

    def serve(self, ex: Exchange) -> None:
        key = ex.recorded.bearer or "no-key-was-sent"
        if self.where == "error-event":
            events = _partial_stream(ex, PARTIAL_TEXT, 2)
            events.event({"error": {"message": f"Key {key} is over its quota", "code": 500}})
            events.done()
            events.end()
        elif self.where == "location":
            ex.send_body(302, b"", "text/html", {"Location": f"https://x/?key={key}"})
        elif self.where == "reason-phrase":
            page = f"<html><body><h1>502 {key}</h1></body></html>".encode()
            ex.log_request(502)
            ex.send_response_only(502, key)
            for name, value in (("Content-Type", "text/html"), ("Content-Length", len(page))):
                ex.send_header(name, str(value))
            ex.end_headers()
            ex.write(page)
        elif self.where in ("json-error", "percent-encoded", "basic-header"):
            if self.where == "json-error":
                shown = f"Invalid API key {key} for this model"
            elif self.where == "percent-encoded":
                shown = "Rejected ?key=" + "".join(f"%{b:02X}" for b in key.encode())
            else:
                basic = base64.b64encode(f"apikey:{key}".encode()).decode()
                shown = f"Unexpected header Authorization: Basic {basic}"
            ex.send_json(400, error_body(400, shown))
        elif self.where == "answer-split":
            half = len(key) // 2
            Stream(["Your key is ", key[:half], key[half:], " and it works."]).serve(ex)
        else:
            raise ValueError(f"EchoKey cannot put the key in {self.where!r}")


def completion_body(
    text: str, model: str, usage: tuple[int, int], finish_reason: str | None = "stop"
) -> dict[str, Any]:
    """A non-streamed ``chat.completion`` as OpenAI returns it."""
    prompt, completion = usage
    return {
        "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": text},
                "logprobs": None,
                "finish_reason": finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        },
    }


# --------------------------------------------------------------------------------------------
# The wire


class EventStream:
    """Writes one SSE response body as chunked transfer encoding, one HTTP chunk per write."""

    def __init__(
        self,
        ex: Exchange,
        *,
        model: str,
        include_usage: bool,
        line_ending: str = "\n",
        comments: bool = False,
        multiline_data: bool = False,
        space_after_colon: bool = True,
        write_size: int | None = None,
    ) -> None:
        if line_ending not in ("\n", "\r\n", "\r"):
            raise ValueError(f"not an SSE line ending: {line_ending!r}")
        if write_size is not None and write_size < 1:
            raise ValueError("write_size must be at least 1")
        self._ex = ex
        self.id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        self.created = int(time.time())
        self.model = model
        self.include_usage = include_usage
        self._eol = line_ending
        self._comments = comments
        self._multiline = multiline_data
        self._field = "data: " if space_after_colon else "data:"
        self._write_size = write_size

    def raw(self, data: bytes) -> None:
        """Send bytes of the event stream, in ``write_size`` pieces when set."""
        size = self._write_size or len(data)
        for start in range(0, len(data), size):
            piece = data[start : start + size]
            self._ex.write(b"%X\r\n%s\r\n" % (len(piece), piece))

    def data(self, payload: str, *, lines: Sequence[str] | None = None) -> None:
        """One event whose data is ``payload`` (or the data lines ``lines`` that join to it)."""
        eol = self._eol
        text = f": keep-alive{eol}" if self._comments else ""
        text += "".join(f"{self._field}{line}{eol}" for line in (lines or [payload]))
        self.raw((text + eol).encode())

    def event(self, obj: Any) -> None:
        payload = json.dumps(obj, ensure_ascii=False)
        # Indented JSON split at its newlines is still valid JSON once the lines are rejoined
        # with "\n", as the SSE spec joins data lines.
        lines = json.dumps(obj, ensure_ascii=False, indent=1).split("\n")
        self.data(payload, lines=lines if self._multiline else None)

    def chunk(self, choices: list[Any], **extra: Any) -> None:
        obj: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
        }
        if self.include_usage:
            obj["usage"] = None  # OpenAI sends usage: null on every chunk but the last
        obj.update(extra)
        self.event(obj)

    def delta(self, delta: dict[str, Any], finish_reason: str | None = None) -> None:
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        self.chunk([choice])

    def usage(self, prompt: int, completion: int) -> None:
        usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }
        self.chunk([], usage=usage)

    def done(self) -> None:
        self.data("[DONE]")

    def end(self) -> None:
        """Finish the chunked body; the connection stays open for the next request."""
        self._ex.write(b"0\r\n\r\n")


class Exchange(BaseHTTPRequestHandler):
    """One connection: parses requests, records them and lets a behaviour answer each."""

    protocol_version = "HTTP/1.1"
    server_version = "fake-openai/1.0"
    sys_version = ""
    # Tokens are small writes; Nagle would hold them back until the previous one is acked.
    disable_nagle_algorithm = True
    server: _Server
    recorded: RecordedRequest

    # -- what behaviours use

    @property
    def api(self) -> FakeAPI:
        return self.server.api

    @property
    def wants_stream(self) -> bool:
        body = self.recorded.json
        return isinstance(body, dict) and body.get("stream") is True

    @property
    def model(self) -> str:
        body = self.recorded.json
        model = body.get("model") if isinstance(body, dict) else None
        return model if isinstance(model, str) and model else FALLBACK_MODEL

    def prompt_tokens(self) -> int:
        """A rough count: words of the text parts, plus a fixed cost per image."""
        body = self.recorded.json
        messages = body.get("messages") if isinstance(body, dict) else None
        count = 0
        for message in messages if isinstance(messages, list) else []:
            content = message.get("content") if isinstance(message, dict) else None
            parts = [{"type": "text", "text": content}] if isinstance(content, str) else content
            for part in parts if isinstance(parts, list) else []:
                if not isinstance(part, dict):
                    continue
                if part.get("type") == "image_url":
                    count += 256
                elif isinstance(part.get("text"), str):
                    count += len(part["text"].split())
        return max(count, 1)

    def start_stream(self, **options: Any) -> EventStream:
        include_usage = options.pop("include_usage", None)
        if include_usage is None:
            body = self.recorded.json
            stream_options = body.get("stream_options") if isinstance(body, dict) else None
            include_usage = isinstance(stream_options, dict) and bool(
                stream_options.get("include_usage")
            )
        options.setdefault("model", self.model)
        events = EventStream(self, include_usage=include_usage, **options)
        self.send_head(
            200,
            "text/event-stream; charset=utf-8",
            {"Transfer-Encoding": "chunked", "Cache-Control": "no-cache"},
        )
        return events

    def send_head(
        self,
        code: int,
        content_type: str,
        headers: Mapping[str, str] | None = None,
        *,
        server: str | None = None,
    ) -> None:
        self.log_request(code)
        self.send_response_only(code)
        self.send_header("Server", server or self.version_string())
        self.send_header("Date", self.date_time_string())
        self.send_header("Content-Type", content_type)
        self.send_header("x-request-id", f"req_{uuid.uuid4().hex[:20]}")
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        try:
            self.end_headers()
        except (OSError, ValueError) as exc:
            raise self._write_failed() from exc

    def send_body(
        self,
        code: int,
        body: bytes,
        content_type: str,
        headers: Mapping[str, str] | None = None,
        *,
        server: str | None = None,
    ) -> None:
        all_headers = {"Content-Length": str(len(body)), **(headers or {})}
        self.send_head(code, content_type, all_headers, server=server)
        self.write(body)

    def send_json(self, code: int, obj: Any, headers: Mapping[str, str] | None = None) -> None:
        self.send_body(code, json.dumps(obj).encode(), "application/json", headers)

    def write(self, data: bytes) -> None:
        if self.api._stopping.is_set():
            raise _HangUp
        try:
            self.wfile.write(data)
        except (OSError, ValueError) as exc:
            raise self._write_failed() from exc

    def pause(self, seconds: float) -> None:
        """Sleep between writes, noticing stop() and a client that hung up meanwhile."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, _POLL))
            self._check_alive()

    def hold(self) -> None:
        """Send nothing until release() or stop(); raise if the client hangs up first.

        Any release() since the request arrived counts, so a test that saw the tokens sent
        before the hold and released at once cannot race the handler into waiting forever.
        """
        while self.api._release_generation == self._generation:
            time.sleep(_POLL)
            self._check_alive()

    def reset(self) -> None:
        """Abort the connection with a TCP RST (SO_LINGER 0), after the peer got what was sent."""
        sock = self.connection
        self._wait_until_sent()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The socket really closes only once the buffered reader that shares it is closed too;
        # a shutdown() first would send a FIN instead of the reset.
        self.rfile.close()
        sock.close()
        raise _HangUp

    # -- request handling

    def parse_request(self) -> bool:
        self._arrived = time.monotonic()
        return super().parse_request()

    def do_GET(self) -> None:
        self._handle()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_GET

    def _handle(self) -> None:
        try:
            self._route()
        except _ClientGone:
            self.close_connection = True
            if not self.api._stopping.is_set():
                logger.debug("client %s went away mid-response", self.address_string())
                self.api.disconnects.increment()
        except _HangUp:
            self.close_connection = True

    def _route(self) -> None:
        body = self._read_body()
        if body is None:
            return
        try:
            parsed = json.loads(body) if body else None
        except ValueError:
            parsed = None
        self.recorded = RecordedRequest(
            method=self.command,
            path=self.path,
            headers=CaseInsensitiveDict(self.headers.items()),
            body=body,
            json=parsed,
            time=self._arrived,
        )
        self._generation = self.api._release_generation
        self.api._record(self.recorded)
        if not self._authorized():
            return
        path = urlsplit(self.path).path.rstrip("/")
        if path == "/v1/chat/completions":
            if self.command != "POST":
                self.send_json(405, {"detail": "Method Not Allowed"}, {"Allow": "POST"})
            elif not isinstance(parsed, dict):
                message = "Request body is not a JSON object (JSON decode error)."
                self.send_json(400, error_body(400, message))
            else:
                self.api._next_chat().serve(self)
        elif path == "/v1/models":
            if self.command != "GET":
                self.send_json(405, {"detail": "Method Not Allowed"}, {"Allow": "GET"})
            else:
                self.api._next_models().serve(self)
        else:
            self.send_json(404, {"detail": "Not Found"})

    def _read_body(self) -> bytes | None:
        try:
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                return self._read_chunked()
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length > 0 else b""
        except ValueError:
            self.close_connection = True
            self.send_json(400, error_body(400, "Malformed request body framing."))
            return None
        except OSError as exc:
            raise _ClientGone from exc

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size = int(self.rfile.readline(1024).split(b";")[0].strip(), 16)
            if size == 0:
                while self.rfile.readline(1024).strip():
                    pass  # trailers
                return bytes(body)
            body += self.rfile.read(size)
            self.rfile.readline(8)

    def _authorized(self) -> bool:
        key = self.api.require_key
        if key is None:
            return True
        presented = self.recorded.bearer
        if presented == key:
            return True
        if presented is None:
            message = (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        elif self.api.echo_key == "full":
            message = f"Incorrect API key provided: {presented}."
        elif self.api.echo_key == "partial":
            masked = f"{presented[:3]}{'*' * max(len(presented) - 7, 4)}{presented[-4:]}"
            message = (
                f"Incorrect API key provided: {masked}. "
                "You can find your API key in your account settings."
            )
        else:
            message = "Incorrect API key provided."
        self.send_json(401, error_body(401, message))
        return False

    def _check_alive(self) -> None:
        if self.api._stopping.is_set():
            raise _HangUp
        try:
            peeked = self.connection.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as exc:
            raise _ClientGone from exc
        if not peeked:  # end of file: the client closed its side
            raise _ClientGone

    def _write_failed(self) -> Exception:
        return _HangUp() if self.api._stopping.is_set() else _ClientGone()

    def _wait_until_sent(self) -> None:
        if _TIOCOUTQ is None:  # pragma: no cover - other platforms
            time.sleep(0.1)
            return
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            raw = fcntl.ioctl(self.connection.fileno(), _TIOCOUTQ, struct.pack("i", 0))
            if struct.unpack("i", raw)[0] == 0:
                return
            time.sleep(0.005)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s %s", self.address_string(), format % args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, api: FakeAPI) -> None:
        self.api = api
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._workers: list[threading.Thread] = []
        super().__init__(("127.0.0.1", api.fixed_port), Exchange)

    def server_bind(self) -> None:
        # HTTPServer.server_bind looks the address up with getfqdn, a DNS query that can hang.
        TCPServer.server_bind(self)
        self.server_name, self.server_port = self.server_address[:2]

    def process_request(self, request: Any, client_address: Any) -> None:
        worker = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name=f"fake-api-{client_address[1]}",
            daemon=True,
        )
        with self._lock:
            self._connections.add(request)
            self._workers = [w for w in self._workers if w.is_alive()]
            self._workers.append(worker)
        worker.start()

    def shutdown_request(self, request: Any) -> None:
        with self._lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        exc = sys.exc_info()[1]
        if isinstance(exc, ConnectionError) or self.api._stopping.is_set():
            logger.debug("connection from %s ended: %r", client_address, exc)
            return
        logger.error("fake API handler failed for %s", client_address, exc_info=True)
        self.api.errors.append(exc)

    def drop_connections(self) -> None:
        """Wake handlers blocked reading an idle keep-alive connection."""
        with self._lock:
            connections = list(self._connections)
        for sock in connections:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def join_workers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(max(deadline - time.monotonic(), 0))


# --------------------------------------------------------------------------------------------
# The server


class FakeAPI:
    """A scriptable OpenAI-compatible server on 127.0.0.1 (a free port), for tests.

    ``echo_key`` chooses what a 401 for a wrong key repeats of it: "partial" (OpenAI's masked
    ``sk-****wxyz``), "full" (servers that echo it whole; for redaction tests) or "none".
    """

    def __init__(
        self,
        *,
        require_key: str | None = None,
        models: Sequence[str] = DEFAULT_MODELS,
        default: Behaviour | None = None,
        echo_key: Literal["partial", "full", "none"] = "partial",
        port: int = 0,
    ) -> None:
        self.require_key = require_key
        #: 0: any free port; a fixed one plays a local server where people run it (11434).
        self.fixed_port = port
        self.models: list[str] = list(models)
        #: What a chat request gets when nothing is queued.
        self.default: Behaviour = default or Stream("Hello from the fake server.")
        #: What GET /v1/models gets when nothing is queued.
        self.models_default: Behaviour = Models()
        self.echo_key = echo_key
        #: Counts requests whose client hung up while the server was still answering.
        self.disconnects = Counter()
        #: Unexpected exceptions in handlers (a bug in this server, never a client hanging up).
        self.errors: list[BaseException] = []
        self._cond = threading.Condition()
        self._requests: list[RecordedRequest] = []
        self._chat_queue: deque[Behaviour] = deque()
        self._models_queue: deque[Behaviour] = deque()
        self._release_generation = 0
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle

    def start(self) -> FakeAPI:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server(self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="fake-api-accept",
            daemon=True,
        )
        self._thread.start()
        logger.debug("fake API listening at %s", self.url)
        return self

    def stop(self) -> None:
        """Stop serving; stalled handlers are released and open connections closed."""
        server, thread = self._server, self._thread
        if server is None or thread is None:
            return
        self._stopping.set()
        self.release()
        server.shutdown()
        thread.join()
        server.server_close()
        server.drop_connections()
        server.join_workers(timeout=5.0)
        self._server = self._thread = None

    def __enter__(self) -> FakeAPI:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("the fake API is not running; call start() first")
        return self._server.server_port

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The base_url a client uses (``.../v1``)."""
        return f"{self.root_url}/v1"

    # -- scripting

    def enqueue(self, *behaviours: Behaviour) -> None:
        """Answer the next chat requests with these, in order, then with ``default``."""
        with self._cond:
            self._chat_queue.extend(behaviours)

    def enqueue_models(self, *behaviours: Behaviour) -> None:
        """Answer the next GET /v1/models with these, in order, then with ``models_default``."""
        with self._cond:
            self._models_queue.extend(behaviours)

    @property
    def pending(self) -> int:
        """Chat behaviours queued and not yet used."""
        with self._cond:
            return len(self._chat_queue)

    def release(self) -> None:
        """Let every Stall, NeverRespond and ``pause_after`` waiting right now go on."""
        with self._cond:
            self._release_generation += 1

    # -- what happened

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._cond:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest:
        with self._cond:
            if not self._requests:
                raise LookupError("the fake API has received no request")
            return self._requests[-1]

    def wait_for_requests(self, n: int = 1, timeout: float = 10.0) -> list[RecordedRequest]:
        """The recorded requests once there are at least ``n``; TimeoutError otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self._requests) >= n, timeout):
                raise TimeoutError(
                    f"the fake API received {len(self._requests)} requests, expected {n}"
                )
            return list(self._requests)

    # -- used by the handlers

    def _record(self, request: RecordedRequest) -> None:
        with self._cond:
            self._requests.append(request)
            self._cond.notify_all()

    def _next_chat(self) -> Behaviour:
        with self._cond:
            return self._chat_queue.popleft() if self._chat_queue else self.default

    def _next_models(self) -> Behaviour:
        with self._cond:
            return self._models_queue.popleft() if self._models_queue else self.models_default


@pytest.fixture
def fake_api() -> Iterator[FakeAPI]:
    """A running FakeAPI, stopped after the test; fails the test if the server itself broke."""
    with FakeAPI() as api:
        yield api
    assert not api.errors, f"the fake API server failed: {api.errors!r}"
