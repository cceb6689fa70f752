"""Which served models can look at an image, and which of them to use by default.

A server's model list mixes chat, embedding, speech and image-generation models, and the names
follow no standard: Ollama writes ``qwen2.5vl:7b``, Fireworks
``accounts/fireworks/models/qwen2p5-vl-32b-instruct``, Gemini ``models/gemini-2.5-flash``. The
evidence is weighed in order of trust:

1. capabilities the server reports (Ollama's ``/api/show`` "capabilities", a listing's
   ``input_modalities`` or ``vision`` flag) decide when given;
2. otherwise the provider's own vision families (``core.providers``);
3. otherwise names as servers really write them: the families of every provider in the catalog
   and the open-weight vision families (``-vl``, ``vision``, ``llava``, ``gemma3``, ...).

Whatever the evidence, a name that says embedding, speech, moderation or image generation is
never a vision model. Pure: no I/O, nothing but the standard library.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from desktop_vlm.core.providers import CATALOG, Provider, provider

BY_CAPABILITIES = "capabilities"
BY_PROVIDER = "provider"
BY_NAME = "name"

VISION = "vision"
#: Capability words that mean "takes images" (Ollama: "vision"; llama-server: "multimodal").
_VISION_CAPABILITIES = {"vision", "multimodal"}
MAX_ID_CHARS = 256
_MAX_LISTED = 32  # items of a server's list looked at (a hostile list must stay cheap)

_SEP = r"[-_./:]"
#: Never a chat model that reads images, whatever else the name says.
_NEVER = re.compile(
    rf"embed|rerank|whisper|(?:^|{_SEP})tts(?:$|{_SEP}|\d)|transcri|audio|realtime|moderation|"
    rf"dall-e|(?:^|{_SEP})image(?:$|{_SEP}|\d)|imagen|guard|shieldgemma|sora|(?:^|/)veo|flux|"
    rf"stable-diffusion|sdxl|speech|voxtral|mistral-ocr|search|computer-use|"
    rf"(?:^|[-_])live(?:$|[-_])"
)
#: Open-weight and API families, as servers write them (after ``normalize``).
_VISION_NAMES = re.compile(
    "|".join(
        (
            rf"(?:^|{_SEP}|\d)vl(?:$|{_SEP}|\d)",  # qwen2.5-vl, qwen2.5vl, deepseek-vl2, ...-v2-vl
            r"vlm|vision|llava|pixtral|moondream|minicpm-?[vo]|internvl|molmo|idefics|paligemma",
            r"docling|qvq|ovis|xcomposer|multimodal|ocr|florence",
            r"gemma-?3(?![n\d])(?!" + _SEP + r"?(?:1b|270m))",  # Gemma 3 from 4B up
            r"gemma-?4(?!\d)",
            r"llama-?4(?![\d.])",  # Scout, Maverick
            r"qwen[\d.]*-?omni|qwen3\.[5-9](?!.*coder)",
            r"glm-?\d(?:\.\d+)?v(?![a-z])",  # glm-4.5v, glm-4v-plus
            r"kimi-(?:k2\.[5-9]|k[3-9])",
            r"claude-(?:3|[4-9]|opus|sonnet|haiku)",
            r"grok-[4-9]",
            r"(?:^|[-/])nova-(?:lite|pro|premier)",
            r"mistral-small-?(?:3\.[1-9]|250[3-9]|25[1-9]\d|2[6-9]\d\d|latest)",
            r"mistral-medium|mistral-large-(?:3|2512|2[6-9]\d\d|latest)",
            r"ministral-(?:3(?:$|[-_.:])|\d+b-(?:2512|2[6-9]\d\d))",
            r"magistral-(?:small|medium)-(?:2509|251\d|2[6-9]\d\d)",
        )
    )
)


@dataclass(frozen=True)
class Verdict:
    """Whether a model reads images, and which evidence said so."""

    vision: bool
    how: str  # BY_CAPABILITIES, BY_PROVIDER or BY_NAME


def normalize(model_id: str) -> str:
    """Lower case, bounded, and Fireworks' ``2p5`` read as ``2.5``."""
    text = str(model_id).strip().lower()[:MAX_ID_CHARS]
    return re.sub(r"(?<=\d)p(?=\d)", ".", text)


def _last_segment(text: str) -> str:
    return text.rsplit("/", 1)[-1]


