"""The reliability matrix: every way the server or the network fails, every hostile input, and
the API key, each met the way a person meets it.

FAULTS run through the command line (a real `desktop-vlm ask` process: one stderr line, its
exit code) and through the chat window (a real stream worker in process: the words in the
transcript, nothing typed or answered lost, Retry works afterwards). INPUTS run through the
command line, the clipboard path and drag-and-drop. The secret checks run the real tray app and
the real keyring, then search every file, output and command line for the key.

Counts for the README: len(FAULTS) faults x {CLI, GUI}, len(INPUTS) inputs x ROUTES.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import random
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from PIL import Image, ImageDraw
from PySide6.QtCore import QTimer
from support import desktop, images
from support.app_process import start_app, wait_until
from support.chat_harness import WAIT, Harness
from support.cli_run import one_line_error, run
from support.fake_api import (
    Behaviour,
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

from desktop_vlm.core import retry as retry_module
from desktop_vlm.core.config import Config, with_base_url
from desktop_vlm.core.errors import ExitCode
from desktop_vlm.services import client as client_module
from desktop_vlm.services.secrets import KeyStore

pytestmark = pytest.mark.reliability

CANARY = "sk-relcanary-4b8e1f0a9c7d5e3b2a1f0e9d8c7b6a5f"
KEYRING_CANARY = "sk-ringcanary-9a1b2c3d4e5f60718293a4b5c6d7e8f9"
#: Peak resident memory allowed to one `desktop-vlm ask` process, whatever it is given.
CLI_PEAK_RSS_MB = 300
#: Growth of the test process's resident memory allowed while a capped huge answer is shown.
GUI_RSS_GROWTH_MB = 600
QUESTION = "And the total?"

log = logging.getLogger(__name__)


# --- the fault matrix --------------------------------------------------------------------


@dataclass(frozen=True)
class Fault:
    """One failure: what the server does, the words a person must see, the CLI's exit code."""

    behaviour: Behaviour | None
    words: str
    code: ExitCode
    #: "refused" (a closed loopback port) or a base URL used instead of the test server.
    url: str | None = None
    read_timeout: float | None = None
    retries: int = 0
    #: Part of the answer arrives first: it is kept, and nothing goes back to the question box.
    midstream: bool = False
    #: Chat requests the server sees (retries included).
    attempts: int = 1
    #: The model is left to the app to choose (else the command line names one).
    automatic_model: bool = False


DNS_URL = "https://nonexistent-host.invalid/v1"

FAULTS: dict[str, Fault] = {
    "400": Fault(
        Status(400, message="temperature must be at most 2"),
        "temperature must be at most 2",
        ExitCode.BAD_REQUEST,
    ),
    "401": Fault(Status(401), "rejected the API key", ExitCode.AUTH),
    "403": Fault(Status(403), "refused access", ExitCode.AUTH),
    # A model chosen automatically that is gone is chosen again once, from a fresh list.
    "404-model-withdrawn": Fault(
        Status(404),
        "may have been withdrawn",
        ExitCode.MODEL_NOT_FOUND,
        attempts=2,
        automatic_model=True,
    ),
    "408": Fault(Status(408), "timed out reading the request", ExitCode.NETWORK),
    "413-image-too-large": Fault(Status(413), "request is too large", ExitCode.BAD_REQUEST),
    "422": Fault(Status(422), "Field required", ExitCode.BAD_REQUEST),
    "429-long-retry-after": Fault(
        Status(429, retry_after=3600), "asks to wait 3600 s", ExitCode.RATE_LIMITED, retries=2
    ),
    "429-retries-exhausted": Fault(
        Status(429), "rate-limiting", ExitCode.RATE_LIMITED, retries=2, attempts=3
    ),
    "500": Fault(Status(500), "HTTP 500", ExitCode.SERVER),
    "502": Fault(Status(502), "HTTP 502", ExitCode.SERVER),
    "503": Fault(Status(503), "HTTP 503", ExitCode.SERVER),
    "504": Fault(Status(504), "HTTP 504", ExitCode.SERVER),
    "html-error-page": Fault(HtmlError(502), "HTML error page", ExitCode.SERVER),
    "invalid-json-streamed": Fault(InvalidJSON(streaming=True), "not JSON", ExitCode.PROTOCOL),
    "invalid-json-not-streamed": Fault(InvalidJSON(streaming=False), "not JSON", ExitCode.PROTOCOL),
    "sse-cut-mid-event": Fault(
        CutMidEvent(after_tokens=2), "in the middle of an event", ExitCode.NETWORK, midstream=True
    ),
    "error-event-mid-stream": Fault(
        ErrorEvent(after_tokens=2, message="The GPU ran out of memory"),
        "GPU ran out of memory",
        ExitCode.SERVER,
        midstream=True,
    ),
    "stall-after-tokens": Fault(
        Stall(after_tokens=2), "read timeout", ExitCode.NETWORK, read_timeout=2, midstream=True
    ),
    "never-starts": Fault(NeverRespond(), "read timeout", ExitCode.NETWORK, read_timeout=2),
    "connection-refused": Fault(None, "connection refused", ExitCode.NETWORK, url="refused"),
    "reset-mid-stream": Fault(
        Reset(after_tokens=2), "connection was reset", ExitCode.NETWORK, midstream=True
    ),
    "dns-fails": Fault(None, "could not be resolved", ExitCode.NETWORK, url=DNS_URL),
    "huge-answer": Fault(
        Huge(50_000_000), "characters, so it was stopped", ExitCode.PROTOCOL, midstream=True
    ),
}
FAULT_IDS = list(FAULTS)


