"""The chat-completions client against the loopback test server: streaming, every failure a
real server produces, retries, cancellation, and the key's safety."""

from __future__ import annotations

import threading
import time

import pytest
import requests
from support.fake_api import (
    Complete,
    CutMidEvent,
    ErrorEvent,
    HtmlError,
    Huge,
    InvalidJSON,
    NeverRespond,
    Reset,
    Stall,
    Status,
    Stream,
)

from desktop_vlm.core import errors as E
from desktop_vlm.core.api_errors import connection_error
from desktop_vlm.core.completions import ChatRequest
from desktop_vlm.services import client as client_module
from desktop_vlm.services.client import Cancellation, ChatClient

KEY = "sk-test-0123456789abcdefghijklmnop"
MODEL = "Qwen/Qwen2.5-VL-7B-Instruct"


def request(text: str = "What is in this image?") -> ChatRequest:
    return ChatRequest(
        model=MODEL,
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": text},
                    {
                        "type": "image_url",
                        "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="},
                    },
                ],
            }
        ],
        max_tokens=256,
        temperature=0.1,
    )


def make(
    api, *, key: str | None = KEY, retries: int = 2, read_timeout: float = 10.0, jitter=None
) -> ChatClient:
    # Retries wait 0.5 s, 1 s, ... in real life; the tests keep the order, not the wait.
    return ChatClient(
        api.url,
        key,
        connect_timeout=5,
        read_timeout=read_timeout,
        max_retries=retries,
        jitter=jitter or (lambda a, b: 0.02),
    )


def collect(stream) -> str:
    return "".join(piece.text for piece in stream)


# --- streaming ---------------------------------------------------------------------------


def test_answer_streams_piece_by_piece_and_reports_usage(fake_api):
    # GIVEN a server that pauses after two tokens
    fake_api.enqueue(Stream(["The ", "total ", "is ", "13.49"], pause_after=2, usage=(812, 4)))
    stream = make(fake_api).stream_chat(request())
    pieces = iter(stream)
    # WHEN the first two pieces are read, the rest has not been sent yet
    assert next(pieces).text == "The "
    assert next(pieces).text == "total "
    assert stream.result is None
    fake_api.release()
    # THEN the rest arrives and the result carries the server's usage and model
    assert "".join(p.text for p in pieces) == "is 13.49"
    result = stream.result
    assert result.completion.text == "The total is 13.49"
    assert result.completion.usage.prompt_tokens == 812
    assert result.completion.usage.completion_tokens == 4
    assert result.completion.finish_reason == "stop"
    assert result.ttft_s is not None and result.ttft_s <= result.elapsed_s


def test_request_has_the_api_pages_shape(fake_api):
    collect(make(fake_api).stream_chat(request("Read it")))
    sent = fake_api.last_request
    assert sent.method == "POST" and sent.path == "/v1/chat/completions"
    assert sent.bearer == KEY
    assert sent.headers["Content-Type"] == "application/json"
    body = sent.json
    assert body["model"] == MODEL
    assert body["stream"] is True
    assert body["stream_options"] == {"include_usage": True}
    assert body["max_tokens"] == 256 and body["temperature"] == 0.1
    assert body["messages"][0]["content"][0] == {"type": "text", "text": "Read it"}
    assert body["messages"][0]["content"][1]["type"] == "image_url"


@pytest.mark.parametrize(
    "options",
    [
        {"line_ending": "\r\n"},
        {"line_ending": "\r"},
        {"comments": True},
        {"multiline_data": True},
        {"write_size": 1},
        {"write_size": 7, "line_ending": "\r\n"},
        {"empty_chunks": True},
        {"space_after_colon": False},
        {"done": False},
    ],
    ids=lambda o: ",".join(f"{k}={v!r}" for k, v in o.items()),
)
def test_every_valid_event_stream_shape_gives_the_same_answer(fake_api, options):
    text = ["Ünïcødé ", "line\n", "two – ", "done."]
    fake_api.enqueue(Stream(text, **options))
    assert collect(make(fake_api).stream_chat(request())) == "".join(text)


def test_non_streamed_completion_and_model_list(fake_api):
    fake_api.enqueue(Complete("A red square."))
    client = make(fake_api)
    assert client.complete(request()).text == "A red square."
    fake_api.models = ["a/vision-VL", "b/text"]
    assert client.list_models() == ["a/vision-VL", "b/text"]
    assert fake_api.last_request.path == "/v1/models"


