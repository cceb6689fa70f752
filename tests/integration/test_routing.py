"""Answers without an account and from any provider: the offline engine, the catalog's profiles,
a local server found on this machine, and what today's providers answer that the client must
adapt to. Each case is tried as a person runs it (the command line in its own process) or at the
client, against the loopback test server."""

from __future__ import annotations

import json
import socket
import uuid

import pytest
from PIL import Image, ImageDraw, ImageFont
from support.cli_run import one_line_error, run
from support.fake_api import BodyLimit, FakeAPI, Reasoning, RejectParameter, Status, Stream

from desktop_vlm.core import errors as E
from desktop_vlm.core.completions import ChatRequest
from desktop_vlm.core.errors import ExitCode
from desktop_vlm.services.client import ChatClient

FONT = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
LINES = ["Invoice 2024-117 from Café Lumen", "Total due: 42.50 EUR by 2024-03-15"]


@pytest.fixture
def text_image(tmp_path):
    img = Image.new("RGB", (760, 110), "white")
    draw = ImageDraw.Draw(img)
    font = ImageFont.truetype(FONT, 22)
    for n, line in enumerate(LINES):  # ordinary line spacing: one paragraph of two lines
        draw.text((20, 24 + n * 32), line, fill="#111111", font=font)
    path = tmp_path / "invoice.png"
    img.save(path)
    return path


def request(model: str = "o4-mini") -> ChatRequest:
    return ChatRequest(model, [{"role": "user", "content": "Hi"}], max_tokens=300, temperature=0.2)


def client(api: FakeAPI, key: str | None = "sk-test-123456789") -> ChatClient:
    return ChatClient(api.url, key, max_retries=0, jitter=lambda a, b: 0.01)


def collect(stream) -> tuple[str, str]:
    text, thinking = [], []
    for piece in stream:
        text.append(piece.text)
        thinking.append(piece.reasoning)
    return "".join(text), "".join(thinking)


# --- no key, no network: the offline engine ------------------------------------------------


def test_offline_profile_prints_the_text_in_reading_order(text_image):
    result = run("ask", str(text_image), "--profile", "offline")
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().splitlines() == LINES


def test_offline_json_names_the_engine(text_image):
    result = run("--profile", "offline", "ask", str(text_image), "--json")
    data = json.loads(result.stdout)
    assert data["provider"] == "offline" and "PP-OCR" in data["model"]
    assert data["answer"].splitlines() == LINES


def test_without_a_key_the_ocr_preset_is_answered_offline_with_a_notice(text_image, fake_api):
    # GIVEN a remote profile with no key anywhere (the keyring is empty for it)
    env = {"DESKTOP_VLM_BASE_URL": "https://api.example.invalid/v1"}
    # WHEN the text of an image is asked for
    result = run("ask", str(text_image), "--preset", "ocr", env=env)
    # THEN it is read offline, said in one line, and nothing is sent anywhere
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().splitlines() == LINES
    assert "read offline" in result.stderr.decode()
    assert fake_api.requests == []


def test_a_preset_that_needs_a_model_fails_with_both_ways_out(text_image):
    env = {"DESKTOP_VLM_BASE_URL": "https://api.example.invalid/v1"}
    result = run("ask", str(text_image), "--preset", "describe", env=env)
    assert result.returncode == ExitCode.KEY_MISSING
    line = one_line_error(result)
    assert "API key" in line and "local server" in line


def test_offline_profile_refuses_a_preset_that_needs_a_model(text_image):
    result = run("ask", str(text_image), "--profile", "offline", "--preset", "describe")
    assert result.returncode == ExitCode.KEY_MISSING
    assert "only extracts text" in one_line_error(result)


# --- a local server, found -------------------------------------------------------------------


