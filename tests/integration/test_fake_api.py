"""The fake OpenAI-compatible server behaves like a real one, failures included.

These tests talk to it with plain ``requests`` and raw sockets, never with the project's client,
so that a bug in one cannot hide a bug in the other. Events are parsed with a tiny reference
decoder written here from the SSE spec.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from support.fake_api import (
    CloseWithoutResponse,
    CutMidEvent,
    ErrorEvent,
    FakeAPI,
    HtmlError,
    Huge,
    InvalidJSON,
    Models,
    NeverRespond,
    Reset,
    Stall,
    Status,
    Stream,
)

TIMEOUT = (5, 10)
IMAGE_PART = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}


def chat_body(stream: bool | None = True, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": "test-org/test-vlm",
        "messages": [
            {"role": "user", "content": [{"type": "text", "text": "What is this?"}, IMAGE_PART]}
        ],
        "max_tokens": 64,
        **extra,
    }
    if stream is not None:
        body["stream"] = stream
    return body


def post_chat(api: FakeAPI, body: dict[str, Any] | None = None, **kwargs: Any) -> requests.Response:
    kwargs.setdefault("timeout", TIMEOUT)
    return requests.post(f"{api.url}/chat/completions", json=body or chat_body(), **kwargs)


def parse_sse(raw: bytes) -> tuple[list[tuple[str, int]], bytes]:
    """Events (data, number of data lines) and whatever trails after the last complete event."""
    *lines, tail = re.split(rb"\r\n|\r|\n", raw)
    events: list[tuple[str, int]] = []
    data: list[str] = []
    unfinished = b""
    for line in lines:
        if not line:
            if data:
                events.append(("\n".join(data), len(data)))
            data, unfinished = [], b""
            continue
        unfinished += line + b"\n"
        if line.startswith(b":"):
            continue
        name, _, value = line.partition(b":")
        if name == b"data":
            data.append(value.removeprefix(b" ").decode())
    return events, unfinished + tail


def stream_events(response: requests.Response) -> list[str]:
    with response:
        events, tail = parse_sse(response.content)
    assert tail == b"", f"the stream ended inside an event: {tail!r}"
    return [data for data, _ in events]


def content_of(events: list[str]) -> str:
    text = ""
    for data in events:
        if data == "[DONE]":
            continue
        for choice in json.loads(data)["choices"]:
            text += choice["delta"].get("content") or ""
    return text


@contextlib.contextmanager
def raw_chat(api: FakeAPI, body: dict[str, Any], timeout: float = 10) -> Iterator[socket.socket]:
    payload = json.dumps(body).encode()
    with socket.create_connection(("127.0.0.1", api.port), timeout=timeout) as sock:
        sock.sendall(
            b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
            % (len(payload), payload)
        )
        yield sock


def read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


# -- streaming


def test_stream_sends_openai_chunks_in_order_and_ends_with_done(fake_api: FakeAPI) -> None:
    # GIVEN a server that will stream four tokens
    fake_api.enqueue(Stream(["Café ", "au ", "lait", "!"]))
    # WHEN a client asks for a streamed answer
    response = post_chat(fake_api, stream=True)
    # THEN it gets an SSE stream whose chunks are OpenAI's, in order, ending with [DONE]
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Transfer-Encoding"] == "chunked"
    events = stream_events(response)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(data) for data in events[:-1]]
    assert {c["object"] for c in chunks} == {"chat.completion.chunk"}
    assert len({c["id"] for c in chunks}) == 1
    assert {c["model"] for c in chunks} == {"test-org/test-vlm"}
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert [c["choices"][0]["delta"].get("content") for c in chunks[1:5]] == [
        "Café ",
        "au ",
        "lait",
        "!",
    ]
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert content_of(events) == "Café au lait!"


def test_default_answer_and_fifo_queue(fake_api: FakeAPI) -> None:
    # GIVEN two queued behaviours
    fake_api.enqueue(Stream("first answer"), Status(500))
    # WHEN three requests arrive
    first = post_chat(fake_api)
    second = post_chat(fake_api)
    third = post_chat(fake_api)
    # THEN they are used in order, then the default answer
    assert content_of(stream_events(first)) == "first answer"
    assert second.status_code == 500
    assert content_of(stream_events(third)) == "Hello from the fake server."


def test_usage_chunk_only_when_the_request_asks_for_it(fake_api: FakeAPI) -> None:
    fake_api.enqueue(Stream("one two three"), Stream("one two three"))
    # WHEN one request asks for usage and one does not
    asked = stream_events(post_chat(fake_api, chat_body(stream_options={"include_usage": True})))
    not_asked = stream_events(post_chat(fake_api, chat_body()))
    # THEN only the first gets a usage chunk, with no choices, just before [DONE]
    last = json.loads(asked[-2])
    assert last["choices"] == []
    usage = last["usage"]
    assert usage["completion_tokens"] == 3
    assert usage["total_tokens"] == usage["prompt_tokens"] + 3
    assert all(json.loads(data)["usage"] is None for data in asked[:-2])
    assert all("usage" not in json.loads(data) for data in not_asked[:-1])


def test_usage_can_be_forced_with_given_counts(fake_api: FakeAPI) -> None:
    fake_api.enqueue(Stream("hi", include_usage=True, usage=(7, 3)))
    events = stream_events(post_chat(fake_api))
    assert json.loads(events[-2])["usage"] == {
        "prompt_tokens": 7,
        "completion_tokens": 3,
        "total_tokens": 10,
    }


@pytest.mark.parametrize("stream", [False, None])
def test_non_streaming_request_gets_a_chat_completion(fake_api: FakeAPI, stream: bool) -> None:
    fake_api.enqueue(Stream("The whole answer.", model="served-model"))
    response = post_chat(fake_api, chat_body(stream=stream))
    assert response.headers["Content-Type"] == "application/json"
    body = response.json()
    assert body["object"] == "chat.completion"
    assert body["model"] == "served-model"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "The whole answer."}
    assert body["usage"]["completion_tokens"] == 3


@pytest.mark.parametrize("line_ending", ["\n", "\r\n", "\r"])
@pytest.mark.parametrize(
    "options",
    [{}, {"comments": True}, {"multiline_data": True}, {"space_after_colon": False}],
    ids=["plain", "comments", "multiline", "nospace"],
)
def test_stream_wire_variants_decode_to_the_same_answer(
    fake_api: FakeAPI, line_ending: str, options: dict[str, Any]
) -> None:
    # GIVEN a stream written with an unusual but valid SSE spelling
    fake_api.enqueue(Stream("Zwölf Boxkämpfer jagen Viktor.", line_ending=line_ending, **options))
    # WHEN it is read and decoded by the spec
    response = post_chat(fake_api)
    raw = response.content
    events, tail = parse_sse(raw)
    # THEN every event is JSON (or [DONE]) and the answer is intact
    assert tail == b""
    assert events[-1][0] == "[DONE]"
    assert content_of([data for data, _ in events]) == "Zwölf Boxkämpfer jagen Viktor."
    other_endings = {"\n": [b"\r"], "\r\n": [], "\r": [b"\n"]}[line_ending]
    assert not any(e in raw for e in other_endings)
    assert (b": keep-alive" in raw) == bool(options.get("comments"))
    assert (max(n for _, n in events) > 1) == bool(options.get("multiline_data"))
    assert (b"data:{" in raw) == (options.get("space_after_colon") is False)


def test_write_size_splits_lines_and_crlf_across_reads(fake_api: FakeAPI) -> None:
    # GIVEN a stream written one byte at a time with CRLF line endings
    fake_api.enqueue(Stream("Ünïcödé split", line_ending="\r\n", write_size=1))
    # WHEN the client reads it piece by piece
    with post_chat(fake_api, stream=True) as response:
        pieces = list(response.iter_content(chunk_size=None))
    # THEN every piece is a single byte, CR and LF arrive apart, and it still decodes
    assert {len(p) for p in pieces} == {1}
    assert any(a == b"\r" and b == b"\n" for a, b in zip(pieces, pieces[1:], strict=False))
    events, tail = parse_sse(b"".join(pieces))
    assert tail == b""
    assert content_of([d for d, _ in events]) == "Ünïcödé split"


def test_write_size_pieces_are_at_most_n_bytes(fake_api: FakeAPI) -> None:
    fake_api.enqueue(Stream("a b c d e f", write_size=7))
    with post_chat(fake_api, stream=True) as response:
        pieces = list(response.iter_content(chunk_size=None))
    assert max(len(p) for p in pieces) == 7
    assert content_of([d for d, _ in parse_sse(b"".join(pieces))[0]]) == "a b c d e f"


def test_empty_chunks_have_no_content_or_no_choices(fake_api: FakeAPI) -> None:
    fake_api.enqueue(Stream("real words", empty_chunks=True))
    events = stream_events(post_chat(fake_api))
    chunks = [json.loads(d) for d in events[:-1]]
    assert any(c["choices"] == [] and "usage" not in c for c in chunks)
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert {"content": None} in deltas
    assert {"content": ""} in deltas
    assert content_of(events) == "real words"


def test_no_role_chunk_no_done_and_other_finish_reason(fake_api: FakeAPI) -> None:
    fake_api.enqueue(Stream("cut short", role_chunk=False, done=False, finish_reason="length"))
    events = stream_events(post_chat(fake_api))
    assert "[DONE]" not in events
    chunks = [json.loads(d) for d in events]
    assert "role" not in chunks[0]["choices"][0]["delta"]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"


def test_tokens_arrive_over_time_when_paced(fake_api: FakeAPI) -> None:
    # GIVEN a stream with a pause between tokens
    delay = 0.3
    fake_api.enqueue(Stream(["one ", "two ", "three ", "four"], delay=delay))
    arrivals: list[float] = []
    # WHEN the client reads each event as it comes
    with post_chat(fake_api, stream=True) as response:
        for piece in response.iter_content(chunk_size=None):
            for data, _ in parse_sse(piece)[0]:
                if data != "[DONE]" and json.loads(data)["choices"][0]["delta"].get("content"):
                    arrivals.append(time.monotonic())
    # THEN the tokens arrived one by one, spread over time rather than all at once
    assert len(arrivals) == 4
    assert arrivals == sorted(arrivals)
    assert arrivals[-1] - arrivals[0] >= delay  # nominally 3 x delay


def test_pause_after_holds_the_stream_until_release(fake_api: FakeAPI) -> None:
    # GIVEN a stream that holds after its first token
    fake_api.enqueue(Stream(["first ", "second"], pause_after=1))
    with raw_chat(fake_api, chat_body()) as sock:
        received = b""
        while b'"first "' not in received:
            received += sock.recv(65536)
        # WHEN nothing has been released
        # THEN the rest does not come
        sock.settimeout(0.5)
        with pytest.raises(TimeoutError):
            received += sock.recv(65536)
        # WHEN the test releases the stream
        fake_api.release()
        sock.settimeout(10)
        while not received.endswith(b"0\r\n\r\n"):
            received += sock.recv(65536)
    # THEN the rest of the answer follows
    assert b'"second"' in received
    assert b"data: [DONE]" in received


# -- failures


@pytest.mark.parametrize("code", [400, 401, 403, 408, 413, 429, 500, 502, 503, 504])
def test_status_errors_have_openai_error_bodies(fake_api: FakeAPI, code: int) -> None:
    fake_api.enqueue(Status(code))
    response = post_chat(fake_api)
    assert response.status_code == code
    error = response.json()["error"]
    assert error["message"]
    assert error["type"]


def test_404_names_the_model(fake_api: FakeAPI) -> None:
    fake_api.enqueue(Status(404))
    response = post_chat(fake_api, chat_body(model="gone/model-7b"))
    assert response.status_code == 404
    assert "`gone/model-7b`" in response.json()["error"]["message"]
    assert response.json()["error"]["code"] == "model_not_found"


def test_422_has_a_fastapi_detail_list(fake_api: FakeAPI) -> None:
    fake_api.enqueue(Status(422))
    response = post_chat(fake_api)
    assert response.status_code == 422
    detail = response.json()["detail"]
    assert detail[0]["loc"] == ["body", "messages"]
    assert detail[0]["msg"] == "Field required"


def test_429_carries_retry_after(fake_api: FakeAPI) -> None:
    fake_api.enqueue(Status(429, retry_after=2, message="Slow down."))
    response = post_chat(fake_api)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "2"
    assert response.json()["error"]["message"] == "Slow down."


def test_status_with_custom_body_type_and_headers(fake_api: FakeAPI) -> None:
    fake_api.enqueue(
        Status(503, body="upstream down", content_type="text/plain", headers={"X-A": "b"})
    )
    response = post_chat(fake_api)
    assert (response.status_code, response.text) == (503, "upstream down")
    assert response.headers["Content-Type"] == "text/plain"
    assert response.headers["X-A"] == "b"


def test_html_error_page_like_nginx(fake_api: FakeAPI) -> None:
    fake_api.enqueue(HtmlError())
    response = post_chat(fake_api)
    assert response.status_code == 502
    assert response.headers["Content-Type"] == "text/html"
    assert response.headers["Server"] == "nginx"
    assert "<h1>502 Bad Gateway</h1>" in response.text


def test_invalid_json_body(fake_api: FakeAPI) -> None:
    fake_api.enqueue(InvalidJSON(streaming=False))
    response = post_chat(fake_api, stream=True)
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()


def test_invalid_json_in_stream(fake_api: FakeAPI) -> None:
    fake_api.enqueue(InvalidJSON(streaming=True, after_tokens=1))
    events = stream_events(post_chat(fake_api))
    assert content_of(events[:2]) == "This "
    with pytest.raises(ValueError):
        json.loads(events[2])


def test_cut_mid_event_ends_the_body_inside_an_event(fake_api: FakeAPI) -> None:
    fake_api.enqueue(CutMidEvent(after_tokens=2))
    with post_chat(fake_api, stream=True) as response:
        events, tail = parse_sse(response.content)
    data = [d for d, _ in events]
    assert content_of(data) == "This answer "
    assert "[DONE]" not in data
    assert tail.startswith(b'data: {"id": "chatcmpl-cut"')


def test_cut_mid_event_abrupt_breaks_the_http_body(fake_api: FakeAPI) -> None:
    fake_api.enqueue(CutMidEvent(after_tokens=1, abrupt=True))
    with (
        post_chat(fake_api, stream=True) as response,
        pytest.raises(requests.exceptions.ChunkedEncodingError),
    ):
        response.content  # noqa: B018 - reading is the point


def test_cut_mid_event_non_streaming_sends_half_a_body(fake_api: FakeAPI) -> None:
    fake_api.enqueue(CutMidEvent())
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        post_chat(fake_api, chat_body(stream=False))


def test_error_event_after_tokens(fake_api: FakeAPI) -> None:
    fake_api.enqueue(ErrorEvent(after_tokens=1, message="GPU fell over", code=500))
    events = stream_events(post_chat(fake_api))
    assert content_of(events[:2]) == "This "
    assert json.loads(events[2]) == {
        "error": {"message": "GPU fell over", "type": "server_error", "code": 500}
    }
    assert events[3:] == ["[DONE]"]


def test_stall_makes_the_client_read_timeout_fire(fake_api: FakeAPI) -> None:
    # GIVEN a server that sends one token, then nothing
    fake_api.enqueue(Stall(after_tokens=1))
    # WHEN a client with a short read timeout reads the stream
    received = b""
    with (
        post_chat(fake_api, stream=True, timeout=(5, 1.0)) as response,
        pytest.raises(requests.exceptions.ConnectionError, match="timed out"),
    ):
        for piece in response.iter_content(chunk_size=None):
            received += piece
    # THEN it got the token before the timeout, and the server saw it hang up
    assert b'"This "' in received
    assert fake_api.disconnects.wait(10)
    assert fake_api.disconnects == 1


def test_stall_non_streaming_sends_headers_only(fake_api: FakeAPI) -> None:
    fake_api.enqueue(Stall())
    with pytest.raises(requests.exceptions.ConnectionError, match="timed out"):
        post_chat(fake_api, chat_body(stream=False), timeout=(5, 0.5))


def test_release_ends_a_stall(fake_api: FakeAPI) -> None:
    fake_api.enqueue(Stall(after_tokens=1))
    with raw_chat(fake_api, chat_body()) as sock:
        received = b""
        while b'"This "' not in received:
            received += sock.recv(65536)
        fake_api.release()
        received += read_until_closed(sock)
    assert b"[DONE]" not in received
    assert not received.endswith(b"0\r\n\r\n")


def test_never_respond_times_out_the_client(fake_api: FakeAPI) -> None:
    fake_api.enqueue(NeverRespond())
    with pytest.raises(requests.exceptions.ReadTimeout):
        post_chat(fake_api, timeout=(5, 0.5))
    assert fake_api.wait_for_requests(1)[0].json["model"] == "test-org/test-vlm"


def test_reset_surfaces_as_connection_reset_on_a_socket(fake_api: FakeAPI) -> None:
    fake_api.enqueue(Reset(after_tokens=2))
    received = b""
    with raw_chat(fake_api, chat_body()) as sock, pytest.raises(ConnectionResetError):
        while chunk := sock.recv(65536):
            received += chunk
    assert b'"answer "' in received


def test_reset_surfaces_in_requests(fake_api: FakeAPI) -> None:
    fake_api.enqueue(Reset(after_tokens=1))
    with (
        post_chat(fake_api, stream=True) as response,
        pytest.raises(requests.exceptions.ChunkedEncodingError, match="ConnectionResetError"),
    ):
        response.content  # noqa: B018 - reading is the point


def test_close_without_response(fake_api: FakeAPI) -> None:
    fake_api.enqueue(CloseWithoutResponse(), CloseWithoutResponse())
    with pytest.raises(requests.exceptions.ConnectionError, match="RemoteDisconnected"):
        post_chat(fake_api)
    with raw_chat(fake_api, chat_body()) as sock:
        assert read_until_closed(sock) == b""


@pytest.mark.parametrize("stream", [True, False])
def test_huge_answer(fake_api: FakeAPI, stream: bool) -> None:
    fake_api.enqueue(Huge(300_000))
    response = post_chat(fake_api, chat_body(stream=stream))
    if stream:
        text = content_of(stream_events(response))
    else:
        text = response.json()["choices"][0]["message"]["content"]
    assert len(text) == 300_000
    assert text.startswith("The quick brown fox")


# -- requests, keys, models, lifecycle


def test_requests_are_recorded_with_headers_and_json(fake_api: FakeAPI) -> None:
    body = chat_body(temperature=0.1)
    post_chat(fake_api, body, headers={"X-Custom": "yes"}).close()
    requests.get(f"{fake_api.url}/models", timeout=TIMEOUT).close()
    first, second = fake_api.wait_for_requests(2)
    assert (first.method, first.path) == ("POST", "/v1/chat/completions")
    assert first.headers["x-custom"] == "yes"
    assert first.headers["content-type"] == "application/json"
    assert first.json == body
    assert json.loads(first.body) == body
    assert (second.method, second.path, second.json) == ("GET", "/v1/models", None)
    assert first.time <= second.time


def test_wait_for_requests_times_out_with_a_clear_error(fake_api: FakeAPI) -> None:
    with pytest.raises(TimeoutError, match="received 0 requests, expected 1"):
        fake_api.wait_for_requests(1, timeout=0.1)


def test_require_key(fake_api: FakeAPI) -> None:
    # GIVEN a server that wants a key, and a queued answer
    fake_api.require_key = "sk-right-key-0000"
    fake_api.enqueue(Stream("authorised"))
    # WHEN requests come without a key, with a wrong key, and with the right key
    missing = post_chat(fake_api)
    wrong = post_chat(fake_api, headers={"Authorization": "Bearer sk-wrong-key-1234"})
    right = post_chat(fake_api, headers={"Authorization": "Bearer sk-right-key-0000"})
    # THEN the first two get OpenAI's 401, the wrong key echoed only in part
    for response in (missing, wrong):
        assert response.status_code == 401
        assert response.json()["error"]["type"] == "invalid_request_error"
        assert response.json()["error"]["code"] == "invalid_api_key"
    assert "didn't provide an API key" in missing.json()["error"]["message"]
    assert "1234" in wrong.json()["error"]["message"]
    assert "sk-wrong-key-1234" not in wrong.json()["error"]["message"]
    # AND the queued answer went to the authorised request
    assert content_of(stream_events(right)) == "authorised"


def test_401_can_echo_the_whole_key(fake_api: FakeAPI) -> None:
    fake_api.require_key = "sk-right"
    fake_api.echo_key = "full"
    response = post_chat(fake_api, headers={"Authorization": "Bearer sk-leaky-secret"})
    assert response.status_code == 401
    assert "sk-leaky-secret" in response.json()["error"]["message"]


def test_models_endpoint(fake_api: FakeAPI) -> None:
    fake_api.models = ["a/vlm-1", "b/vlm-2"]
    fake_api.enqueue_models(Status(500), Models(["only/this"]))
    url = f"{fake_api.url}/models"
    failed = requests.get(url, timeout=TIMEOUT)
    custom = requests.get(url, timeout=TIMEOUT)
    normal = requests.get(url, timeout=TIMEOUT)
    assert failed.status_code == 500
    assert [m["id"] for m in custom.json()["data"]] == ["only/this"]
    body = normal.json()
    assert body["object"] == "list"
    assert [(m["id"], m["object"]) for m in body["data"]] == [
        ("a/vlm-1", "model"),
        ("b/vlm-2", "model"),
    ]


def test_unknown_path_and_wrong_method(fake_api: FakeAPI) -> None:
    missing = requests.post(f"{fake_api.root_url}/chat/completions", json={}, timeout=TIMEOUT)
    wrong = requests.get(f"{fake_api.url}/chat/completions", timeout=TIMEOUT)
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})
    assert wrong.status_code == 405


def test_client_hanging_up_mid_stream_is_noticed(fake_api: FakeAPI) -> None:
    # GIVEN a slow stream
    fake_api.enqueue(Stream(["tok "] * 100, delay=0.05))
    # WHEN the client reads the first token and closes the connection (a Stop button)
    with post_chat(fake_api, stream=True) as response:
        for piece in response.iter_content(chunk_size=None):
            if b'"tok "' in piece:
                break
    # THEN the server notices and stops answering
    assert fake_api.disconnects.wait(10)


def test_a_finished_stream_is_not_a_disconnect(fake_api: FakeAPI) -> None:
    with requests.Session() as session:
        for _ in range(2):
            url = f"{fake_api.url}/chat/completions"
            stream_events(session.post(url, json=chat_body(), timeout=TIMEOUT, stream=True))
    assert not fake_api.disconnects.wait(0.3)
    assert fake_api.disconnects == 0


def test_stop_closes_idle_keep_alive_connections() -> None:
    # GIVEN a client that keeps its connection open after a finished answer
    api = FakeAPI().start()
    with raw_chat(api, chat_body(stream=False)) as sock:
        received = b""
        while not received.endswith(b"}}"):  # the end of the JSON answer
            received += sock.recv(65536)
        # WHEN the server is stopped
        api.stop()
        # THEN the server has closed that connection too
        assert read_until_closed(sock) == b""


def test_stop_returns_with_a_stalled_request_outstanding() -> None:
    # GIVEN a server holding a request it never answers
    api = FakeAPI().start()
    api.enqueue(NeverRespond())
    with raw_chat(api, chat_body()) as sock:
        api.wait_for_requests(1)
        # WHEN the server is stopped
        stopper = threading.Thread(target=api.stop)
        stopper.start()
        stopper.join(10)
        # THEN stop() returned and the client sees the connection close
        assert not stopper.is_alive()
        assert read_until_closed(sock) == b""
    assert api.errors == []
    with pytest.raises(RuntimeError):
        _ = api.url
