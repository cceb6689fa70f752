"""Find the model servers running on this machine (Ollama, LM Studio, vLLM, llama.cpp) and the
vision models they serve, so a person with a local server needs no key and no typing.

Everything here is hostile-input code: a port may belong to anything, a server may accept and
never answer, drip bytes or send endless ones. So every probe talks to 127.0.0.1 only (never a
name that needs DNS, never a proxy), all probes run in parallel, every socket operation is armed
with what is left of one overall deadline, every body is cut at ``MAX_BODY_BYTES`` and parsed
as JSON inside a try. The call returns by the deadline with whatever answered properly.

For Ollama, ``/api/show`` reports each model's capabilities ("vision"), which decide; LM Studio's
``/api/v0/models`` marks vision models ``"type": "vlm"``; otherwise names decide
(``core.vision_models``).
"""

from __future__ import annotations

import http.client
import json
import logging
import socket
import time
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from desktop_vlm.core.providers import local_providers, provider
from desktop_vlm.core.vision_models import (
    capabilities_from_listing,
    rank_vision_models,
    recognise,
)

log = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
MAX_BODY_BYTES = 1_000_000
#: Ollama models asked about with /api/show (the rest are judged by name).
MAX_SHOWN_MODELS = 24
SHOW_WORKERS = 8
MAX_MODELS = 500
MAX_ID_CHARS = 256
#: A port that takes longer than this to accept on loopback is not a server worth waiting for.
CONNECT_TIMEOUT_S = 0.15
#: Time allowed past the deadline for threads to hand back what they finished (the inner
#: wait, for Ollama's /api/show calls, gets less so that its probe still makes the outer one).
_GRACE_S = 0.05
_INNER_GRACE_S = 0.01


@dataclass(frozen=True)
class LocalServer:
    """A model server found on this machine."""

    provider_id: str
    base_url: str
    #: Every model id the server lists, in its order.
    models: tuple[str, ...]
    #: The vision models among them, best default first.
    vision_models: tuple[str, ...]
    #: For each vision model, the evidence: "capabilities", "provider" or "name".
    recognised_by: Mapping[str, str] = field(default_factory=dict, hash=False)

    @property
    def title(self) -> str:
        entry = provider(self.provider_id)
        return entry.title if entry else self.provider_id


class _Deadline(Exception):
    """The overall deadline passed."""


class _DeadlineSocket(socket.socket):
    """A socket whose every receive and send waits at most until one absolute deadline, so a
    server that drips a byte at a time cannot stretch the call."""

    deadline: float = 0.0

    def _arm(self) -> None:
        left = self.deadline - time.monotonic()
        if left <= 0:
            raise _Deadline()
        self.settimeout(left)

    def recv_into(self, buffer, nbytes=0, flags=0):  # type: ignore[override]
        self._arm()
        return super().recv_into(buffer, nbytes, flags)

    def recv(self, bufsize, flags=0):  # type: ignore[override]
        self._arm()
        return super().recv(bufsize, flags)

    def sendall(self, data, flags=0):  # type: ignore[override]
        self._arm()
        return super().sendall(data, flags)


class _LoopbackConnection(http.client.HTTPConnection):
    """http.client for the protocol (status line, headers, chunked bodies, with its own caps on
    line length and header count), on a deadline socket to 127.0.0.1. http.client reads no
    proxy settings; only urllib and requests do."""

    def __init__(self, port: int, deadline: float) -> None:
        super().__init__(LOOPBACK, port)
        self._deadline = deadline

    def connect(self) -> None:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise _Deadline()
        sock = _DeadlineSocket(socket.AF_INET, socket.SOCK_STREAM)
        sock.deadline = self._deadline
        try:
            sock.settimeout(min(CONNECT_TIMEOUT_S, left))
            sock.connect((LOOPBACK, self.port))
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


def _request_json(
    port: int, method: str, path: str, deadline: float, body: Any = None
) -> Any | None:
    """One request; the parsed JSON of a 200 answer, or None for anything else."""
    conn = _LoopbackConnection(port, deadline)
    try:
        payload = None if body is None else json.dumps(body).encode("utf-8")
        headers = {"Accept": "application/json", "Connection": "close"}
        if payload is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, body=payload, headers=headers)
        response = conn.getresponse()
        if response.status != 200:
            log.debug("127.0.0.1:%s %s answered %s", port, path, response.status)
            return None
        data = response.read(MAX_BODY_BYTES + 1)
        if len(data) > MAX_BODY_BYTES:
            log.debug("127.0.0.1:%s %s sent more than %s bytes", port, path, MAX_BODY_BYTES)
            return None
        return json.loads(data)
    except (OSError, http.client.HTTPException, _Deadline, ValueError, RecursionError) as exc:
        log.debug("127.0.0.1:%s %s: %s", port, path, type(exc).__name__)
        return None
    finally:
        conn.close()


def _clean_id(value: object) -> str | None:
    """A model id fit to show and send back: a short string without control characters."""
    if not isinstance(value, str):
        return None
    value = value.strip()
    if not value or len(value) > MAX_ID_CHARS or any(ord(c) < 32 or ord(c) == 127 for c in value):
        return None
    return value


def _is_list(payload: Any, key: str) -> bool:
    """Whether ``payload`` has the shape of a model list (``{key: [...]}``)."""
    return isinstance(payload, Mapping) and isinstance(payload.get(key), list)


def _entries(payload: Any, key: str) -> list[Mapping]:
    if not _is_list(payload, key):
        return []
    return [item for item in payload[key][:MAX_MODELS] if isinstance(item, Mapping)]