def test_server_that_rejects_stream_options_is_asked_again_without_it(fake_api):
    fake_api.enqueue(Status(400, message="Unrecognized request argument supplied: stream_options"))
    fake_api.enqueue(Stream("ok"))
    assert collect(make(fake_api).stream_chat(request())) == "ok"
    first, second = fake_api.requests
    assert "stream_options" in first.json and "stream_options" not in second.json


# --- status errors -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "behaviour, error_type, words",
    [
        (
            Status(400, message="max_tokens is too large"),
            E.BadRequestError,
            ["max_tokens is too large"],
        ),
        (Status(401), E.AuthenticationError, ["rejected the API key", "key set"]),
        (Status(403), E.PermissionDeniedError, ["refused access", "another model"]),
        (Status(404), E.ModelNotFoundError, [MODEL, "desktop-vlm models"]),
        (HtmlError(404), E.EndpointNotFoundError, ["base URL", "/v1"]),
        (Status(413), E.BadRequestError, ["too large", "smaller region"]),
        (Status(422, message="Field required"), E.BadRequestError, ["messages: Field required"]),
        (HtmlError(502), E.ServerError, ["HTML error page", "502"]),
        (Status(500), E.ServerError, ["HTTP 500", "try again"]),
        (Status(503), E.ServerError, ["HTTP 503"]),
        (Status(504), E.ServerError, ["HTTP 504"]),
        (
            Status(302, headers={"Location": "https://elsewhere.example/v1"}),
            E.ProtocolError,
            ["redirected", "elsewhere.example"],
        ),
    ],
    ids=lambda v: getattr(v, "__name__", None) or type(v).__name__ + str(getattr(v, "code", "")),
)
def test_each_status_gives_a_typed_error_naming_cause_and_fix(
    fake_api, behaviour, error_type, words
):
    fake_api.default = behaviour
    with pytest.raises(error_type) as caught:
        collect(make(fake_api, retries=0).stream_chat(request()))
    line = str(caught.value)
    for word in words:
        assert word.lower() in line.lower(), line
    assert "\n" not in line


def test_rejected_key_is_never_repeated_in_the_message(fake_api):
    for echo in ("partial", "full"):
        fake_api.echo_key = echo
        fake_api.require_key = "sk-the-right-key-000000000000"
        with pytest.raises(E.AuthenticationError) as caught:
            collect(make(fake_api).stream_chat(request()))
        assert KEY not in str(caught.value)
        assert KEY[:12] not in str(caught.value) and KEY[-12:] not in str(caught.value)


@pytest.mark.parametrize("code", [408, 429, 500, 502, 503, 504])
def test_transient_failures_are_retried_before_the_first_token(fake_api, code):
    fake_api.enqueue(Status(code), Status(code), Stream("recovered"))
    assert collect(make(fake_api, retries=2).stream_chat(request())) == "recovered"
    assert len(fake_api.requests) == 3


def test_retries_give_up_with_the_last_error(fake_api):
    fake_api.default = Status(503)
    with pytest.raises(E.ServerError):
        collect(make(fake_api, retries=2).stream_chat(request()))
    assert len(fake_api.requests) == 3


def test_retry_after_is_honoured(fake_api):
    fake_api.enqueue(Status(429, retry_after=1), Stream("after the wait"))
    assert collect(make(fake_api).stream_chat(request())) == "after the wait"
    first, second = fake_api.requests
    assert second.time - first.time >= 0.9


def test_long_retry_after_is_not_waited_for(fake_api):
    fake_api.default = Status(429, retry_after=3600)
    with pytest.raises(E.RateLimitError) as caught:
        collect(make(fake_api).stream_chat(request()))
    assert "3600" in str(caught.value)
    assert len(fake_api.requests) == 1


@pytest.mark.parametrize("code", [400, 401, 403, 404, 413, 422])
def test_client_errors_are_not_retried(fake_api, code):
    fake_api.default = Status(code)
    with pytest.raises(E.APIStatusError):
        collect(make(fake_api).stream_chat(request()))
    assert len(fake_api.requests) == 1


# --- broken streams ----------------------------------------------------------------------


