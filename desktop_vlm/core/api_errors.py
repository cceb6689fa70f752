"""What a server's answer means for the person: HTTP statuses and network failures mapped to the
typed errors of ``core.errors``, each with a cause and a fix. Pure: the transport hands over the
facts (status, headers, the first bytes of the body, an exception's text) and gets an error back.

Every text that came from the server passes through ``redact`` before it is put in a message.
"""

from __future__ import annotations

import email.utils
import json
import re
import time
from collections.abc import Mapping
from dataclasses import replace
from urllib.parse import urlsplit

from desktop_vlm.core import errors as E
from desktop_vlm.core.completions import RequestForm, error_message
from desktop_vlm.core.text import one_line

#: How much of a server's error message is quoted.
MESSAGE_CHARS = 300


def status_error(
    *,
    status: int,
    reason: str,
    headers: Mapping[str, str],
    body: bytes,
    base_url: str,
    path: str,
    model: str | None,
    key: str | None,
) -> E.APIError:
    """The typed error for an HTTP error status, quoting the server's own words (redacted)."""
    text = body.decode("utf-8", errors="replace")
    ctype = headers.get("Content-Type", "")
    server_message = ""
    html = "html" in ctype.lower() or text.lstrip()[:15].lower().startswith(("<!doctype", "<html"))
    if not html:
        try:
            server_message = error_message(json.loads(text))
        except ValueError:
            server_message = text.strip()
    server_message = E.redact(one_line(server_message, MESSAGE_CHARS), key)
    quoted = f"HTTP {status}" + (f": {server_message}" if server_message else "")
    if html:
        phrase = E.redact(one_line(reason or "", 80), key)
        quoted = f"HTTP {status} {phrase}".rstrip() + ", an HTML error page"
    kw = {"status": status, "server_message": server_message}
    where = urlsplit(base_url).netloc
    if status >= 400 and cannot_read_images(server_message):
        return E.VisionUnsupportedError(
            f"{f'The model {model!r}' if model else 'The model'} cannot read images ({quoted})",
            "Pick a vision model: list them with `desktop-vlm models` (marked vision) or in the "
            "window's model list",
            **kw,
        )
    if 300 <= status < 400:
        location = headers.get("Location", "")
        target = E.redact(urlsplit(location[:2000]).hostname or "", key) if location else ""
        return E.ProtocolError(
            f"The server at {where} redirected"
            + (f" to {target}" if target else "")
            + f" ({quoted})",
            "Set the base URL to the final address",
        )
    if status == 401:
        hint = (
            "Store a valid key in Settings or with `desktop-vlm key set`"
            if key
            else "No API key was sent; store one in Settings or with `desktop-vlm key set`"
        )
        return E.AuthenticationError(f"The server rejected the API key ({quoted})", hint, **kw)
    if status == 403:
        return E.PermissionDeniedError(
            f"The server refused access ({quoted})",
            "Check that your account and key may use this model, or pick another model",
            **kw,
        )
    if status == 404:
        low = server_message.lower()
        if model and not html and ("model" in low or model in server_message):
            return E.ModelNotFoundError(
                f"The model {model!r} is not available at {where} ({quoted})",
                "It may have been withdrawn; pick another one in the window's model list, or "
                "list them with `desktop-vlm models`",
                **kw,
            )
        endpoint = path.rstrip("/").rsplit("/", 1)[-1] or "requested"
        return E.EndpointNotFoundError(
            f"{base_url} has no {endpoint} endpoint ({quoted})",
            "Check the base URL; OpenAI-compatible servers usually end in /v1",
            **kw,
        )
    if status == 408:
        return E.APITimeoutError(
            f"The server timed out reading the request ({quoted})", "Try again"
        )
    if status == 413:
        return E.BadRequestError(
            f"The server says the request is too large ({quoted})",
            'Capture a smaller region, or set [image] format = "jpeg" in config.toml',
            **kw,
        )
    if status in (400, 422):
        return E.BadRequestError(
            f"The server rejected the request ({quoted})",
            "Check the model and the preset's settings (max_tokens, temperature)",
            **kw,
        )
    if status == 429:
        retry_after = parse_retry_after(headers.get("Retry-After"))
        wait = f"; it asks to wait {retry_after:.0f} s" if retry_after is not None else ""
        return E.RateLimitError(
            f"The server is rate-limiting requests ({quoted}{wait})",
            "Wait a moment and try again, or check your plan's limits",
            retry_after=retry_after,
            **kw,
        )
    if status == 409 or status >= 500:
        return E.ServerError(
            f"The server at {where} failed ({quoted})",
            "This is usually temporary; try again in a minute",
            **kw,
        )
    return E.APIStatusError(f"The server answered with an error ({quoted})", "", **kw)


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()[:100]
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is no answer
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def network_cause(text: str) -> str:
    """A failed connection's cause in words, from the exception's type and text."""
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


