"""Load config.toml from the user config directory and apply the environment overrides."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from desktop_vlm.core.config import Config, LoadResult, is_http_url, parse_config, with_base_url
from desktop_vlm.core.errors import ConfigError
from desktop_vlm.services import paths
from desktop_vlm.services.config_file import read_text

log = logging.getLogger(__name__)

ENV_BASE_URL = "DESKTOP_VLM_BASE_URL"


def load_config(path: Path | None = None) -> LoadResult:
    """The config from ``path`` (default: the user's config.toml), with env overrides.

    A missing file is the defaults; an unreadable or invalid one gives warnings and defaults.
    """
    path = path or paths.config_file()
    try:
        text, _ = read_text(path)
    except ConfigError as exc:
        result = LoadResult(Config(), [f"{exc}; using the defaults"])
    else:
        result = LoadResult(Config(), []) if text is None else parse_config(text, source=str(path))
    config = result.config
    override = os.environ.get(ENV_BASE_URL, "").strip()
    if override:
        if is_http_url(override):
            config = with_base_url(config, override)
        else:
            result.warnings.append(
                f"{ENV_BASE_URL}: must be an http:// or https:// URL, not {override!r}; ignored"
            )
    for warning in result.warnings:
        log.warning("%s", warning)
    return LoadResult(config, result.warnings)