@cache
def _globs(patterns: tuple[str, ...]) -> re.Pattern[str] | None:
    if not patterns:
        return None
    return re.compile("|".join(f"(?:{fnmatch.translate(p.lower())})" for p in patterns))


def _matches(patterns: tuple[str, ...], text: str) -> bool:
    compiled = _globs(patterns)
    return bool(compiled) and any(compiled.match(t) for t in (text, _last_segment(text)))


def _family_says(entry: Provider, text: str) -> bool | None:
    """True/False when this provider's families decide, None when they say nothing."""
    if _matches(entry.not_vision, text):
        return False
    if _matches(entry.vision_families, text):
        return True
    return None


def _capabilities_say(capabilities: Sequence[str]) -> bool:
    if isinstance(capabilities, str):
        capabilities = (capabilities,)
    return any(
        isinstance(c, str) and c.strip().lower() in _VISION_CAPABILITIES
        for c in list(capabilities)[:_MAX_LISTED]
    )


def recognise(
    model_id: str,
    provider_id: str | None = None,
    capabilities: Sequence[str] | None = None,
) -> Verdict:
    """Decide whether ``model_id`` reads images, and say by which evidence."""
    if capabilities is not None:
        return Verdict(_capabilities_say(capabilities), BY_CAPABILITIES)
    text = normalize(model_id)
    if not text or _NEVER.search(text):
        return Verdict(False, BY_NAME)
    entry = provider(provider_id)
    if entry is not None:
        said = _family_says(entry, text)
        if said is not None:
            return Verdict(said, BY_PROVIDER)
    # Proxies (OpenRouter, LiteLLM, a person's own gateway) serve every provider's models.
    if any(_family_says(other, text) for other in CATALOG if other is not entry):
        return Verdict(True, BY_NAME)
    return Verdict(bool(_VISION_NAMES.search(text)), BY_NAME)


def is_vision_model(
    model_id: str,
    provider_id: str | None = None,
    capabilities: Sequence[str] | None = None,
) -> bool:
    """True when the model takes images (see the module docstring for the evidence used)."""
    return recognise(model_id, provider_id, capabilities).vision


def capabilities_from_listing(entry: object) -> tuple[str, ...] | None:
    """What one entry of a server's model list says about image input: ``("vision",)``, ``()``
    for an explicit no, None when it says nothing (then names decide).

    Understands OpenRouter's ``architecture.input_modalities``, Mistral's ``capabilities``
    object, capability lists (llama-server, LM Studio's ``"type": "vlm"``) and
    ``supports_image_input`` flags. A list without "vision" is not taken as a no: some servers
    list only what they are sure of.
    """
    if not isinstance(entry, Mapping):
        return None
    architecture = entry.get("architecture")
    if isinstance(architecture, Mapping):
        inputs = _words(architecture.get("input_modalities"))
        outputs = _words(architecture.get("output_modalities"))
        if inputs is not None:
            takes_images = "image" in inputs and (outputs is None or "text" in outputs)
            return (VISION,) if takes_images else ()
        modality = architecture.get("modality")
        if isinstance(modality, str) and "->" in modality:
            source, _, target = modality.lower().partition("->")
            return (VISION,) if "image" in source and "text" in target else ()
    capabilities = entry.get("capabilities")
    if isinstance(capabilities, Mapping):
        flag = capabilities.get("vision")
        if isinstance(flag, bool):
            return (VISION,) if flag else ()
    words = _words(capabilities)
    if words and _VISION_CAPABILITIES & set(words):
        return (VISION,)
    if entry.get("type") == "vlm":
        return (VISION,)
    for key in ("supports_image_input", "supportsImageInput", "supports_vision"):
        flag = entry.get(key)
        if isinstance(flag, bool):
            return (VISION,) if flag else ()
    return None


def _words(value: object) -> list[str] | None:
    if not isinstance(value, list):
        return None
    return [v.strip().lower() for v in value[:_MAX_LISTED] if isinstance(v, str)]


# --- ranking --------------------------------------------------------------------------------

