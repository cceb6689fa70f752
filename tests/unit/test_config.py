"""The configuration file's schema: defaults, overrides, and a clear warning (never a crash) for
every bad value; plus preset prompts, cost estimates and keeping keys out of logs."""

from __future__ import annotations

import io
import logging
from dataclasses import replace

import pytest

from desktop_vlm.core import logsafe
from desktop_vlm.core.config import (
    HYPERBOLIC_BASE_URL,
    Config,
    Profile,
    parse_config,
    with_base_url,
)
from desktop_vlm.core.presets import BUILTIN_PRESETS, Action, builtin_presets
from desktop_vlm.core.pricing import estimate_cost, format_cost

DEFAULTS = Config()


def parsed(text: str) -> tuple[Config, list[str]]:
    result = parse_config(text, source="config.toml")
    return result.config, result.warnings


# --- defaults and valid overrides ---------------------------------------------------------


@pytest.mark.parametrize("text", ["", "\n\n# only comments\n", "[network]\n[image]\n"])
def test_empty_file_gives_the_defaults_without_warnings(text: str) -> None:
    config, warnings = parsed(text)
    assert warnings == []
    assert config == DEFAULTS
    assert config.active == Profile("hyperbolic", HYPERBOLIC_BASE_URL, "")
    assert config.preset(None).id == "describe"
    assert {"ocr", "describe", "ask", "receipt"} <= set(config.presets)
    assert (config.connect_timeout, config.read_timeout, config.max_retries) == (10.0, 120.0, 2)
    assert (config.image_format, config.jpeg_quality) == ("auto", 90)
    assert (config.capture_handler, config.keep_history) == ("auto", True)
    assert config.prices == {} and config.hotkeys == {}


def test_valid_overrides_are_all_applied() -> None:
    config, warnings = parsed(
        """
profile = "local"
default_preset = "ocr"

[profiles.hyperbolic]
model = "Qwen/Qwen2.5-VL-72B-Instruct"

[profiles.local]
base_url = "http://127.0.0.1:11434/v1/"
model = "qwen2.5vl:7b"

[network]
connect_timeout = 3
read_timeout = 300.5
max_retries = 0

[image]
format = "jpeg"
jpeg_quality = 75

[prices]
"qwen2.5vl:7b" = 0
"Qwen/Qwen2.5-VL-72B-Instruct" = 0.9

[hotkeys]
capture = "Ctrl+Alt+Q"
"capture:ocr" = "Meta+Shift+T"
clipboard = ""

[capture]
handler = "portal"

[history]
enabled = false
"""
    )
    assert warnings == []
    assert config.profile == "local"
    assert config.active == Profile("local", "http://127.0.0.1:11434/v1", "qwen2.5vl:7b")
    assert config.profiles["hyperbolic"] == Profile(
        "hyperbolic", HYPERBOLIC_BASE_URL, "Qwen/Qwen2.5-VL-72B-Instruct"
    )
    assert config.default_preset == "ocr" and config.preset(None).id == "ocr"
    assert (config.connect_timeout, config.read_timeout, config.max_retries) == (3, 300.5, 0)
    assert (config.image_format, config.jpeg_quality) == ("jpeg", 75)
    assert config.prices == {"qwen2.5vl:7b": 0.0, "Qwen/Qwen2.5-VL-72B-Instruct": 0.9}
    assert config.hotkeys == {
        "capture": "Ctrl+Alt+Q",
        "capture:ocr": "Meta+Shift+T",
        "clipboard": "",
    }
    assert config.capture_handler == "portal"
    assert config.keep_history is False


def test_preset_override_changes_only_the_fields_given() -> None:
    config, warnings = parsed(
        """
[presets.ocr]
model = "mistralai/Pixtral-12B-2409"
temperature = 0.3

[presets.describe]
actions = ["window", "copy"]
model = ""
"""
    )
    assert warnings == []
    builtin = builtin_presets()
    assert config.presets["ocr"] == replace(
        builtin["ocr"], model="mistralai/Pixtral-12B-2409", temperature=0.3
    )
    # the prompt, title, max_tokens and actions of the built-in are kept
    assert config.presets["ocr"].prompt == builtin["ocr"].prompt
    assert config.presets["ocr"].actions == {Action.COPY, Action.NOTIFY}
    assert config.presets["describe"].actions == {Action.WINDOW, Action.COPY}
    assert config.presets["describe"].model is None  # "" means: the profile's model
    # the other built-ins are untouched
    assert config.presets["receipt"] == builtin["receipt"]


