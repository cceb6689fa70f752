"""The configuration schema and its parser (pure: text in, Config and warnings out).

A bad value never stops the app: each problem becomes a warning that names the key, says what is
wrong and that the default applies. Reading and writing the file lives in services/settings.py.
"""

from __future__ import annotations

import math
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from desktop_vlm.core.presets import (
    DEFAULT_PRESET_ID,
    Action,
    Preset,
    builtin_presets,
    merge_preset,
)
from desktop_vlm.core.providers import CATALOG, provider
from desktop_vlm.core.vocabulary import CAPTURE_METHOD_NAMES

HYPERBOLIC_BASE_URL = "https://api.hyperbolic.xyz/v1"
DEFAULT_PROFILE = "hyperbolic"
#: The built-in profile answered by the embedded OCR engine: no key, no network, text only.
OFFLINE_PROFILE = "offline"
#: The global hotkeys registered unless config.toml's [hotkeys] says otherwise ("" = off).
DEFAULT_HOTKEYS = {
    "capture": "Ctrl+Alt+Q",
    "capture:ocr": "Meta+Shift+T",
    "clipboard": "Ctrl+Alt+V",
}


@dataclass(frozen=True)
class Profile:
    """A provider: where to send requests, and which model to use when a preset names none.

    An empty ``model`` means "choose automatically from the server's model list".
    """

    name: str
    base_url: str
    model: str = ""

    @property
    def offline(self) -> bool:
        return self.name == OFFLINE_PROFILE

    @property
    def title(self) -> str:
        """What a person reads: the catalog's name for a built-in profile, else its own."""
        known = provider(self.name)
        if self.offline:
            return "Offline (text only)"
        return known.title if known is not None else self.name


def catalog_profiles() -> dict[str, Profile]:
    """Every built-in provider as a profile, then the offline engine: usable with --profile
    NAME and no config file at all."""
    profiles = {p.id: Profile(p.id, p.base_url) for p in CATALOG}
    profiles[OFFLINE_PROFILE] = Profile(OFFLINE_PROFILE, "")
    return profiles


@dataclass(frozen=True)
class Config:
    profile: str = DEFAULT_PROFILE
    profiles: Mapping[str, Profile] = field(default_factory=catalog_profiles)
    default_preset: str = DEFAULT_PRESET_ID
    connect_timeout: float = 10.0
    #: Longest silence allowed between bytes of an answer (models can think before speaking).
    read_timeout: float = 120.0
    max_retries: int = 2
    image_format: str = "auto"
    jpeg_quality: int = 90
    presets: Mapping[str, Preset] = field(default_factory=builtin_presets)
    prices: Mapping[str, float] = field(default_factory=dict)
    hotkeys: Mapping[str, str] = field(default_factory=dict)
    capture_handler: str = "auto"
    keep_history: bool = True
    #: A CA bundle to verify servers with (a private CA); "" uses SSL_CERT_FILE or the system's.
    ca_bundle: str = ""
    #: "auto" covers e-mail addresses, card numbers, IBANs and keys before an image is sent.
    redact: str = "off"
    #: Show the exact image, host and model before anything is sent.
    confirm_send: bool = False
    #: No request leaves the machine: only the offline engine and servers on loopback answer.
    local_only: bool = False

    @property
    def active(self) -> Profile:
        return self.profiles[self.profile]

    def preset(self, preset_id: str | None) -> Preset:
        """The preset by id (KeyError if unknown), or the default one."""
        return self.presets[preset_id or self.default_preset]


@dataclass(frozen=True)
class LoadResult:
    config: Config
    warnings: list[str]


class _Problems:
    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[str] = []

    def add(self, key: str, problem: str, fallback: str = "the default applies") -> None:
        self.items.append(f"{self.source}: {key}: {problem}; {fallback}")


def _is_str(v: Any) -> bool:
    return isinstance(v, str)


def _is_bool(v: Any) -> bool:
    return isinstance(v, bool)


def _number(low: float, high: float) -> Callable[[Any], bool]:
    def check(v: Any) -> bool:
        return (
            isinstance(v, int | float)
            and not isinstance(v, bool)
            and math.isfinite(v)
            and low <= v <= high
        )

    check.__doc__ = f"a number from {low:g} to {high:g}"
    return check


