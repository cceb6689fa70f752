"""The chat-completions client: streaming and plain requests, the model list, typed errors,
retries before the first token, and cancellation from another thread.

Cancellation works at the socket: every connection this client opens registers its socket with
the Cancellation of the request that uses it, and ``cancel()`` shuts the socket down, which wakes
a thread blocked waiting for headers or for the next byte of the stream at once. The server sees
the connection close, so a stopped answer stops costing tokens.
"""

from __future__ import annotations

import email.utils
import json
import logging
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from desktop_vlm import __version__
from desktop_vlm.core import errors as E
from desktop_vlm.core.completions import (
    ChatRequest,
    Completion,
    Usage,
    error_message,
    parse_chunk,
    parse_completion,
    parse_models,
)
from desktop_vlm.core.errors import redact
from desktop_vlm.core.sse import SSEDecoder
from desktop_vlm.core.urls import is_loopback_host
from desktop_vlm.services.cancellation import Cancellation, _active

log = logging.getLogger(__name__)

#: Never read more than this much answer text; a runaway server must not eat the memory.
MAX_ANSWER_CHARS = 1_000_000
#: Error bodies are read up to this size for their message.
MAX_ERROR_BODY = 64 * 1024
#: A Retry-After longer than this is not waited for; the error is shown instead.
MAX_RETRY_AFTER = 60.0


# --- cancellation at the socket (see services/cancellation.py) -------------------------


