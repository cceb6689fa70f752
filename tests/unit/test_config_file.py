"""config.toml on disk: what the settings dialog writes reads back as the same settings, the
person's comments and order survive, and an unreadable or changed file is never overwritten."""

from __future__ import annotations

import stat
import tomllib
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from desktop_vlm.core.config import Config, Profile, parse_config
from desktop_vlm.core.errors import ConfigError
from desktop_vlm.core.presets import Action, Preset, builtin_presets
from desktop_vlm.services.config_file import load_for_editing, save_config
from desktop_vlm.services.settings import load_config

#: A hand-written config.toml with comments, as a person keeps one.
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


def with_preset(config: Config, preset: Preset) -> Config:
    return replace(config, presets={**config.presets, preset.id: preset})


def written(config: Config, tmp_path: Path) -> str:
    path = tmp_path / f"c{uuid.uuid4().hex[:8]}" / "config.toml"
    save_config(config, path)
    return path.read_text(encoding="utf-8")


# --- config.toml written back ------------------------------------------------------------


SHAPES = {
    "defaults": Config(),
    "local profile active": replace(
        Config(),
        profile="local",
        profiles={
            **Config().profiles,
            "local": Profile("local", "http://127.0.0.1:11434/v1", "qwen2.5vl:7b"),
        },
    ),
    "hyperbolic changed": replace(
        Config(),
        profiles={
            **Config().profiles,
            "hyperbolic": Profile("hyperbolic", "https://proxy.example/v1", "Qwen/Qwen2.5-VL"),
        },
    ),
    "built-in changed": with_preset(
        Config(), replace(builtin_presets()["ocr"], model="Qwen/Qwen2.5-VL-7B-Instruct")
    ),
    "new preset, odd text": with_preset(
        replace(Config(), default_preset="alt text"),
        Preset(
            "alt text",
            'Alt "text" \\ ünïcødé ✓',
            'Line one\n  "quoted" and \\back\\slash\ttab\r\n\x01\x7f end"',
            frozenset({Action.COPY, Action.NOTIFY}),
            model="org/model:tag",
            max_tokens=200,
            temperature=1.25,
        ),
    ),
    "asks question": with_preset(
        Config(), Preset("q", "Q", "", frozenset({Action.WINDOW}), asks_question=True)
    ),
    "everything else": replace(
        Config(),
        connect_timeout=2.5,
        read_timeout=300,
        max_retries=0,
        image_format="jpeg",
        jpeg_quality=75,
        prices={"Qwen/Qwen2.5-VL-7B-Instruct": 0.2, "a b": 1e-05},
        hotkeys={"capture": "Ctrl+Shift+A", "capture:ocr": "", "clipboard": "Meta+V"},
        capture_handler="portal",
        keep_history=False,
    ),
}


@pytest.mark.parametrize("name", list(SHAPES))
def test_written_config_reads_back_equal(name, tmp_path):
    # GIVEN a config of some shape
    config = SHAPES[name]
    # WHEN it is written as TOML and parsed again
    text = written(config, tmp_path)
    result = parse_config(text)
    # THEN the same config comes back, without a single warning
    assert result.warnings == []
    assert result.config == config


def test_only_changed_settings_are_written(tmp_path):
    # GIVEN the defaults with one built-in preset changed in one field
    config = with_preset(Config(), replace(builtin_presets()["ocr"], max_tokens=123))
    # WHEN written
    data = tomllib.loads(written(config, tmp_path))
    # THEN only that field of that preset is in the file
    assert data == {"presets": {"ocr": {"max_tokens": 123}}}
    # AND the defaults alone write no setting at all
    assert tomllib.loads(written(Config(), tmp_path)) == {}


def test_a_new_file_is_readable_toml_with_a_header(tmp_path):
    config = SHAPES["everything else"]
    text = written(
        with_preset(config, SHAPES["new preset, odd text"].presets["alt text"]), tmp_path
    )
    assert text.startswith("# desktop-vlm configuration")
    assert "NOT stored here" in text
    assert '"capture:ocr" = ""' in text
    assert '"Qwen/Qwen2.5-VL-7B-Instruct" = 0.2' in text
    # A multi-line prompt stays readable as several lines in the file.
    two = Preset("two", "Two", "Line one\nLine two", frozenset({Action.WINDOW}))
    assert "Line one\nLine two" in written(with_preset(Config(), two), tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        'a "q" b',
        'ends with "',
        '""""',
        "back\\slash\\",
        "tab\tin",
        "new\nline\n",
        "\n\nleading",
        "cr\rlf\r\n",
        "\x00\x1f\x7f",
        "ünïcødé ✓ 🎉",
        '"""\n"""',
        "\\\n",
    ],
)
def test_any_text_as_a_prompt_or_a_key_reads_back_exactly(text, tmp_path):
    preset = Preset("odd", "Odd", text, frozenset({Action.WINDOW}))
    config = replace(with_preset(Config(), preset), prices={text: 1.0})
    assert parse_config(written(config, tmp_path)).config == config