def test_new_preset_with_a_prompt_is_added_with_defaults_for_the_rest() -> None:
    config, warnings = parsed(
        """
[presets.alt-text]
title = "Alt text"
prompt = "Write concise alt text for this image."
actions = ["copy", "notify"]
max_tokens = 200
"""
    )
    assert warnings == []
    preset = config.presets["alt-text"]
    assert preset.title == "Alt text"
    assert preset.first_prompt() == "Write concise alt text for this image."
    assert preset.actions == {Action.COPY, Action.NOTIFY}
    assert (preset.max_tokens, preset.temperature, preset.model) == (200, 0.2, None)
    assert preset.builtin is False


def test_new_preset_without_a_prompt_is_refused_by_name() -> None:
    config, warnings = parsed('[presets.mine]\ntitle = "Mine"\nmax_tokens = 50\n')
    assert "mine" not in config.presets
    assert warnings == ["config.toml: presets.mine: a new preset needs a prompt; preset ignored"]


def test_new_question_preset_needs_no_prompt() -> None:
    config, warnings = parsed("[presets.quick]\nasks_question = true\n")
    assert warnings == []
    assert config.presets["quick"].first_prompt("What is this?") == "What is this?"
    assert config.presets["quick"].title == "quick"


# --- bad values: a warning naming the key, and the default ---------------------------------


def _ocr_max_tokens(c: Config) -> object:
    return c.presets["ocr"].max_tokens


BAD_VALUES = [
    ("[presets.ocr]\nmax_tokens = 0", "presets.ocr.max_tokens", _ocr_max_tokens, 4096),
    ("[presets.ocr]\nmax_tokens = 1.5", "presets.ocr.max_tokens", _ocr_max_tokens, 4096),
    (
        "[presets.ocr]\ntemperature = 3.5",
        "presets.ocr.temperature",
        lambda c: c.presets["ocr"].temperature,
        0.0,
    ),
    (
        '[presets.describe]\ntemperature = "warm"',
        "presets.describe.temperature",
        lambda c: c.presets["describe"].temperature,
        0.2,
    ),
    (
        '[presets.ocr]\nactions = ["copy", "shout"]',
        "presets.ocr.actions",
        lambda c: c.presets["ocr"].actions,
        {Action.COPY, Action.NOTIFY},
    ),
    (
        "[presets.ocr]\nactions = []",
        "presets.ocr.actions",
        lambda c: c.presets["ocr"].actions,
        {Action.COPY, Action.NOTIFY},
    ),
    (
        '[presets.ocr]\nasks_question = "no"',
        "presets.ocr.asks_question",
        lambda c: c.presets["ocr"].asks_question,
        False,
    ),
    ("[presets.ocr]\nprompt = 5", "presets.ocr.prompt", lambda c: c.presets["ocr"].prompt, None),
    ('[network]\nread_timeout = "soon"', "network.read_timeout", lambda c: c.read_timeout, 120.0),
    ("[network]\nread_timeout = nan", "network.read_timeout", lambda c: c.read_timeout, 120.0),
    ("[network]\nread_timeout = true", "network.read_timeout", lambda c: c.read_timeout, 120.0),
    ("[network]\nconnect_timeout = 0", "network.connect_timeout", lambda c: c.connect_timeout, 10),
    ("[network]\nmax_retries = true", "network.max_retries", lambda c: c.max_retries, 2),
    ("[network]\nmax_retries = 11", "network.max_retries", lambda c: c.max_retries, 2),
    ('[image]\nformat = "gif"', "image.format", lambda c: c.image_format, "auto"),
    ("[image]\njpeg_quality = 101", "image.jpeg_quality", lambda c: c.jpeg_quality, 90),
    ('[capture]\nhandler = "x11"', "capture.handler", lambda c: c.capture_handler, "auto"),
    ('[history]\nenabled = "yes"', "history.enabled", lambda c: c.keep_history, True),
    ('profile = "nope"', "profile", lambda c: c.profile, "hyperbolic"),
    ("profile = 3", "profile", lambda c: c.profile, "hyperbolic"),
    ('default_preset = "nope"', "default_preset", lambda c: c.default_preset, "describe"),
    (
        '[profiles.hyperbolic]\nbase_url = "not a url"',
        "profiles.hyperbolic.base_url",
        lambda c: c.active.base_url,
        HYPERBOLIC_BASE_URL,
    ),
    (
        '[profiles.local]\nbase_url = "ftp://example.org"',
        "profiles.local.base_url",
        lambda c: "local" in c.profiles,
        False,
    ),
    ("[profiles.local]\nmodel = 'x'", "profiles.local", lambda c: "local" in c.profiles, False),
    ("network = 5", "network", lambda c: c.read_timeout, 120.0),
    ("[prices]\n'my/model' = -1", "prices.my/model", lambda c: c.prices, {}),
    ("[prices]\n'my/model' = 'cheap'", "prices.my/model", lambda c: c.prices, {}),
    ("[hotkeys]\ncapture = 5", "hotkeys.capture", lambda c: c.hotkeys, {}),
]


