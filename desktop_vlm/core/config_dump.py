"""Config back to config.toml text (pure): the inverse of ``parse_config``.

Only what differs from the defaults is written, so the file stays short and a default changed
in a later release still reaches the person. A built-in preset is written only with the fields
the person changed. The API key has no field in ``Config`` and so can never appear here.

The TOML emitter covers exactly the value types of the schema (strings, ints, floats, bools,
string lists, nested tables); the standard library can read TOML but not write it, and this is
too small to be worth a dependency.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from typing import Any

from desktop_vlm.core.config import Config, Profile
from desktop_vlm.core.presets import Action, Preset, builtin_presets

HEADER = """\
# desktop-vlm configuration, written by the settings dialog. Every setting is optional;
# delete a line to get the default back. Comments added here are lost when the dialog saves.
# The API key is NOT stored here: it lives in the OS keyring (`desktop-vlm key set`).
"""

_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\t": "\\t",
    "\n": "\\n",
    "\f": "\\f",
    "\r": "\\r",
}
#: Characters TOML does not allow unescaped in a basic string (tab is allowed).
_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


# --- the TOML emitter --------------------------------------------------------------------


def toml_key(key: str) -> str:
    """A key, quoted when it is not a bare key (``"capture:ocr"``, ``"Qwen/Qwen2-VL"``)."""
    return key if _BARE_KEY.fullmatch(key) else toml_string(key, multiline=False)


def _escape_char(ch: str) -> str:
    return _ESCAPES.get(ch) or f"\\u{ord(ch):04X}"


def toml_string(value: str, multiline: bool | None = None) -> str:
    """A basic string; text with line breaks becomes a readable multi-line string."""
    if multiline is None:
        multiline = "\n" in value
    if not multiline:
        body = re.sub(r'["\\]|[\x00-\x08\x0a-\x1f\x7f]', lambda m: _escape_char(m.group()), value)
        return f'"{body}"'
    out = []
    for i, ch in enumerate(value):
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            # A quote next to another, or at the end, could merge with the closing """.
            nxt = value[i + 1 : i + 2]
            out.append('\\"' if nxt in ('"', "") else '"')
        elif ch == "\n":
            out.append("\n")
        elif _CONTROL.match(ch):
            out.append(_escape_char(ch))
        else:
            out.append(ch)
    # The line break right after the opening quotes is not part of the value.
    return '"""\n' + "".join(out) + '"""'


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)  # the shortest text that reads back as the same float
    if isinstance(value, str):
        return toml_string(value)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"no TOML form for {type(value).__name__}")


def dump_tables(top: Mapping[str, Any], tables: Iterable[tuple[tuple[str, ...], Mapping]]) -> str:
    """Top-level ``key = value`` lines, then each ``[a.b]`` table with its key/value lines."""
    lines = [f"{toml_key(k)} = {toml_value(v)}" for k, v in top.items()]
    for path, table in tables:
        if lines:
            lines.append("")
        lines.append("[" + ".".join(toml_key(p) for p in path) + "]")
        lines.extend(f"{toml_key(k)} = {toml_value(v)}" for k, v in table.items())
    return "\n".join(lines) + "\n" if lines else ""


# --- the schema --------------------------------------------------------------------------


def _profile_table(profile: Profile, default: Profile | None) -> dict[str, Any]:
    if default is None:
        table: dict[str, Any] = {"base_url": profile.base_url}
        if profile.model:
            table["model"] = profile.model
        return table
    table = {}
    if profile.base_url != default.base_url:
        table["base_url"] = profile.base_url
    if profile.model != default.model:
        table["model"] = profile.model
    return table


def _actions(actions: frozenset[Action]) -> list[str]:
    return [a.value for a in Action if a in actions]  # in the enum's (documented) order


def preset_changes(preset: Preset, base: Preset | None) -> dict[str, Any]:
    """The ``[presets.ID]`` fields that make ``preset`` out of its built-in (or a new one)."""
    if base is None:
        base = Preset(id=preset.id, title="", prompt="")
        # A new preset is always written with its title and prompt, for the reader's sake.
        fields: dict[str, Any] = {"title": preset.title, "prompt": preset.prompt}
    else:
        fields = {}
        if preset.title != base.title:
            fields["title"] = preset.title
        if preset.prompt != base.prompt:
            fields["prompt"] = preset.prompt
    if preset.model != base.model:
        fields["model"] = preset.model or ""  # "" means "no model of its own"
    if preset.max_tokens != base.max_tokens:
        fields["max_tokens"] = preset.max_tokens
    if preset.temperature != base.temperature:
        fields["temperature"] = float(preset.temperature)
    if preset.asks_question != base.asks_question:
        fields["asks_question"] = preset.asks_question
    if preset.actions != base.actions:
        fields["actions"] = _actions(preset.actions)
    return fields


def config_tables(config: Config) -> tuple[dict[str, Any], list[tuple[tuple[str, ...], dict]]]:
    """The non-default settings as top-level keys and tables, in the documented order."""
    defaults = Config()
    top: dict[str, Any] = {}
    if config.profile != defaults.profile:
        top["profile"] = config.profile
    if config.default_preset != defaults.default_preset:
        top["default_preset"] = config.default_preset

    tables: list[tuple[tuple[str, ...], dict]] = []
    for name, profile in config.profiles.items():
        table = _profile_table(profile, defaults.profiles.get(name))
        if table:
            tables.append((("profiles", name), table))

    network = {
        key: getattr(config, key)
        for key in ("connect_timeout", "read_timeout", "max_retries")
        if getattr(config, key) != getattr(defaults, key)
    }
    image = {}
    if config.image_format != defaults.image_format:
        image["format"] = config.image_format
    if config.jpeg_quality != defaults.jpeg_quality:
        image["jpeg_quality"] = config.jpeg_quality
    capture = {}
    if config.capture_handler != defaults.capture_handler:
        capture["handler"] = config.capture_handler
    history = {}
    if config.keep_history != defaults.keep_history:
        history["enabled"] = config.keep_history
    for name, table in (
        ("network", network),
        ("image", image),
        ("hotkeys", dict(config.hotkeys)),
        ("capture", capture),
        ("history", history),
    ):
        if table:
            tables.append(((name,), table))

    builtins = builtin_presets()
    for preset_id, preset in config.presets.items():
        base = builtins.get(preset_id)
        if preset == base:
            continue
        fields = preset_changes(preset, base)
        if fields:
            tables.append((("presets", preset_id), fields))

    if config.prices:
        tables.append((("prices",), {k: float(v) for k, v in config.prices.items()}))
    return top, tables


def dump_config(config: Config) -> str:
    """config.toml text that ``parse_config`` reads back to an equal Config."""
    top, tables = config_tables(config)
    body = dump_tables(top, tables)
    return HEADER + ("\n" + body if body else "")
