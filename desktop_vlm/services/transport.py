"""HTTP for the client: one request at a time, cancellable at the socket, bounded in bytes and time.

- Cancellation works at the socket: each connection registers its socket with the Cancellation of
  the request using it, and ``cancel()`` shuts it down, which wakes a thread blocked on headers or
  on the next byte at once; the server sees the connection close.
- Bodies are read through ``body_chunks``: responses are asked for uncompressed, and a server that
  compresses anyway is decoded here with a bound on the *decompressed* bytes, so a gzip bomb costs
  at most ``max_bytes``; a body that trickles without end is cut by a deadline on progress, not by
  the per-read socket timeout a byte a second would keep resetting.
- Proxies come from HTTPS_PROXY/HTTP_PROXY/NO_PROXY as usual (never for loopback); a private CA from
  SSL_CERT_FILE, REQUESTS_CA_BUNDLE or the config. No netrc, no redirects: the key goes only where
  the base URL says.
"""

from __future__ import annotations

import logging
import os
import time
import zlib
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

from desktop_vlm.core import errors as E
from desktop_vlm.core.api_errors import connection_error
from desktop_vlm.core.urls import is_loopback_host
from desktop_vlm.services.cancellation import Cancellation, _active

log = logging.getLogger(__name__)

READ_SIZE = 64 * 1024
#: Network errors from the layers below requests, as they surface while a body is read.
NETWORK_ERRORS = (requests.RequestException, urllib3.exceptions.HTTPError, OSError)


