"""Answers a person can check: the model's reading compared with the offline engine's, receipts
and tables held to their own structure and arithmetic, a closer look at full resolution.

The test server answers as a model would (right, or with one wrong digit, or not in JSON); the
real offline engine reads the same image; what is checked is what a person notices: the words in
the window, the card and the clipboard, the requests at the server, the output of ``ask --json``.
"""

from __future__ import annotations

import base64
import io
import json
import re
from pathlib import Path

import pytest
from PIL import Image, ImageDraw, ImageFont
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QApplication, QWidget
from support.chat_harness import WAIT
from support.cli_run import run
from support.fake_api import Stream

from desktop_vlm.core.imageprep import RawImage

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
DATA_URL = re.compile(r"^data:image/(png|jpeg);base64,([A-Za-z0-9+/=]+)$")
PRINTED = ["Invoice INV-2041", "Date 2026-11-30", "Coffee 4.50", "Total 13.49"]
WRONG = "Invoice INV-2041\nDate 2026-11-30\nCoffee 4.50\nTotal 16.49"
RIGHT = "Invoice INV-2041\n\nDate  2026-11-30\nCoffee 4.50\nTotal 13.49"  # spacing differs only


def printed(lines: list[str] = PRINTED) -> Image.Image:
    font = ImageFont.truetype(str(FONT), 20)
    image = Image.new("RGB", (520, 40 * len(lines) + 24), (255, 255, 255))
    draw = ImageDraw.Draw(image)
    for row, text in enumerate(lines):
        draw.text((16, 12 + 40 * row), text, fill=(20, 20, 20), font=font)
    return image


def raw(image: Image.Image) -> RawImage:
    rgba = image.convert("RGBA")
    return RawImage(rgba.width, rgba.height, rgba.tobytes(), mode="RGBA")


def images_in(request) -> list[Image.Image]:  # noqa: ANN001 - a RecordedRequest
    found = []
    for message in request.json["messages"]:
        if isinstance(message["content"], list):
            for part in message["content"]:
                if part["type"] == "image_url":
                    match = DATA_URL.match(part["image_url"]["url"])
                    assert match
                    found.append(Image.open(io.BytesIO(base64.b64decode(match.group(2)))))
    return found


def visible(name: str) -> QWidget | None:
    for widget in QApplication.topLevelWidgets():
        if widget.objectName() == name and widget.isVisible():
            return widget
    return None


def card_text() -> str:
    card = visible("quick_popup")
    if card is None:
        return ""
    return " ".join(label.text() for label in card.findChildren(QWidget) if hasattr(label, "text"))


pytestmark = pytest.mark.skipif(not FONT.exists(), reason="DejaVu Sans is not installed")


# --- verified OCR --------------------------------------------------------------------------


def test_a_wrong_digit_is_flagged_on_the_card_and_the_text_is_still_copied(make_chat, qtbot):
    chat = make_chat()
    chat.api.enqueue(Stream(WRONG))
    chat.ask("ocr", raw(printed()))
    qtbot.waitUntil(lambda: chat.copied == [WRONG], timeout=WAIT)
    qtbot.waitUntil(
        lambda: "1 value differs from the offline reading" in card_text(), timeout=60_000
    )


def test_a_wrong_digit_is_highlighted_in_the_window_with_the_offline_reading(make_chat, qtbot):
    chat = make_chat()
    chat.api.enqueue(Stream(WRONG))
    chat.controller.ask(raw(printed()), chat.controller.config.preset("ocr"), None, window=True)
    qtbot.waitUntil(
        lambda: chat.window is not None and "(offline: 13.49)" in chat.window.transcript_text(),
        timeout=60_000,
    )
    text = chat.window.transcript_text()
    assert "16.49 (offline: 13.49)" in text
    assert "1 value differs from the offline reading" in text
    assert "INV-2041 (offline" not in text  # what agrees is not marked


def test_an_answer_that_agrees_is_not_flagged(make_chat, qtbot):
    chat = make_chat()
    chat.api.enqueue(Stream(RIGHT))
    chat.controller.ask(raw(printed()), chat.controller.config.preset("ocr"), None, window=True)
    chat.wait_text("Total 13.49")
    conversation = chat.window.conversation
    qtbot.waitUntil(lambda: "check" in conversation.turns[-1].meta, timeout=60_000)
    assert conversation.turns[-1].meta["check"].get("disagreements") == []
    assert "offline:" not in chat.window.transcript_text()
    assert "differ" not in chat.window.transcript_text()


