"""What leaves the machine, as the person controls it: automatic redaction, the preview before
sending, local only. The real controller, stream worker, offline engine and preview dialog
against the loopback server; what is checked is what reached the server (decoded and read
again by the offline engine), what the person saw in the preview, and every connection the
process tried (Python's audit hook sees each ``socket.connect`` and each name lookup).
"""

from __future__ import annotations

import base64
import io
import random
import re
import string
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image, ImageChops, ImageDraw, ImageFont
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QLabel, QWidget
from support.chat_harness import WAIT
from support.connections import Connections
from support.fake_api import Stream

from desktop_vlm.core.config import Config
from desktop_vlm.core.imageprep import RawImage
from desktop_vlm.services.secrets import KeyStore

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
EMAIL = "anna.berg@example.com"
CARD = "4111 1111 1111 1111"
KEY = "sk-proj-" + "".join(
    random.Random(7).choice(string.ascii_letters + string.digits) for _ in range(28)
)
PLAIN = ["Meeting notes for Tuesday", "The quick brown fox jumps over the lazy dog"]
DATA_URL = re.compile(r"^data:image/(png|jpeg);base64,([A-Za-z0-9+/=]+)$")


def screen(lines: list[str], size: int = 18) -> Image.Image:
    font = ImageFont.truetype(str(FONT), size)
    pitch = round(size * 1.8)
    image = Image.new("RGB", (720, pitch * len(lines) + 24), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    for row, text in enumerate(lines):
        draw.text((14, 12 + pitch * row), text, fill=(25, 25, 25), font=font)
    return image


def raw(image: Image.Image) -> RawImage:
    rgba = image.convert("RGBA")
    return RawImage(rgba.width, rgba.height, rgba.tobytes(), mode="RGBA")


def sent_image(request) -> Image.Image:  # noqa: ANN001 - a RecordedRequest
    urls = [
        part["image_url"]["url"]
        for message in request.json["messages"]
        if isinstance(message["content"], list)
        for part in message["content"]
        if part["type"] == "image_url"
    ]
    assert len(urls) == 1
    match = DATA_URL.match(urls[0])
    assert match
    return Image.open(io.BytesIO(base64.b64decode(match.group(2)))).convert("RGB")


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def top_level(name: str) -> QWidget | None:
    for widget in QApplication.topLevelWidgets():
        if widget.objectName() == name and widget.isVisible():
            return widget
    return None


# --- automatic redaction ------------------------------------------------------------------


@pytest.mark.skipif(not FONT.exists(), reason="DejaVu Sans is not installed")
def test_automatic_redaction_covers_the_secrets_before_they_reach_the_server(
    make_chat, fake_api, qtbot
):
    # GIVEN redaction on, and a capture showing an address, a card number and an API key
    chat = make_chat(redact="auto")
    lines = [PLAIN[0], f"Contact: {EMAIL}", f"Card {CARD} exp 12/27", f"OPENAI_API_KEY={KEY}"]
    lines.append(PLAIN[1])
    capture = screen(lines)
    fake_api.enqueue(Stream("A note with contact details."))
    # WHEN it is asked about
    chat.ask("describe", raw(capture))
    chat.wait_text("A note with contact details.")
    # THEN the image at the server has them covered: the offline engine cannot read them there
    got = sent_image(chat.chat_requests()[-1])
    assert got.size == capture.size
    after = chat.worker.read_offline(png(got)).text
    squashed = after.replace(" ", "")
    assert "@" not in after and "example" not in after
    assert "4111" not in squashed and "sk-" not in after
    assert KEY[-12:] not in squashed
    # ... while the rest reads as before, and the pixels outside the covered areas are untouched
    for text in PLAIN:
        assert text in after
    assert "Contact" in after and "Card" in after
    changed = ImageChops.difference(got, capture).getbbox()
    assert changed is not None
    top_rows = capture.crop((0, 0, capture.width, 36))  # the first line, clear of any cover
    assert ImageChops.difference(got.crop((0, 0, *top_rows.size)), top_rows).getbbox() is None
    # ... and the window says how many areas of which kind were covered
    subtitle = chat.window.findChild(QLabel, "conversation_subtitle").text()
    assert "3 areas covered" in subtitle, subtitle
    assert chat.session.find(chat.window.conversation.id).meta["redactions"]["counts"] == {
        "email": 1,
        "card": 1,
        "secret": 1,
    }


def test_with_redaction_on_and_no_engine_nothing_is_sent(make_chat, fake_api, monkeypatch):
    # GIVEN redaction on and an offline engine that cannot start
    chat = make_chat(redact="auto")

    def broken(_source, timeout=60.0):  # noqa: ANN001, ANN202
        from desktop_vlm.core.errors import OfflineEngineError

        raise OfflineEngineError("The offline engine did not start", "Reinstall desktop-vlm")

    monkeypatch.setattr(chat.worker._endpoint, "read_offline", broken)
    chat.ask("describe", raw(screen([PLAIN[0], f"Contact: {EMAIL}"])))
    # THEN the window says why, and the server never saw a request
    chat.wait_text("nothing was sent")
    assert chat.chat_requests() == []


# --- the preview before sending -----------------------------------------------------------


def preview_image(preview: QWidget) -> Image.Image:
    pixmap = preview.findChild(QLabel, "preview_image").pixmap()
    qimage = pixmap.toImage().convertToFormat(pixmap.toImage().Format.Format_RGB888)
    return Image.frombuffer(
        "RGB",
        (qimage.width(), qimage.height()),
        bytes(qimage.constBits()),
        "raw",
        "RGB",
        qimage.bytesPerLine(),
    )


def test_preview_shows_host_model_and_the_exact_image_and_enter_sends_it(
    make_chat, fake_api, qtbot
):
    # GIVEN confirm on
    chat = make_chat(confirm_send=True)
    capture = screen([PLAIN[0], PLAIN[1]])
    fake_api.enqueue(Stream("Two lines of text."))
    # WHEN a capture is asked about
    chat.ask("describe", raw(capture))
    qtbot.waitUntil(lambda: top_level("send_preview") is not None, timeout=WAIT)
    preview = top_level("send_preview")
    # THEN nothing has gone yet; the preview names the host and the model, and shows the image
    assert chat.chat_requests() == []
    where = preview.findChild(QLabel, "preview_where").text()
    host = fake_api.url.split("//")[1].split("/")[0]
    assert host in where
    shown = preview_image(preview)
    # WHEN the person presses Enter
    qtbot.keyClick(preview, Qt.Key.Key_Return)
    chat.wait_text("Two lines of text.")
    chat.wait_idle()  # the answer has ended (its text shows before the stream closes)
    # THEN what reached the server is exactly the image that was shown, to the model named
    request = chat.chat_requests()[-1]
    assert ImageChops.difference(sent_image(request), shown).getbbox() is None
    assert request.json["model"] in where
    # ... and a follow-up about the same image is not asked about again
    fake_api.enqueue(Stream("Yes."))
    chat.type_question("Is it English?")
    chat.wait_text("Yes.")
    assert top_level("send_preview") is None and len(chat.chat_requests()) == 2


def test_preview_escape_sends_nothing_and_says_so(make_chat, fake_api, qtbot):
    chat = make_chat(confirm_send=True)
    chat.ask("describe", raw(screen([PLAIN[0]])))
    qtbot.waitUntil(lambda: top_level("send_preview") is not None, timeout=WAIT)
    qtbot.keyClick(top_level("send_preview"), Qt.Key.Key_Escape)
    chat.wait_text("Not sent")
    qtbot.waitUntil(lambda: not chat.controller.busy, timeout=WAIT)
    qtbot.wait(300)
    assert chat.chat_requests() == []
    assert top_level("send_preview") is None


def test_a_quick_preset_waits_for_the_preview_too(make_chat, fake_api, qtbot):
    chat = make_chat(confirm_send=True)
    fake_api.enqueue(Stream("Meeting notes"))
    chat.ask("ocr", raw(screen([PLAIN[0]])))
    qtbot.waitUntil(lambda: top_level("send_preview") is not None, timeout=WAIT)
    assert chat.copied == [] and chat.chat_requests() == []
    # the card near the region says what it waits for: the person, not the model
    card = top_level("quick_popup")
    qtbot.waitUntil(lambda: card.message.text() == "Check the preview: Send or Cancel")
    qtbot.mouseClick(
        top_level("send_preview").findChild(QWidget, "preview_send"), Qt.MouseButton.LeftButton
    )
    qtbot.waitUntil(lambda: chat.copied == ["Meeting notes"], timeout=WAIT)


# --- local only ---------------------------------------------------------------------------


CONNECTIONS = Connections()


@pytest.fixture
def connections():
    CONNECTIONS.seen.clear()
    CONNECTIONS.on = True
    yield CONNECTIONS
    CONNECTIONS.on = False


def test_the_connection_log_sees_the_apps_requests(make_chat, fake_api, connections):
    # (the control for the two tests below: the hook does see the worker's real connections)
    chat = make_chat()
    fake_api.enqueue(Stream("Seen."))
    chat.ask("describe")
    chat.wait_text("Seen.")
    port = int(fake_api.url.rsplit(":", 1)[1].split("/")[0])
    assert ("connect", ("127.0.0.1", port)) in connections.seen


@pytest.mark.skipif(not FONT.exists(), reason="DejaVu Sans is not installed")
def test_local_only_with_a_cloud_profile_answers_ocr_offline_and_connects_nowhere(
    make_chat, qtbot, connections
):
    # GIVEN OpenAI active with its key, and local only on
    keys = KeyStore(environ={"OPENAI_API_KEY": "sk-test-" + "x" * 32})
    chat = make_chat(replace(Config(), profile="openai", local_only=True), keys)
    notices = []
    chat.worker.notice.connect(lambda _rid, text: notices.append(text))
    # WHEN an ocr capture is made
    chat.ask("ocr", raw(screen(PLAIN)))
    # THEN the offline engine's text is on the clipboard, with a notice saying so
    qtbot.waitUntil(lambda: len(chat.copied) == 1, timeout=60_000)
    assert PLAIN[0] in chat.copied[0] and PLAIN[1] in chat.copied[0]
    assert any("Local only" in n for n in notices)
    # ... and nothing connected anywhere but this machine; no name was even looked up
    assert connections.off_machine() == []


def test_local_only_refuses_a_model_preset_on_a_cloud_profile_without_a_lookup(
    make_chat, qtbot, connections
):
    # (no local server runs here: the search for one knocks on loopback ports only)
    keys = KeyStore(environ={"OPENAI_API_KEY": "sk-test-" + "x" * 32})
    chat = make_chat(replace(Config(), profile="openai", local_only=True), keys)
    chat.ask("describe", raw(screen([PLAIN[0]])))
    chat.wait_text("Local only is on")
    assert "api.openai.com" in chat.window.transcript_text()
    assert connections.off_machine() == []


# --- the overlay's hint says where the region goes ----------------------------------------


@pytest.mark.parametrize(
    ("key", "local_only", "preset", "expected"),
    [
        (None, False, "ocr", "read offline (no key set)"),
        (None, False, "describe", "no key set: only a server on this machine can answer"),
        ("sk-test-" + "x" * 32, False, "describe", "api.openai.com, model chosen automatically"),
        ("sk-test-" + "x" * 32, True, "ocr", "read offline (local only)"),
        ("sk-test-" + "x" * 32, True, "describe", "a server on this machine (local only)"),
    ],
)
def test_the_overlay_hint_names_where_release_sends(make_chat, key, local_only, preset, expected):
    keys = KeyStore(environ={"OPENAI_API_KEY": key} if key else {})
    config = replace(Config(), profile="openai", local_only=local_only)
    chat = make_chat(config, keys)
    assert chat.controller.capture_flow.target(preset) == expected
