"""Load config.toml from the user config directory and apply the environment overrides."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from desktop_vlm.core.config import Config, LoadResult, is_http_url, parse_config, with_base_url
from desktop_vlm.services import paths

log = logging.getLogger(__name__)

ENV_BASE_URL = "DESKTOP_VLM_BASE_URL"


def load_config(path: Path | None = None) -> LoadResult:
    """The config from ``path`` (default: the user's config.toml), with env overrides.

    A missing file is the defaults; an unreadable or invalid one gives warnings and defaults.
    """
    path = path or paths.config_file()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        result = LoadResult(Config(), [])
    except (OSError, UnicodeDecodeError) as exc:
        result = LoadResult(Config(), [f"{path}: cannot be read ({exc}); using the defaults"])
    else:
        result = parse_config(text, source=str(path))
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


TEMPLATE = """\
# desktop-vlm configuration. Every setting is optional; delete a line to get the default.
# The API key is NOT stored here: use `desktop-vlm key set` (it goes to the OS keyring).

# profile = "hyperbolic"          # which [profiles.NAME] to use
# default_preset = "describe"     # see `desktop-vlm presets`

[profiles.hyperbolic]
base_url = "https://api.hyperbolic.xyz/v1"
model = ""                        # empty: pick a vision model from the server's list

# A local OpenAI-compatible server (vLLM, Ollama, LM Studio); select it with profile = "local"
# [profiles.local]
# base_url = "http://127.0.0.1:11434/v1"
# model = "qwen2.5vl:7b"

# [network]
# connect_timeout = 10            # seconds
# read_timeout = 120              # longest silence allowed while an answer streams
# max_retries = 2                 # before the first token only

# [image]
# format = "auto"                 # auto | png | jpeg
# jpeg_quality = 90

# [hotkeys]                       # Qt shortcut syntax; "" switches one off
# capture = "Ctrl+Alt+Q"
# "capture:ocr" = "Meta+Shift+T"
# clipboard = "Ctrl+Alt+V"

# [capture]
# handler = "auto"                # auto | qt | portal | grim | spectacle

# Change a built-in preset, or add your own:
# [presets.ocr]
# model = "Qwen/Qwen2.5-VL-7B-Instruct"
# [presets.alt-text]
# title = "Alt text"
# prompt = "Write concise alt text for this image."
# actions = ["copy", "notify"]    # window | copy | notify
# max_tokens = 200
# temperature = 0.2

# [prices]                        # USD per million tokens, for cost estimates
# "my/model" = 0.15
"""
