"""The chat-completions wire format: request bodies out, response chunks in. Pure functions."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from desktop_vlm.core.errors import ProtocolError, StreamError


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int | None = None
    completion_tokens: int | None = None

    @property
    def total_tokens(self) -> int | None:
        if self.prompt_tokens is None or self.completion_tokens is None:
            return None
        return self.prompt_tokens + self.completion_tokens

    def to_dict(self) -> dict[str, int | None]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


@dataclass(frozen=True)
class RequestForm:
    """How a server wants a request written: providers differ, and say so in a 400."""

    #: "max_tokens", or "max_completion_tokens" for OpenAI's reasoning models.
    token_param: str = "max_tokens"
    #: False for models that take only their default temperature.
    temperature: bool = True
    #: False for older servers that reject ``stream_options`` (no usage for streamed answers).
    stream_options: bool = True


@dataclass(frozen=True)
class ChatRequest:
    model: str
    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    temperature: float | None = None

    def body(self, *, stream: bool, form: RequestForm | None = None) -> dict[str, Any]:
        form = form or RequestForm()
        body: dict[str, Any] = {"model": self.model, "messages": self.messages}
        if self.max_tokens is not None:
            body[form.token_param] = self.max_tokens
        if self.temperature is not None and form.temperature:
            body["temperature"] = self.temperature
        body["stream"] = stream
        if stream and form.stream_options:
            body["stream_options"] = {"include_usage": True}
        return body


@dataclass(frozen=True)
class Delta:
    """One piece of a streamed answer: its text, or thinking a reasoning model shows apart."""

    text: str = ""
    reasoning: str = ""


@dataclass
class ChunkInfo:
    """What one streamed chunk contributes."""

    text: str = ""
    reasoning: str = ""
    finish_reason: str | None = None
    usage: Usage | None = None
    model: str | None = None


@dataclass
class Completion:
    """A whole answer, streamed or not."""

    text: str
    model: str
    finish_reason: str | None = None
    usage: Usage = field(default_factory=Usage)
    reasoning: str = ""


def parse_usage(obj: Any) -> Usage | None:
    if not isinstance(obj, dict):
        return None

    def num(key: str) -> int | None:
        value = obj.get(key)
        return value if isinstance(value, int) and value >= 0 else None

    return Usage(num("prompt_tokens"), num("completion_tokens"))


def error_message(obj: Any) -> str:
    """The human part of an error object in any of the shapes servers use."""
    if isinstance(obj, dict):
        if "error" in obj:
            return error_message(obj["error"])
        if isinstance(obj.get("message"), str):
            return obj["message"]
        detail = obj.get("detail")
        if isinstance(detail, str):
            return detail
        if isinstance(detail, list):  # FastAPI/pydantic validation errors
            parts = []
            for item in detail:
                if isinstance(item, dict):
                    loc = ".".join(str(p) for p in item.get("loc", []) if p != "body")
                    msg = str(item.get("msg", ""))
                    parts.append(f"{loc}: {msg}" if loc else msg)
            return "; ".join(p for p in parts if p)
    if isinstance(obj, str):
        return obj
    return ""


def parse_chunk(data: str) -> ChunkInfo:
    """Decode one ``data:`` payload of a streamed answer (not ``[DONE]``)."""
    try:
        obj = json.loads(data)
    except ValueError as exc:
        raise ProtocolError(
            "The server sent a streamed event that is not JSON",
            "Check that the base URL points at an OpenAI-compatible /v1 endpoint.",
        ) from exc
    if not isinstance(obj, dict):
        raise ProtocolError("The server sent a streamed event of an unexpected shape")
    if "error" in obj and obj["error"]:
        message = error_message(obj["error"]) or "unspecified error"
        raise StreamError(f"The server reported an error while answering: {message}", "Try again.")
    info = ChunkInfo(usage=parse_usage(obj.get("usage")), model=obj.get("model") or None)
    choices = obj.get("choices")
    if isinstance(choices, list) and choices:
        choice = choices[0]
        if isinstance(choice, dict):
            delta = choice.get("delta")
            if isinstance(delta, dict):
                if isinstance(delta.get("content"), str):
                    info.text = delta["content"]
                # DeepSeek, vLLM and llama.cpp send thinking as reasoning_content, OpenRouter
                # and Ollama as reasoning: kept apart from the answer.
                for key in ("reasoning_content", "reasoning"):
                    if isinstance(delta.get(key), str) and delta[key]:
                        info.reasoning = delta[key]
                        break
            info.finish_reason = choice.get("finish_reason") or None
    return info


def parse_completion(obj: Any, fallback_model: str) -> Completion:
    """Decode a non-streamed ``chat.completion`` response."""
    try:
        choice = obj["choices"][0]
        content = choice["message"].get("content") or ""
    except (KeyError, IndexError, TypeError, AttributeError) as exc:
        raise ProtocolError("The server's answer has no choices[0].message") from exc
    if not isinstance(content, str):
        raise ProtocolError("The server's answer content is not text")
    message = choice["message"]
    reasoning = message.get("reasoning_content") or message.get("reasoning") or ""
    return Completion(
        text=content,
        reasoning=reasoning if isinstance(reasoning, str) else "",
        model=obj.get("model") or fallback_model,
        finish_reason=choice.get("finish_reason"),
        usage=parse_usage(obj.get("usage")) or Usage(),
    )


def parse_models(obj: Any) -> list[str]:
    """Model ids from ``GET /models`` (OpenAI's ``{"data": [...]}``, or a bare list)."""
    items = obj.get("data") if isinstance(obj, dict) else obj
    if not isinstance(items, list):
        raise ProtocolError("The server's model list has no data array")
    ids = []
    for item in items:
        if isinstance(item, dict) and isinstance(item.get("id"), str):
            ids.append(item["id"])
        elif isinstance(item, str):
            ids.append(item)
    return ids
