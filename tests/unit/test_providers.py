"""The provider catalog: the addresses and key variables people rely on, lookups, and that each
entry's own data is consistent (its suggested model is a vision model there, local servers need
no key)."""

from __future__ import annotations

import pytest

from desktop_vlm.core import providers
from desktop_vlm.core.providers import (
    CATALOG,
    OVERRIDE_KEY_ENV,
    cloud_providers,
    key_variables,
    local_providers,
    provider,
    provider_for_base_url,
)
from desktop_vlm.core.vision_models import is_vision_model, rank_vision_models

#: What each provider's documentation says, in catalog order.
DOCUMENTED = [
    ("hyperbolic", "https://api.hyperbolic.xyz/v1", ("HYPERBOLIC_API_KEY",)),
    ("openai", "https://api.openai.com/v1", ("OPENAI_API_KEY",)),
    ("openrouter", "https://openrouter.ai/api/v1", ("OPENROUTER_API_KEY",)),
    (
        "gemini",
        "https://generativelanguage.googleapis.com/v1beta/openai",
        ("GOOGLE_API_KEY", "GEMINI_API_KEY"),
    ),
    ("mistral", "https://api.mistral.ai/v1", ("MISTRAL_API_KEY",)),
    ("together", "https://api.together.ai/v1", ("TOGETHER_API_KEY",)),
    ("groq", "https://api.groq.com/openai/v1", ("GROQ_API_KEY",)),
    ("fireworks", "https://api.fireworks.ai/inference/v1", ("FIREWORKS_API_KEY",)),
    (
        "deepinfra",
        "https://api.deepinfra.com/v1/openai",
        ("DEEPINFRA_API_KEY", "DEEPINFRA_API_TOKEN", "DEEPINFRA_TOKEN"),
    ),
    ("ollama", "http://127.0.0.1:11434/v1", ()),
    ("lmstudio", "http://127.0.0.1:1234/v1", ()),
    ("vllm", "http://127.0.0.1:8000/v1", ()),
    ("llamacpp", "http://127.0.0.1:8080/v1", ()),
]


def test_the_catalog_lists_cloud_providers_first_then_local_servers():
    # GIVEN the catalog WHEN its ids are read in order THEN they are the documented ones
    assert [p.id for p in CATALOG] == [row[0] for row in DOCUMENTED]
    kinds = [p.local for p in CATALOG]
    assert kinds == sorted(kinds), "a local server sits among the cloud providers"
    assert [p.id for p in local_providers()] == ["ollama", "lmstudio", "vllm", "llamacpp"]
    assert len(cloud_providers()) + len(local_providers()) == len(CATALOG)


@pytest.mark.parametrize(("provider_id", "base_url", "key_env"), DOCUMENTED)
def test_each_provider_has_its_documented_endpoint_and_key_variables(
    provider_id, base_url, key_env
):
    entry = provider(provider_id)
    assert entry is not None
    assert entry.base_url == base_url
    assert entry.key_env == key_env


@pytest.mark.parametrize("entry", CATALOG, ids=[p.id for p in CATALOG])
def test_cloud_providers_need_a_key_and_say_where_to_get_one(entry):
    if entry.local:
        # a server on this machine: plain http to loopback, no key, nothing to sign up for
        assert entry.base_url.startswith("http://127.0.0.1:")
        assert entry.key_env == () and entry.key_url == ""
    else:
        assert entry.base_url.startswith("https://")
        assert entry.key_env and all(name.isupper() for name in entry.key_env)
        assert entry.key_url.startswith("https://")
    assert entry.title and entry.title != entry.id  # a name for people, "Google Gemini"


@pytest.mark.parametrize("entry", [p for p in CATALOG if p.default_model], ids=lambda p: p.id)
def test_a_suggested_model_is_a_vision_model_there_and_ranks_first(entry):
    # GIVEN a provider that suggests a model
    # WHEN its server lists that model among others
    served = ["zz/Other-VL-72B-Instruct", entry.default_model, "aa/other-vision-90b"]
    # THEN the suggestion counts as a vision model there and is the first choice
    assert is_vision_model(entry.default_model, entry.id)
    assert rank_vision_models(served, entry.id)[0] == entry.default_model


def test_provider_lookup_ignores_case_and_space_and_knows_no_strangers():
    assert provider(" OpenAI ").id == "openai"
    assert provider("LMStudio").id == "lmstudio"
    assert provider("nonesuch") is None
    assert provider("") is None and provider(None) is None


def test_key_variables_name_every_variable_once_with_the_override_first():
    names = key_variables()
    assert names[0] == OVERRIDE_KEY_ENV == "DESKTOP_VLM_API_KEY"
    assert len(names) == len(set(names))
    for expected in ("OPENAI_API_KEY", "GOOGLE_API_KEY", "GEMINI_API_KEY", "DEEPINFRA_TOKEN"):
        assert expected in names
    assert set(names) == {OVERRIDE_KEY_ENV} | {n for p in CATALOG for n in p.key_env}


def test_local_servers_are_probed_on_their_default_ports():
    assert {p.id: p.port for p in local_providers()} == {
        "ollama": 11434,
        "lmstudio": 1234,
        "vllm": 8000,
        "llamacpp": 8080,
    }
    assert provider("openai").port == 443


@pytest.mark.parametrize(
    ("configured", "expected"),
    [
        ("https://api.openai.com/v1", "openai"),
        ("https://API.openai.com/v1/", "openai"),  # a trailing slash and case change nothing
        ("https://api.together.xyz/v1", "together"),  # the older host still means Together
        ("http://localhost:11434/v1", "ollama"),
        ("http://127.0.0.1:1234/v1", "lmstudio"),
        ("https://generativelanguage.googleapis.com/v1beta/openai/", "gemini"),
        ("https://api.openai.com/v2", None),  # another path is another endpoint
        ("http://127.0.0.1:9999/v1", None),
        ("https://llm.example.com/v1", None),
        ("not a url", None),
        ("http://127.0.0.1:99999/v1", None),  # an impossible port is no crash
    ],
)
def test_a_configured_base_url_is_matched_to_its_catalog_entry(configured, expected):
    found = provider_for_base_url(configured)
    assert (found.id if found else None) == expected


def test_documented_request_limits_are_carried():
    # Groq refuses (413) a request whose base64 image data passes 4 MB
    groq = provider("groq").limits
    assert groq.max_base64_image_bytes == 4_000_000 and groq.max_images == 5
    assert provider("openai").limits.max_base64_image_bytes == 50_000_000
    assert provider("hyperbolic").limits.max_side_px == 2048
    # a provider that documents nothing carries no invented limit
    assert provider("together").limits == providers.Limits()


def test_reasoning_models_are_marked_as_refusing_a_temperature():
    assert "o4*" in provider("openai").default_temperature_only
    assert provider("mistral").default_temperature_only == ()