def _listed(entries: list[Mapping], *keys: str) -> dict[str, tuple[str, ...] | None]:
    """Model id (the first of ``keys`` an entry has) -> the capabilities the entry reports
    (None: it says nothing)."""
    found: dict[str, tuple[str, ...] | None] = {}
    for entry in entries:
        ids = [_clean_id(entry.get(key)) for key in keys]
        model_id = next((i for i in ids if i), None)
        if model_id and model_id not in found:
            found[model_id] = capabilities_from_listing(entry)
    return found


def _server_kind(provider_id: str, entries: list[Mapping]) -> str:
    """The catalog id, corrected when the server names itself (llama-server on vLLM's port)."""
    owners = {owner for e in entries if isinstance(owner := e.get("owned_by"), str)}
    for owner, kind in (("llamacpp", "llamacpp"), ("vllm", "vllm")):
        if owner in owners:
            return kind
    return provider_id


def _ollama_capabilities(
    port: int, names: list[str], deadline: float
) -> dict[str, tuple[str, ...]]:
    """``/api/show`` for up to MAX_SHOWN_MODELS models, in parallel, within the deadline."""
    asked = names[:MAX_SHOWN_MODELS]
    if not asked:
        return {}
    found: dict[str, tuple[str, ...]] = {}
    pool = ThreadPoolExecutor(min(SHOW_WORKERS, len(asked)), thread_name_prefix="discover-show")
    try:
        futures = {
            pool.submit(_request_json, port, "POST", "/api/show", deadline, {"model": n}): n
            for n in asked
        }
        done, _ = wait(futures, timeout=max(0.0, deadline - time.monotonic()) + _INNER_GRACE_S)
        for future in done:
            shown = future.result() if future.exception() is None else None
            caps = shown.get("capabilities") if isinstance(shown, Mapping) else None
            if isinstance(caps, list):
                words = tuple(c for c in caps[:32] if isinstance(c, str))
                found[futures[future]] = words
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    return found


def _probe(provider_id: str, port: int, deadline: float) -> LocalServer | None:
    listing = _request_json(port, "GET", "/v1/models", deadline)
    entries = _entries(listing, "data")
    models = _listed(entries, "id")
    kind = _server_kind(provider_id, entries)
    if kind == "ollama":
        tags_payload = _request_json(port, "GET", "/api/tags", deadline)
        if not _is_list(listing, "data") and not _is_list(tags_payload, "models"):
            return None
        for name, caps in _listed(_entries(tags_payload, "models"), "name", "model").items():
            models.setdefault(name, caps)
        for name, caps in _ollama_capabilities(port, list(models), deadline).items():
            models[name] = caps  # what Ollama says about the model itself decides
    elif not _is_list(listing, "data"):
        return None  # not an OpenAI-compatible server (or it answered nonsense)
    elif kind == "lmstudio":
        native = _entries(_request_json(port, "GET", "/api/v0/models", deadline), "data")
        for model_id, caps in _listed(native, "id").items():
            if model_id in models and caps is not None:
                models[model_id] = caps
    elif kind == "llamacpp":
        # llama-server also lists {"models": [{"name", "capabilities": [...]}]} beside "data".
        for name, caps in _listed(_entries(listing, "models"), "model", "name").items():
            if name in models and caps is not None:
                models[name] = caps
    verdicts = {m: recognise(m, kind, caps) for m, caps in models.items()}
    vision = rank_vision_models([m for m, v in verdicts.items() if v.vision], kind)
    return LocalServer(
        provider_id=kind,
        base_url=f"http://{LOOPBACK}:{port}/v1",
        models=tuple(models),
        vision_models=tuple(vision),
        recognised_by={m: verdicts[m].how for m in vision},
    )


def default_candidates() -> list[tuple[str, int]]:
    """(provider id, port) of every local server in the catalog."""
    return [(p.id, p.port) for p in local_providers() if p.port]


def discover_local_servers(
    timeout: float = 0.4, candidates: Iterable[tuple[str, int]] | None = None
) -> list[LocalServer]:
    """The model servers answering on this machine's loopback ports, in candidate order.

    ``timeout`` bounds the whole call (every probe in parallel shares one deadline);
    ``candidates`` are (provider id, port) pairs, the catalog's local servers by default.
    Nothing listening gives []. Never raises for anything a server does.
    """
    started = time.monotonic()
    deadline = started + max(0.0, timeout)
    pairs = [
        (str(pid), int(port))
        for pid, port in (default_candidates() if candidates is None else candidates)
        if 0 < int(port) < 65536
    ]
    if not pairs:
        return []
    pool = ThreadPoolExecutor(len(pairs), thread_name_prefix="discover")
    try:
        futures = [pool.submit(_probe, pid, port, deadline) for pid, port in pairs]
        done, _ = wait(futures, timeout=max(0.0, deadline - time.monotonic()) + _GRACE_S)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)
    servers = []
    for (provider_id, port), future in zip(pairs, futures, strict=True):
        if future not in done:
            log.debug("%s on port %s did not finish in time", provider_id, port)
            continue
        if future.exception() is not None:
            log.warning("probing %s on port %s failed: %r", provider_id, port, future.exception())
            continue
        server = future.result()
        if server is not None:
            servers.append(server)
    for server in servers:
        log.info(
            "found %s at %s: %d models, vision: %s",
            server.title,
            server.base_url,
            len(server.models),
            ", ".join(f"{m} ({server.recognised_by[m]})" for m in server.vision_models) or "none",
        )
    log.debug("local discovery took %.3f s", time.monotonic() - started)
    return servers
