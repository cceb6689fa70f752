"""Load config.toml from the user config directory and apply the environment overrides."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from desktop_vlm.core.config import Config, LoadResult, parse_config, with_base_url
from desktop_vlm.core.errors import ConfigError
from desktop_vlm.services import paths
from desktop_vlm.services.config_file import read_text

log = logging.getLogger(__name__)

ENV_BASE_URL = "DESKTOP_VLM_BASE_URL"


def _masked(url: str) -> str:
    """``url`` with any user name and password in it replaced by "redacted"."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    authority, slash, path = rest.partition("/")
    if "@" in authority:
        authority = "redacted@" + authority.rsplit("@", 1)[1]
    return f"{scheme}{sep}{authority}{slash}{path}"


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
        # Never another endpoint than the one asked for: a refused override stays the base URL,
        # its password masked, and each request is refused saying what is wrong with it.
        config = with_base_url(config, _masked(override))
    for warning in result.warnings:
        log.warning("%s", warning)
    return LoadResult(config, result.warnings)