def closed_port_url() -> str:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    return f"http://127.0.0.1:{port}/v1"


def fault_url(fault: Fault, api) -> str:
    if fault.url == "refused":
        return closed_port_url()
    return fault.url or api.url


def chat_requests(api) -> list:
    return [r for r in api.requests if r.path.endswith("/chat/completions")]


def write_config(dirs: dict[str, str], text: str) -> Path:
    path = Path(dirs["XDG_CONFIG_HOME"]) / "desktop-vlm" / "config.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


_MEASURE = (
    "import resource, subprocess, sys\n"
    "rc = subprocess.run(sys.argv[2:]).returncode\n"
    "open(sys.argv[1], 'w').write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))\n"
    "sys.exit(rc)\n"
)


def run_measured(tmp_path: Path, *args: str, env: dict | None = None, timeout: float = 120):
    """`desktop-vlm ARGS` in a fresh wrapper process; returns the result and its peak RSS in MB.

    RUSAGE_CHILDREN of the wrapper covers exactly one child, the CLI, unlike this process's,
    which remembers the largest child the whole test session ever waited for.
    """
    out = tmp_path / f"peak-{time.monotonic_ns()}.txt"
    result = subprocess.run(
        [sys.executable, "-c", _MEASURE, str(out), sys.executable, "-m", "desktop_vlm", *args],
        capture_output=True,
        env=dict(os.environ, **(env or {})),
        timeout=timeout,
    )
    return result, int(out.read_text()) / 1024


def assert_no_canary(data: bytes, where: str, *canaries: str) -> None:
    for canary in canaries or (CANARY,):
        for piece in (canary, canary[:12], canary[-12:]):
            assert piece.encode() not in data, f"key material {piece[:6]}... found in {where}"


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.effect_noise((320, 240), 40).convert("RGB").save(path)
    return path


@pytest.mark.parametrize("fault_id", FAULT_IDS)
def test_fault_on_the_command_line(fault_id, fake_api, fresh_user_dirs, photo, tmp_path):
    fault = FAULTS[fault_id]
    # GIVEN a server (or network) that fails this way, and no retries unless the case is about them
    network = f"[network]\nmax_retries = {fault.retries}\n"
    if fault.read_timeout:
        network += f"read_timeout = {fault.read_timeout:g}\n"
    write_config(fresh_user_dirs, network)
    if fault.behaviour is not None:
        fake_api.default = fault.behaviour
    env = {"DESKTOP_VLM_BASE_URL": fault_url(fault, fake_api), "DESKTOP_VLM_API_KEY": CANARY}
    # WHEN a person asks about an image
    model = [] if fault.automatic_model else ["--model", "m"]
    result, peak_mb = run_measured(tmp_path, "ask", str(photo), *model, env=env)
    # THEN one line says what went wrong, with the documented exit code, and no key anywhere
    assert result.returncode == fault.code, result.stderr.decode()[-2000:]
    line = one_line_error(result)
    assert fault.words.lower() in line.lower(), line
    assert_no_canary(result.stdout + result.stderr, "the output")
    if fault.url is None:
        assert len(chat_requests(fake_api)) == fault.attempts
    if fault_id == "huge-answer":
        # the answer stops at the cap, with what had arrived printed; memory stays bounded
        cap = client_module.MAX_ANSWER_CHARS
        assert cap - 1024 <= len(result.stdout) <= cap + 1  # not the 50 MB the server sent
        assert peak_mb < CLI_PEAK_RSS_MB, f"peak RSS {peak_mb:.0f} MB"