#: When a family came out (year), newest tried first; a family not listed counts as 2024.
_ERAS = (
    (
        2026,
        r"qwen3\.[5-9]|gemini-3|gemma-?4|mistral-large-(?:3|2512)|ministral-3|ministral-\d+b-2512"
        r"|kimi-k|gpt-5\.[1-9]|glm-?4\.[6-9]v|mistral-medium-3\.5",
    ),
    (
        2025,
        r"qwen3|qwen2\.5|gemma-?3|llama-?4|gpt-5|gpt-4\.1|(?:^|/)o[34](?:$|-)|gemini-2"
        r"|mistral-(?:small|medium)|magistral|internvl3|phi-4|kimi-vl|glm-?4\.[15]v|granite"
        r"|nemotron|minicpm-v-?4|ovis2|smolvlm2|ocr|claude-(?:opus|sonnet|haiku)-4|claude-3-7",
    ),
    (
        2024,
        r"qwen2|llama-?3\.2|pixtral|gpt-4o|gpt-4-turbo|chatgpt-4o|(?:^|/)o1(?:$|-)|gemini-1\.5"
        r"|internvl2|molmo|minicpm|claude-3|phi-3|idefics3|deepseek-vl2|paligemma|nova-",
    ),
    (2023, r"llava|qwen-vl|cogvlm|idefics|fuyu|moondream"),
)
_ERA_PATTERNS = tuple((year, re.compile(pattern)) for year, pattern in _ERAS)
_UNKNOWN_ERA = 2024

#: Mixture-of-experts models whose names give the active, not the total, parameter count.
_MOE_TOTALS = (("maverick", 400.0), ("scout", 109.0))
_SIZE = re.compile(r"(?<![a-z\d.])(\d+(?:\.\d+)?)([bm])(?![a-z\d])")
_EXPERTS = re.compile(r"(?<![a-z\d.])(\d+)x(\d+(?:\.\d+)?)b(?![a-z\d])")
_VERSION = re.compile(r"(\d+(?:\.\d+)?)(?![\d.]*[bmx](?![a-z]))")
_TINY = re.compile(rf"(?:^|{_SEP})(?:nano|micro|tiny)(?:$|{_SEP})|moondream|smolvlm|florence")
_SMALL = re.compile(rf"(?:^|{_SEP})(?:mini|lite|small|haiku|light|air|instant)(?:$|{_SEP})")
_LARGE = re.compile(rf"(?:^|{_SEP})(?:pro|large|max|ultra|opus|premier|plus)(?:$|{_SEP})")
_PENALTY = re.compile(
    rf"(?:^|{_SEP})(?:preview|exp|experimental|beta|alpha|test|deprecated|base)(?:$|{_SEP}|\d)"
)


def parameter_billions(model_id: str) -> float | None:
    """The parameter count a name gives (``72b``, ``8x7b``, ``270m``), in billions, or None."""
    text = normalize(model_id)
    for word, total in _MOE_TOTALS:
        if word in text:
            return total
    sizes = [float(a) * float(b) for a, b in _EXPERTS.findall(text)]
    sizes += [float(n) / (1000 if unit == "m" else 1) for n, unit in _SIZE.findall(text)]
    return max(sizes) if sizes else None


def _era(text: str) -> int:
    return next((year for year, pattern in _ERA_PATTERNS if pattern.search(text)), _UNKNOWN_ERA)


def _version(text: str) -> float:
    found = _VERSION.search(_last_segment(text))
    return float(found.group(1)) if found else 0.0


def _tier(text: str) -> int:
    if _LARGE.search(text):
        return 3
    return 1 if _SMALL.search(text) else 2


def _is_default(text: str, default: str) -> bool:
    if not default:
        return False
    wanted = normalize(default)
    return text == wanted or ("/" not in wanted and _last_segment(text) == wanted)


def _rank_key(model_id: str, default: str) -> tuple:
    text = normalize(model_id)
    size = parameter_billions(model_id)
    tiny = size < 3 if size is not None else bool(_TINY.search(text))
    return (
        not _is_default(text, default),  # the provider's suggestion first
        bool(_PENALTY.search(text)),  # previews, experiments and base models last
        tiny,  # 1-2B models and "nano" tiers after every capable one
        -_era(text),  # newer families before older ones
        -(size or 0.0),  # then larger before smaller
        -_version(text),  # gemini-2.5 before gemini-2.0
        -_tier(text),  # "pro" before plain before "mini"
        text,
        model_id,
    )


def rank_vision_models(ids: Iterable[str], provider_id: str | None = None) -> list[str]:
    """``ids`` (already known to be vision models), best default first, duplicates dropped.

    The order is deterministic: the provider's suggested model, then newer and larger
    instruct models before previews and tiny ones, then by name.
    """
    entry = provider(provider_id)
    default = entry.default_model if entry else ""
    unique = list(dict.fromkeys(i for i in ids if isinstance(i, str) and i))
    return sorted(unique, key=lambda model_id: _rank_key(model_id, default))
