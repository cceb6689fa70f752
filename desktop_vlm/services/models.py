"""Which model to use: the one asked for, else the profile's, else one chosen from the
server's own list, so that no model name is wired into behaviour (the API page's models are
being withdrawn, and local servers serve whatever the person loaded).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from desktop_vlm.core.errors import ConfigError
from desktop_vlm.core.pricing import PAGE_PRICES
from desktop_vlm.core.vision_models import is_vision_model, rank_vision_models

log = logging.getLogger(__name__)

MAX_CACHE_BYTES = 4 * 1024 * 1024

CACHE_TTL_S = 24 * 3600


def looks_like_vision_model(model_id: str, provider_id: str | None = None) -> bool:
    """True when the model's name (or ``provider_id``'s families) says it reads images."""
    return is_vision_model(model_id, provider_id)


def choose_model(served: list[str], provider_id: str | None = None) -> str:
    """A sensible default from the server's list, or a ConfigError that says how to choose.

    A lone model is taken as it is; then one of the API page's priced models; then the best
    vision model by ``core.vision_models`` (the provider's suggestion first when it is served).
    """
    if len(served) == 1:
        return served[0]
    known = [m for m in PAGE_PRICES if m in served]
    if known:
        return known[0]
    vision = rank_vision_models([m for m in served if is_vision_model(m, provider_id)], provider_id)
    if vision:
        return vision[0]
    if not served:
        raise ConfigError(
            "The server lists no models",
            "Load a vision model in your server, or set one with --model",
        )
    raise ConfigError(
        f"No model is configured and none of the server's {len(served)} models looks like a "
        "vision model",
        'List them with `desktop-vlm models`, then use --model M or model = "M" in config.toml',
    )


class ModelCache:
    """The served model list per base URL, kept for a day in the user cache directory.

    Several threads (the tray's model picker, a request choosing a model) may write it at
    once: each write goes through its own temporary file under a lock, and a file that is not
    what it should be (damaged, huge, hand-edited) reads as empty.
    """

    _lock = threading.Lock()

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict:
        try:
            if self.path.stat().st_size > MAX_CACHE_BYTES:
                return {}
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError, RecursionError):
            return {}

    def get(self, base_url: str, max_age: float = CACHE_TTL_S) -> list[str] | None:
        entry = self._load().get(base_url)
        if not isinstance(entry, dict) or not isinstance(entry.get("time", 0), int | float):
            return None
        if time.time() - entry.get("time", 0) > max_age:
            return None
        models = entry.get("models")
        if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
            return None
        return models

    def put(self, base_url: str, models: list[str]) -> None:
        self._update(
            lambda data: data.__setitem__(base_url, {"time": time.time(), "models": models})
        )

    def forget(self, base_url: str) -> None:
        """Drop one server's list (a model chosen from it turned out to be gone)."""
        self._update(lambda data: data.pop(base_url, None))

    def _update(self, change) -> None:  # noqa: ANN001 - Callable[[dict], object]
        with self._lock:
            data = self._load()
            change(data)
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd, tmp = tempfile.mkstemp(prefix=".models.", suffix=".tmp", dir=self.path.parent)
                with os.fdopen(fd, "w", encoding="utf-8") as handle:
                    json.dump(data, handle)
                os.replace(tmp, self.path)
            except OSError as exc:
                log.warning("could not write the model cache %s: %s", self.path, exc)