def test_rate_limit_with_a_short_retry_after_is_waited_for(fake_api, fresh_user_dirs, photo):
    write_config(fresh_user_dirs, "[network]\nmax_retries = 2\n")
    fake_api.enqueue(Status(429, retry_after=1), Stream("Fine after waiting."))
    env = {"DESKTOP_VLM_BASE_URL": fake_api.url}
    result = run("ask", str(photo), "--model", "m", env=env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == "Fine after waiting.\n"
    first, second = chat_requests(fake_api)
    assert second.time - first.time >= 1.0  # the server's Retry-After was honoured


# --- the same faults in the chat window ---------------------------------------------------


class Window(Harness):
    """test_chat's harness, with a key in its store (so non-loopback URLs get that far)."""

    def __init__(self, qtbot, api, config: Config):
        super().__init__(qtbot, api, config, KeyStore(environ={"DESKTOP_VLM_API_KEY": CANARY}))

    def ticks(self) -> Callable[[], int]:
        """A timer ticking on the GUI thread; the count only grows while the loop runs."""
        self.tick_times: list[float] = []
        timer = QTimer(self.window)
        timer.setInterval(20)
        timer.timeout.connect(lambda: self.tick_times.append(time.monotonic()))
        timer.start()
        return lambda: len(self.tick_times)

    def longest_freeze(self) -> float:
        """The longest gap between two ticks, in seconds (reported, never asserted)."""
        times = self.tick_times
        return max((b - a for a, b in zip(times, times[1:], strict=False)), default=0.0)


@pytest.fixture
def window(qtbot, fake_api, monkeypatch):
    monkeypatch.setattr(retry_module.random, "uniform", lambda a, b: 0.01)
    config = replace(with_base_url(Config(), fake_api.url), max_retries=0)
    harness = Window(qtbot, fake_api, config)
    yield harness
    harness.worker.stop_all()
    if harness.window is not None:
        harness.window.close()
    fake_api.release()
    qtbot.waitUntil(lambda: harness.worker.running() == 0, timeout=WAIT)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.parametrize("fault_id", FAULT_IDS)
def test_fault_in_the_chat_window(fault_id, window, fake_api, caplog):
    caplog.set_level(logging.INFO)
    fault = FAULTS[fault_id]
    config = replace(
        window.controller.config,
        max_retries=fault.retries,
        read_timeout=fault.read_timeout or 120.0,
    )
    window.controller.apply_config(config)
    # GIVEN a conversation with one answer
    fake_api.enqueue(Stream("Answer one."))
    if fault.behaviour is not None:
        fake_api.enqueue(*[fault.behaviour] * fault.attempts)
    window.ask()
    window.wait_text("Answer one.")
    window.wait_idle()
    before = len(chat_requests(fake_api))
    if fault.url is not None:
        window.controller.apply_config(with_base_url(config, fault_url(fault, fake_api)))
    ticks = window.ticks()
    rss_before = rss_mb()
    started = time.monotonic()
    # WHEN the follow-up fails
    window.type_question(QUESTION)
    assert window.controller.busy
    window.qtbot.waitUntil(
        lambda: not window.controller.busy and not window.window.streaming, timeout=120_000
    )
    shown_after = time.monotonic() - started
    ticked = ticks()
    # THEN the window says why and keeps everything
    text = window.window.transcript_text()
    assert fault.words.lower() in text.lower()
    assert "Answer one." in text
    if fault.midstream:
        assert "This answer" in text or "quick brown fox" in text  # the partial answer
        assert "interrupted" in text
    else:
        assert window.window.question.toPlainText() == QUESTION
    if fault.url is None:
        assert len(chat_requests(fake_api)) - before == fault.attempts
    # and the window kept running meanwhile
    if fault.read_timeout:
        assert ticked >= 5, f"the GUI thread ran {ticked} timer ticks in {shown_after:.1f} s"
    window.qtbot.waitUntil(lambda: ticks() >= ticked + 3, timeout=WAIT)
    if fault_id == "huge-answer":
        growth = rss_mb() - rss_before
        log.warning(
            "huge answer: shown after %.1f s, longest GUI freeze %.2f s, RSS grew %.0f MB",
            shown_after,
            window.longest_freeze(),
            growth,
        )
        assert growth < GUI_RSS_GROWTH_MB, f"RSS grew {growth:.0f} MB"
    # WHEN the person retries against a working server
    window.controller.apply_config(config)
    fake_api.enqueue(Stream("Now it works."))
    window.click("Retry")
    window.wait_text("Now it works.")
    window.wait_idle()
    # THEN the answer arrives, and the question was sent once, after the first answer
    assert window.window.question.toPlainText() == ""
    messages = chat_requests(fake_api)[-1].json["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[-1]["content"] == QUESTION
    assert "Answer one." in window.window.transcript_text()
    for record in caplog.records:
        assert record.exc_info is None and "Traceback" not in record.getMessage(), record
        assert record.levelno < logging.ERROR, record.getMessage()


# --- hostile inputs --------------------------------------------------------------------------


@dataclass(frozen=True)
class Input:
    """A file a person may hand over, and what must come of it."""

    make: Callable[[Path], None]
    #: The size the server must receive, or None when the input must be refused.
    size: tuple[int, int] | None = None
    #: Words of the refusal.
    words: str = ""
    #: Where the red marker must be in the sent image (for orientation), as (x, y).
    marker: tuple[int, int] | None = None


def _bytes(data: bytes | Callable[[], bytes]) -> Callable[[Path], None]:
    return lambda path: path.write_bytes(data() if callable(data) else data)


def _saved(build: Callable[[], Image.Image], fmt: str, **params) -> Callable[[Path], None]:
    return lambda path: build().save(path, format=fmt, **params)


def _noise_png() -> bytes:
    return images.encode(images.noise("RGB", (300, 200), seed=1), "PNG")


def _noise_jpeg() -> bytes:
    return images.encode(images.noise("RGB", (300, 200), seed=2), "JPEG", quality=90)


def _big_photo(path: Path) -> None:
    # Smooth like a photo (and so quick to encode), at a camera's 9000x6000.
    small = Image.effect_noise((90, 60), 90).convert("RGB")
    small.resize((9000, 6000), Image.Resampling.BICUBIC).save(path, format="JPEG", quality=80)


def _cmyk_jpeg() -> Image.Image:
    img = Image.new("CMYK", (160, 120), (0, 200, 200, 0))
    ImageDraw.Draw(img).rectangle((20, 20, 60, 60), fill=(0, 0, 0, 255))
    return img


def _directory(path: Path) -> None:
    path.mkdir()


SVG = b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10"/>\n'
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"

INPUTS: dict[str, tuple[str, Input]] = {
    # id: (file name, what must happen)
    "decompression-bomb": (
        "bomb.png",
        Input(_bytes(images.png_declaring(100_000, 100_000)), words="too large to open safely"),
    ),
    "truncated-png": (
        "cut.png",
        Input(_bytes(lambda: _noise_png()[: len(_noise_png()) // 2]), words="truncated"),
    ),
    "truncated-jpeg": (
        "cut.jpg",
        Input(_bytes(lambda: _noise_jpeg()[: len(_noise_jpeg()) // 2]), words="truncated"),
    ),
    "png-named-jpg": ("really-png.jpg", Input(_bytes(_noise_png), size=(300, 200))),
    "jpeg-named-png": ("really-jpeg.png", Input(_bytes(_noise_jpeg), size=(300, 200))),
    "empty-file": ("empty.png", Input(_bytes(b""), words="empty")),
    "text-file": ("notes.png", Input(_bytes(b"Shopping list:\n- milk\n"), words="text, not")),
    "svg": ("drawing.svg", Input(_bytes(SVG), words="SVG")),
    "pdf": ("scan.pdf", Input(_bytes(PDF), words="PDF")),
    "1x100000": (
        "strip.png",
        Input(_saved(lambda: Image.new("L", (1, 100_000), 90), "PNG"), size=(1, 2048)),
    ),
    "16-bit-png": ("deep.png", Input(_bytes(images.gradient_16bit_png(256, 4)), size=(256, 4))),
    "cmyk-jpeg": ("print.jpg", Input(_saved(_cmyk_jpeg, "JPEG"), size=(160, 120))),
    "palette-transparency": (
        "glyph.png",
        Input(_bytes(images.glyph_on_transparent_palette((64, 48))), size=(64, 48)),
    ),
    "animated-gif": (
        "anim.gif",
        Input(_bytes(images.animated_gif([(255, 0, 0), (0, 0, 255)])), size=(32, 24)),
    ),
    "exif-rotated-jpeg": (
        "rotated.jpg",
        # stored 120x80 with the marker top-left; orientation 6 turns it a quarter clockwise
        Input(_bytes(images.with_orientation(6)), size=(80, 120), marker=(70, 10)),
    ),
    "huge-exif": ("exif.jpg", Input(_bytes(images.with_huge_exif((40, 30))), size=(40, 30))),
    "webp": ("pic.webp", Input(_saved(lambda: images.noise("RGB", (90, 60), 3), "WEBP"), (90, 60))),
    "tiff": ("pic.tiff", Input(_saved(lambda: images.noise("RGB", (90, 60), 4), "TIFF"), (90, 60))),
    "bmp": ("pic.bmp", Input(_saved(lambda: images.noise("RGB", (90, 60), 5), "BMP"), (90, 60))),
    "photo-9000x6000": ("camera.jpg", Input(_big_photo, size=(2048, 1365))),
    "random-bytes": (
        "noise.png",
        Input(_bytes(random.Random(7).randbytes(4096)), words="not an image format"),
    ),
    "directory": ("folder.png", Input(_directory, words="folder")),
}
INPUT_IDS = list(INPUTS)
ROUTES = ("cli", "clipboard", "drop")


@pytest.fixture(scope="module")
def input_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("inputs")
    paths = {}
    for input_id, (name, spec) in INPUTS.items():
        path = folder / name
        spec.make(path)
        paths[input_id] = path
    return paths


def sent_image(request) -> Image.Image:
    url = request.json["messages"][0]["content"][1]["image_url"]["url"]
    header, data = url.split(",", 1)
    assert header in ("data:image/png;base64", "data:image/jpeg;base64"), header
    image = Image.open(io.BytesIO(base64.b64decode(data, validate=True)))
    assert image.format in ("PNG", "JPEG")
    return image


def check_sent(api, spec: Input) -> None:
    (request,) = chat_requests(api)
    image = sent_image(request)
    assert max(image.size) <= 2048
    assert image.size == spec.size
    if spec.marker:
        red = image.convert("RGB").getpixel(spec.marker)
        assert red[0] > 200 and red[1] < 80 and red[2] < 80, red


@pytest.mark.parametrize("input_id", INPUT_IDS)
def test_hostile_input_on_the_command_line(input_id, input_files, fake_api, tmp_path):
    _, spec = INPUTS[input_id]
    # WHEN a person asks about the file
    result, peak_mb = run_measured(
        tmp_path, "ask", str(input_files[input_id]), "--model", "m",
        env={"DESKTOP_VLM_BASE_URL": fake_api.url},
    )  # fmt: skip
    # THEN a usable image reaches the server, or one line explains the refusal
    if spec.size:
        assert result.returncode == 0, result.stderr.decode()
        check_sent(fake_api, spec)
    else:
        assert result.returncode == ExitCode.IMAGE, result.stderr.decode()
        assert spec.words.lower() in one_line_error(result).lower()
        assert chat_requests(fake_api) == []
    # and memory stays bounded, bombs and 54-megapixel photos included
    assert peak_mb < CLI_PEAK_RSS_MB, f"peak RSS {peak_mb:.0f} MB"


@pytest.mark.parametrize("route", ROUTES[1:])
@pytest.mark.parametrize("input_id", INPUT_IDS)
def test_hostile_input_in_the_app(input_id, route, input_files, window, fake_api, caplog):
    caplog.set_level(logging.INFO)
    _, spec = INPUTS[input_id]
    path = str(input_files[input_id])
    # WHEN the file arrives from the clipboard (a copied file) or is dropped on the window
    if route == "clipboard":
        window.controller._read_clipboard = lambda: path
        fake_api.enqueue(Stream("Seen."))
        window.controller.ask_clipboard("describe")
    else:
        window.controller.open_window()
        window.window.image_dropped.emit(path, "describe")
    # THEN a usable image reaches the server, or the window says why and nothing is sent
    if spec.size:
        window.wait_text("Hello from the fake server." if route == "drop" else "Seen.")
        window.wait_idle()
        check_sent(fake_api, spec)
    else:
        window.qtbot.waitUntil(
            lambda: spec.words.lower() in window.window.transcript_text().lower(), timeout=WAIT
        )
        window.wait_idle()
        assert chat_requests(fake_api) == []
    for record in caplog.records:
        assert record.exc_info is None and record.levelno < logging.ERROR, record.getMessage()


# --- a broken config file ---------------------------------------------------------------------


BAD_CONFIGS = {
    "invalid-toml": ("[network]\nread_timeout = = 5\n", "line 2"),
    "bad-values": ('[network]\nread_timeout = "soon"\nmax_retries = -4\n', "network.read_timeout"),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_broken_config_warns_and_the_cli_runs_on_defaults(case, fake_api, fresh_user_dirs, photo):
    text, words = BAD_CONFIGS[case]
    path = write_config(fresh_user_dirs, text)
    fake_api.enqueue(Stream("Still answering."))
    result = run("ask", str(photo), "--model", "m", env={"DESKTOP_VLM_BASE_URL": fake_api.url})
    assert result.returncode == 0, result.stderr
    assert result.stdout.decode() == "Still answering.\n"
    err = result.stderr.decode()
    assert "warning:" in err and words in err, err
    if case == "invalid-toml":
        assert str(path) in err and "defaults" in err


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_broken_config_is_reported_by_the_tray_app(case, fake_api, fresh_user_dirs):
    text, words = BAD_CONFIGS[case]
    path = write_config(fresh_user_dirs, text)
    app = start_app(fake_api, fresh_user_dirs)
    try:
        # the log names the file and the line or key, and so does the notice shown at start
        app.wait_log(words)
        app.wait_log("notice: desktop-vlm:")
        notice = [ln for ln in app.log_text().splitlines() if "notice: desktop-vlm:" in ln]
        assert words in notice[0]
        if case == "invalid-toml":
            assert str(path) in notice[0]
        assert app.proc.poll() is None
    finally:
        app.stop()
    assert "Traceback" not in app.log_text()


# --- secrets ---------------------------------------------------------------------------------


def cmdlines_with(secret: str) -> list[str]:
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            data = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        for piece in (secret, secret[:12], secret[-12:]):
            if piece.encode() in data:
                found.append(f"{proc.name}: {data[:80]!r}")
    return found


def scan_dirs(dirs: dict[str, str], *secrets: str) -> int:
    """Fail if any file under the per-test user dirs holds key material; return files read."""
    count = 0
    for folder in dirs.values():
        for path in Path(folder).rglob("*"):
            if path.is_file():
                assert_no_canary(path.read_bytes(), str(path), *secrets)
                count += 1
    return count


def copy_to_clipboard(env: dict, path: Path) -> subprocess.Popen:
    return subprocess.Popen(
        ["xclip", "-selection", "clipboard", "-t", "image/png", "-i", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_key_stays_secret_through_the_app_and_the_cli(fake_api, fresh_user_dirs, photo):
    outputs: list[bytes] = []
    # GIVEN the app running with the key in its environment
    app = start_app(fake_api, fresh_user_dirs, extra_env={"DESKTOP_VLM_API_KEY": CANARY})
    xclip = None
    try:
        assert cmdlines_with(CANARY) == []
        xclip = copy_to_clipboard(app.env, photo)
        # WHEN it answers a clipboard request
        outputs.append(app.cli("clipboard").stdout)
        wait_until(lambda: len(chat_requests(fake_api)) >= 1, what="the clipboard request")
        app.wait_log("request finished")
        assert chat_requests(fake_api)[0].bearer == CANARY  # it was used, over loopback
        # AND a request fails at a server that repeats the whole key in its error
        fake_api.echo_key = "full"
        fake_api.require_key = "sk-some-other-key-0000000000000"
        outputs.append(app.cli("clipboard").stdout)
        app.wait_log("request ended")
        assert "rejected the API key" in app.log_text()
        assert cmdlines_with(CANARY) == []
    finally:
        if xclip is not None:
            xclip.kill()
            xclip.wait(5)
        app.stop()  # `desktop-vlm quit`
    assert app.proc.returncode == 0
    # AND the command line is used with the same key, also verbosely and failing
    env = {"DESKTOP_VLM_BASE_URL": fake_api.url, "DESKTOP_VLM_API_KEY": CANARY}
    for args in (["ask", str(photo)], ["-v", "ask", str(photo), "--json"], ["models"]):
        result = run(*args, env=env)
        assert result.returncode == ExitCode.AUTH
        outputs.append(result.stdout + result.stderr)
    # THEN the key is in no output, no file (log, history, caches) and was in no command line
    for output in outputs:
        assert_no_canary(output, "an output")
    assert scan_dirs(fresh_user_dirs) >= 3  # log, history database, app stderr at least
    log_file = app.log
    assert log_file.exists() and "[redacted]" in log_file.read_text()


def test_key_from_the_keyring_stays_secret(fake_api, fresh_user_dirs, photo):
    env = {"DESKTOP_VLM_BASE_URL": fake_api.url}
    fake_api.require_key = KEYRING_CANARY
    stored = run("key", "set", env=env, stdin=(KEYRING_CANARY + "\n").encode())
    assert stored.returncode == 0, stored.stderr
    outputs = [stored.stdout + stored.stderr]
    try:
        app = start_app(fake_api, fresh_user_dirs)
        xclip = copy_to_clipboard(app.env, photo)
        try:
            assert cmdlines_with(KEYRING_CANARY) == []
            outputs.append(app.cli("clipboard").stdout)
            app.wait_log("request finished")
            assert chat_requests(fake_api)[-1].bearer == KEYRING_CANARY
        finally:
            xclip.kill()
            xclip.wait(5)
            app.stop()
        for args in (["-v", "ask", str(photo), "--model", "m"], ["key", "status"]):
            result = run(*args, env=env)
            assert result.returncode == 0, result.stderr
            outputs.append(result.stdout + result.stderr)
        # plain HTTP to another machine is refused before the key leaves this one
        refused = run("ask", str(photo), env={"DESKTOP_VLM_BASE_URL": "http://192.0.2.10:8000/v1"})
        assert refused.returncode == ExitCode.CONFIG
        assert "plain HTTP" in one_line_error(refused)
        outputs.append(refused.stdout + refused.stderr)
    finally:
        assert run("key", "delete", env=env).returncode == 0
    for output in outputs:
        assert_no_canary(output, "an output", KEYRING_CANARY)
    scan_dirs(fresh_user_dirs, KEYRING_CANARY)


def test_plain_http_to_another_machine_never_gets_the_key(photo):
    env = {"DESKTOP_VLM_BASE_URL": "http://192.0.2.10/v1", "DESKTOP_VLM_API_KEY": CANARY}
    result = run("ask", str(photo), env=env, timeout=30)
    assert result.returncode == ExitCode.CONFIG
    line = one_line_error(result)
    assert "plain HTTP" in line and "192.0.2.10" in line
    assert_no_canary(result.stdout + result.stderr, "the output")


@pytest.fixture
def private_keyring(tmp_path):
    """A session bus and gnome-keyring of this test's own, so locking it affects no one else."""
    home = tmp_path / "home"
    home.mkdir()
    bus = desktop.start_session_bus()
    ring = desktop.start_keyring(bus, home)
    try:
        yield bus.env
    finally:
        ring.stop()
        bus.stop()


def test_locked_keyring_is_reported_not_bypassed(private_keyring, photo):
    import secretstorage
    from jeepney.io.blocking import open_dbus_connection

    env = dict(private_keyring, DESKTOP_VLM_BASE_URL="https://api.hyperbolic.xyz/v1")
    # GIVEN a key stored in the keyring, and then the keyring locked
    assert run("key", "set", env=env, stdin=(CANARY + "\n").encode()).returncode == 0
    conn = open_dbus_connection(bus=private_keyring["DBUS_SESSION_BUS_ADDRESS"])
    try:
        collection = secretstorage.get_default_collection(conn)
        collection.lock()
        assert collection.is_locked()
        # WHEN a person asks, on a machine with no network at all (so no request can slip out)
        cmd = [sys.executable, "-m", "desktop_vlm", "ask", str(photo)]
        if os.getuid() == 0:
            cmd = ["unshare", "--net", *cmd]
        result = subprocess.run(cmd, capture_output=True, env=dict(os.environ, **env), timeout=60)
        # THEN it stops at the keyring and says so, without the key and without a fallback
        assert result.returncode == ExitCode.KEYRING, result.stderr
        line = one_line_error(result)
        assert "locked" in line.lower() or "refused" in line.lower(), line
        assert_no_canary(result.stdout + result.stderr, "the output")
        assert collection.is_locked()
    finally:
        conn.close()