def _port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server binds
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_a_local_server_on_ollamas_port_answers_with_no_configuration_at_all(text_image):
    if not _port_free(11434):
        pytest.skip("something already listens on 11434")
    # GIVEN an OpenAI-compatible server where Ollama listens, and no config, key or URL
    api = FakeAPI(port=11434, models=["qwen2.5vl:7b", "llama3.1:8b"]).start()
    try:
        api.enqueue(Stream("A receipt from Café Lumen."))
        # WHEN a description is asked for
        result = run("ask", str(text_image), "--preset", "describe")
        # THEN the local server answers it, with its vision model, and the person is told
        assert result.returncode == 0, result.stderr
        assert result.stdout.decode().strip() == "A receipt from Café Lumen."
        chat = [r for r in api.requests if r.path.endswith("/chat/completions")]
        assert chat and chat[0].json["model"] == "qwen2.5vl:7b"
        assert "Ollama" in result.stderr.decode()
    finally:
        api.stop()


# --- the catalog ------------------------------------------------------------------------------


def test_providers_lists_the_catalog_with_key_variables(fake_api):
    result = run("providers", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["profile"]: row for row in json.loads(result.stdout)}
    for name in (
        "hyperbolic",
        "openai",
        "openrouter",
        "gemini",
        "mistral",
        "together",
        "groq",
        "fireworks",
        "deepinfra",
        "ollama",
        "lmstudio",
        "vllm",
        "llamacpp",
        "offline",
    ):
        assert name in rows
    assert "OPENAI_API_KEY" in rows["openai"]["key_variables"]
    assert rows["groq"]["base_url"] == "https://api.groq.com/openai/v1"


def test_a_key_per_provider_and_its_own_environment_variable(fake_api):
    key = f"sk-openai-{uuid.uuid4().hex}"
    stored = run("key", "set", "--profile", "openai", stdin=key.encode() + b"\n")
    try:
        assert stored.returncode == 0, stored.stderr
        status = run("key", "status", "--profile", "openai")
        assert b"stored" in status.stdout
        other = run("key", "status", "--profile", "groq")
        assert other.returncode == ExitCode.KEY_MISSING
        env_status = run("key", "status", "--profile", "groq", env={"GROQ_API_KEY": "gsk_x"})
        assert b"GROQ_API_KEY" in env_status.stdout
    finally:
        run("key", "delete", "--profile", "openai")


# --- what today's providers answer ------------------------------------------------------------


def test_max_tokens_refused_is_sent_again_as_max_completion_tokens_and_remembered(fake_api):
    fake_api.enqueue(RejectParameter("max_tokens"), Stream("First."), Stream("Second."))
    c = client(fake_api)
    assert collect(c.stream_chat(request()))[0] == "First."
    first, second = fake_api.requests
    assert "max_tokens" in first.json and second.json["max_completion_tokens"] == 300
    # the working form is remembered for that model: no failed request the next time
    assert collect(client(fake_api).stream_chat(request()))[0] == "Second."
    assert "max_tokens" not in fake_api.requests[-1].json


def test_a_model_that_takes_only_its_default_temperature_gets_none(fake_api):
    fake_api.enqueue(RejectParameter("temperature"), Stream("Fine."))
    assert collect(client(fake_api).stream_chat(request("gpt-5-mini")))[0] == "Fine."
    assert "temperature" not in fake_api.requests[-1].json


def test_a_server_that_rejects_stream_options_is_asked_without(fake_api):
    fake_api.enqueue(RejectParameter("stream_options"), Stream("Old server."))
    assert collect(client(fake_api).stream_chat(request("old-vlm")))[0] == "Old server."
    assert "stream_options" not in fake_api.requests[-1].json


@pytest.mark.parametrize("key", ["reasoning_content", "reasoning"])
def test_thinking_is_kept_apart_from_the_answer(fake_api, key):
    fake_api.enqueue(Reasoning("Looking at the total.", "It is 42.50.", key=key))
    stream = client(fake_api).stream_chat(request("deepseek-vl"))
    text, thinking = collect(stream)
    assert text == "It is 42.50." and thinking == "Looking at the total."
    assert stream.result.completion.reasoning == "Looking at the total."


