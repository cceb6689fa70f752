"""The Config as config.toml settings (pure): the inverse of ``parse_config``, as paths.

``settings(config)`` gives every setting that differs from the defaults as a path and a TOML
value (``("profiles", "local", "base_url") -> "http://..."``), so the file stays short and a
default changed in a later release still reaches the person. ``value_at`` reads any setting's
value, default or not, so a writer can leave a line alone that already says what the Config
says. A built-in preset is written only with the fields the person changed. The API key has no
field in ``Config`` and so can never appear here. Writing the file (keeping the person's
comments and order) is services/config_file.py's job.
"""

from __future__ import annotations

from typing import Any

from desktop_vlm.core.config import DEFAULT_HOTKEYS, Config, Profile
from desktop_vlm.core.presets import Action, Preset, builtin_presets

Path = tuple[str, ...]
MISSING = object()

HEADER = """\
# desktop-vlm configuration. Every setting is optional; delete a line to get the default back.
# The settings dialog keeps your comments and the order of this file when it saves.
# The API key is NOT stored here: it lives in the OS keyring (`desktop-vlm key set`).
"""

#: (section, key in the file, Config attribute) of the plain settings.
_SIMPLE: tuple[tuple[str, str, str], ...] = (
    ("", "profile", "profile"),
    ("", "default_preset", "default_preset"),
    ("network", "connect_timeout", "connect_timeout"),
    ("network", "read_timeout", "read_timeout"),
    ("network", "max_retries", "max_retries"),
    ("network", "ca_bundle", "ca_bundle"),
    ("image", "format", "image_format"),
    ("image", "jpeg_quality", "jpeg_quality"),
    ("capture", "handler", "capture_handler"),
    ("history", "enabled", "keep_history"),
    ("privacy", "redact", "redact"),
    ("privacy", "confirm", "confirm_send"),
    ("privacy", "local_only", "local_only"),
)
_PRESET_FIELDS = (
    "title",
    "prompt",
    "model",
    "max_tokens",
    "temperature",
    "asks_question",
    "markdown",
    "offline",
    "verify",
    "structured",
    "actions",
)


def _key(section: str, key: str) -> Path:
    return (section, key) if section else (key,)


def _actions(actions: frozenset[Action]) -> list[str]:
    return [a.value for a in Action if a in actions]  # in the enum's (documented) order


def _preset_value(preset: Preset, field: str) -> Any:
    value = getattr(preset, field)
    if field == "actions":
        return _actions(value)
    if field == "model":
        return value or ""  # "" means "no model of its own"
    if field == "temperature":
        return float(value)
    return value


def preset_changes(preset: Preset, base: Preset | None) -> dict[str, Any]:
    """The ``[presets.ID]`` fields that make ``preset`` out of its built-in (or a new one)."""
    if base is None:
        base = Preset(id=preset.id, title="", prompt="")
        # A new preset is always written with its title and prompt, for the reader's sake.
        fields: dict[str, Any] = {"title": preset.title, "prompt": preset.prompt}
    else:
        fields = {}
    for field in _PRESET_FIELDS:
        if field not in fields and getattr(preset, field) != getattr(base, field):
            fields[field] = _preset_value(preset, field)
    return fields


def _profile_changes(profile: Profile, default: Profile | None) -> dict[str, Any]:
    if default is None:
        table: dict[str, Any] = {"base_url": profile.base_url}
        if profile.model:
            table["model"] = profile.model
        return table
    return {
        field: getattr(profile, field)
        for field in ("base_url", "model")
        if getattr(profile, field) != getattr(default, field)
    }


def settings(config: Config) -> dict[Path, Any]:
    """Every non-default setting, by path, in the documented order."""
    defaults = Config()
    out: dict[Path, Any] = {}
    for section, key, attribute in _SIMPLE:
        value = getattr(config, attribute)
        if value != getattr(defaults, attribute):
            out[_key(section, key)] = value
    for name, profile in config.profiles.items():
        for field, value in _profile_changes(profile, defaults.profiles.get(name)).items():
            out[("profiles", name, field)] = value
    for action, shortcut in config.hotkeys.items():
        out[("hotkeys", action)] = shortcut
    builtins = builtin_presets()
    for preset_id, preset in config.presets.items():
        base = builtins.get(preset_id)
        if preset != base:
            for field, value in preset_changes(preset, base).items():
                out[("presets", preset_id, field)] = value
    for model, price in config.prices.items():
        out[("prices", model)] = float(price)
    return out


def tables(config: Config) -> set[Path]:
    """The tables whose whole presence is a setting: a profile or preset that exists."""
    found: set[Path] = set()
    builtins = builtin_presets()
    for preset_id, preset in config.presets.items():
        if preset_id not in builtins or preset != builtins[preset_id]:
            found.add(("presets", preset_id))
    defaults = Config().profiles
    for name, profile in config.profiles.items():
        if name not in defaults or profile != defaults[name]:
            found.add(("profiles", name))
    return found


def value_at(config: Config, path: Path) -> Any:
    """The Config's value of the setting at ``path`` (MISSING if the Config has no such one)."""
    for section, key, attribute in _SIMPLE:
        if path == _key(section, key):
            return getattr(config, attribute)
    if len(path) == 3 and path[0] == "profiles":
        profile = config.profiles.get(path[1])
        return getattr(profile, path[2], MISSING) if profile else MISSING
    if len(path) == 3 and path[0] == "presets":
        preset = config.presets.get(path[1])
        if preset is None or path[2] not in _PRESET_FIELDS:
            return MISSING
        return _preset_value(preset, path[2])
    if len(path) == 2 and path[0] == "hotkeys":
        return config.hotkeys.get(path[1], DEFAULT_HOTKEYS.get(path[1], MISSING))
    if len(path) == 2 and path[0] == "prices":
        return config.prices.get(path[1], MISSING)
    return MISSING


def is_setting(path: Path) -> bool:
    """True for the paths the app reads (an unknown key in the file is left alone)."""
    if any(path == _key(section, key) for section, key, _ in _SIMPLE):
        return True
    if len(path) == 3 and path[0] == "profiles":
        return path[2] in ("base_url", "model")
    if len(path) == 3 and path[0] == "presets":
        return path[2] in _PRESET_FIELDS
    return len(path) == 2 and path[0] in ("hotkeys", "prices")
