"""Build a ready client from the config and the key store, and pick the model for a request.

Shared by the command line and the tray app so both treat keys and models the same way.
"""

from __future__ import annotations

import logging
import threading

from desktop_vlm.core.config import Config
from desktop_vlm.core.errors import KeyMissingError, KeyringError, VlmError
from desktop_vlm.core.presets import Preset
from desktop_vlm.core.providers import provider, provider_for_base_url
from desktop_vlm.core.urls import needs_key
from desktop_vlm.services import paths
from desktop_vlm.services.client import ChatClient
from desktop_vlm.services.models import ModelCache, choose_model
from desktop_vlm.services.routing import Route, route
from desktop_vlm.services.secrets import KeyStore

log = logging.getLogger(__name__)


def api_key_for(config: Config, keys: KeyStore) -> str | None:
    """The key for the active profile; None is fine only for a server on this machine."""
    profile = config.active
    local = not needs_key(profile.base_url)
    try:
        key = keys.get(profile.name)
    except KeyringError:
        if local:
            log.info("no usable keyring; talking to the local server without a key")
            return None
        raise
    if not key and not local:
        raise KeyMissingError(
            f"No API key is set for profile '{profile.name}' ({profile.base_url})",
            "Store one with `desktop-vlm key set` (or Settings), or set DESKTOP_VLM_API_KEY",
        )
    return key


def make_client(config: Config, keys: KeyStore) -> ChatClient:
    return ChatClient(
        config.active.base_url,
        api_key_for(config, keys),
        connect_timeout=config.connect_timeout,
        read_timeout=config.read_timeout,
        max_retries=config.max_retries,
        ca_bundle=config.ca_bundle,
        local_only=config.local_only,
    )


def model_cache() -> ModelCache:
    return ModelCache(paths.cache_dir() / "models.json")


def list_models_at(base_url: str, key: str | None, local_only: bool = False) -> list[str]:
    """One GET /models with no retries (the settings dialog's test; a person is waiting)."""
    client = ChatClient(
        base_url,
        key,
        connect_timeout=10.0,
        read_timeout=30.0,
        max_retries=0,
        local_only=local_only,
    )
    try:
        return client.list_models()
    finally:
        client.close()


_listing = threading.Lock()
_listing_by_url: dict[str, threading.Lock] = {}


def served_models(client: ChatClient) -> list[str]:
    """The endpoint's model list, from the day-long cache when fresh.

    One list per server at a time: the tray's model picker and a request choosing a model may
    ask at once, and both must see the same list (one GET, not two that may differ).
    """
    with _listing:
        lock = _listing_by_url.setdefault(client.base_url, threading.Lock())
    with lock:
        cache = model_cache()
        served = cache.get(client.base_url)
        if served is None:
            served = client.list_models()
            cache.put(client.base_url, served)
        return served


def choose(
    config: Config, preset: Preset, client: ChatClient, explicit: str | None = None
) -> tuple[str, bool]:
    """(model, chosen automatically): --model, else the preset's model, else the profile's,
    else one from the server's list."""
    chosen = explicit or preset.model or config.active.model
    if chosen:
        return chosen, False
    model = choose_model(served_models(client), provider_id=provider_id(config))
    log.info("no model configured; using %s from the server's list", model)
    return model, True


def provider_id(config: Config) -> str | None:
    """The catalog provider the active profile talks to (by name, or by its base URL)."""
    known = provider(config.active.name) or provider_for_base_url(config.active.base_url)
    return known.id if known is not None else None


def resolve_model(
    config: Config, preset: Preset, client: ChatClient, explicit: str | None = None
) -> str:
    return choose(config, preset, client, explicit)[0]


def forget_models(client: ChatClient) -> None:
    """Drop the cached model list of the client's server (a chosen model turned out gone)."""
    model_cache().forget(client.base_url)


class Endpoint:
    """The stream worker's view of this module, with the key store bound in, and the offline
    engine's helper process (started on first use, stopped when idle)."""

    def __init__(self, keys: KeyStore) -> None:
        self.keys = keys
        self._ocr = None

    def route(self, config: Config, preset: Preset) -> Route:
        return route(config, preset, self.keys)

    def has_key(self, config: Config) -> bool:
        try:
            return bool(api_key_for(config, self.keys))
        except VlmError:
            return False

    def read_offline(self, source: object, timeout: float = 60.0):  # noqa: ANN201 - OcrResult
        return self._service().read(source, timeout=timeout)

    def warm_offline(self) -> None:
        """Start the engine's helper now (a capture began), so it is ready at the release."""
        self._service().warm_up()

    def close(self) -> None:
        if self._ocr is not None:
            self._ocr.close()

    def _service(self):  # noqa: ANN202
        if self._ocr is None:
            from desktop_vlm.services.ocr import OcrService

            self._ocr = OcrService()
        return self._ocr

    def make_client(self, config: Config) -> ChatClient:
        return make_client(config, self.keys)

    def resolve_model(
        self, config: Config, preset: Preset, client: ChatClient, explicit: str | None
    ) -> tuple[str, bool]:
        return choose(config, preset, client, explicit)

    def served_models(self, client: ChatClient) -> list[str]:
        return served_models(client)

    def forget_models(self, client: ChatClient) -> None:
        forget_models(client)
