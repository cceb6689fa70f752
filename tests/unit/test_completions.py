"""The chat-completions wire format: request bodies, streamed chunks, whole answers, model lists,
and the error shapes real servers (OpenAI, vLLM, FastAPI, Hyperbolic) send."""

from __future__ import annotations

import json

import pytest

from desktop_vlm.core.completions import (
    ChatRequest,
    RequestForm,
    Usage,
    error_message,
    parse_chunk,
    parse_completion,
    parse_models,
)
from desktop_vlm.core.errors import ProtocolError, StreamError


def chunk(**fields: object) -> str:
    base: dict[str, object] = {
        "id": "chatcmpl-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "Qwen/Qwen2.5-VL-7B-Instruct",
    }
    base.update(fields)
    return json.dumps(base)


# --- parse_chunk --------------------------------------------------------------------------


def test_content_delta_gives_its_text() -> None:
    info = parse_chunk(
        chunk(choices=[{"index": 0, "delta": {"content": "Hello, wörld"}, "finish_reason": None}])
    )
    assert info.text == "Hello, wörld"
    assert info.finish_reason is None
    assert info.usage is None
    assert info.model == "Qwen/Qwen2.5-VL-7B-Instruct"


def test_role_only_first_chunk_has_no_text() -> None:
    info = parse_chunk(chunk(choices=[{"index": 0, "delta": {"role": "assistant"}}]))
    assert info.text == ""
    assert info.finish_reason is None


@pytest.mark.parametrize("delta", [{"content": ""}, {"content": None}, {}, None])
def test_empty_or_missing_content_is_empty_text(delta: object) -> None:
    assert parse_chunk(chunk(choices=[{"index": 0, "delta": delta}])).text == ""


@pytest.mark.parametrize("choices", [[], None, "nonsense"])
def test_chunk_without_choices_is_accepted(choices: object) -> None:
    info = parse_chunk(chunk(choices=choices))
    assert info.text == ""
    assert info.finish_reason is None


def test_usage_chunk_reports_tokens() -> None:
    # The last chunk of a stream with stream_options.include_usage: no choices, just usage.
    info = parse_chunk(
        chunk(
            choices=[], usage={"prompt_tokens": 812, "completion_tokens": 95, "total_tokens": 907}
        )
    )
    assert info.usage == Usage(prompt_tokens=812, completion_tokens=95)
    assert info.usage.total_tokens == 907
    assert info.text == ""


def test_usage_with_nonsense_numbers_is_unknown_not_trusted() -> None:
    info = parse_chunk(chunk(usage={"prompt_tokens": -5, "completion_tokens": "many"}))
    assert info.usage == Usage(None, None)
    assert info.usage.total_tokens is None


@pytest.mark.parametrize("reason", ["stop", "length", "content_filter"])
def test_finish_reason_is_reported(reason: str) -> None:
    info = parse_chunk(chunk(choices=[{"index": 0, "delta": {}, "finish_reason": reason}]))
    assert info.finish_reason == reason


def test_last_text_chunk_can_carry_finish_reason_and_text() -> None:
    info = parse_chunk(chunk(choices=[{"delta": {"content": "."}, "finish_reason": "stop"}]))
    assert (info.text, info.finish_reason) == (".", "stop")


@pytest.mark.parametrize(
    "error",
    [
        {"message": "CUDA out of memory", "type": "internal_error", "code": 500},
        "CUDA out of memory",
    ],
)
def test_error_object_in_the_stream_raises_stream_error_with_the_message(error: object) -> None:
    with pytest.raises(StreamError) as caught:
        parse_chunk(json.dumps({"error": error}))
    # THEN the person sees what the server said, and what to do
    assert "CUDA out of memory" in str(caught.value)
    assert "Try again" in str(caught.value)


def test_error_object_without_a_message_still_raises() -> None:
    with pytest.raises(StreamError, match="unspecified error"):
        parse_chunk(json.dumps({"error": {"code": 500}}))


def test_null_error_field_is_not_an_error() -> None:
    info = parse_chunk(chunk(error=None, choices=[{"delta": {"content": "ok"}}]))
    assert info.text == "ok"


@pytest.mark.parametrize("data", ["<html>502 Bad Gateway</html>", "{", "", "data: {}"])
def test_non_json_raises_protocol_error(data: str) -> None:
    with pytest.raises(ProtocolError) as caught:
        parse_chunk(data)
    assert "not JSON" in str(caught.value)
    assert "base URL" in str(caught.value)


@pytest.mark.parametrize("data", ["[1, 2]", '"text"', "42", "null"])
def test_json_that_is_not_an_object_raises_protocol_error(data: str) -> None:
    with pytest.raises(ProtocolError, match="unexpected shape"):
        parse_chunk(data)


# --- error_message ------------------------------------------------------------------------


def test_openai_error_shape() -> None:
    body = {"error": {"message": "Invalid API key", "type": "invalid_request_error", "code": 401}}
    assert error_message(body) == "Invalid API key"


def test_vllm_top_level_message_shape() -> None:
    body = {"object": "error", "message": "The model `x` does not exist.", "code": 404}
    assert error_message(body) == "The model `x` does not exist."


def test_fastapi_detail_string_shape() -> None:
    assert error_message({"detail": "Not Found"}) == "Not Found"


