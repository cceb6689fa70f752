"""The chat-completions client: streamed and plain answers, the model list, one retry loop.

Every request goes through ``_attempt``: send, check the status, read up to the first piece of
the answer; a failure there is mapped to a typed error (core.api_errors) and the retry policy
(core.retry) decides, with one budget for every kind of failure, whether and when to try again.
A 400 that names a parameter the server does not take (max_tokens vs max_completion_tokens,
temperature, stream_options) is answered by writing the request the way the server asked, once
per parameter, and remembered for that model. Once the first piece has arrived nothing is
retried: a break is StreamInterruptedError and the partial answer stays with the caller.

Bounds: error bodies 64 KiB, JSON answers 8 MiB, streamed answers 1,000,000 characters and
500,000 events, and a stall deadline (``read_timeout``) on progress, not on socket reads, so a
server trickling keep-alives or one byte a second cannot hold a request forever. The key is taken
out of every error message the client raises and of every piece of answer text it yields.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests

from desktop_vlm import __version__
from desktop_vlm.core import errors as E
from desktop_vlm.core.api_errors import adapted_form, interrupted, status_error
from desktop_vlm.core.completions import (
    ChatRequest,
    Completion,
    Delta,
    RequestForm,
    parse_chunk,
    parse_completion,
    parse_models,
)
from desktop_vlm.core.retry import RetryPolicy
from desktop_vlm.core.secret_filter import SecretFilter
from desktop_vlm.core.sse import SSEDecoder
from desktop_vlm.core.text import JoinedText, clean_text
from desktop_vlm.core.urls import check_endpoint
from desktop_vlm.services.cancellation import Cancellation
from desktop_vlm.services.transport import Transport, body_chunks, read_body, read_prefix

log = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 1_000_000
MAX_EVENTS = 500_000
MAX_ERROR_BODY = 64 * 1024
MAX_JSON_BODY = 8 * 1024 * 1024
MAX_STREAM_BYTES = 256 * 1024 * 1024

#: The request form each (base URL, model) turned out to need, for the life of the process.
_forms: dict[tuple[str, str], RequestForm] = {}
_forms_lock = threading.Lock()


@dataclass
class StreamResult:
    completion: Completion
    ttft_s: float | None
    elapsed_s: float
    attempts: int
    #: A structured preset's checked answer (core.answer_checks.Structured), made off the GUI
    #: thread by the stream worker; None for other presets.
    structured: Any = None


class ChatStream:
    """An answer being streamed: iterate for ``Delta`` pieces; ``result`` is set when it ends.

    Iteration raises a typed error on failure. ``cancel()`` may be called from any thread.
    """

    def __init__(self, client: ChatClient, request: ChatRequest, cancellation: Cancellation):
        self._client = client
        self._request = request
        self.cancellation = cancellation
        self.result: StreamResult | None = None
        self.text_parts: list[str] = []
        self.reasoning_parts: list[str] = []

    def cancel(self) -> None:
        self.cancellation.cancel()

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    def __iter__(self) -> Iterator[Delta]:
        return self._client._stream(self)


class ChatClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        max_retries: int = 2,
        ca_bundle: str = "",
        transport: Transport | None = None,
        jitter: Callable[[float, float], float] | None = None,
        session: requests.Session | None = None,
        local_only: bool = False,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        check_endpoint(self.base_url, bool(api_key), local_only)
        self._key = api_key
        self.read_timeout = read_timeout
        self.max_retries = max_retries
        self._jitter = jitter
        self._transport = transport or Transport(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            ca_bundle=ca_bundle,
            session=session,
        )
        self._secrets = SecretFilter(api_key)

    # --- public API -----------------------------------------------------------------------

    def stream_chat(
        self, request: ChatRequest, cancellation: Cancellation | None = None
    ) -> ChatStream:
        return ChatStream(self, request, cancellation or Cancellation())

    def complete(
        self, request: ChatRequest, cancellation: Cancellation | None = None
    ) -> Completion:
        cancellation = cancellation or Cancellation()

        def once(form: RequestForm) -> Completion:
            resp = self._open(
                "POST",
                "/chat/completions",
                request.body(stream=False, form=form),
                cancellation,
                request.model,
            )
            with resp:
                return self._completion(resp, request.model, cancellation)

        with self._secrets.guard():
            return self._attempt(once, cancellation, request.model)

    def list_models(self, cancellation: Cancellation | None = None) -> list[str]:
        cancellation = cancellation or Cancellation()

        def once(_form: RequestForm) -> list[str]:
            resp = self._open("GET", "/models", None, cancellation, None)
            with resp:
                return parse_models(self._json(resp, cancellation))

        with self._secrets.guard():
            return self._attempt(once, cancellation, None)

    def close(self) -> None:
        self._transport.close()

    # --- the one retry loop ---------------------------------------------------------------

    def _attempt(
        self, once: Callable[[RequestForm], Any], cancellation: Cancellation, model: str | None
    ) -> Any:
        """``once(form)`` until it succeeds, the policy gives up, or the person cancels."""
        policy = RetryPolicy(self.max_retries, jitter=self._jitter)
        form = self._form(model)
        while True:
            cancellation.raise_if_cancelled()
            try:
                return once(form)
            except E.APIError as exc:
                adapted = adapted_form(exc, form) if model else None
                if adapted is not None:
                    log.info("the server wants the request written differently: %s", adapted)
                    form = adapted
                    self._remember(model, form)
                    continue
                delay = policy.next_delay(exc)
                if delay is None:
                    raise
                log.info(
                    "attempt %d failed (%s); retrying in %.1f s",
                    policy.failures,
                    type(exc).__name__,
                    delay,
                )
                if cancellation.wait(delay):
                    cancellation.raise_if_cancelled()

    def _form(self, model: str | None) -> RequestForm:
        with _forms_lock:
            return _forms.get((self.base_url, model or ""), RequestForm())

    def _remember(self, model: str | None, form: RequestForm) -> None:
        with _forms_lock:
            _forms[(self.base_url, model or "")] = form

    # --- streaming ------------------------------------------------------------------------

    def _stream(self, stream: ChatStream) -> Iterator[Delta]:
        request, cancellation = stream._request, stream.cancellation
        started = time.monotonic()
        state = Completion(text="", model=request.model)
        attempts = 0

        def once(form: RequestForm) -> tuple[requests.Response, Iterator[Delta], Delta | None]:
            nonlocal attempts, state
            attempts += 1
            state = Completion(text="", model=request.model)
            body = request.body(stream=True, form=form)
            resp = self._open("POST", "/chat/completions", body, cancellation, request.model)
            try:
                pieces = self._pieces(resp, state, cancellation)
                return resp, pieces, next(pieces, None)
            except BaseException:
                resp.close()
                raise

        with self._secrets.guard():
            resp, pieces, first = self._attempt(once, cancellation, request.model)
        ttft = None
        try:
            with self._secrets.guard():
                if first is not None:
                    ttft = time.monotonic() - started
                    for piece in self._secrets.clean_pieces(_whole_text(_chain(first, pieces))):
                        if piece.text:
                            stream.text_parts.append(piece.text)
                        if piece.reasoning:
                            stream.reasoning_parts.append(piece.reasoning)
                        yield piece
        finally:
            resp.close()
        state.text = stream.text
        state.reasoning = "".join(stream.reasoning_parts)
        stream.result = StreamResult(
            completion=state, ttft_s=ttft, elapsed_s=time.monotonic() - started, attempts=attempts
        )

    def _pieces(
        self, resp: requests.Response, state: Completion, cancellation: Cancellation
    ) -> Iterator[Delta]:
        """Pieces of the answer; model, usage and finish reason are recorded in ``state``.

        Errors before the first piece are retryable (a blip); after it they become
        StreamInterruptedError, because part of the answer has been shown.
        """
        ctype = resp.headers.get("Content-Type", "").lower()
        if "json" in ctype and "event-stream" not in ctype:
            # A server (or proxy) that ignores "stream": true sends one chat.completion.
            answer = self._completion(resp, state.model, cancellation)
            state.model, state.usage = answer.model, answer.usage
            state.finish_reason = answer.finish_reason or "stop"
            if answer.text or answer.reasoning:
                yield Delta(answer.text, answer.reasoning)
            return
        if ctype and "event-stream" not in ctype:
            raise E.ProtocolError(
                f"The server at {urlsplit(self.base_url).netloc} answered with "
                f"{ctype.split(';')[0][:60]}, not the chat-completions format",
                "Check the base URL; a captive portal or a proxy login page may be in the way",
            )
        decoder = SSEDecoder()
        chars = events = 0
        seen = done = False
        deadline = time.monotonic() + self.read_timeout
        try:
            for raw in body_chunks(
                resp, max_bytes=MAX_STREAM_BYTES, cancellation=cancellation, base_url=self.base_url
            ):
                for event in decoder.feed(raw):
                    events += 1
                    if events > MAX_EVENTS:
                        raise _too_long("events")
                    if event.data.strip() == "[DONE]":
                        done = True
                        break
                    info = parse_chunk(event.data)
                    state.model = info.model or state.model
                    state.usage = info.usage or state.usage
                    state.finish_reason = info.finish_reason or state.finish_reason
                    if info.text or info.reasoning:
                        chars += len(info.text) + len(info.reasoning)
                        if chars > MAX_ANSWER_CHARS:
                            raise _too_long("characters")
                        seen = True
                        deadline = time.monotonic() + self.read_timeout
                        yield Delta(info.text, info.reasoning)
                if done:
                    break
                if time.monotonic() > deadline:
                    raise E.APITimeoutError(
                        f"{urlsplit(self.base_url).netloc} sent nothing of the answer for "
                        f"{self.read_timeout:.0f} s",
                        "The server may be overloaded; try again, or raise network.read_timeout",
                    )
        except E.APIConnectionError as exc:
            cancellation.raise_if_cancelled()
            if seen:
                cause = exc.message or "the connection failed"
                raise interrupted(cause[:1].lower() + cause[1:]) from None
            raise
        cancellation.raise_if_cancelled()
        if not done and state.finish_reason is None:
            where = "in the middle of an event" if decoder.incomplete() else "without finishing"
            message = f"The server closed the stream {where}"
            if seen:
                raise E.StreamInterruptedError(message, "The partial answer is kept; try again")
            raise E.APIConnectionError(message, "Try again")

    # --- plumbing -------------------------------------------------------------------------

    def _headers(self, stream: bool, body: bool) -> dict[str, str]:
        headers = {
            "User-Agent": f"desktop-vlm/{__version__}",
            "Accept": "text/event-stream" if stream else "application/json",
        }
        if body:
            headers["Content-Type"] = "application/json"
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        return headers

    def _open(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        cancellation: Cancellation,
        model: str | None,
    ) -> requests.Response:
        """A response with a success status, body unread; a typed error otherwise."""
        data = None
        if body is not None:
            data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
        resp = self._transport.send(
            method,
            self.base_url + path,
            body=data,
            headers=self._headers(stream=bool(body and body.get("stream")), body=data is not None),
            cancellation=cancellation,
            base_url=self.base_url,
        )
        if resp.status_code < 300:
            return resp
        with resp:
            raw = read_prefix(
                resp,
                limit=MAX_ERROR_BODY,
                cancellation=cancellation,
                base_url=self.base_url,
                deadline_s=self.read_timeout,
            )
        raise status_error(
            status=resp.status_code,
            reason=resp.reason or "",
            headers=resp.headers,
            body=raw[:MAX_ERROR_BODY],
            base_url=self.base_url,
            path=path,
            model=model,
            key=self._key,
        )

    def _json(self, resp: requests.Response, cancellation: Cancellation) -> Any:
        raw = read_body(
            resp,
            max_bytes=MAX_JSON_BODY,
            cancellation=cancellation,
            base_url=self.base_url,
            deadline_s=self.read_timeout,
        )
        try:
            return json.loads(raw)
        except (ValueError, RecursionError):
            raise E.ProtocolError(
                f"The server at {self.base_url} answered with something that is not JSON",
                "Check that the base URL points at an OpenAI-compatible /v1 endpoint",
            ) from None

    def _completion(
        self, resp: requests.Response, model: str, cancellation: Cancellation
    ) -> Completion:
        answer = parse_completion(self._json(resp, cancellation), model)
        if len(answer.text) + len(answer.reasoning) > MAX_ANSWER_CHARS:
            raise _too_long("characters")
        answer.text = clean_text(self._secrets.text(answer.text))
        answer.reasoning = clean_text(self._secrets.text(answer.reasoning))
        return answer


def _chain(first: Delta, rest: Iterator[Delta]) -> Iterator[Delta]:
    yield first
    yield from rest


def _whole_text(pieces: Iterator[Delta]) -> Iterator[Delta]:
    """Pieces as text that can be saved and sent again: a surrogate pair split across two
    events (a server encoding an emoji as UTF-16 halves) is joined, a lone half replaced."""
    text, reasoning = JoinedText(), JoinedText()
    for piece in pieces:
        out = Delta(text.add(piece.text), reasoning.add(piece.reasoning))
        if out.text or out.reasoning:
            yield out
    rest = Delta(text.finish(), reasoning.finish())
    if rest.text or rest.reasoning:
        yield rest


def _too_long(what: str) -> E.ProtocolError:
    limit = f"{MAX_ANSWER_CHARS:,} characters" if what == "characters" else f"{MAX_EVENTS:,} events"
    return E.ProtocolError(
        f"The answer passed {limit}, so it was stopped", "Lower max_tokens for this preset"
    )


__all__ = ["Cancellation", "ChatClient", "ChatStream", "StreamResult"]