@pytest.mark.parametrize(
    ("text", "key", "read", "default"),
    BAD_VALUES,
    ids=[case[1] + "|" + case[0] for case in BAD_VALUES],
)
def test_each_bad_value_warns_by_key_and_the_default_applies(
    text: str, key: str, read, default: object
) -> None:
    config, warnings = parsed(text)
    # THEN a warning names the file and the key, and says what happens instead
    assert warnings, "no warning"
    named = [w for w in warnings if w.startswith(f"config.toml: {key}: ")]
    assert named, warnings
    assert named[0].endswith(("; the default applies", "; ignored", "; profile ignored"))
    assert "\n" not in named[0]
    # AND the setting has its default value
    if default is None:  # a built-in's own value
        default = read(DEFAULTS)
    assert read(config) == default


def test_bad_value_warning_says_what_was_expected_and_what_was_found() -> None:
    _, warnings = parsed("[presets.ocr]\nmax_tokens = 0\n")
    assert warnings == [
        "config.toml: presets.ocr.max_tokens: must be a whole number from 1 to 1000000, "
        "not 0; the default applies"
    ]


def test_one_bad_value_does_not_spoil_the_good_ones_next_to_it() -> None:
    config, warnings = parsed("[network]\nread_timeout = -1\nconnect_timeout = 4\n")
    assert len(warnings) == 1
    assert (config.read_timeout, config.connect_timeout) == (120.0, 4)


def test_invalid_toml_gives_one_warning_with_line_and_column_and_all_defaults() -> None:
    config, warnings = parsed(
        '[network]\nread_timeout = 30\nconnect_timeout = = 5\nprofile = "x"\n'
    )
    assert config == DEFAULTS
    assert len(warnings) == 1
    assert warnings[0].startswith("config.toml: not valid TOML")
    assert "line 3" in warnings[0] and "column" in warnings[0]
    assert warnings[0].endswith("using the defaults")


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ('colour = "blue"', "colour"),
        ('[presets.ocr]\npromt = "typo"', "presets.ocr.promt"),
        ("[network]\nconect_timeout = 5", "network.conect_timeout"),
        ('[image]\nfromat = "png"', "image.fromat"),
        ('[capture]\nhandlr = "qt"', "capture.handlr"),
        ("[history]\nenable = false", "history.enable"),
        ('[profiles.hyperbolic]\nbase_ur = "http://x/v1"', "profiles.hyperbolic.base_ur"),
    ],
)
def test_unknown_keys_are_warned_about_by_name(text: str, key: str) -> None:
    config, warnings = parsed(text)
    assert any(w.startswith(f"config.toml: {key}: ") and w.endswith("ignored") for w in warnings)
    assert config == DEFAULTS


def test_with_base_url_points_only_the_active_profile_elsewhere() -> None:
    config, _ = parsed('profile = "local"\n[profiles.local]\nbase_url = "http://a:1/v1"\n')
    moved = with_base_url(config, "http://127.0.0.1:8000/v1/")
    assert moved.active.base_url == "http://127.0.0.1:8000/v1"
    assert moved.profiles["hyperbolic"].base_url == HYPERBOLIC_BASE_URL
    assert config.active.base_url == "http://a:1/v1"  # the original is unchanged


# --- presets ------------------------------------------------------------------------------


def test_ask_preset_first_prompt_is_the_question() -> None:
    ask = builtin_presets()["ask"]
    assert ask.first_prompt("What does this error mean?") == "What does this error mean?"
    with pytest.raises(ValueError, match="needs a question"):
        ask.first_prompt()
    with pytest.raises(ValueError):
        ask.first_prompt("")


def test_ask_preset_with_a_framing_prompt_puts_it_before_the_question() -> None:
    config, _ = parsed('[presets.ask]\nprompt = "Answer in one sentence."\n')
    assert config.presets["ask"].first_prompt("Why?") == "Answer in one sentence.\n\nWhy?"