def test_thinking_is_not_on_stdout_but_in_json(fake_api, text_image):
    env = {"DESKTOP_VLM_BASE_URL": fake_api.url}
    fake_api.enqueue(
        Reasoning("Hidden thoughts.", "Visible answer."),
        Reasoning("Hidden thoughts.", "Visible answer."),
    )
    plain = run("ask", str(text_image), "--model", "m", env=env)
    assert plain.stdout.decode().strip() == "Visible answer."
    assert b"Hidden" not in plain.stdout + plain.stderr
    data = json.loads(run("ask", str(text_image), "--model", "m", "--json", env=env).stdout)
    assert data["reasoning"] == "Hidden thoughts." and data["answer"] == "Visible answer."


@pytest.mark.parametrize(
    "status, message",
    [
        (
            500,
            "image input is not supported - hint: if this is unexpected, you may need to "
            "provide the mmproj",
        ),
        (400, "Invalid content type. image_url is only supported by certain models."),
        (400, "This model does not support images"),
    ],
)
def test_a_model_that_cannot_read_images_is_its_own_error(fake_api, text_image, status, message):
    fake_api.default = Status(status, message=message)
    result = run(
        "ask", str(text_image), "--model", "llama3.1:8b", env={"DESKTOP_VLM_BASE_URL": fake_api.url}
    )
    assert result.returncode == ExitCode.MODEL_NOT_FOUND
    line = one_line_error(result)
    assert "cannot read images" in line and "desktop-vlm models" in line
    assert "temporary" not in line


def test_a_gone_model_chosen_automatically_is_chosen_again_from_a_fresh_list(fake_api, text_image):
    # GIVEN a day-old model list naming a model the server no longer serves
    fake_api.models = ["gone/vision-vl-1"]
    env = {"DESKTOP_VLM_BASE_URL": fake_api.url}
    fake_api.enqueue(Status(404, message="The model `gone/vision-vl-1` does not exist."))
    first = run("models", env=env)
    assert first.returncode == 0
    fake_api.models = ["fresh/vision-vl-2"]
    # WHEN a question is asked with no model configured
    result = run("ask", str(text_image), env=env)
    # THEN the list is fetched again and the new model answers
    assert result.returncode == 0, result.stderr
    models_asked = [r for r in fake_api.requests if r.path.endswith("/models")]
    chats = [r for r in fake_api.requests if r.path.endswith("/chat/completions")]
    assert [r.json["model"] for r in chats] == ["gone/vision-vl-1", "fresh/vision-vl-2"]
    assert len(models_asked) == 2


def test_groqs_size_limit_is_respected_by_encoding_smaller(fake_api, tmp_path, monkeypatch):
    # GIVEN a photo whose PNG is far over 4 MB of base64, and a profile at Groq's address
    photo = Image.effect_noise((2048, 1536), 80).convert("RGB")
    path = tmp_path / "noise.png"
    photo.save(path)
    fake_api.enqueue(BodyLimit(4_000_000 + 200_000))
    # (the test server plays Groq: a config profile named groq pointing at it)
    config = tmp_path / "user" / "config" / "desktop-vlm" / "config.toml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(f'profile = "groq"\n[profiles.groq]\nbase_url = "{fake_api.url}"\n')
    env = {"XDG_CONFIG_HOME": str(tmp_path / "user" / "config"), "GROQ_API_KEY": "gsk_test"}
    result = run(
        "ask", str(path), "--model", "meta-llama/llama-4-scout-17b-16e-instruct", "--json", env=env
    )
    assert result.returncode == 0, result.stderr
    url = fake_api.last_request.json["messages"][0]["content"][1]["image_url"]["url"]
    assert len(url.split(",", 1)[1]) <= 4 * 1_000_000
    assert url.startswith("data:image/jpeg")


def test_client_raises_vision_error_type(fake_api):
    fake_api.default = Status(500, message="image input is not supported")
    with pytest.raises(E.VisionUnsupportedError):
        collect(client(fake_api).stream_chat(request("llama")))