def test_invalid_json_is_a_protocol_error(fake_api):
    fake_api.default = InvalidJSON(streaming=True)
    with pytest.raises(E.ProtocolError):
        collect(make(fake_api, retries=0).stream_chat(request()))
    fake_api.default = InvalidJSON(streaming=False)
    with pytest.raises(E.ProtocolError, match="not JSON"):
        make(fake_api, retries=0).complete(request())


def test_error_event_mid_stream_shows_the_servers_message(fake_api):
    fake_api.default = ErrorEvent(after_tokens=2, message="GPU out of memory")
    stream = make(fake_api).stream_chat(request())
    with pytest.raises(E.StreamError, match="GPU out of memory"):
        collect(stream)
    assert stream.text  # what was shown before the error is kept


@pytest.mark.parametrize("abrupt", [False, True])
def test_stream_cut_mid_event_keeps_the_partial_answer(fake_api, abrupt):
    fake_api.default = CutMidEvent(after_tokens=3, abrupt=abrupt)
    stream = make(fake_api).stream_chat(request())
    with pytest.raises(E.StreamInterruptedError) as caught:
        collect(stream)
    assert "partial answer is kept" in str(caught.value)
    assert len(stream.text) > 0
    assert len(fake_api.requests) == 1  # never retried once text was shown


def test_reset_mid_stream_is_an_interruption(fake_api):
    fake_api.default = Reset(after_tokens=2)
    stream = make(fake_api).stream_chat(request())
    with pytest.raises(E.StreamInterruptedError, match="reset|closed"):
        collect(stream)
    assert stream.text


def test_reset_before_any_token_is_retried(fake_api):
    fake_api.enqueue(Reset(after_tokens=0), Stream("second try"))
    assert collect(make(fake_api).stream_chat(request())) == "second try"


def test_stall_after_tokens_times_out_as_an_interruption(fake_api):
    fake_api.default = Stall(after_tokens=2)
    stream = make(fake_api, read_timeout=1.0).stream_chat(request())
    with pytest.raises(E.StreamInterruptedError, match="read timeout"):
        collect(stream)
    fake_api.release()


def test_response_that_never_starts_times_out(fake_api):
    fake_api.default = NeverRespond()
    with pytest.raises(E.APITimeoutError, match="did not answer"):
        collect(make(fake_api, retries=0, read_timeout=1.0).stream_chat(request()))
    fake_api.release()


def test_connection_refused_names_the_host():
    sock = __import__("socket").socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens there now
    client = ChatClient(f"http://127.0.0.1:{port}/v1", KEY, max_retries=0)
    with pytest.raises(E.APIConnectionError, match="connection refused") as caught:
        collect(client.stream_chat(request()))
    assert f"127.0.0.1:{port}" in str(caught.value)


def test_unresolvable_name_says_so():
    # A real requests exception as urllib3 raises it for a failed getaddrinfo.
    cause = requests.ConnectionError(
        "HTTPSConnectionPool(host='api.nowhere.invalid', port=443): Max retries exceeded "
        "(Caused by NameResolutionError(\"Failed to resolve 'api.nowhere.invalid' "
        '([Errno -2] Name or service not known)"))'
    )
    error = connection_error(f"{type(cause).__name__}: {cause}", "https://api.nowhere.invalid/v1")
    assert "could not be resolved" in str(error) and "api.nowhere.invalid" in str(error)


def test_runaway_answer_is_stopped_at_the_cap(fake_api, monkeypatch):
    monkeypatch.setattr(client_module, "MAX_ANSWER_CHARS", 200_000)
    fake_api.default = Huge(2_000_000)
    stream = make(fake_api).stream_chat(request())
    with pytest.raises(E.ProtocolError, match="stopped"):
        collect(stream)
    assert len(stream.text) <= 200_000


# --- cancellation ------------------------------------------------------------------------


def test_cancel_from_another_thread_stops_the_stream_and_the_server_sees_it(fake_api):
    fake_api.default = Stream(["tok "] * 400, delay=0.02)
    stream = make(fake_api).stream_chat(request())
    pieces = iter(stream)
    next(pieces)
    threading.Timer(0.1, stream.cancel).start()
    with pytest.raises(E.CancelledError):
        for _ in pieces:
            pass
    assert fake_api.disconnects.wait(timeout=10)
    assert len(stream.text) < len("tok ") * 400


