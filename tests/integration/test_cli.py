"""`desktop-vlm` as a person runs it: a separate process, the real keyring, the loopback server.

Each check looks at what a person sees (stdout, the one stderr line, the exit code) and at what
reached the server (the request the API page describes).
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image
from support.cli_run import CANARY, DATA_URL, one_line_error, run  # noqa: F401
from support.connections import audited, off_machine
from support.fake_api import HtmlError, InvalidJSON, Status, Stream

from desktop_vlm.core.errors import ExitCode
from desktop_vlm.core.presets import builtin_presets


@pytest.fixture
def receipt(tmp_path: Path) -> Path:
    """A 2600x1950 photo-like image: big enough that it must be downscaled to 2048."""
    img = Image.effect_noise((2600, 1950), 60).convert("RGB")
    path = tmp_path / "receipt.jpg"
    img.save(path, quality=85)
    return path


@pytest.fixture
def local(fake_api) -> dict[str, str]:
    return {"DESKTOP_VLM_BASE_URL": fake_api.url, "DESKTOP_VLM_API_KEY": CANARY}


def sent_image(api) -> Image.Image:
    parts = [
        part
        for message in api.last_request.json["messages"]
        if isinstance(message["content"], list)
        for part in message["content"]
        if part["type"] == "image_url"
    ]
    assert len(parts) == 1, "exactly one image per request"
    match = DATA_URL.match(parts[0]["image_url"]["url"])
    assert match, "a strict data URL, no whitespace"
    image = Image.open(io.BytesIO(base64.b64decode(match.group(2), validate=True)))
    assert image.format == {"png": "PNG", "jpeg": "JPEG"}[match.group(1)]
    return image


# --- the happy path ----------------------------------------------------------------------


def test_ask_streams_the_answer_and_sends_the_api_pages_request(fake_api, local, receipt):
    fake_api.enqueue(Stream(["Coffee 4.50\n", "Sandwich 8.99\n", "Total 13.49"], delay=0.01))
    result = run("ask", str(receipt), "--preset", "describe", env=local)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == "Coffee 4.50\nSandwich 8.99\nTotal 13.49\n"
    req = fake_api.last_request
    assert req.bearer == CANARY
    body = req.json
    assert body["stream"] is True
    first = body["messages"][0]
    assert first["role"] == "user"
    assert first["content"][0] == {"type": "text", "text": builtin_presets()["describe"].prompt}
    image = sent_image(fake_api)
    assert image.size == (2048, 1536)  # 2600x1950 brought within 2048, aspect kept


def test_ask_with_own_question_and_json_output(fake_api, local, tmp_path):
    path = tmp_path / "small.png"
    Image.new("RGB", (320, 200), "white").save(path)
    fake_api.enqueue(Stream("Nothing but white.", usage=(900, 5)))
    result = run(
        "ask",
        str(path),
        "--preset",
        "ask",
        "--prompt",
        "What colour is it?",
        "--model",
        "Qwen/Qwen2.5-VL-7B-Instruct",
        "--json",
        env=local,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert out["answer"] == "Nothing but white."
    assert out["model"] == "Qwen/Qwen2.5-VL-7B-Instruct"
    assert out["usage"] == {"prompt_tokens": 900, "completion_tokens": 5, "total_tokens": 905}
    assert out["cost_usd"] == pytest.approx(905 * 0.20 / 1e6)
    assert out["image"]["width"] == 320 and out["image"]["mime"] == "image/png"
    assert out["timings"]["time_to_first_token_s"] >= 0
    assert fake_api.last_request.json["messages"][0]["content"][0]["text"] == "What colour is it?"
    assert sent_image(fake_api).size == (320, 200)


def test_image_from_stdin(fake_api, local):
    buf = io.BytesIO()
    Image.new("L", (50, 40), 128).save(buf, format="PNG")
    result = run("ask", "-", env=local, stdin=buf.getvalue())
    assert result.returncode == 0, result.stderr
    assert sent_image(fake_api).size == (50, 40)


def test_model_is_chosen_from_the_servers_list_when_none_is_configured(fake_api, local, receipt):
    fake_api.models = ["meta/llama-text-only", "acme/Some-VL-9B"]
    result = run("ask", str(receipt), env=local)
    assert result.returncode == 0, result.stderr
    assert fake_api.last_request.json["model"] == "acme/Some-VL-9B"


def test_models_and_presets_commands(fake_api, local, fresh_user_dirs):
    fake_api.models = ["Qwen/Qwen2.5-VL-72B-Instruct", "local/llava"]
    result = run("models", env=local)
    assert result.returncode == 0
    lines = result.stdout.decode().splitlines()
    assert lines[0].startswith("Qwen/Qwen2.5-VL-72B-Instruct") and "$0.60/M" in lines[0]
    assert lines[1].startswith("local/llava")

    config = Path(fresh_user_dirs["XDG_CONFIG_HOME"]) / "desktop-vlm" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[presets.alt]\ntitle = "Alt text"\nprompt = "Write alt text."\n')
    out = run("presets").stdout.decode()
    for preset_id in ("ocr", "describe", "ask", "receipt", "alt"):
        assert re.search(rf"^[ *] {preset_id}\s", out, re.M), out


def test_bad_config_is_reported_and_defaults_apply(fake_api, local, fresh_user_dirs, receipt):
    config = Path(fresh_user_dirs["XDG_CONFIG_HOME"]) / "desktop-vlm" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('[presets.receipt]\nmax_tokens = "lots"\n')
    result = run("ask", str(receipt), "--preset", "receipt", env=local)
    assert result.returncode == 0
    err = result.stderr.decode()
    assert "presets.receipt.max_tokens" in err and "default" in err
    assert fake_api.last_request.json["max_tokens"] == builtin_presets()["receipt"].max_tokens


# --- every failure: one line, a documented exit code -------------------------------------


@pytest.mark.parametrize(
    "behaviour, code, words",
    [
        (Status(401), ExitCode.AUTH, "rejected the API key"),
        (Status(403), ExitCode.AUTH, "refused access"),
        (Status(404), ExitCode.MODEL_NOT_FOUND, "desktop-vlm models"),
        (Status(400, message="bad temperature"), ExitCode.BAD_REQUEST, "bad temperature"),
        (Status(429, retry_after=3600), ExitCode.RATE_LIMITED, "rate-limiting"),
        (Status(500), ExitCode.SERVER, "HTTP 500"),
        (HtmlError(502), ExitCode.SERVER, "HTML error page"),
        (InvalidJSON(streaming=True), ExitCode.PROTOCOL, "not JSON"),
    ],
    ids=lambda v: (
        type(v).__name__ + str(getattr(v, "code", "")) if not isinstance(v, str | int) else None
    ),
)
def test_server_failures_end_with_one_line_and_their_exit_code(
    fake_api, local, receipt, behaviour, code, words
):
    fake_api.default = behaviour
    result = run("ask", str(receipt), "--model", "m", env={**local, "DESKTOP_VLM_API_KEY": CANARY})
    assert result.returncode == code
    line = one_line_error(result)
    assert words.lower() in line.lower()
    assert CANARY not in line


def test_local_failures_end_with_one_line_and_their_exit_code(tmp_path, receipt, fake_api):
    text = tmp_path / "notes.png"
    text.write_text("not an image at all\n")
    cases = [
        (["ask", str(text)], {}, ExitCode.IMAGE, "text, not an image"),
        (["ask", str(tmp_path / "missing.png")], {}, ExitCode.IMAGE, "does not exist"),
        (["ask", str(receipt), "--preset", "nope"], {}, ExitCode.USAGE, "no preset 'nope'"),
        (
            ["ask", str(receipt)],
            {"DESKTOP_VLM_API_KEY": CANARY, "DESKTOP_VLM_BASE_URL": "http://192.168.7.7/v1"},
            ExitCode.CONFIG,
            "plain HTTP",
        ),
        (["ask", str(receipt)], {}, ExitCode.KEY_MISSING, "key set"),
        (
            ["ask", str(receipt)],
            {"DESKTOP_VLM_BASE_URL": "http://127.0.0.1:9/v1"},
            ExitCode.NETWORK,
            "connection refused",
        ),
        (["bogus"], {}, ExitCode.USAGE, "invalid choice"),
    ]
    for args, env, code, words in cases:
        result = run(*args, env=env)
        assert result.returncode == code, (args, result.stderr)
        assert words in one_line_error(result), args


def test_keyring_unavailable_is_reported_not_bypassed(receipt):
    env = {"DBUS_SESSION_BUS_ADDRESS": "unix:path=/nonexistent/bus"}
    result = run("ask", str(receipt), env=env)
    assert result.returncode == ExitCode.KEYRING
    assert "keyring" in one_line_error(result).lower()
    result = run("key", "set", env=env, stdin=b"sk-some-key-123456\n")
    assert result.returncode == ExitCode.KEYRING
    assert "DESKTOP_VLM_API_KEY" in one_line_error(result)


def test_interrupt_stops_the_stream_with_exit_130(fake_api, local, receipt):
    fake_api.default = Stream(["word "] * 500, delay=0.02)
    proc = subprocess.Popen(
        [sys.executable, "-m", "desktop_vlm", "ask", str(receipt)],
        env=dict(os.environ, **local),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout.read(5) == b"word "  # the answer has started streaming
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == ExitCode.CANCELLED
    assert err.decode().strip().endswith("Interrupted")
    assert "Traceback" not in err.decode()
    assert fake_api.disconnects.wait(timeout=10)


# --- the key: keyring round trip, and never anywhere else --------------------------------


def test_key_set_status_use_delete_with_the_real_keyring(fake_api, receipt, fresh_user_dirs):
    env = {"DESKTOP_VLM_BASE_URL": fake_api.url}
    # a loopback server works without a key, so make it demand one
    fake_api.require_key = CANARY
    assert run("key", "status", env=env).returncode == ExitCode.KEY_MISSING
    stored = run("key", "set", env=env, stdin=(CANARY + "\n").encode())
    assert stored.returncode == 0, stored.stderr
    status = run("key", "status", env=env)
    assert status.returncode == 0 and b"stored in" in status.stdout
    asked = run("ask", str(receipt), env=env)
    assert asked.returncode == 0, asked.stderr
    assert fake_api.last_request.bearer == CANARY
    assert run("key", "delete", env=env).returncode == 0
    assert run("key", "status", env=env).returncode == ExitCode.KEY_MISSING
    rejected = run("ask", str(receipt), env=env)
    assert rejected.returncode == ExitCode.AUTH
    for result in (stored, status, asked, rejected):
        assert CANARY.encode() not in result.stdout + result.stderr


def test_key_never_reaches_output_files_or_argv(fake_api, local, receipt, fresh_user_dirs):
    fake_api.echo_key = "full"
    fake_api.require_key = "sk-another-key-entirely-0000"
    outputs = []
    for args in (
        ["ask", str(receipt)],
        ["ask", str(receipt), "--json"],
        ["models"],
        ["-v", "ask", str(receipt)],
        ["key", "status"],
    ):
        result = run(*args, env=local)
        outputs.append(result.stdout + result.stderr)
    fake_api.require_key = None
    fake_api.default = Stream("fine")
    result = run("-v", "ask", str(receipt), env=local)
    outputs.append(result.stdout + result.stderr)
    for output in outputs:
        assert CANARY.encode() not in output
        assert CANARY[:12].encode() not in output
    for name, folder in fresh_user_dirs.items():
        for path in Path(folder).rglob("*"):
            if path.is_file():
                assert CANARY.encode() not in path.read_bytes(), f"key found in {path} ({name})"


def test_key_set_never_takes_the_key_from_argv():
    result = run("key", "set", CANARY)
    assert result.returncode == ExitCode.USAGE


def test_headless_ask_imports_no_qt(fake_api, local, receipt):
    code = (
        "import sys\n"
        "from desktop_vlm.cli import main\n"
        f"rc = main(['ask', {str(receipt)!r}, '--json'])\n"
        "qt = sorted(m for m in sys.modules if m.startswith(('PySide6', 'shiboken6')))\n"
        "print('QT:', qt)\n"
        "sys.exit(rc)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, env=dict(os.environ, **local), timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode().strip().splitlines()[-1] == "QT: []"


def test_forwarding_command_imports_no_qt(tmp_path):
    code = (
        "import sys\n"
        "from desktop_vlm.cli import main\n"
        "rc = main(['quit'])\n"
        "print('QT:', sorted(m for m in sys.modules if m.startswith('PySide6')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, timeout=60)
    assert result.stdout.decode().strip().splitlines()[-1] == "QT: []"
    assert b"not running" in result.stdout


# --- what leaves the machine ----------------------------------------------------------------

SECRET_LINES = [
    "Meeting notes for Tuesday",
    "Contact: anna.berg@example.com",
    "Card 4111 1111 1111 1111 exp 12/27",
    "The quick brown fox jumps over the lazy dog",
]


@pytest.fixture
def secrets_screen(tmp_path: Path) -> Path:
    from PIL import ImageDraw, ImageFont

    font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", 18)
    image = Image.new("RGB", (720, 40 * len(SECRET_LINES) + 20), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    for row, text in enumerate(SECRET_LINES):
        draw.text((14, 12 + 40 * row), text, fill=(25, 25, 25), font=font)
    path = tmp_path / "screen.png"
    image.save(path)
    return path


def test_redact_auto_covers_before_sending_and_json_says_what(fake_api, local, secrets_screen):
    fake_api.enqueue(Stream("A note."))
    result = run(
        "ask", str(secrets_screen), "--preset", "describe", "--redact", "auto", "--json", env=local
    )
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["redactions"]["counts"] == {"email": 1, "card": 1}
    assert data["redactions"]["areas"] == 2
    assert "anna" not in result.stdout.decode() and "4111" not in result.stdout.decode()
    # the image at the server differs from the file only in the two covered rows
    sent = sent_image(fake_api).convert("RGB")
    original = Image.open(secrets_screen).convert("RGB")
    from PIL import ImageChops

    diff = ImageChops.difference(sent, original)
    top, bottom = diff.crop((0, 0, 720, 40)), diff.crop((0, 132, 720, original.height))
    assert diff.getbbox() is not None
    assert top.getbbox() is None and bottom.getbbox() is None


def test_redact_auto_note_on_stderr(fake_api, local, secrets_screen):
    fake_api.enqueue(Stream("A note."))
    result = run("ask", str(secrets_screen), "--preset", "describe", "--redact", "auto", env=local)
    assert result.returncode == 0, result.stderr
    assert "2 areas covered: 1 e-mail address, 1 card number" in result.stderr.decode()


def test_local_only_reads_text_offline_with_a_cloud_profile_and_connects_nowhere(
    tmp_path, secrets_screen
):
    env = {"OPENAI_API_KEY": "sk-test-" + "x" * 32}
    result, seen = audited(
        tmp_path,
        "ask",
        str(secrets_screen),
        "--preset",
        "ocr",
        "--profile",
        "openai",
        "--local-only",
        env=env,
    )
    assert result.returncode == 0, result.stderr
    assert "Meeting notes for Tuesday" in result.stdout.decode()
    assert "Local only" in result.stderr.decode()
    assert off_machine(seen) == []


def test_local_only_refuses_a_cloud_model_with_why_and_no_lookup(tmp_path, secrets_screen):
    env = {"OPENAI_API_KEY": "sk-test-" + "x" * 32}
    result, seen = audited(
        tmp_path,
        "ask",
        str(secrets_screen),
        "--preset",
        "describe",
        "--profile",
        "openai",
        "--local-only",
        env=env,
    )
    assert result.returncode == ExitCode.CONFIG, result.stderr
    line = one_line_error(result)
    assert "Local only is on" in line and "api.openai.com" in line
    assert off_machine(seen) == []


def test_the_connection_log_sees_a_request_made(tmp_path, fake_api, local, secrets_screen):
    # (the control for the two tests above: the audit hook does see real connections)
    fake_api.enqueue(Stream("A note."))
    result, seen = audited(tmp_path, "ask", str(secrets_screen), "--preset", "describe", env=local)
    assert result.returncode == 0, result.stderr
    port = int(fake_api.url.rsplit(":", 1)[1].split("/")[0])
    assert ["connect", ["127.0.0.1", port]] in seen