def test_fastapi_validation_detail_list_shape() -> None:
    body = {
        "detail": [
            {"loc": ["body", "messages", 0, "content"], "msg": "field required", "type": "x"},
            {"loc": ["body", "max_tokens"], "msg": "ensure this value is less than 8193"},
            {"msg": "no location"},
            {"loc": ["body"], "msg": ""},  # nothing to say: no empty "; ;" in the text
            "not a dict",
        ]
    }
    assert error_message(body) == (
        "messages.0.content: field required; "
        "max_tokens: ensure this value is less than 8193; no location"
    )


def test_plain_string_error() -> None:
    assert error_message("Rate limit exceeded") == "Rate limit exceeded"
    assert error_message({"error": "Rate limit exceeded"}) == "Rate limit exceeded"


@pytest.mark.parametrize("body", [None, 42, [], {}, {"error": None}, {"detail": 5}])
def test_unknown_error_shapes_give_empty_text(body: object) -> None:
    assert error_message(body) == ""


# --- parse_completion ---------------------------------------------------------------------


def test_parse_completion_reads_text_model_reason_and_usage() -> None:
    body = {
        "id": "chatcmpl-2",
        "object": "chat.completion",
        "model": "mistralai/Pixtral-12B-2409",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "A cat on a sofa."},
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 1200, "completion_tokens": 7, "total_tokens": 1207},
    }
    completion = parse_completion(body, fallback_model="fallback")
    assert completion.text == "A cat on a sofa."
    assert completion.model == "mistralai/Pixtral-12B-2409"
    assert completion.finish_reason == "stop"
    assert completion.usage == Usage(1200, 7)


def test_parse_completion_without_model_or_usage_uses_fallback_and_unknown_usage() -> None:
    body = {"choices": [{"message": {"role": "assistant", "content": None}}]}
    completion = parse_completion(body, fallback_model="my-model")
    assert completion.text == ""
    assert completion.model == "my-model"
    assert completion.usage == Usage()
    assert completion.usage.total_tokens is None


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"choices": []},
        {"choices": [{}]},
        {"choices": [{"message": "text"}]},
        [],
        None,
        {"error": {"message": "boom"}},
    ],
)
def test_parse_completion_without_a_message_raises_protocol_error(body: object) -> None:
    with pytest.raises(ProtocolError, match=r"choices\[0\]\.message"):
        parse_completion(body, fallback_model="m")


def test_parse_completion_with_non_text_content_raises_protocol_error() -> None:
    body = {"choices": [{"message": {"content": [{"type": "text", "text": "hi"}]}}]}
    with pytest.raises(ProtocolError, match="not text"):
        parse_completion(body, fallback_model="m")


# --- parse_models -------------------------------------------------------------------------


def test_parse_models_openai_shape() -> None:
    body = {
        "object": "list",
        "data": [
            {"id": "Qwen/Qwen2.5-VL-72B-Instruct", "object": "model"},
            {"id": "mistralai/Pixtral-12B-2409", "object": "model"},
            {"object": "model"},  # no id: skipped
            {"id": 7},  # not text: skipped
        ],
    }
    assert parse_models(body) == ["Qwen/Qwen2.5-VL-72B-Instruct", "mistralai/Pixtral-12B-2409"]


def test_parse_models_bare_list_shape() -> None:
    assert parse_models(["a", {"id": "b"}, 3]) == ["a", "b"]


@pytest.mark.parametrize("body", [{}, {"data": None}, {"data": "x"}, "x", None, 3])
def test_parse_models_without_a_list_raises_protocol_error(body: object) -> None:
    with pytest.raises(ProtocolError, match="data array"):
        parse_models(body)


# --- ChatRequest.body ---------------------------------------------------------------------

MESSAGES = [{"role": "user", "content": [{"type": "text", "text": "What is this?"}]}]


def test_streaming_body_asks_for_usage() -> None:
    body = ChatRequest("m", MESSAGES, max_tokens=512, temperature=0.1).body(stream=True)
    assert body == {
        "model": "m",
        "messages": MESSAGES,
        "max_tokens": 512,
        "temperature": 0.1,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    json.dumps(body)  # the body is what goes on the wire: it must be JSON


def test_non_streaming_body_has_no_stream_options() -> None:
    body = ChatRequest("m", MESSAGES, max_tokens=512, temperature=0.1).body(stream=False)
    assert body["stream"] is False
    assert "stream_options" not in body


def test_streaming_body_without_usage_request_for_servers_that_reject_it() -> None:
    body = ChatRequest("m", MESSAGES).body(stream=True, form=RequestForm(stream_options=False))
    assert body["stream"] is True
    assert "stream_options" not in body


def test_reasoning_models_get_max_completion_tokens_and_no_temperature() -> None:
    form = RequestForm(token_param="max_completion_tokens", temperature=False)
    body = ChatRequest("o4-mini", MESSAGES, max_tokens=512, temperature=0.1).body(
        stream=True, form=form
    )
    assert body["max_completion_tokens"] == 512
    assert "max_tokens" not in body and "temperature" not in body


def test_thinking_streamed_apart_from_the_answer_is_kept_apart() -> None:
    for key in ("reasoning_content", "reasoning"):
        chunk = json.dumps({"choices": [{"delta": {key: "Let me look.", "content": ""}}]})
        info = parse_chunk(chunk)
        assert (info.text, info.reasoning) == ("", "Let me look.")


def test_unset_max_tokens_and_temperature_are_left_out_but_zero_is_sent() -> None:
    assert set(ChatRequest("m", MESSAGES).body(stream=False)) == {"model", "messages", "stream"}
    body = ChatRequest("m", MESSAGES, temperature=0.0).body(stream=False)
    assert body["temperature"] == 0.0