def test_cancel_while_waiting_for_headers_returns_at_once(fake_api):
    fake_api.default = NeverRespond()
    cancellation = Cancellation()
    stream = make(fake_api, read_timeout=60).stream_chat(request(), cancellation)
    fake_api_waiter = threading.Thread(
        target=lambda: (fake_api.wait_for_requests(1), time.sleep(0.2), cancellation.cancel())
    )
    fake_api_waiter.start()
    started = time.monotonic()
    with pytest.raises(E.CancelledError):
        collect(stream)
    fake_api_waiter.join()
    # Far below the 60 s read timeout: the socket was shut down, not waited out.
    assert time.monotonic() - started < 30
    fake_api.release()


def test_cancel_during_retry_backoff(fake_api):
    fake_api.default = Status(429, retry_after=30)
    cancellation = Cancellation()
    threading.Timer(0.3, cancellation.cancel).start()
    with pytest.raises(E.CancelledError):
        collect(make(fake_api).stream_chat(request(), cancellation))
    assert len(fake_api.requests) == 1


# --- where the key may go ----------------------------------------------------------------


@pytest.mark.parametrize(
    "url, key, allowed",
    [
        ("https://api.hyperbolic.xyz/v1", KEY, True),
        ("http://127.0.0.1:8000/v1", KEY, True),
        ("http://localhost:11434/v1", KEY, True),
        ("http://[::1]:1234/v1", KEY, True),
        ("http://192.168.1.20:8000/v1", KEY, False),
        ("http://api.hyperbolic.xyz/v1", KEY, False),
        ("http://192.168.1.20:8000/v1", None, True),  # no key, nothing to leak
    ],
)
def test_key_goes_only_over_https_or_to_loopback(url, key, allowed):
    if allowed:
        ChatClient(url, key)
    else:
        with pytest.raises(E.InsecureEndpointError, match="plain HTTP"):
            ChatClient(url, key)


def test_no_key_means_no_authorization_header(fake_api):
    collect(make(fake_api, key=None).stream_chat(request()))
    assert "Authorization" not in fake_api.last_request.headers


# --- one retry budget ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        lambda: Status(503),
        lambda: Reset(),
        lambda: CutMidEvent(after_tokens=0),
        lambda: CutMidEvent(after_tokens=0, abrupt=True),
        lambda: Status(502),
    ],
    ids=["503", "reset", "cut-before-first-token", "cut-abrupt", "502"],
)
def test_max_retries_two_sends_at_most_three_requests_whatever_the_mix(fake_api, failure):
    # GIVEN a server that mixes 503s, resets and streams cut before the first token, in the
    # pattern [503, 503, 200-then-cut] x 3 with the failure under test in the third place
    fake_api.enqueue(*[Status(503), Status(503), failure()] * 3)
    # WHEN one question is asked with the default max_retries = 2
    with pytest.raises(E.APIError):
        collect(make(fake_api, retries=2).stream_chat(request()))
    # THEN the server saw three requests, not nine
    assert len(fake_api.requests) == 3


def test_a_mix_of_every_failure_kind_ends_after_n_plus_one_requests(fake_api):
    fake_api.enqueue(Reset(), CutMidEvent(after_tokens=0), Status(500), Status(504), Reset())
    with pytest.raises(E.APIError):
        collect(make(fake_api, retries=3).stream_chat(request()))
    assert len(fake_api.requests) == 4


def test_two_asking_for_the_model_list_at_once_see_the_same_list(fake_api):
    # GIVEN a server slow to list its models, whose second listing would differ
    from support.fake_api import Models

    from desktop_vlm.services.endpoint import served_models

    fake_api.enqueue_models(Models(["text-only"], hold=True), Models(["other-vl"]))
    got: dict[str, list[str]] = {}

    def ask(name: str) -> None:
        client = ChatClient(fake_api.url, None, max_retries=0)
        try:
            got[name] = served_models(client)
        finally:
            client.close()

    # WHEN the tray's model picker and a request both ask while the first listing is held
    threads = [threading.Thread(target=ask, args=(name,)) for name in ("picker", "request")]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline and len(_models_requests(fake_api)) < 2:
        time.sleep(0.02)
    fake_api.release()
    for thread in threads:
        thread.join(10)
    # THEN the server was asked once and both have its one answer
    assert len(_models_requests(fake_api)) == 1
    assert got == {"picker": ["text-only"], "request": ["text-only"]}


def _models_requests(api) -> list:  # noqa: ANN001 - a FakeAPI
    return [r for r in api.requests if r.path.endswith("/models")]
