"""Cost estimates from the prices on Hyperbolic's VLM page (USD per million tokens).

The page prices input and output tokens alike. These entries are data, not behaviour: the models
are being withdrawn, so an unknown model simply has no estimate, and ``config.toml`` may add or
override prices under ``[prices]``.
"""

from __future__ import annotations

from collections.abc import Mapping

#: USD per million tokens, from the API page (all four marked "Sunset").
PAGE_PRICES: dict[str, float] = {
    "nvidia/NVIDIA-Nemotron-Nano-12B-v2-VL-BF16": 0.20,
    "mistralai/Pixtral-12B-2409": 0.10,
    "Qwen/Qwen2.5-VL-7B-Instruct": 0.20,
    "Qwen/Qwen2.5-VL-72B-Instruct": 0.60,
}


def estimate_cost(
    model: str,
    prompt_tokens: int | None,
    completion_tokens: int | None,
    overrides: Mapping[str, float] | None = None,
) -> float | None:
    """USD for one request, or None when the model's price or the token counts are unknown."""
    prices = {**PAGE_PRICES, **(overrides or {})}
    price = prices.get(model)
    if price is None or prompt_tokens is None or completion_tokens is None:
        return None
    return (prompt_tokens + completion_tokens) * price / 1_000_000


def format_cost(usd: float | None) -> str:
    if usd is None:
        return "cost unknown"
    if usd < 0.01:
        return f"${usd:.5f}"
    return f"${usd:.4f}"