def test_fixed_presets_ignore_a_question_and_have_a_prompt() -> None:
    for preset in BUILTIN_PRESETS:
        assert preset.builtin
        if not preset.asks_question:
            assert preset.first_prompt("ignored") == preset.prompt
            assert len(preset.prompt) > 20
    assert Action.COPY in builtin_presets()["ocr"].actions


# --- pricing ------------------------------------------------------------------------------


def test_estimate_cost_uses_the_page_prices() -> None:
    # Qwen2.5-VL-72B: $0.60 per million tokens, input and output alike
    cost = estimate_cost("Qwen/Qwen2.5-VL-72B-Instruct", 1_000_000, 500_000)
    assert cost == pytest.approx(0.90)
    assert estimate_cost("mistralai/Pixtral-12B-2409", 800, 200) == pytest.approx(0.0001)


def test_estimate_cost_is_unknown_without_a_price_or_token_counts() -> None:
    assert estimate_cost("some/local-model", 100, 100) is None
    assert estimate_cost("Qwen/Qwen2.5-VL-7B-Instruct", None, 100) is None
    assert estimate_cost("Qwen/Qwen2.5-VL-7B-Instruct", 100, None) is None


def test_configured_prices_override_and_extend_the_page() -> None:
    config, _ = parsed('[prices]\n"Qwen/Qwen2.5-VL-7B-Instruct" = 1.0\n"local" = 0\n')
    assert estimate_cost("Qwen/Qwen2.5-VL-7B-Instruct", 500, 500, config.prices) == pytest.approx(
        0.001
    )
    assert estimate_cost("local", 500, 500, config.prices) == 0.0
    assert estimate_cost("mistralai/Pixtral-12B-2409", 10**6, 0, config.prices) == pytest.approx(
        0.1
    )


def test_format_cost() -> None:
    assert format_cost(None) == "cost unknown"
    assert format_cost(0.00009) == "$0.00009"
    assert format_cost(0.0123) == "$0.0123"
    assert format_cost(0.0) == "$0.00000"


# --- keys never reach the log -------------------------------------------------------------

SECRET = "sk-live-4f9a8b7c6d5e4f3a2b1c0d9e"


@pytest.fixture
def log_output(monkeypatch: pytest.MonkeyPatch):
    """A logger writing formatted records to a string, and the registry of secrets emptied."""
    monkeypatch.setattr(logsafe, "_secrets", set())
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("desktop_vlm.test_logsafe")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    yield logger, handler, stream
    logger.removeHandler(handler)


def _log_everything(logger: logging.Logger) -> None:
    logger.info("using key %s", SECRET)
    logger.warning(f"header was Bearer {SECRET}")
    logger.info("server echoed %s", SECRET[:14] + "..." + SECRET[-14:])
    try:
        try:
            raise ValueError(f"bad key {SECRET}")
        except ValueError as inner:
            raise RuntimeError("request failed") from inner
    except RuntimeError:
        logger.exception("while sending with %r", {"Authorization": f"Bearer {SECRET}"})


def test_registered_secret_never_appears_in_log_output(log_output) -> None:
    logger, handler, stream = log_output
    logsafe.register_secret(SECRET)
    logsafe.install_redaction(handler)
    logsafe.install_redaction(handler)  # twice is harmless
    assert sum(isinstance(f, logsafe.RedactingFilter) for f in handler.filters) == 1

    _log_everything(logger)

    text = stream.getvalue()
    assert SECRET not in text
    assert SECRET[:12] not in text and SECRET[-12:] not in text
    # the rest of each message, and the traceback, are still there
    assert "using key [redacted]" in text
    assert "Bearer [redacted]" in text
    assert "ValueError: bad key [redacted]" in text
    assert "RuntimeError: request failed" in text


def test_without_redaction_the_same_records_would_leak(log_output) -> None:
    # The control for the test above: it detects a leak when there is one.
    logger, _, stream = log_output
    logsafe.register_secret(SECRET)
    _log_everything(logger)
    assert stream.getvalue().count(SECRET) >= 4


def test_short_or_empty_secrets_are_not_registered(log_output) -> None:
    logger, handler, stream = log_output
    logsafe.register_secret("")
    logsafe.register_secret(None)
    logsafe.register_secret("abc")
    logsafe.install_redaction(handler)
    logger.info("abc is a word, not a key")
    assert "abc is a word" in stream.getvalue()
    assert logsafe.redact_known("abc") == "abc"