def connection_error(text: str, base_url: str, *, connect_timeout: bool = False) -> E.APIError:
    """The typed error for a connection that failed; ``error.cause`` says how, in words.

    ``text`` is the exception's type and message ("ConnectionError: ..."); it is matched, never
    shown, so nothing the network layer says (a proxy URL with a password) reaches the person.
    """
    error = _connection_error(text, base_url, connect_timeout)
    error.cause = network_cause(text)  # type: ignore[attr-defined]
    return error


def _connection_error(text: str, base_url: str, connect_timeout: bool) -> E.APIError:
    parts = urlsplit(base_url)
    host = parts.hostname or parts.netloc
    if parts.port:
        host = f"{host}:{parts.port}"
    low = text.lower()
    if connect_timeout or "connecttimeout" in low:
        return E.APITimeoutError(
            f"Connecting to {host} timed out", "Check your network connection and the base URL"
        )
    if "read timed out" in low or "readtimeout" in low:
        return E.APITimeoutError(
            f"{host} did not answer within the read timeout",
            "The server may be overloaded; try again, or raise network.read_timeout",
        )
    if any(
        needle in low
        for needle in (
            "name or service not known",
            "nodename nor servname",
            "getaddrinfo",
            "name resolution",
            "failed to resolve",
        )
    ):
        return E.APIConnectionError(
            f"The host name {parts.hostname} could not be resolved",
            "Check the base URL and your network connection",
        )
    if "proxy" in low:
        return E.APIConnectionError(
            f"The proxy refused or failed the connection to {host}",
            "Check HTTPS_PROXY / NO_PROXY, or unset them",
        )
    if "certificate" in low or "ssl" in low:
        return E.APIConnectionError(
            f"The secure connection to {host} failed (TLS certificate or handshake)",
            "Check the system time and the base URL; for a private CA set SSL_CERT_FILE or "
            "[network] ca_bundle",
        )
    if "refused" in low:
        return E.APIConnectionError(
            f"Could not connect to {host} (connection refused)",
            "Is the server running? Check the base URL",
        )
    return E.APIConnectionError(
        f"The connection to {host} failed ({network_cause(text)})",
        "Check your network connection and try again",
    )


def interrupted(cause: str) -> E.StreamInterruptedError:
    return E.StreamInterruptedError(
        f"The answer stopped before it was complete ({cause})",
        "The partial answer is kept; try again",
    )


_NO_IMAGES = (
    "image input is not supported",
    "does not support image",
    "doesn't support image",
    "not support image",
    "image_url is not supported",
    "images are not supported",
    "image inputs are not supported",
    "vision is not supported",
    "does not support vision",
    "not a multimodal model",
    "no multimodal",
    "mmproj",  # llama.cpp without its multimodal projector
    "unsupported content type 'image_url'",
    "unknown content type: image_url",
    "content type image_url not supported",
)


_NO_IMAGES_PATTERN = re.compile(
    r"\b(image|images|image_url|image input|vision|multimodal)\b[^.]{0,60}?"
    r"\b(not supported|unsupported|only supported|not enabled|not available)"
)


def cannot_read_images(server_message: str) -> bool:
    """The server says the model takes no images (each server words it its own way)."""
    low = server_message.lower()
    return any(needle in low for needle in _NO_IMAGES) or bool(_NO_IMAGES_PATTERN.search(low))


def adapted_form(error: E.APIError, form: RequestForm) -> RequestForm | None:
    """The request written the way the server asked for, when a 400 names a parameter it does
    not take (reasoning models: max_completion_tokens and no temperature; older servers: no
    stream_options); None when the error is not one of those or the form is already adapted."""
    if not isinstance(error, E.BadRequestError):
        return None
    low = error.server_message.lower()
    names_max_tokens = "max_tokens" in low and (
        "max_completion_tokens" in low or "unsupported" in low
    )
    if names_max_tokens and form.token_param != "max_completion_tokens":
        return replace(form, token_param="max_completion_tokens")
    refuses_temperature = "temperature" in low and any(
        w in low for w in ("unsupported", "not support", "only the default", "does not support")
    )
    if refuses_temperature and form.temperature:
        return replace(form, temperature=False)
    if "stream_options" in low and form.stream_options:
        return replace(form, stream_options=False)
    return None