class BodyTooLarge(E.ProtocolError):
    """A response body (after decompression) passed its limit."""


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

    def proxy_manager_for(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        manager = super().proxy_manager_for(*args, **kwargs)
        manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
        return manager


def ca_bundle_from_env(configured: str = "") -> str | bool:
    """The CA bundle to verify servers with: the setting, else SSL_CERT_FILE or
    REQUESTS_CA_BUNDLE, else the default store (True)."""
    for candidate in (
        configured,
        os.environ.get("SSL_CERT_FILE"),
        os.environ.get("REQUESTS_CA_BUNDLE"),
    ):
        if candidate:
            return candidate
    return True


class Transport:
    """Sends one request and hands back the response unread; see the module docstring."""

    def __init__(
        self,
        *,
        connect_timeout: float = 10.0,
        read_timeout: float = 120.0,
        ca_bundle: str = "",
        session: requests.Session | None = None,
    ) -> None:
        self.timeout = (connect_timeout, read_timeout)
        self.verify = ca_bundle_from_env(ca_bundle)
        self._session = session or requests.Session()
        adapter = _Adapter(pool_connections=2, pool_maxsize=4, max_retries=0)
        self._session.mount("http://", adapter)
        self._session.mount("https://", adapter)
        # No netrc (it would replace our Authorization header) and no environment proxies
        # read behind our back: proxies are looked up per request below.
        self._session.trust_env = False

    def send(
        self,
        method: str,
        url: str,
        *,
        body: bytes | None,
        headers: dict[str, str],
        cancellation: Cancellation,
        base_url: str,
    ) -> requests.Response:
        """The response (status not checked, body unread); typed errors for network failures."""
        cancellation.raise_if_cancelled()
        if (
            self.verify is not True
            and isinstance(self.verify, str)
            and not os.path.exists(self.verify)
        ):
            raise E.ConfigError(
                f"The CA bundle {self.verify} does not exist",
                "Fix [network] ca_bundle, SSL_CERT_FILE or REQUESTS_CA_BUNDLE",
            )
        headers = {**headers, "Accept-Encoding": "identity"}
        _active.cancellation = cancellation
        try:
            return self._session.request(
                method,
                url,
                data=body,
                headers=headers,
                timeout=self.timeout,
                stream=True,
                allow_redirects=False,
                proxies=_proxies_for(url),
                verify=self.verify,
            )
        except NETWORK_ERRORS as exc:
            cancellation.raise_if_cancelled()
            raise connection_error(
                f"{type(exc).__name__}: {exc}",
                base_url,
                connect_timeout=isinstance(exc, requests.ConnectTimeout),
            ) from None
        finally:
            _active.cancellation = None

    def close(self) -> None:
        self._session.close()


def body_chunks(
    resp: requests.Response,
    *,
    max_bytes: int,
    cancellation: Cancellation,
    base_url: str,
) -> Iterator[bytes]:
    """The body's bytes as they arrive, decoded if the server compressed it anyway.

    Raises BodyTooLarge past ``max_bytes`` of decoded data and typed network errors; a read
    that waits longer than the read timeout ends in APIConnectionError. What counts as progress
    (and so how long a trickle may last) is the caller's to decide between chunks.
    """
    decoder = _decoder(resp.headers.get("Content-Encoding", ""))
    raw = resp.raw
    total = 0
    while True:
        try:
            data = raw.read1(READ_SIZE) if hasattr(raw, "read1") else raw.read(READ_SIZE)
        except NETWORK_ERRORS as exc:
            cancellation.raise_if_cancelled()
            raise connection_error(f"{type(exc).__name__}: {exc}", base_url) from None
        if not data:
            if decoder is not None:
                tail = decoder.flush()
                if tail:
                    total += len(tail)
                    if total > max_bytes:
                        raise _too_large(max_bytes)
                    yield tail
            return
        if decoder is not None:
            # Inflate at most what the limit still allows: a bomb never gets further.
            out = decoder.decompress(data, max_bytes - total + 1)
            while decoder.unconsumed_tail and len(out) <= max_bytes - total:
                out += decoder.decompress(decoder.unconsumed_tail, max_bytes - total + 1 - len(out))
            data = out
        total += len(data)
        if total > max_bytes:
            raise _too_large(max_bytes)
        if data:
            yield data


def read_body(
    resp: requests.Response,
    *,
    max_bytes: int,
    cancellation: Cancellation,
    base_url: str,
    deadline_s: float | None = None,
) -> bytes:
    """The whole body, at most ``max_bytes`` decoded, within ``deadline_s`` seconds if given."""
    parts = bytearray()
    started = time.monotonic()
    for chunk in body_chunks(
        resp, max_bytes=max_bytes, cancellation=cancellation, base_url=base_url
    ):
        parts += chunk
        if deadline_s is not None and time.monotonic() - started > deadline_s:
            raise E.APITimeoutError(
                f"{urlsplit(base_url).netloc} sent its answer too slowly "
                f"(not complete after {deadline_s:.0f} s)",
                "Try again; the server may be overloaded",
            )
    return bytes(parts)


def read_prefix(
    resp: requests.Response,
    *,
    limit: int,
    cancellation: Cancellation,
    base_url: str,
    deadline_s: float | None = None,
) -> bytes:
    """At most ``limit`` bytes from the start of the body (an error page's message); a body
    that breaks, trickles past ``deadline_s`` or is longer gives what was read by then."""
    parts = bytearray()
    started = time.monotonic()
    try:
        for chunk in body_chunks(
            resp, max_bytes=limit + READ_SIZE, cancellation=cancellation, base_url=base_url
        ):
            parts += chunk
            if len(parts) >= limit or (
                deadline_s is not None and time.monotonic() - started > deadline_s
            ):
                break
    except E.APIError:
        cancellation.raise_if_cancelled()
    return bytes(parts[:limit])


def _too_large(limit: int) -> BodyTooLarge:
    return BodyTooLarge(
        f"The server's answer passed {limit // (1024 * 1024)} MB, so it was not read further",
        "Check that the base URL points at an OpenAI-compatible /v1 endpoint",
    )


def _decoder(encoding: str):  # noqa: ANN202 - zlib's decompressobj type is private
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise E.ProtocolError(
        f"The server sent its answer encoded as {encoding[:40]!r}, which was not asked for",
        "Check the base URL, or a proxy that rewrites answers",
    )


def _proxies_for(url: str) -> dict[str, str]:
    host = urlsplit(url).hostname
    if is_loopback_host(host):
        return {}  # this machine is never reached through a proxy
    proxies = requests.utils.get_environ_proxies(url)
    if proxies:
        log.debug("using the proxy from the environment for %s", host)
    return proxies