# Hypothesis: any config the schema allows survives the round trip.

_text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
_name = st.text(st.characters(exclude_categories=("Cs",)), min_size=1, max_size=12)
_host = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z]{2,5}){0,2}", fullmatch=True)
_url = st.builds(
    lambda scheme, host, port, path: f"{scheme}://{host}{port}{path}",
    st.sampled_from(["http", "https"]),
    _host,
    st.sampled_from(["", ":8000", ":11434"]),
    st.sampled_from(["", "/v1", "/api/v1", "/openai/v1"]),
)
_actions = st.frozensets(st.sampled_from(list(Action)), min_size=1)
_temperature = st.floats(0, 2, allow_nan=False)


@st.composite
def _presets(draw):
    presets = builtin_presets()
    for preset_id in draw(st.lists(st.sampled_from(list(presets)), unique=True)):
        base = presets[preset_id]
        presets[preset_id] = replace(
            base,
            title=draw(st.one_of(st.just(base.title), _text)),
            prompt=draw(st.one_of(st.just(base.prompt), _text)),
            model=draw(st.one_of(st.none(), _name)),
            max_tokens=draw(st.integers(1, 1_000_000)),
            temperature=draw(_temperature),
            actions=draw(_actions),
        )
    for preset_id in draw(
        st.lists(_name.filter(lambda n: n not in presets), unique=True, max_size=3)
    ):
        asks = draw(st.booleans())
        prompt = draw(_text if asks else _text.filter(bool))
        presets[preset_id] = Preset(
            preset_id,
            draw(_text),
            prompt,
            draw(_actions),
            model=draw(st.one_of(st.none(), _name)),
            max_tokens=draw(st.integers(1, 1_000_000)),
            temperature=draw(_temperature),
            asks_question=asks,
        )
    return presets


@st.composite
def _configs(draw):
    profiles = dict(Config().profiles)
    profiles["hyperbolic"] = Profile("hyperbolic", draw(_url), draw(st.one_of(st.just(""), _name)))
    for name in draw(st.lists(_name.filter(lambda n: n not in profiles), unique=True, max_size=3)):
        profiles[name] = Profile(name, draw(_url), draw(st.one_of(st.just(""), _name)))
    presets = draw(_presets())
    return Config(
        profile=draw(st.sampled_from(sorted(profiles))),
        profiles=profiles,
        default_preset=draw(st.sampled_from(sorted(presets))),
        connect_timeout=draw(st.floats(0.5, 600)),
        read_timeout=draw(st.one_of(st.floats(1, 3600), st.integers(1, 3600))),
        max_retries=draw(st.integers(0, 10)),
        image_format=draw(st.sampled_from(["auto", "png", "jpeg"])),
        jpeg_quality=draw(st.integers(50, 100)),
        presets=presets,
        prices=draw(st.dictionaries(_name, st.floats(0, 10_000), max_size=3)),
        hotkeys=draw(st.dictionaries(_name, _text, max_size=4)),
        capture_handler=draw(st.sampled_from(["auto", "qt", "portal", "grim", "spectacle"])),
        keep_history=draw(st.booleans()),
    )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(config=_configs())
def test_any_config_survives_the_round_trip(config, tmp_path):
    result = parse_config(written(config, tmp_path))
    assert result.warnings == []
    assert result.config == config


def test_save_replaces_the_file_atomically_and_privately(tmp_path):
    # GIVEN a hand-written config.toml with comments
    path = tmp_path / "conf" / "config.toml"
    path.parent.mkdir()
    path.write_text(TEMPLATE, encoding="utf-8")
    config = replace(Config(), default_preset="ocr")
    # WHEN the settings are saved over it
    save_config(config, path)
    # THEN the file holds the new settings, is readable by this user only, and no temporary
    # file is left next to it
    assert load_config(path).config == config
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"]
    # AND saving into a directory that does not exist yet creates it, private
    other = tmp_path / "new" / "dir" / "config.toml"
    save_config(config, other)
    assert load_config(other).config == config
    assert stat.S_IMODE(other.parent.stat().st_mode) == 0o700


def test_a_failed_save_raises_and_leaves_no_temporary_file(tmp_path):
    # GIVEN a config.toml path that is taken by a directory
    path = tmp_path / "conf" / "config.toml"
    path.mkdir(parents=True)
    (path / "keep").write_text("x")
    # WHEN saving there
    with pytest.raises((OSError, ConfigError)):
        save_config(Config(), path)
    # THEN nothing else was left in the folder, and what was there is untouched
    assert sorted(p.name for p in path.parent.iterdir()) == ["config.toml"]
    assert (path / "keep").read_text() == "x"


