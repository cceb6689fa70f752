"""Recognising vision models among the ids servers really list, ranking them, and the default
``choose_model`` picks from a server's list."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from desktop_vlm.core.errors import ConfigError
from desktop_vlm.core.vision_models import (
    BY_CAPABILITIES,
    BY_NAME,
    BY_PROVIDER,
    capabilities_from_listing,
    is_vision_model,
    parameter_billions,
    rank_vision_models,
    recognise,
)
from desktop_vlm.services.models import choose_model, looks_like_vision_model

# (model id as the server lists it, the provider that lists it or None for "anywhere")
VISION = [
    # Ollama
    ("qwen2.5vl:7b", "ollama"),
    ("gemma3:12b", "ollama"),
    ("llava:13b", "ollama"),
    ("llama3.2-vision:11b", "ollama"),
    ("minicpm-v:8b", "ollama"),
    ("moondream:latest", "ollama"),
    ("granite3.2-vision", "ollama"),
    ("qwen3-vl:8b", "ollama"),
    ("mistral-small3.1", "ollama"),
    ("llama4:scout", "ollama"),
    # OpenAI
    ("gpt-4o-mini", None),
    ("gpt-4.1", None),
    ("gpt-4.1-mini", None),
    ("gpt-4o-2024-08-06", "openai"),
    ("gpt-5-mini", "openai"),
    ("o3", "openai"),
    ("o4-mini", "openai"),
    # Gemini (its OpenAI endpoint lists "models/...")
    ("gemini-2.5-flash", None),
    ("gemini-2.0-flash", None),
    ("models/gemini-2.5-flash", "gemini"),
    ("models/gemma-3-27b-it", "gemini"),
    # Mistral
    ("mistral-small-2506", None),
    ("mistral-small-2503", "mistral"),
    ("mistral-small-latest", "mistral"),
    ("pixtral-large-latest", None),
    ("mistral-medium-2508", "mistral"),
    ("mistral-large-2512", "mistral"),
    ("ministral-8b-2512", "mistral"),
    ("magistral-medium-2509", "mistral"),
    # Groq, Together, DeepInfra, Fireworks, OpenRouter, Hyperbolic, vLLM
    ("meta-llama/llama-4-scout-17b-16e-instruct", None),
    ("meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", None),
    ("llama-3.2-11b-vision-preview", None),
    ("meta-llama/Llama-3.2-90B-Vision-Instruct-Turbo", "together"),
    ("meta-llama/Llama-Vision-Free", "together"),
    ("Qwen/Qwen2.5-VL-72B-Instruct", None),
    ("qwen/qwen2.5-vl-72b-instruct:free", "openrouter"),
    ("openai/gpt-4o", "openrouter"),
    ("anthropic/claude-sonnet-4", "openrouter"),
    ("google/gemma-3-27b-it", None),
    ("accounts/fireworks/models/qwen2p5-vl-32b-instruct", None),
    ("accounts/fireworks/models/llama4-maverick-instruct-basic", "fireworks"),
    ("nvidia/NVIDIA-Nemotron-Nano-12B-v2-VL-BF16", None),
    ("mistralai/Pixtral-12B-2409", None),
    ("Qwen/Qwen3-VL-235B-A22B-Instruct", None),
    ("zai-org/GLM-4.5V", None),
    ("deepseek-ai/DeepSeek-OCR", "vllm"),
    ("InternVL3-8B", None),
    ("phi-4-multimodal-instruct", None),
    ("Qwen2.5-VL-7B-Instruct-Q4_K_M.gguf", "llamacpp"),
]

NOT_VISION = [
    ("gpt-3.5-turbo", None),
    ("text-embedding-3-small", None),
    ("whisper-1", None),
    ("tts-1", None),
    ("dall-e-3", None),
    ("gpt-image-1", None),
    ("omni-moderation-latest", None),
    ("llama3.1:8b", None),
    ("qwen2.5:7b", None),
    ("qwen2.5-coder:32b", None),
    ("mistral-7b-instruct", None),
    ("deepseek-r1:14b", None),
    ("meta-llama/Llama-3.3-70B-Instruct", None),
    ("mixtral-8x7b-32768", None),
    ("gemma2:9b", None),
    ("nomic-embed-text", None),
    ("codestral-latest", None),
    ("mistral-embed", None),
    # more from the providers' lists: same families, other jobs
    ("o3-mini", "openai"),
    ("gpt-4o-audio-preview", "openai"),
    ("gpt-4o-mini-tts", "openai"),
    ("gpt-4o-transcribe", "openai"),
    ("gpt-4o-search-preview", "openai"),
    ("gpt-oss-120b", None),
    ("models/gemini-embedding-001", "gemini"),
    ("gemini-2.5-flash-image", "gemini"),
    ("gemini-2.5-flash-preview-tts", "gemini"),
    ("gemini-1.0-pro", None),
    ("mistral-small-2501", "mistral"),
    ("ministral-8b-2410", "mistral"),
    ("mistral-large-2411", "mistral"),
    ("mistral-ocr-latest", "mistral"),
    ("meta-llama/llama-guard-4-12b", "groq"),
    ("llama-3.1-8b-instant", "groq"),
    ("gemma3:1b", "ollama"),
    ("google/gemma-3-1b-it", None),
    ("gemma3n:e4b", "ollama"),
    ("moonshotai/Kimi-K2-Instruct", None),
    ("black-forest-labs/FLUX.1-schnell", "together"),
    ("", None),
]


@pytest.mark.parametrize(("model_id", "provider_id"), VISION)
def test_real_vision_model_ids_are_recognised(model_id, provider_id):
    assert is_vision_model(model_id, provider_id)


@pytest.mark.parametrize(("model_id", "provider_id"), NOT_VISION)
def test_real_text_speech_and_embedding_ids_are_not(model_id, provider_id):
    assert not is_vision_model(model_id, provider_id)


def test_the_settings_dialog_and_models_command_see_the_same_answer():
    # GIVEN the services-layer name the callers use
    # THEN it agrees with the core rules, with and without a provider
    assert looks_like_vision_model("qwen2.5vl:7b") and looks_like_vision_model("o3", "openai")
    assert not looks_like_vision_model("llama3.1:8b")


def test_reported_capabilities_decide_over_the_name():
    # GIVEN what Ollama's /api/show says about each model
    # THEN a custom name with "vision" is a vision model, and a llava without its projector not
    assert is_vision_model("receipt-reader:latest", "ollama", ["completion", "vision"])
    assert not is_vision_model("llava:7b", "ollama", ["completion"])
    assert not is_vision_model("gemma3:12b", "ollama", [])
    assert is_vision_model("some.gguf", "llamacpp", ["completion", "multimodal"])
    assert not is_vision_model("nomic-embed-text", "ollama", ["embedding"])
    assert recognise("x", None, ["vision"]).how == BY_CAPABILITIES


def test_the_verdict_says_which_evidence_decided():
    assert recognise("mistral-small-latest", "mistral") == recognise(
        "mistral-small-latest", "mistral"
    )
    assert recognise("mistral-small-latest", "mistral").how == BY_PROVIDER
    assert recognise("gemma3:1b", "ollama").how == BY_PROVIDER
    assert recognise("gemma3:12b").how == BY_NAME
    # a provider's own families win, and its exclusions too
    assert recognise("meta-llama/llama-guard-4-12b", "groq").vision is False


@pytest.mark.parametrize(
    ("entry", "expected"),
    [
        # OpenRouter /models
        ({"id": "a", "architecture": {"input_modalities": ["text", "image"]}}, ("vision",)),
        ({"id": "a", "architecture": {"input_modalities": ["text"]}}, ()),
        (  # takes an image but answers with one: an image generator, not for us
            {
                "id": "a",
                "architecture": {"input_modalities": ["image"], "output_modalities": ["image"]},
            },
            (),
        ),
        ({"id": "a", "architecture": {"modality": "text+image->text"}}, ("vision",)),
        # Mistral /v1/models
        ({"id": "a", "capabilities": {"completion_chat": True, "vision": True}}, ("vision",)),
        ({"id": "a", "capabilities": {"completion_chat": True, "vision": False}}, ()),
        # LM Studio /api/v0/models
        ({"id": "a", "type": "vlm"}, ("vision",)),
        ({"id": "a", "type": "llm"}, None),
        # llama-server: only a positive word counts, a short list is no "no"
        ({"name": "a", "capabilities": ["completion", "multimodal"]}, ("vision",)),
        ({"name": "a", "capabilities": ["completion"]}, None),
        ({"id": "a", "supports_image_input": False}, ()),
        # what a hostile or plain server sends
        ({"id": "a", "owned_by": "vllm"}, None),
        ({"id": "a", "capabilities": "vision"}, None),
        ({"id": "a", "architecture": {"input_modalities": [1, None, "image"]}}, ("vision",)),
        (["not", "a", "mapping"], None),
        (None, None),
    ],
)
def test_capabilities_are_read_from_the_model_lists_that_carry_them(entry, expected):
    assert capabilities_from_listing(entry) == expected


@pytest.mark.parametrize(
    ("model_id", "billions"),
    [
        ("Qwen/Qwen2.5-VL-72B-Instruct", 72),
        ("qwen2.5vl:7b", 7),
        ("Qwen/Qwen3-VL-235B-A22B-Instruct", 235),  # total, not the 22B active
        ("meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8", 400),
        ("mixtral-8x7b-32768", 56),
        ("gemma3:270m", 0.27),
        ("nvidia/NVIDIA-Nemotron-Nano-12B-v2-VL-BF16", 12),
        ("gpt-4o", None),
    ],
)
def test_parameter_counts_are_read_from_names(model_id, billions):
    assert parameter_billions(model_id) == (pytest.approx(billions) if billions else None)


RANKINGS = [
    (  # a typical Ollama machine: newer and larger first, the tiny one last
        "ollama",
        ["llava:13b", "moondream:latest", "gemma3:12b", "qwen2.5vl:7b", "llama3.2-vision:11b"],
        ["gemma3:12b", "qwen2.5vl:7b", "llama3.2-vision:11b", "llava:13b", "moondream:latest"],
    ),
    (  # OpenAI: its suggestion first, the nano tier last
        "openai",
        ["gpt-4.1-nano", "gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini"],
        ["gpt-4.1-mini", "gpt-4.1", "gpt-4o", "gpt-4o-mini", "gpt-4.1-nano"],
    ),
    (  # Gemini lists "models/..."; the suggestion still wins, a preview comes last
        "gemini",
        [
            "models/gemini-2.5-flash-preview-05-20",
            "models/gemini-2.0-flash",
            "models/gemini-2.5-flash",
        ],
        [
            "models/gemini-2.5-flash",
            "models/gemini-2.0-flash",
            "models/gemini-2.5-flash-preview-05-20",
        ],
    ),
    (  # the Hyperbolic page's four models: larger before smaller
        None,
        [
            "nvidia/NVIDIA-Nemotron-Nano-12B-v2-VL-BF16",
            "mistralai/Pixtral-12B-2409",
            "Qwen/Qwen2.5-VL-7B-Instruct",
            "Qwen/Qwen2.5-VL-72B-Instruct",
        ],
        [
            "Qwen/Qwen2.5-VL-72B-Instruct",
            "nvidia/NVIDIA-Nemotron-Nano-12B-v2-VL-BF16",
            "Qwen/Qwen2.5-VL-7B-Instruct",
            "mistralai/Pixtral-12B-2409",
        ],
    ),
]


@pytest.mark.parametrize(("provider_id", "served", "expected"), RANKINGS)
def test_vision_models_are_ranked_best_default_first(provider_id, served, expected):
    assert rank_vision_models(served, provider_id) == expected


@pytest.mark.parametrize(("provider_id", "served", "expected"), RANKINGS)
def test_the_ranking_does_not_depend_on_the_servers_order(provider_id, served, expected):
    for seed in range(5):
        shuffled = served + served[:1]  # and a duplicate, which is dropped
        random.Random(seed).shuffle(shuffled)
        assert rank_vision_models(shuffled, provider_id) == expected


@given(st.lists(st.text(max_size=300), max_size=20), st.sampled_from([None, "ollama", "openai"]))
def test_any_list_of_names_is_ranked_without_error_and_without_loss(ids, provider_id):
    ranked = rank_vision_models(ids, provider_id)
    assert sorted(ranked) == sorted({i for i in ids if i})
    assert rank_vision_models(list(reversed(ids)), provider_id) == ranked
    assert all(isinstance(is_vision_model(i, provider_id), bool) for i in ids)


# --- choose_model (services/models.py) ------------------------------------------------------


def test_a_lone_model_is_used_whatever_its_name():
    assert choose_model(["my-finetune"]) == "my-finetune"


def test_the_api_pages_priced_models_are_still_preferred():
    served = ["llava:13b", "Qwen/Qwen2.5-VL-7B-Instruct", "gemma3:12b"]
    assert choose_model(served) == "Qwen/Qwen2.5-VL-7B-Instruct"


def test_the_best_vision_model_is_chosen_from_a_mixed_list():
    served = ["llama3.1:8b", "moondream:latest", "nomic-embed-text", "qwen2.5vl:7b"]
    assert choose_model(served) == "qwen2.5vl:7b"


def test_the_providers_suggestion_is_chosen_when_served():
    served = ["gpt-3.5-turbo", "gpt-5", "gpt-4o", "gpt-4.1-mini", "whisper-1"]
    assert choose_model(served, "openai") == "gpt-4.1-mini"
    assert choose_model(served) == "gpt-5"  # anywhere else: the newest


def test_a_list_without_vision_models_is_a_clear_error():
    with pytest.raises(ConfigError) as caught:
        choose_model(["llama3.1:8b", "nomic-embed-text"])
    assert "none of the server's 2 models looks like a vision model" in str(caught.value)
    with pytest.raises(ConfigError, match="lists no models"):
        choose_model([])