def test_ask_json_carries_the_check_and_stderr_names_it(fake_api, tmp_path):
    path = tmp_path / "invoice.png"
    printed().save(path)
    env = {"DESKTOP_VLM_BASE_URL": fake_api.url, "DESKTOP_VLM_API_KEY": "sk-test-key"}
    fake_api.enqueue(Stream(WRONG))
    result = run("ask", str(path), "--preset", "ocr", "--json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["answer"] == WRONG
    check = data["check"]
    assert check["engine"]
    assert [(d["model"], d["offline"]) for d in check["disagreements"]] == [("16.49", "13.49")]
    assert "1 value differs from the offline reading" in result.stderr.decode()
    fake_api.enqueue(Stream(RIGHT))
    again = run("ask", str(path), "--preset", "ocr", "--json", env=env)
    assert json.loads(again.stdout)["check"]["disagreements"] == []
    assert "differ" not in again.stderr.decode()


# --- receipts ------------------------------------------------------------------------------

RECEIPT_OK = {
    "merchant": "Café Blau",
    "date": "2026-11-30",
    "currency": "EUR",
    "items": [
        {"name": "Flat white", "quantity": 1, "unit_price": 4.50, "price": 4.50},
        {"name": "Club sandwich", "quantity": 1, "unit_price": 8.99, "price": 8.99},
    ],
    "subtotal": 13.49,
    "tax": None,
    "total": 13.49,
}


def test_a_receipt_not_in_json_is_asked_again_once_then_shown_as_a_table(make_chat, qtbot):
    chat = make_chat()
    chat.api.enqueue(Stream("Sure! The receipt is from Café Blau and comes to 13.49 EUR."))
    chat.api.enqueue(Stream(json.dumps(RECEIPT_OK)))
    chat.ask("receipt", raw(printed()))
    chat.wait_text("Club sandwich")
    chat.wait_idle()
    requests = chat.chat_requests()
    assert len(requests) == 2
    follow_up = requests[1].json["messages"][-1]["content"]
    follow_up = follow_up if isinstance(follow_up, str) else follow_up[0]["text"]
    assert "could not be used as the receipt data" in follow_up
    assert len(images_in(requests[1])) == 1  # the same conversation, the same one image
    assert "Copy as CSV" in chat.links() and "Copy as JSON" in chat.links()
    clipboard = QApplication.clipboard()
    chat.click("Copy as CSV")
    qtbot.waitUntil(lambda: "Club sandwich" in clipboard.text(), timeout=WAIT)
    assert "8.99" in clipboard.text() and "," in clipboard.text().splitlines()[0]
    chat.click("Copy as JSON")
    qtbot.waitUntil(lambda: clipboard.text().startswith("{"), timeout=WAIT)
    assert json.loads(clipboard.text())["total"] in (13.49, "13.49")


def test_a_receipt_that_does_not_add_up_names_the_figure(make_chat, qtbot):
    chat = make_chat()
    wrong = dict(RECEIPT_OK, subtotal=13.94, total=13.94)
    chat.api.enqueue(Stream(json.dumps(wrong)))
    chat.ask("receipt", raw(printed()))
    chat.wait_text("Club sandwich")
    chat.wait_idle()
    text = chat.window.transcript_text()
    assert "the items add up to 13.49, but the subtotal says 13.94" in text
    assert len(chat.chat_requests()) == 1  # valid JSON: no question asked again


def test_ask_json_carries_the_validated_receipt_and_its_warnings(fake_api, tmp_path):
    path = tmp_path / "receipt.png"
    printed().save(path)
    env = {"DESKTOP_VLM_BASE_URL": fake_api.url, "DESKTOP_VLM_API_KEY": "sk-test-key"}
    fake_api.enqueue(Stream(json.dumps(dict(RECEIPT_OK, total=14.49))))
    result = run("ask", str(path), "--preset", "receipt", "--json", env=env)
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["structured"]["receipt"]["merchant"] == "Café Blau"
    assert any("the total says 14.49" in w for w in data["warnings"]), data["warnings"]


# --- tables --------------------------------------------------------------------------------


def test_a_table_arrives_on_the_clipboard_as_tab_separated_cells(make_chat, qtbot):
    chat = make_chat()
    table = (
        "| Item | Qty | Price |\n|---|---:|---:|\n| Coffee | 1 | 4.50 |\n| Cookie | 2 | 2.40 |\n"
    )
    chat.api.enqueue(Stream(table))
    chat.ask("table", raw(printed()))
    qtbot.waitUntil(lambda: len(chat.copied) == 1, timeout=WAIT)
    assert chat.copied[0].splitlines() == [
        "Item\tQty\tPrice",
        "Coffee\t1\t4.50",
        "Cookie\t2\t2.40",
    ]
    chat.wait_text("Cookie")  # the window keeps the Markdown table


def test_a_ragged_table_is_named_as_such(make_chat, qtbot):
    chat = make_chat()
    chat.api.enqueue(Stream("| A | B |\n|---|---|\n| 1 | 2 | 3 |\n| 4 | 5 |\n"))
    chat.ask("table", raw(printed()))
    chat.wait_text("4")
    chat.wait_idle()
    assert "column" in chat.window.transcript_text().lower()


# --- look closer ---------------------------------------------------------------------------


def coordinates(width: int, height: int) -> Image.Image:
    """Each pixel says where it is: R, G = x, y mod 256; B = x // 256 * 16 + y // 256."""
    import numpy as np

    ys, xs = np.mgrid[0:height, 0:width]
    planes = (xs % 256, ys % 256, (xs // 256) * 16 + ys // 256)
    return Image.fromarray(np.dstack(planes).astype(np.uint8), "RGB")


def where(pixel: tuple[int, int, int]) -> tuple[int, int]:
    """The capture's coordinate a pixel names."""
    r, g, b = pixel
    return (b // 16) * 256 + r, (b % 16) * 256 + g


def test_look_closer_sends_one_image_the_part_at_the_captures_full_resolution(make_chat, qtbot):
    # GIVEN a 3000 x 1500 capture, sent downscaled to 2048 x 1024 with its answer in
    chat = make_chat(image_format="png")
    original = coordinates(3000, 1500)
    chat.api.enqueue(Stream("A colourful gradient."))
    chat.ask("describe", raw(original))
    chat.wait_text("A colourful gradient.")
    chat.wait_idle()
    first = images_in(chat.chat_requests()[0])
    assert [i.size for i in first] == [(2048, 1024)]
    # WHEN the person drags over the right half of the thumbnail and asks about it
    thumb = chat.window.findChild(QWidget, "thumbnail")
    shown = thumb.shown_rect()
    start = QPoint(shown.x() + shown.width() // 2, shown.y() + shown.height() // 4)
    end = QPoint(shown.right() - 2, shown.bottom() - 2)
    qtbot.mousePress(thumb, Qt.MouseButton.LeftButton, pos=start)
    for step in range(1, 6):
        qtbot.mouseMove(thumb, start + (end - start) * step / 5)
    qtbot.mouseRelease(thumb, Qt.MouseButton.LeftButton, pos=end)
    chat.api.enqueue(Stream("The lower right part."))
    chat.type_question("What is here?")
    chat.wait_text("The lower right part.")
    # THEN the request carries exactly one image: that part, cut from the capture itself
    sent = images_in(chat.chat_requests()[-1])
    assert len(sent) == 1
    part = sent[0].convert("RGB")
    x0, y0 = where(part.getpixel((0, 0)))
    assert abs(x0 - 1500) < 3000 / shown.width() * 2 and abs(y0 - 375) < 1500 / shown.height() * 2
    # ... at full resolution: neighbouring pixels are neighbouring pixels of the capture
    for dx, dy in ((1, 0), (0, 1), (17, 9)):
        assert where(part.getpixel((dx, dy))) == (x0 + dx, y0 + dy)
    assert 1300 < part.width <= 1500  # the same part of the 2048-px image was ~1000 px wide
    # ... and the transcript says which part was asked about
    assert re.search(r"part \d+ × \d+ at \d+, \d+", chat.window.transcript_text())
    # the turns before it are kept as text
    messages = chat.chat_requests()[-1].json["messages"]
    assert any(m["role"] == "assistant" and "gradient" in str(m["content"]) for m in messages)