def test_the_dialog_edits_the_file_not_the_environment_override(tmp_path, monkeypatch):
    # GIVEN a saved config and DESKTOP_VLM_BASE_URL pointing somewhere else for this session
    path = tmp_path / "conf" / "config.toml"
    save_config(replace(Config(), default_preset="ocr"), path)
    monkeypatch.setenv("DESKTOP_VLM_BASE_URL", "http://127.0.0.1:9999/v1")
    assert load_config(path).config.active.base_url == "http://127.0.0.1:9999/v1"
    # WHEN the config is loaded for editing
    config = load_for_editing(path)

    # THEN it is the file's, so saving it does not write the override into the file
    assert config.config == replace(Config(), default_preset="ocr") and config.problem == ""
    assert load_for_editing(tmp_path / "missing.toml").config == Config()


# --- the person's file survives -------------------------------------------------------------


def test_saving_keeps_the_comments_order_and_unknown_keys_of_a_hand_written_file(tmp_path):
    # GIVEN a hand-written config.toml with comments, one real setting and an unknown key
    path = tmp_path / "config.toml"
    hand = TEMPLATE.replace(
        "# [network]\n", "[network]\nmax_retries = 3   # my flaky wifi\nmy_own_note = 1\n"
    )
    path.write_text(hand, encoding="utf-8")
    editable = load_for_editing(path)
    # WHEN the dialog saves one change (the default preset)
    save_config(replace(editable.config, default_preset="ocr"), path, editable.fingerprint)
    text = path.read_text(encoding="utf-8")
    # THEN every comment is still there, in order, and so are the person's own keys
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert comments == [line for line in hand.splitlines() if line.lstrip().startswith("#")]
    assert "max_retries = 3   # my flaky wifi" in text
    assert "my_own_note = 1" in text
    # AND the file says what the dialog said
    assert load_config(path).config == replace(editable.config, default_preset="ocr")


def test_removing_a_profile_removes_its_table_but_not_the_comments_around_it(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        "# my servers\n# keep this note\n[profiles.lan]  # the box under the desk\n"
        'base_url = "http://192.168.1.20:8000/v1"\n\n[history]\n',
        encoding="utf-8",
    )
    editable = load_for_editing(path)
    profiles = {k: v for k, v in editable.config.profiles.items() if k != "lan"}
    save_config(replace(editable.config, profiles=profiles), path, editable.fingerprint)
    text = path.read_text(encoding="utf-8")
    assert "lan" not in load_config(path).config.profiles
    assert "192.168.1.20" not in text
    assert "# my servers" in text and "# keep this note" in text and "[history]" in text


def test_a_byte_order_mark_as_notepad_writes_it_is_read_and_kept_usable(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf" + b'default_preset = "ocr"  # chosen in Notepad\n')
    assert load_config(path).warnings == []
    editable = load_for_editing(path)
    assert editable.problem == "" and editable.config.default_preset == "ocr"
    save_config(replace(editable.config, max_retries=4), path, editable.fingerprint)
    assert load_config(path).config.max_retries == 4
    assert "# chosen in Notepad" in path.read_text(encoding="utf-8-sig")


def test_utf16_with_its_mark_is_read(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes('default_preset = "table"\n'.encode("utf-16"))
    assert load_for_editing(path).config.default_preset == "table"


@pytest.mark.parametrize(
    "content",
    [
        b'default_preset = "ocr\n[broken',  # one typo
        b"\xff\xfa\x00 not text",  # not UTF-8
        'profile = "\u00e9"'.encode("latin-1"),  # Latin-1 from an old editor
    ],
    ids=["typo", "binary", "latin-1"],
)
def test_an_unreadable_file_is_never_overwritten(tmp_path, content):
    # GIVEN a config.toml the app cannot read
    path = tmp_path / "config.toml"
    path.write_bytes(content)
    # WHEN the dialog loads it and then tries to save the defaults
    editable = load_for_editing(path)
    # THEN it says why, and saving refuses and leaves every byte as it was
    assert editable.problem and str(path) in editable.problem
    with pytest.raises(ConfigError):
        save_config(editable.config, path, editable.fingerprint)
    assert path.read_bytes() == content


def test_a_change_made_on_disk_while_the_dialog_is_open_is_not_overwritten(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text('default_preset = "ocr"\n', encoding="utf-8")
    editable = load_for_editing(path)
    # GIVEN the person edits the file by hand while Settings is open
    path.write_text('default_preset = "ocr"\nmax_retries = 5  # by hand\n', encoding="utf-8")
    # WHEN Settings saves
    with pytest.raises(ConfigError, match="changed by another program"):
        save_config(replace(editable.config, default_preset="table"), path, editable.fingerprint)
    # THEN the hand edit is still there
    assert "max_retries = 5  # by hand" in path.read_text(encoding="utf-8")