def _integer(low: int, high: int) -> Callable[[Any], bool]:
    def check(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and low <= v <= high

    check.__doc__ = f"a whole number from {low} to {high}"
    return check


def _one_of(*choices: str) -> Callable[[Any], bool]:
    def check(v: Any) -> bool:
        return v in choices

    check.__doc__ = "one of " + ", ".join(repr(c) for c in choices)
    return check


def is_http_url(v: Any) -> bool:
    if not isinstance(v, str):
        return False
    from desktop_vlm.core.secrets_rules import base_url_problem

    return base_url_problem(v) is None


is_http_url.__doc__ = "an http:// or https:// URL without a user name, password or query"
_is_str.__doc__ = "text in quotes"
_is_bool.__doc__ = "true or false"


def _take(
    table: Mapping[str, Any],
    key: str,
    prefix: str,
    check: Callable[[Any], bool],
    problems: _Problems,
) -> Any:
    """``table[key]`` if present and valid, else None (with a warning when invalid)."""
    if key not in table:
        return None
    value = table[key]
    if check(value):
        return value
    problems.add(f"{prefix}{key}", f"must be {check.__doc__}, not {value!r}")
    return None


def _table(
    data: Mapping[str, Any], key: str, problems: _Problems, known: tuple[str, ...] = ()
) -> Mapping[str, Any]:
    """``data[key]`` as a table; with ``known``, a misspelt setting in it is warned about."""
    value = data.get(key, {})
    if not isinstance(value, dict):
        problems.add(key, "must be a table ([" + key + "])", "ignored")
        return {}
    for name in value:
        if known and name not in known:
            problems.add(f"{key}.{name}", "is not a setting", "ignored")
    return value


_PRESET_FIELDS: dict[str, Callable[[Any], bool]] = {
    "title": _is_str,
    "prompt": _is_str,
    "model": _is_str,
    "max_tokens": _integer(1, 1_000_000),
    "temperature": _number(0, 2),
    "asks_question": _is_bool,
    "markdown": _is_bool,
    "offline": _is_bool,
    "verify": _is_bool,
    "structured": _one_of("", "receipt", "table"),
}


def _parse_actions(value: Any, prefix: str, problems: _Problems) -> frozenset[Action] | None:
    names = [a.value for a in Action]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        problems.add(f"{prefix}actions", f"must be a list drawn from {names}, not {value!r}")
        return None
    unknown = [v for v in value if v not in names]
    if unknown:
        problems.add(f"{prefix}actions", f"unknown action {unknown[0]!r} (known: {names})")
        return None
    if not value:
        problems.add(f"{prefix}actions", "must name at least one action")
        return None
    return frozenset(Action(v) for v in value)


def _parse_presets(table: Mapping[str, Any], problems: _Problems) -> dict[str, Preset]:
    presets = builtin_presets()
    for preset_id, raw in table.items():
        prefix = f"presets.{preset_id}."
        if not isinstance(raw, dict):
            problems.add(f"presets.{preset_id}", "must be a table", "ignored")
            continue
        fields: dict[str, Any] = {}
        for key, value in raw.items():
            if key == "actions":
                actions = _parse_actions(value, prefix, problems)
                if actions is not None:
                    fields["actions"] = actions
            elif key in _PRESET_FIELDS:
                checked = _take(raw, key, prefix, _PRESET_FIELDS[key], problems)
                if checked is not None:
                    # model = "" means "no preset-specific model": the profile's applies.
                    fields[key] = (checked or None) if key == "model" else checked
            else:
                problems.add(f"{prefix}{key}", "is not a preset setting", "ignored")
        base = presets.get(preset_id)
        if base is None and not fields.get("prompt") and not fields.get("asks_question"):
            problems.add(f"presets.{preset_id}", "a new preset needs a prompt", "preset ignored")
            continue
        presets[preset_id] = merge_preset(base, preset_id, fields)
    return presets


def parse_config(text: str, source: str = "config.toml") -> LoadResult:
    """Parse the file's text. Never raises for bad content: problems become warnings."""
    problems = _Problems(source)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        problems.items.append(f"{source}: not valid TOML ({exc}); using the defaults")
        return LoadResult(Config(), problems.items)

    defaults = Config()
    kwargs: dict[str, Any] = {}

    profiles = dict(defaults.profiles)
    for name, raw in _table(data, "profiles", problems).items():
        if not isinstance(raw, dict):
            problems.add(f"profiles.{name}", "must be a table", "ignored")
            continue
        if name == OFFLINE_PROFILE:
            problems.add(f"profiles.{name}", "is the built-in offline engine", "ignored")
            continue
        for unknown in sorted(raw.keys() - {"base_url", "model"}):
            problems.add(f"profiles.{name}.{unknown}", "is not a profile setting", "ignored")
        base = profiles.get(name)
        url = _take(raw, "base_url", f"profiles.{name}.", is_http_url, problems)
        model = _take(raw, "model", f"profiles.{name}.", _is_str, problems)
        if url is None and base is None:
            problems.add(f"profiles.{name}", "needs a base_url", "profile ignored")
            continue
        if model is None:
            model = base.model if base else ""
        profiles[name] = Profile(name, (url or base.base_url).rstrip("/"), model)
    kwargs["profiles"] = profiles

    profile = _take(data, "profile", "", _is_str, problems)
    if profile is not None:
        if profile in profiles:
            kwargs["profile"] = profile
        else:
            problems.add("profile", f"names no profile {profile!r} (have {sorted(profiles)})")

    network = _table(
        data, "network", problems, ("connect_timeout", "read_timeout", "max_retries", "ca_bundle")
    )
    value = _take(network, "ca_bundle", "network.", _is_str, problems)
    if value is not None:
        kwargs["ca_bundle"] = value
    for key, check in (
        ("connect_timeout", _number(0.5, 600)),
        ("read_timeout", _number(1, 3600)),
        ("max_retries", _integer(0, 10)),
    ):
        value = _take(network, key, "network.", check, problems)
        if value is not None:
            kwargs[key] = value

    image = _table(data, "image", problems, ("format", "jpeg_quality"))
    value = _take(image, "format", "image.", _one_of("auto", "png", "jpeg"), problems)
    if value is not None:
        kwargs["image_format"] = value
    value = _take(image, "jpeg_quality", "image.", _integer(50, 100), problems)
    if value is not None:
        kwargs["jpeg_quality"] = value

    presets = _parse_presets(_table(data, "presets", problems), problems)
    kwargs["presets"] = presets
    default_preset = _take(data, "default_preset", "", _is_str, problems)
    if default_preset is not None:
        if default_preset in presets:
            kwargs["default_preset"] = default_preset
        else:
            problems.add("default_preset", f"names no preset {default_preset!r}")

    prices: dict[str, float] = {}
    for model, price in _table(data, "prices", problems).items():
        if _number(0, 10_000)(price):
            prices[model] = float(price)
        else:
            problems.add(
                f"prices.{model}", f"must be USD per million tokens, not {price!r}", "ignored"
            )
    kwargs["prices"] = prices

    hotkeys: dict[str, str] = {}
    for action, shortcut in _table(data, "hotkeys", problems).items():
        if isinstance(shortcut, str):
            hotkeys[action] = shortcut
        else:
            problems.add(
                f"hotkeys.{action}",
                f'must be a shortcut like "Ctrl+Alt+O", not {shortcut!r}',
                "ignored",
            )
    kwargs["hotkeys"] = hotkeys

    capture = _table(data, "capture", problems, ("handler",))
    value = _take(capture, "handler", "capture.", _one_of(*CAPTURE_METHOD_NAMES), problems)
    if value is not None:
        kwargs["capture_handler"] = value

    history = _table(data, "history", problems, ("enabled",))
    value = _take(history, "enabled", "history.", _is_bool, problems)
    if value is not None:
        kwargs["keep_history"] = value

    privacy = _table(data, "privacy", problems, ("redact", "confirm", "local_only"))
    for key, field_name, check in (
        ("redact", "redact", _one_of("off", "auto")),
        ("confirm", "confirm_send", _is_bool),
        ("local_only", "local_only", _is_bool),
    ):
        value = _take(privacy, key, "privacy.", check, problems)
        if value is not None:
            kwargs[field_name] = value

    known = {
        "privacy",
        "profile",
        "profiles",
        "default_preset",
        "network",
        "image",
        "presets",
        "prices",
        "hotkeys",
        "capture",
        "history",
    }
    for key in data:
        if key not in known:
            problems.add(key, "is not a setting", "ignored")
    return LoadResult(Config(**kwargs), problems.items)


def with_base_url(config: Config, base_url: str) -> Config:
    """The config with the active profile pointed at another base URL (the env override)."""
    from dataclasses import replace

    active = config.active
    profiles = dict(config.profiles)
    profiles[active.name] = replace(active, base_url=base_url.rstrip("/"))
    return replace(config, profiles=profiles)
