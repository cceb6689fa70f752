"""The built-in provider catalog: where each OpenAI-compatible service lives, which environment
variables its users already set, where to get a key, which of its models see images, and the
request limits it documents.

It is data, not behaviour: the config, the command line and the settings dialog read it, and
``vision_models`` reads the vision families. Hyperbolic, the original default, is withdrawing its
vision models, so no profile may depend on one model name; a ``default_model`` is only a
preference among the models a server actually lists.

Keys: each profile's ``key_env`` variables are read in order, as that provider's own tools read
them. ``DESKTOP_VLM_API_KEY`` overrides them for every profile (that rule lives in
``services/secrets.py``); a key stored in the keyring comes after the environment. Local servers
need no key.

Each entry names the documentation its facts were checked against; where a provider's own
documentation gave no answer, the comment says what was used instead.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

#: The variable that overrides every profile's key (read by services/secrets.py).
OVERRIDE_KEY_ENV = "DESKTOP_VLM_API_KEY"

MB = 1_000_000  # providers write "4MB", "20MB": read them as decimal, the smaller reading


@dataclass(frozen=True)
class Limits:
    """What a provider documents about one request with an image; None: nothing documented."""

    #: Bytes of base64 image data (data: URLs) in one request.
    max_base64_image_bytes: int | None = None
    #: Bytes of the whole request body.
    max_request_bytes: int | None = None
    #: Images in one request.
    max_images: int | None = None
    #: Pixels of one image (width x height).
    max_image_pixels: int | None = None
    #: Longest side of one image, in pixels.
    max_side_px: int | None = None
    #: Where the limits are written down.
    source: str = ""


@dataclass(frozen=True)
class Provider:
    """One built-in provider profile."""

    id: str
    title: str
    #: The OpenAI-compatible endpoint (``{base_url}/chat/completions``, ``{base_url}/models``).
    base_url: str
    #: Environment variables holding the key, in the order this provider's users set them.
    key_env: tuple[str, ...] = ()
    local: bool = False
    #: Where a person gets a key (for hints); empty for local servers.
    key_url: str = ""
    #: Glob patterns (lower case) of model ids that are vision models *at this provider*;
    #: matched against the whole id and against its last path segment.
    vision_families: tuple[str, ...] = ()
    #: Glob patterns of ids that are never vision models here, checked first.
    not_vision: tuple[str, ...] = ()
    #: A well-known vision model to prefer when the server lists it ("" = none).
    default_model: str = ""
    limits: Limits = field(default_factory=Limits)
    #: Glob patterns of models that refuse any ``temperature`` but the default (reasoning
    #: models answer 400 "Unsupported value: 'temperature'"), so a request must omit it.
    default_temperature_only: tuple[str, ...] = ()
    #: Other base URLs people use for the same service (older hosts, ``localhost``).
    aliases: tuple[str, ...] = ()
    docs_url: str = ""

    @property
    def port(self) -> int | None:
        """The port of ``base_url`` (what discovery probes for a local server)."""
        parts = urlsplit(self.base_url)
        if parts.port:
            return parts.port
        return {"http": 80, "https": 443}.get(parts.scheme)


# OpenAI: https://platform.openai.com/docs/guides/images-vision (image input requirements: up
# to 50 MB of image bytes and 500 images per request).
_OPENAI_VISION = (
    "gpt-4o*",  # its audio, realtime, search and transcribe variants are in not_vision
    "chatgpt-4o*",
    "gpt-4.1*",
    "gpt-4.5*",
    "gpt-4-turbo",
    "gpt-4-turbo-2024-04-09",
    "gpt-5*",
    "o1",
    "o1-20*",
    "o1-pro*",
    "o3",
    "o3-20*",
    "o3-pro*",
    "o4-mini*",
)
_OPENAI_REASONING = ("gpt-5*", "o1*", "o3*", "o4*")

CATALOG: tuple[Provider, ...] = (
    Provider(
        id="hyperbolic",
        title="Hyperbolic",
        base_url="https://api.hyperbolic.xyz/v1",
        key_env=("HYPERBOLIC_API_KEY",),
        key_url="https://app.hyperbolic.ai/settings",
        # The four models of the API page, all marked "Sunset" there.
        vision_families=(
            "qwen/qwen2.5-vl-*",
            "mistralai/pixtral-*",
            "nvidia/nvidia-nemotron-nano-*-vl-*",
        ),
        limits=Limits(max_images=1, max_side_px=2048, source="the VLM page kept in DESIGN.md"),
    ),
    Provider(
        id="openai",
        title="OpenAI",
        base_url="https://api.openai.com/v1",
        key_env=("OPENAI_API_KEY",),
        key_url="https://platform.openai.com/api-keys",
        vision_families=_OPENAI_VISION,
        not_vision=("*-audio*", "*-realtime*", "*-search*", "*-transcribe*", "*-tts*"),
        # Not a reasoning model, so it takes the presets' temperature and streams at once.
        default_model="gpt-4.1-mini",
        limits=Limits(
            max_base64_image_bytes=50 * MB,
            max_images=500,
            source="https://platform.openai.com/docs/guides/images-vision",
        ),
        default_temperature_only=_OPENAI_REASONING,
        docs_url="https://platform.openai.com/docs/models",
    ),
    Provider(
        id="openrouter",
        title="OpenRouter",
        base_url="https://openrouter.ai/api/v1",
        key_env=("OPENROUTER_API_KEY",),
        key_url="https://openrouter.ai/settings/keys",
        # OpenRouter serves other providers' models under "vendor/name"; the general name
        # rules (and each model's architecture.input_modalities) recognise them.
        default_model="google/gemini-2.5-flash",
        default_temperature_only=tuple(f"openai/{p}" for p in _OPENAI_REASONING),
        docs_url="https://openrouter.ai/docs/features/images-and-pdfs",
    ),
    Provider(
        id="gemini",
        title="Google Gemini",
        base_url="https://generativelanguage.googleapis.com/v1beta/openai",
        # Google's libraries read both; GOOGLE_API_KEY wins when both are set.
        key_env=("GOOGLE_API_KEY", "GEMINI_API_KEY"),
        key_url="https://aistudio.google.com/apikey",
        # Its /models lists ids as "models/gemini-2.5-flash"; the last segment is matched.
        vision_families=("gemini-*", "gemma-3-*", "learnlm-*"),
        not_vision=(
            "gemini-1.0*",
            "gemini-pro",
            "*embedding*",
            "*-tts*",
            "*image*",
            "*-live*",
            "*native-audio*",
            "gemma-3-1b*",
            "gemma-3n*",
            "aqa",
            "imagen*",
            "veo*",
        ),
        default_model="gemini-2.5-flash",
        limits=Limits(
            max_request_bytes=20 * MB,
            source="Google: a request over 20 MB must use the File API instead of inline data",
        ),
        docs_url="https://ai.google.dev/gemini-api/docs/openai",
    ),
    Provider(
        id="mistral",
        title="Mistral AI",
        base_url="https://api.mistral.ai/v1",
        key_env=("MISTRAL_API_KEY",),
        key_url="https://console.mistral.ai/api-keys",
        # Mistral's vision page and model cards: Small 3.1 (2503) and later, Medium 3
        # and later, Large 3 (2512), Ministral 3 (2512), Magistral 1.2 (2509), Pixtral.
        vision_families=(
            "pixtral-*",
            "mistral-small-250[3-9]",
            "mistral-small-25[1-9][0-9]",
            "mistral-small-2[6-9][0-9][0-9]",
            "mistral-small-latest",
            "mistral-medium*",
            "mistral-large-2512",
            "mistral-large-2[6-9][0-9][0-9]",
            "mistral-large-latest",
            "ministral-*-2512",
            "ministral-*-2[6-9][0-9][0-9]",
            "magistral-*-2509",
            "magistral-*-251[0-9]",
            "magistral-*-2[6-9][0-9][0-9]",
        ),
        not_vision=("*embed*", "codestral*", "mistral-ocr*", "*moderation*", "voxtral*"),
        default_model="mistral-small-latest",
        docs_url="https://docs.mistral.ai/studio-api/conversations/vision",
    ),
    Provider(
        id="together",
        title="Together AI",
        # docs.together.ai now writes api.together.ai; the older api.together.xyz still answers.
        base_url="https://api.together.ai/v1",
        key_env=("TOGETHER_API_KEY",),
        key_url="https://api.together.ai/settings/api-keys",
        vision_families=("meta-llama/llama-4-*", "meta-llama/llama-3.2-*-vision-*"),
        default_model="meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
        aliases=("https://api.together.xyz/v1",),
        docs_url="https://docs.together.ai/docs/inference/openai-compatibility",
    ),
    Provider(
        id="groq",
        title="Groq",
        base_url="https://api.groq.com/openai/v1",
        key_env=("GROQ_API_KEY",),
        key_url="https://console.groq.com/keys",
        vision_families=("meta-llama/llama-4-*", "qwen/qwen3.[5-9]*"),
        not_vision=("meta-llama/llama-guard-*", "meta-llama/llama-prompt-guard-*"),
        default_model="meta-llama/llama-4-scout-17b-16e-instruct",
        limits=Limits(
            max_base64_image_bytes=4 * MB,
            max_request_bytes=20 * MB,
            max_images=5,
            max_image_pixels=33_177_600,
            source="https://console.groq.com/docs/vision",
        ),
        docs_url="https://console.groq.com/docs/vision",
    ),
    Provider(
        id="fireworks",
        title="Fireworks AI",
        base_url="https://api.fireworks.ai/inference/v1",
        key_env=("FIREWORKS_API_KEY",),
        key_url="https://fireworks.ai/account/api-keys",
        # Ids look like accounts/fireworks/models/qwen2p5-vl-32b-instruct ("p" for ".").
        vision_families=(
            "accounts/fireworks/models/llama4-*",
            "accounts/fireworks/models/*-vl-*",
            "accounts/fireworks/models/*vision*",
        ),
        default_model="accounts/fireworks/models/llama4-maverick-instruct-basic",
    ),
    Provider(
        id="deepinfra",
        title="DeepInfra",
        base_url="https://api.deepinfra.com/v1/openai",
        # DeepInfra's docs say "your DeepInfra token"; LiteLLM and the AI SDK read
        # DEEPINFRA_API_KEY, LangChain DEEPINFRA_API_TOKEN, scripts DEEPINFRA_TOKEN.
        key_env=("DEEPINFRA_API_KEY", "DEEPINFRA_API_TOKEN", "DEEPINFRA_TOKEN"),
        key_url="https://deepinfra.com/dash/api_keys",
        vision_families=("meta-llama/llama-4-*", "meta-llama/llama-3.2-*-vision-*"),
        default_model="meta-llama/Llama-4-Maverick-17B-128E-Instruct-FP8",
        docs_url="https://deepinfra.com/docs/advanced/openai_api",
    ),
    # --- servers on this machine (no key; discovery probes their ports) ----------------------
    Provider(
        id="ollama",
        title="Ollama",
        base_url="http://127.0.0.1:11434/v1",
        local=True,
        # Its names: qwen2.5vl:7b, gemma3:12b, llama3.2-vision:11b; /api/show says for sure.
        not_vision=("gemma3:1b*", "gemma3:270m*", "gemma3n*"),
        aliases=("http://localhost:11434/v1",),
        docs_url="https://docs.ollama.com/api/openai-compatibility",
    ),
    Provider(
        id="lmstudio",
        title="LM Studio",
        base_url="http://127.0.0.1:1234/v1",
        local=True,
        aliases=("http://localhost:1234/v1",),
        docs_url="https://lmstudio.ai/docs/api/openai-api",
    ),
    Provider(
        id="vllm",
        title="vLLM",
        base_url="http://127.0.0.1:8000/v1",
        local=True,
        aliases=("http://localhost:8000/v1",),
        docs_url="https://docs.vllm.ai/en/latest/serving/openai_compatible_server.html",
    ),
    Provider(
        id="llamacpp",
        title="llama.cpp llama-server",
        base_url="http://127.0.0.1:8080/v1",
        local=True,
        aliases=("http://localhost:8080/v1",),
        docs_url="https://github.com/ggml-org/llama.cpp/tree/master/tools/server",
    ),
)

_BY_ID = {p.id: p for p in CATALOG}


def provider(provider_id: str | None) -> Provider | None:
    """The catalog entry with this id (case and surrounding space ignored), else None."""
    if not provider_id:
        return None
    return _BY_ID.get(provider_id.strip().lower())


def key_variables() -> tuple[str, ...]:
    """Every key variable of every provider, the override first (for tests to clear)."""
    names = [OVERRIDE_KEY_ENV]
    for entry in CATALOG:
        names += [name for name in entry.key_env if name not in names]
    return tuple(names)


def local_providers() -> tuple[Provider, ...]:
    return tuple(p for p in CATALOG if p.local)


def cloud_providers() -> tuple[Provider, ...]:
    return tuple(p for p in CATALOG if not p.local)


def _endpoint(url: str) -> tuple[str, str, int | None, str]:
    parts = urlsplit(url.strip())
    host = (parts.hostname or "").lower()
    if host in ("localhost", "::1"):
        host = "127.0.0.1"  # one machine, three spellings
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        port = None
    return parts.scheme.lower(), host, port, parts.path.rstrip("/")


def provider_for_base_url(base_url: str) -> Provider | None:
    """The catalog entry a configured base URL points at (a person's own profile named "work"
    that talks to api.openai.com gets OpenAI's families and limits), else None."""
    wanted = _endpoint(base_url)
    for entry in CATALOG:
        if any(_endpoint(url) == wanted for url in (entry.base_url, *entry.aliases)):
            return entry
    return None


def limits_for(name: str, base_url: str) -> Limits:
    """The limits of the provider a profile talks to (by its name, else its base URL)."""
    known = provider(name) or provider_for_base_url(base_url)
    return known.limits if known is not None else Limits()
