"""Who answers a request: the active profile's server, a server found on this machine, or the
offline OCR engine, decided the same way for the command line and the tray app.

- The ``offline`` profile is the embedded engine: it reads text, so it answers text-extraction
  presets (``ocr`` and any marked ``offline = true``) and refuses the rest, saying how to get a
  model.
- A profile with a key, or one on this machine (which needs none), is used as it is.
- With no key for a remote profile, an ``offline`` preset is read offline (with a line saying so);
  any other preset looks for a local server (Ollama, LM Studio, vLLM, llama.cpp, loopback only,
  in well under a second) that lists a vision model, and uses it (saying which); with none, the
  person is told both ways out: store a key, or start a local server (exit 5).
- With ``local_only``, nothing leaves the machine: a remote profile is never contacted (no name
  is even looked up), offline presets are read offline and the rest go to a local server.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace

from desktop_vlm.core.config import Config, Profile
from desktop_vlm.core.errors import ConfigError, KeyMissingError, KeyringError
from desktop_vlm.core.presets import Preset
from desktop_vlm.core.urls import needs_key
from desktop_vlm.services.secrets import KeyStore

log = logging.getLogger(__name__)

BOTH_WAYS = (
    "Store an API key in Settings (or `desktop-vlm key set --profile NAME`), or start a "
    "local server with a vision model (Ollama, LM Studio, vLLM, llama.cpp)"
)


@dataclass(frozen=True)
class Route:
    #: The embedded OCR engine answers (no request leaves the machine).
    offline: bool
    #: The config to answer with (its active profile may be a server found on this machine).
    config: Config
    #: One line for the person when the answer does not come from where they would expect.
    notice: str = ""


def route(
    config: Config,
    preset: Preset,
    keys: KeyStore,
    *,
    discover: Callable[[], list] | None = None,
    offline_available: Callable[[], bool] | None = None,
) -> Route:
    """Who answers ``preset`` with ``config`` (see the module docstring). Raises
    KeyMissingError (exit 5), KeyringError or ConfigError with what to do."""
    profile = config.active
    can_read = preset.offline and _available(offline_available)
    if profile.offline:
        if can_read:
            return Route(True, config)
        raise KeyMissingError(
            f"The offline engine only extracts text; the '{preset.id}' preset needs a model",
            BOTH_WAYS,
        )
    remote = needs_key(profile.base_url)
    if config.local_only and remote:
        return _local_only(config, preset, can_read, discover)
    if not remote:
        return Route(False, config)
    keyring_error: KeyringError | None = None
    try:
        has_key = bool(keys.get(profile.name))
        why = f"No API key is set for '{profile.title}'"
    except KeyringError as exc:
        has_key, keyring_error = False, exc
        why = "The keyring cannot be read"
    if has_key:
        return Route(False, config)
    if can_read:
        return Route(True, config, f"{why}: the text was read offline")
    found = _local(config, discover)
    if found is not None:
        local, server = found
        return Route(
            False,
            local,
            f"{why}: answered by {server.title} on this machine ({local.active.model})",
        )
    if keyring_error is not None:
        raise KeyringError(
            keyring_error.message,
            f"{keyring_error.hint.rstrip('.')}; or start a local server with a vision model",
        )
    raise KeyMissingError(f"{why} ({profile.base_url}) and no local server was found", BOTH_WAYS)


def _local_only(
    config: Config, preset: Preset, can_read: bool, discover: Callable[[], list] | None
) -> Route:
    if can_read:
        return Route(True, config, "Local only: the text was read offline")
    found = _local(config, discover)
    if found is not None:
        local, server = found
        return Route(False, local, f"Local only: answered by {server.title} on this machine")
    raise ConfigError(
        f"Local only is on, so '{config.active.title}' ({config.active.base_url}) is not "
        "contacted, and no local server with a vision model was found",
        "Start a local server (Ollama, LM Studio, vLLM, llama.cpp), or switch local only off",
    )


def _local(config: Config, discover: Callable[[], list] | None) -> tuple[Config, object] | None:
    """``config`` pointed at the first local server that lists a vision model, or None."""
    if discover is None:
        from desktop_vlm.services.discovery import discover_local_servers as discover
    for server in discover():
        if server.vision_models:
            log.info(
                "using %s at %s with %s", server.title, server.base_url, server.vision_models[0]
            )
            found = Profile(server.provider_id, server.base_url, server.vision_models[0])
            return replace(
                config, profile=found.name, profiles={**config.profiles, found.name: found}
            ), server
    return None


def _available(check: Callable[[], bool] | None) -> bool:
    if check is None:
        from desktop_vlm.services.ocr import is_available as check
    return check()