class _CancellableMixin:
    def getresponse(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        cancellation = getattr(_active, "cancellation", None)
        if cancellation is not None:
            cancellation.attach(self.sock)
        return super().getresponse(*args, **kwargs)


class _HTTPConnection(_CancellableMixin, HTTPConnection):
    pass


class _HTTPSConnection(_CancellableMixin, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _HTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _HTTPSConnection


class _Adapter(HTTPAdapter):
    def init_poolmanager(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


# --- endpoint safety --------------------------------------------------------------------


def check_endpoint(base_url: str, has_key: bool) -> None:
    """Refuse to send a key in clear text anywhere but this machine."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise E.ConfigError(
            f"The base URL {base_url!r} is not an http(s) URL",
            "Set base_url in config.toml or DESKTOP_VLM_BASE_URL, e.g. https://api.hyperbolic.xyz/v1",
        )
    if has_key and parts.scheme == "http" and not is_loopback_host(parts.hostname):
        raise E.InsecureEndpointError(
            f"Refusing to send the API key over plain HTTP to {parts.hostname}",
            "Use an https:// base URL (plain http is allowed only for 127.0.0.1/localhost)",
        )


# --- results ----------------------------------------------------------------------------


@dataclass
class StreamResult:
    completion: Completion
    ttft_s: float | None
    elapsed_s: float
    attempts: int


class ChatStream:
    """An answer being streamed: iterate for text pieces; ``result`` is set when it ends.

    Iteration raises a typed error on failure. ``cancel()`` may be called from any thread.
    """

    def __init__(self, client: ChatClient, request: ChatRequest, cancellation: Cancellation):
        self._client = client
        self._request = request
        self.cancellation = cancellation
        self.result: StreamResult | None = None
        self.text_parts: list[str] = []

    def cancel(self) -> None:
        self.cancellation.cancel()

    @property
    def text(self) -> str:
        return "".join(self.text_parts)

    def __iter__(self) -> Iterator[str]:
        return self._client._run_stream(self)


class ChatClient:
    def __init__(
        self,
        base_url: str,
        api_key: str | None,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        max_retries: int = 2,
        session: requests.Session | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        check_endpoint(self.base_url, bool(api_key))
        self._key = api_key
        self.timeout = (connect_timeout, read_timeout)
        self.max_retries = max_retries
        self._send_usage_option = True
        self._session = session or requests.Session()
        adapter = _Adapter(pool_connections=2, pool_maxsize=4, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        self._session.trust_env = False  # no proxy/netrc surprises; the key goes where we say

    # --- public API -----------------------------------------------------------------------

    def stream_chat(
        self, request: ChatRequest, cancellation: Cancellation | None = None
    ) -> ChatStream:
        return ChatStream(self, request, cancellation or Cancellation())

    def complete(
        self, request: ChatRequest, cancellation: Cancellation | None = None
    ) -> Completion:
        cancellation = cancellation or Cancellation()
        body = request.body(stream=False)
        resp = self._send("POST", "/chat/completions", body, cancellation, request.model)
        with resp:
            payload = self._read_json(resp, cancellation)
        return parse_completion(payload, request.model)

    def list_models(self, cancellation: Cancellation | None = None) -> list[str]:
        cancellation = cancellation or Cancellation()
        resp = self._send("GET", "/models", None, cancellation, None)
        with resp:
            return parse_models(self._read_json(resp, cancellation))

    def close(self) -> None:
        self._session.close()

    # --- streaming ------------------------------------------------------------------------

    def _run_stream(self, stream: ChatStream) -> Iterator[str]:
        request, cancellation = stream._request, stream.cancellation
        started = time.monotonic()
        attempt = 0
        while True:
            attempt += 1
            body = request.body(stream=True, include_usage=self._send_usage_option)
            resp = self._send("POST", "/chat/completions", body, cancellation, request.model)
            state = Completion(text="", model=request.model)
            try:
                events = self._decode_stream(resp, state, cancellation)
                first = next(events, None)
            except E.APIError as exc:
                resp.close()
                if exc.retryable and attempt <= self.max_retries:
                    self._backoff(attempt, exc, cancellation)
                    continue
                raise
            break
        ttft = None
        try:
            if first is not None:
                ttft = time.monotonic() - started
                stream.text_parts.append(first)
                yield first
                for piece in events:
                    stream.text_parts.append(piece)
                    yield piece
        finally:
            resp.close()
        state.text = stream.text
        stream.result = StreamResult(
            completion=state,
            ttft_s=ttft,
            elapsed_s=time.monotonic() - started,
            attempts=attempt,
        )

    def _decode_stream(
        self, resp: requests.Response, state: Completion, cancellation: Cancellation
    ) -> Iterator[str]:
        """Text pieces of the answer; model, usage and finish reason are recorded in ``state``.

        Errors before the first piece are retryable (connection blips); after it they become
        StreamInterruptedError, because part of the answer has been shown.
        """
        ctype = resp.headers.get("Content-Type", "").lower()
        if "json" in ctype and "event-stream" not in ctype:
            # A server (or proxy) that ignores "stream": true sends one chat.completion; a body
            # that is not JSON is a protocol problem, not a connection that broke mid-event.
            answer = parse_completion(self._read_json(resp, cancellation), state.model)
            if len(answer.text) > MAX_ANSWER_CHARS:
                raise _too_long()
            state.model, state.usage = answer.model, answer.usage
            state.finish_reason = answer.finish_reason or "stop"
            if answer.text:
                yield answer.text
            return
        decoder = SSEDecoder()
        chars = 0
        seen_text = False
        done = False
        try:
            for raw in _iter_raw(resp):
                for event in decoder.feed(raw):
                    if event.data.strip() == "[DONE]":
                        done = True
                        break
                    info = parse_chunk(event.data)
                    if info.model:
                        state.model = info.model
                    if info.usage is not None:
                        state.usage = info.usage
                    if info.finish_reason:
                        state.finish_reason = info.finish_reason
                    if info.text:
                        chars += len(info.text)
                        if chars > MAX_ANSWER_CHARS:
                            raise _too_long()
                        seen_text = True
                        yield info.text
                if done:
                    break
        except E.VlmError:
            raise
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            cancellation.raise_if_cancelled()
            if seen_text:
                raise E.StreamInterruptedError(
                    f"The answer stopped before it was complete ({_network_cause(exc)})",
                    "The partial answer is kept; try again",
                ) from None
            raise _connection_error(exc, self.base_url) from None
        cancellation.raise_if_cancelled()
        if not done and state.finish_reason is None:
            where = "in the middle of an event" if decoder.incomplete() else "without finishing"
            message = f"The server closed the stream {where}"
            if seen_text:
                raise E.StreamInterruptedError(message, "The partial answer is kept; try again")
            raise E.APIConnectionError(message, "Try again")

    # --- plumbing -------------------------------------------------------------------------

    def _headers(self, stream: bool) -> dict[str, str]:
        headers = {
            "User-Agent": f"desktop-vlm/{__version__}",
            "Accept": "text/event-stream" if stream else "application/json",
        }
        if self._key:
            headers["Authorization"] = f"Bearer {self._key}"
        return headers

    def _send(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | None,
        cancellation: Cancellation,
        model: str | None,
    ) -> requests.Response:
        """Send with retries for failures before a response body is read; raise typed errors."""
        url = self.base_url + path
        data = None
        headers = self._headers(stream=bool(body and body.get("stream")))
        attempt = 0
        while True:
            attempt += 1
            cancellation.raise_if_cancelled()
            if body is not None:
                data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()
                headers["Content-Type"] = "application/json"
            _active.cancellation = cancellation
            try:
                resp = self._session.request(
                    method,
                    url,
                    data=data,
                    headers=headers,
                    timeout=self.timeout,
                    stream=True,
                    allow_redirects=False,
                )
            except (requests.RequestException, OSError) as exc:
                cancellation.raise_if_cancelled()
                error: E.APIError = _connection_error(exc, self.base_url)
            else:
                if resp.status_code < 300:
                    return resp
                error = self._status_error(resp, model, cancellation)
                resp.close()
                if (
                    isinstance(error, E.BadRequestError)
                    and body is not None
                    and "stream_options" in body
                    and "stream_options" in error.server_message
                ):
                    # An older server that does not know stream_options: ask without it.
                    log.info("server rejects stream_options; retrying without usage request")
                    self._send_usage_option = False
                    body = {k: v for k, v in body.items() if k != "stream_options"}
                    continue
            finally:
                _active.cancellation = None
            if error.retryable and attempt <= self.max_retries:
                self._backoff(attempt, error, cancellation)
                continue
            raise error

    def _backoff(self, attempt: int, error: E.APIError, cancellation: Cancellation) -> None:
        delay = min(8.0, 0.5 * 2 ** (attempt - 1)) * random.uniform(0.75, 1.0)
        retry_after = getattr(error, "retry_after", None)
        if retry_after is not None:
            if retry_after > MAX_RETRY_AFTER:
                raise error
            delay = retry_after
        log.info("attempt %d failed (%s); retrying in %.1f s", attempt, type(error).__name__, delay)
        if cancellation.wait(delay):
            cancellation.raise_if_cancelled()

    def _read_json(self, resp: requests.Response, cancellation: Cancellation) -> Any:
        try:
            raw = resp.content
        except (requests.RequestException, OSError) as exc:
            cancellation.raise_if_cancelled()
            raise _connection_error(exc, self.base_url) from None
        try:
            return json.loads(raw)
        except ValueError:
            raise E.ProtocolError(
                f"The server at {self.base_url} answered with something that is not JSON",
                "Check that the base URL points at an OpenAI-compatible /v1 endpoint",
            ) from None

    def _status_error(
        self, resp: requests.Response, model: str | None, cancellation: Cancellation
    ) -> E.APIError:
        status = resp.status_code
        try:
            raw = resp.raw.read(MAX_ERROR_BODY, decode_content=True) or b""
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError):
            cancellation.raise_if_cancelled()
            raw = b""
        text = raw.decode("utf-8", errors="replace")
        ctype = resp.headers.get("Content-Type", "")
        server_message = ""
        html = "html" in ctype or text.lstrip()[:15].lower().startswith(("<!doctype", "<html"))
        if not html:
            try:
                server_message = error_message(json.loads(text))
            except ValueError:
                server_message = text.strip()
        server_message = redact(" ".join(server_message.split())[:300], self._key)
        reason = f"HTTP {status}" + (f": {server_message}" if server_message else "")
        if html:
            reason = f"HTTP {status} {resp.reason or ''}".rstrip() + ", an HTML error page"
        kw = {"status": status, "server_message": server_message}
        where = urlsplit(self.base_url).netloc
        if 300 <= status < 400:
            location = resp.headers.get("Location", "?")
            return E.ProtocolError(
                f"The server at {where} redirected to {location} ({reason})",
                "Set the base URL to the final address",
            )
        if status == 401:
            hint = (
                "Store a valid key with `desktop-vlm key set` or in Settings"
                if self._key
                else "No API key was sent; store one with `desktop-vlm key set` or in Settings"
            )
            return E.AuthenticationError(f"The server rejected the API key ({reason})", hint, **kw)
        if status == 403:
            return E.PermissionDeniedError(
                f"The server refused access ({reason})",
                "Check that your account and key may use this model, or pick another model",
                **kw,
            )
        if status == 404:
            if (
                model
                and not html
                and ("model" in server_message.lower() or model in server_message)
            ):
                return E.ModelNotFoundError(
                    f"The model {model!r} is not available at {where} ({reason})",
                    "It may have been withdrawn; list the models with `desktop-vlm models` and "
                    "choose one with --model or in Settings",
                    **kw,
                )
            return E.EndpointNotFoundError(
                f"{self.base_url} has no {urlsplit(resp.url).path.rsplit('/', 1)[-1]} endpoint ({reason})",
                "Check the base URL; OpenAI-compatible servers usually end in /v1",
                **kw,
            )
        if status == 408:
            return E.APITimeoutError(
                f"The server timed out reading the request ({reason})", "Try again"
            )
        if status == 413:
            return E.BadRequestError(
                f"The server says the request is too large ({reason})",
                'Capture a smaller region, or set [image] format = "jpeg" in config.toml',
                **kw,
            )
        if status in (400, 422):
            return E.BadRequestError(
                f"The server rejected the request ({reason})",
                "Check the model and the preset's settings (max_tokens, temperature)",
                **kw,
            )
        if status == 429:
            retry_after = _retry_after(resp.headers.get("Retry-After"))
            wait = f"; it asks to wait {retry_after:.0f} s" if retry_after is not None else ""
            return E.RateLimitError(
                f"The server is rate-limiting requests ({reason}{wait})",
                "Wait a moment and try again, or check your plan's limits",
                retry_after=retry_after,
                **kw,
            )
        if status == 409 or status >= 500:
            return E.ServerError(
                f"The server at {where} failed ({reason})",
                "This is usually temporary; try again in a minute",
                **kw,
            )
        return E.APIStatusError(f"The server answered with an error ({reason})", "", **kw)


def _too_long() -> E.ProtocolError:
    return E.ProtocolError(
        f"The answer passed {MAX_ANSWER_CHARS:,} characters, so it was stopped",
        "Lower max_tokens for this preset",
    )


def _iter_raw(resp: requests.Response) -> Iterator[bytes]:
    """Bytes as soon as they arrive, for chunked and close-delimited responses alike."""
    raw = resp.raw
    while True:
        data = raw.read1(65536) if hasattr(raw, "read1") else raw.read(1024)
        if not data:
            return
        yield data


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _network_cause(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}"
    low = text.lower()
    if "timed out" in low or "timeout" in low:
        return "no data arrived within the read timeout"
    if "reset" in low:
        return "the connection was reset"
    if "refused" in low:
        return "connection refused"
    if "broken" in low or "incomplete" in low or "closed" in low or "protocol" in low:
        return "the connection closed unexpectedly"
    return "the connection failed"


def _connection_error(exc: BaseException, base_url: str) -> E.APIError:
    host = urlsplit(base_url).netloc
    text = f"{type(exc).__name__}: {exc}".lower()
    if isinstance(exc, requests.ConnectTimeout) or "connecttimeout" in text:
        return E.APITimeoutError(
            f"Connecting to {host} timed out", "Check your network connection and the base URL"
        )
    if isinstance(exc, requests.Timeout) or "read timed out" in text:
        return E.APITimeoutError(
            f"{host} did not answer within the read timeout",
            "The server may be overloaded; try again, or raise network.read_timeout",
        )
    if (
        "name or service not known" in text
        or "nodename nor servname" in text
        or "getaddrinfo" in text
        or "name resolution" in text
        or "failed to resolve" in text
    ):
        return E.APIConnectionError(
            f"The host name {urlsplit(base_url).hostname} could not be resolved",
            "Check the base URL and your network connection",
        )
    if "certificate" in text or "ssl" in text:
        return E.APIConnectionError(
            f"The secure connection to {host} failed (TLS certificate or handshake)",
            "Check the system time and the base URL; a proxy may be intercepting HTTPS",
        )
    if "refused" in text:
        return E.APIConnectionError(
            f"Could not connect to {host} (connection refused)",
            "Is the server running? Check the base URL",
        )
    return E.APIConnectionError(
        f"The connection to {host} failed ({_network_cause(exc)})",
        "Check your network connection and try again",
    )


__all__ = [
    "Cancellation",
    "ChatClient",
    "ChatStream",
    "StreamResult",
    "Usage",
    "check_endpoint",
    "is_loopback_host",
]
