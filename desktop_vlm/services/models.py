"""Which model to use: the one asked for, else the profile's, else one chosen from the
server's own list, so that no model name is wired into behaviour (the API page's models are
being withdrawn, and local servers serve whatever the person loaded).
"""

from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

from desktop_vlm.core.errors import ConfigError
from desktop_vlm.core.pricing import PAGE_PRICES

log = logging.getLogger(__name__)

CACHE_TTL_S = 24 * 3600
_VISION_HINT = re.compile(
    r"(?:\bvl\b|-vl-|vl-|vlm|vision|pixtral|llava|minicpm-v|moondream|gemma-3|internvl|molmo|"
    r"idefics|florence|qwen2\.5-vl|qwen3-vl|paligemma|smolvlm|llama-3\.2-\d+b-vision)",
    re.IGNORECASE,
)


def looks_like_vision_model(model_id: str) -> bool:
    return bool(_VISION_HINT.search(model_id))


def choose_model(served: list[str]) -> str:
    """A sensible default from the server's list, or a ConfigError that says how to choose."""
    if len(served) == 1:
        return served[0]
    known = [m for m in PAGE_PRICES if m in served]
    if known:
        return known[0]
    vision = [m for m in served if looks_like_vision_model(m)]
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
    """The served model list per base URL, kept for a day in the user cache directory."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def _load(self) -> dict:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            return data if isinstance(data, dict) else {}
        except (OSError, ValueError):
            return {}

    def get(self, base_url: str, max_age: float = CACHE_TTL_S) -> list[str] | None:
        entry = self._load().get(base_url)
        if not isinstance(entry, dict) or time.time() - entry.get("time", 0) > max_age:
            return None
        models = entry.get("models")
        return models if isinstance(models, list) else None

    def put(self, base_url: str, models: list[str]) -> None:
        data = self._load()
        data[base_url] = {"time": time.time(), "models": models}
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text(json.dumps(data), encoding="utf-8")
            tmp.replace(self.path)
        except OSError as exc:
            log.warning("could not write the model cache %s: %s", self.path, exc)
