"""Everyday use of the chat window, the quick cards and the overlay, as a person notices it.

Each test stands for a defect people saw (two captures at once, an answer streaming out of view,
an old error left on screen, a draft carried to the wrong image, a link an answer wrote...) and
fails if it comes back. They drive the real Controller, ChatWindow, stream worker, history store
and clipboard against the loopback test server, with real clicks and key presses, and assert what
a person would notice: text on screen or on the clipboard, and what reached the server.
"""

from __future__ import annotations

import os
import statistics
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QEvent, QPoint, QPointF, Qt
from PySide6.QtGui import QColor, QDesktopServices, QGuiApplication, QPalette, QWheelEvent
from PySide6.QtWidgets import QApplication, QFileDialog, QWidget
from support.chat_harness import WAIT, Harness, raw_image
from support.fake_api import HtmlError, Models, Status, Stream

from desktop_vlm.core.config import Config, with_base_url
from desktop_vlm.gui import theme
from desktop_vlm.gui.controller import Controller
from desktop_vlm.gui.history import History
from desktop_vlm.gui.notifier import Notifier
from desktop_vlm.gui.overlay import RegionOverlay
from desktop_vlm.gui.worker import StreamWorker
from desktop_vlm.platform.clipboard import set_clipboard_text
from desktop_vlm.platform.screenshot.models import ScreenGrab
from desktop_vlm.services.endpoint import Endpoint
from desktop_vlm.services.history import HistoryStore
from desktop_vlm.services.secrets import KeyStore

BEFORE = "what was on the clipboard before"


# --- the app, in process -------------------------------------------------------------------


class Everyday(Harness):
    """The chat harness with what the app really has: a history store on disk, the system
    clipboard, and (when given) a real screen grab for the overlay."""

    def __init__(
        self,
        qtbot,
        api,
        config: Config,
        *,
        history: History,  # noqa: ANN001
        grab: Callable[..., list[ScreenGrab]] | None = None,
    ) -> None:
        self.qtbot = qtbot
        self.api = api
        self.copied: list[str] = []
        self.notices: list[tuple[str, str]] = []
        self.worker = StreamWorker(Endpoint(KeyStore(environ={})))
        self.notifier = Notifier(None)
        self.notifier.shown.connect(lambda t, b: self.notices.append((t, b)))
        self.overlay = RegionOverlay()
        self.closed = False

        def write_clipboard(text: str) -> None:
            self.copied.append(text)
            set_clipboard_text(text)

        self.controller = Controller(
            config,
            worker=self.worker,
            overlay=self.overlay,
            notifier=self.notifier,
            grab=grab or (lambda handler=None: []),
            read_clipboard=lambda: None,
            write_clipboard=write_clipboard,
            history=history,
        )

    def wait_requests(self, count: int) -> None:
        self.qtbot.waitUntil(lambda: len(self.chat_requests()) >= count, timeout=WAIT)

    def history_entries(self) -> list[str]:
        panel = self.window.history.list
        return [panel.item(row).text() for row in range(panel.count())]

    def open_from_history(self, conversation_id: str) -> None:
        """Click the conversation's entry in the history list."""
        panel = self.window.history.list
        self.qtbot.waitUntil(lambda: _row_of(panel, conversation_id) >= 0, timeout=WAIT)
        item = panel.item(_row_of(panel, conversation_id))
        panel.scrollToItem(item)
        rect = panel.visualItemRect(item)
        self.qtbot.mouseClick(panel.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.worker.stop_all()
        if self.window is not None:
            self.window.close()
        self.api.release()
        self.qtbot.waitUntil(lambda: self.worker.running() == 0, timeout=WAIT)
        self.overlay.close()
        self.controller.history.close()


def _row_of(panel, conversation_id: str) -> int:  # noqa: ANN001 - a QListWidget
    for row in range(panel.count()):
        if panel.item(row).data(Qt.ItemDataRole.UserRole) == conversation_id:
            return row
    return -1


@pytest.fixture
def config(fake_api) -> Config:  # noqa: ANN001
    return replace(with_base_url(Config(), fake_api.url), max_retries=0)


@pytest.fixture
def make_app(qtbot, fake_api, config, tmp_path, qapp) -> Iterator[Callable[..., Everyday]]:  # noqa: ANN001
    made: list[Everyday] = []

    def make(app_config: Config | None = None, **kwargs) -> Everyday:  # noqa: ANN003
        store = HistoryStore(tmp_path / "history.sqlite3")
        app = Everyday(qtbot, fake_api, app_config or config, history=History(store), **kwargs)
        made.append(app)
        return app

    qapp.clipboard().setText(BEFORE)
    yield make
    for app in made:
        app.close()
    for widget in QApplication.topLevelWidgets():
        if widget.objectName() == "quick_popup":
            widget.close()


@pytest.fixture
def chat(make_app) -> Everyday:  # noqa: ANN001
    return make_app()


def card() -> QWidget | None:
    """The quick preset's card near the region, while one is on screen."""
    for widget in QApplication.topLevelWidgets():
        if widget.objectName() == "quick_popup" and widget.isVisible():
            return widget
    return None


def card_text() -> str:
    shown = card()
    return f"{shown.title.text()}\n{shown.message.text()}" if shown is not None else ""


def image_url(request) -> str:  # noqa: ANN001 - a RecordedRequest
    for message in request.json["messages"]:
        if isinstance(message["content"], list):
            for part in message["content"]:
                if part["type"] == "image_url":
                    return part["image_url"]["url"]
    raise AssertionError("the request carries no image")


def first_text(request) -> str:  # noqa: ANN001
    content = request.json["messages"][0]["content"]
    return next(p["text"] for p in content if p["type"] == "text")


def questions(transcript: str) -> list[str]:
    """What the transcript shows under each "You" heading."""
    lines = transcript.split("\n")
    return [lines[i + 1] for i, line in enumerate(lines[:-1]) if line.startswith("You")]


# --- 1. two requests in flight ---------------------------------------------------------------


def test_a_quick_ocr_and_a_describe_in_flight_both_deliver(chat, qapp, qtbot):
    # GIVEN a server that holds each answer after its first piece
    chat.api.enqueue(
        Stream(["Invoice ", "2041"], pause_after=1), Stream(["A red ", "square."], pause_after=1)
    )
    # WHEN an ocr capture is made, and a describe capture while the first still waits
    chat.ask("ocr", raw_image(64, 48))
    chat.wait_requests(1)
    chat.ask("describe", raw_image(80, 60))
    chat.wait_text("A red")
    assert first_text(chat.chat_requests()[0]).startswith("Transcribe")
    assert first_text(chat.chat_requests()[1]).startswith("Describe")
    assert qapp.clipboard().text() == BEFORE
    chat.api.release()
    # THEN the text reaches the clipboard and the description the window
    qtbot.waitUntil(lambda: qapp.clipboard().text() == "Invoice 2041", timeout=WAIT)
    chat.wait_text("A red square.")
    chat.wait_idle()
    # AND the history lists both, each with its answer
    qtbot.waitUntil(lambda: len(chat.history_entries()) == 2, timeout=WAIT)
    entries = "\n---\n".join(chat.history_entries())
    assert "Invoice 2041" in entries and "A red square." in entries


def test_a_quick_request_ending_leaves_the_streaming_window_answering(chat, qapp, qtbot):
    # GIVEN a description streaming in the window, held by the server after two pieces
    chat.api.enqueue(
        Stream(["The ", "picture ", "shows ", "noise."], pause_after=2), Stream("Quick text")
    )
    chat.ask("describe")
    chat.wait_text("The picture")
    # WHEN a quick ocr request runs and ends meanwhile
    chat.ask("ocr", raw_image(30, 20))
    qtbot.waitUntil(lambda: qapp.clipboard().text() == "Quick text", timeout=WAIT)
    # THEN the window still shows the description as being answered, with Stop
    window = chat.window
    assert window.composer.stop_button.isVisible() and window.progress.isVisible()
    # AND when the description ends, the window is no longer "Answering…"
    chat.api.release()
    chat.wait_text("noise.")
    chat.wait_idle()
    assert window.status.text() != "Answering…"
    assert window.composer.send_button.isVisible() and not window.progress.isVisible()
    # AND a follow-up works
    chat.api.enqueue(Stream("It is random."))
    chat.type_question("Is it random?")
    chat.wait_text("It is random.")
    assert chat.chat_requests()[-1].json["messages"][-1]["content"] == "Is it random?"


def test_esc_stops_the_window_answer_after_a_quick_request_ended(chat, qapp, qtbot):
    # GIVEN a description streaming in the window, and a quick ocr request that ended meanwhile
    chat.api.enqueue(Stream(["Long ", "answer ", "here."], pause_after=1), Stream("Quick text"))
    chat.ask("describe")
    chat.wait_text("Long")
    chat.ask("ocr", raw_image(30, 20))
    qtbot.waitUntil(lambda: qapp.clipboard().text() == "Quick text", timeout=WAIT)
    # WHEN the person presses Esc in the window
    window = chat.window
    window.activateWindow()
    qtbot.waitUntil(lambda: window.isActiveWindow(), timeout=WAIT)
    qtbot.keyClick(window.question, Qt.Key.Key_Escape)
    # THEN the answer stops at the server, the window stays open and says so
    assert chat.api.disconnects.wait(timeout=10)
    chat.wait_idle()
    assert window.isVisible() and window.status.text() == "Stopped"
    assert "stopped" in window.transcript_text()


# --- 2. answers stream in view ----------------------------------------------------------------


LONG_ANSWER = "\n\n".join(f"Paragraph {i} of the first answer." for i in range(60))
LINES = [f"Line {i} of the new answer.\n\n" for i in range(80)]


def bottom_line_visible(transcript, text: str) -> bool:  # noqa: ANN001 - a Transcript
    """The block holding ``text`` is inside the visible part of the transcript."""
    doc = transcript.document()
    block = doc.find(text).block()
    assert block.isValid(), text
    top = doc.documentLayout().blockBoundingRect(block).top()
    value = transcript.verticalScrollBar().value()
    return value <= top < value + transcript.viewport().height()


@pytest.mark.parametrize("how", ["follow-up", "regenerate"])
def test_a_new_answer_streams_in_view(chat, qtbot, how):
    # GIVEN a long first answer (the transcript scrolls)
    chat.api.enqueue(Stream(LONG_ANSWER), Stream(LINES, pause_after=40))
    chat.ask()
    chat.wait_idle()
    bar = chat.window.transcript.verticalScrollBar()
    assert bar.maximum() > 0
    # WHEN a follow-up is asked (or the answer regenerated) and its answer streams
    if how == "follow-up":
        chat.type_question("And then?")
    else:
        chat.click("Regenerate")
    chat.wait_text("Line 39 of the new answer.")
    # THEN the view follows: scrolled to the end, its last line on screen
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=WAIT)
    assert bottom_line_visible(chat.window.transcript, "Line 39 of the new answer.")
    chat.api.release()
    chat.wait_text("Line 79 of the new answer.")
    chat.wait_idle()
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=WAIT)


def test_a_person_who_scrolled_up_stays_where_they_are(chat, qtbot, qapp):
    # GIVEN a follow-up's answer streaming below a long first answer
    chat.api.enqueue(Stream(LONG_ANSWER), Stream(LINES, pause_after=40))
    chat.ask()
    chat.wait_idle()
    chat.type_question("And then?")
    chat.wait_text("Line 39 of the new answer.")
    transcript = chat.window.transcript
    bar = transcript.verticalScrollBar()
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=WAIT)
    # WHEN the person scrolls up with the mouse wheel
    viewport = transcript.viewport()
    centre = QPointF(viewport.rect().center())
    for _ in range(5):
        wheel = QWheelEvent(
            centre,
            QPointF(viewport.mapToGlobal(centre.toPoint())),
            QPoint(0, 0),
            QPoint(0, 120),
            Qt.MouseButton.NoButton,
            Qt.KeyboardModifier.NoModifier,
            Qt.ScrollPhase.NoScrollPhase,
            False,
        )
        qapp.sendEvent(viewport, wheel)
    where = bar.value()
    assert where < bar.maximum() - 100
    # THEN the rest of the answer arrives without moving the view
    chat.api.release()
    chat.wait_text("Line 79 of the new answer.")
    chat.wait_idle()
    assert abs(bar.value() - where) <= 4 and bar.value() < bar.maximum()
    # AND a question they ask brings the view back to the end, where its answer comes
    chat.api.enqueue(Stream(["Short ", "answer."]))
    chat.type_question("One more?")
    chat.wait_text("Short answer.")
    chat.wait_idle()
    qtbot.waitUntil(lambda: bar.value() == bar.maximum(), timeout=WAIT)
    assert bottom_line_visible(transcript, "Short answer.")


# --- 4. the ask preset ------------------------------------------------------------------------


def test_ask_shows_exactly_the_typed_question_also_when_reopened(make_app, config, qtbot):
    # GIVEN an ask preset that frames the question with its own words
    ask = replace(config.presets["ask"], prompt="Answer in one short sentence.")
    framed = replace(config, presets={**config.presets, "ask": ask})
    chat = make_app(framed)
    chat.api.enqueue(Stream("Blue."), Stream("Noise."))
    # WHEN a capture is made with it
    chat.ask("ask")
    # THEN the image sits beside the question box, which has the focus; nothing is sent yet
    qtbot.waitUntil(lambda: chat.window.composer.attachment.isVisible(), timeout=WAIT)
    assert chat.window.question.hasFocus() and chat.chat_requests() == []
    # WHEN the person types the question
    chat.type_question("What colour dominates?")
    chat.wait_text("Blue.")
    chat.wait_idle()
    # THEN the server gets it framed, the transcript shows exactly what was typed
    assert first_text(chat.chat_requests()[0]) == (
        "Answer in one short sentence.\n\nWhat colour dominates?"
    )
    assert questions(chat.window.transcript_text()) == ["What colour dominates?"]
    assert "Answer in one short sentence." not in chat.window.transcript_text()
    asked = chat.window.conversation.id
    # AND after another capture, reopened from the history list
    chat.ask("describe")
    chat.wait_text("Noise.")
    chat.wait_idle()
    chat.open_from_history(asked)
    chat.wait_text("Blue.")
    assert questions(chat.window.transcript_text()) == ["What colour dominates?"]
    # AND after a restart of the app, from the history on disk
    chat.close()
    again = make_app(framed)
    again.controller.open_window()
    again.open_from_history(asked)
    again.wait_text("Blue.")
    assert questions(again.window.transcript_text()) == ["What colour dominates?"]
    assert "Answer in one short sentence." not in again.window.transcript_text()


# --- 5. quick presets: the card near the region -------------------------------------------


def test_quick_card_cancel_stops_the_request_and_copies_nothing(chat, qapp, qtbot):
    # GIVEN an ocr capture whose answer the server holds
    chat.api.enqueue(Stream(["Held ", "text"], pause_after=1))
    chat.ask("ocr")
    chat.wait_requests(1)
    # THEN a card says what happens, with Cancel
    qtbot.waitUntil(lambda: "Reading text…" in card_text(), timeout=WAIT)
    shown = card()
    cancel = shown.findChild(QWidget, "quick_cancel")
    assert cancel.isVisible()
    # WHEN the person clicks Cancel
    qtbot.mouseClick(cancel, Qt.MouseButton.LeftButton)
    # (as in the app's event loop, the closed card is deleted before the worker reports back)
    QApplication.sendPostedEvents(None, QEvent.Type.DeferredDelete)
    # THEN the server sees the request end, the card goes, nothing is copied
    assert chat.api.disconnects.wait(timeout=10)
    qtbot.waitUntil(lambda: not chat.controller.busy, timeout=WAIT)
    qtbot.waitUntil(lambda: card() is None, timeout=WAIT)
    qtbot.wait(200)
    assert qapp.clipboard().text() == BEFORE and chat.copied == []


@pytest.mark.parametrize("where", ["no region", "region at the bottom right", "region off right"])
def test_quick_card_is_whole_on_the_screen(qtbot, where):
    from PySide6.QtCore import QRect
    from PySide6.QtGui import QGuiApplication

    from desktop_vlm.gui.quick_popup import QuickPopup

    area = QGuiApplication.primaryScreen().availableGeometry()
    near = {
        "no region": None,  # a clipboard image: the corner of the screen
        "region at the bottom right": QRect(area.right() - 60, area.bottom() - 30, 50, 20),
        "region off right": QRect(area.right() - 5, area.top() + 100, 300, 40),
    }[where]
    popup = QuickPopup("Extract text", near)
    qtbot.addWidget(popup)
    popup.working("Reading text…")
    qtbot.waitExposed(popup)
    qtbot.wait(50)
    for state in ("working", "done", "warned"):
        # THEN the whole card, its buttons too, is on the screen, in every state
        frame = popup.frameGeometry()
        assert area.contains(frame), (state, frame, area)
        button = popup.cancel_button if state == "working" else popup.close_button
        if button.isVisible():
            corner = button.mapToGlobal(button.rect().bottomRight())
            assert area.contains(corner), (state, corner, area)
        if state == "working":
            popup.done("219 characters copied", "CAFÉ LUMEN 12 Harbour Street " * 4)
        elif state == "done":
            popup.warn("2 figures read differently offline: 15.89 and 4821")
        qtbot.wait(50)


def test_quick_card_shows_a_failure_and_retry_sends_the_same_image(chat, qapp, qtbot):
    # GIVEN an ocr capture the server refuses the first time
    chat.api.enqueue(Status(500), Stream(["Total ", "13.49"]))
    chat.ask("ocr", raw_image(90, 40))
    # THEN the card says why, with Retry
    qtbot.waitUntil(lambda: "HTTP 500" in card_text(), timeout=WAIT)
    retry = card().findChild(QWidget, "quick_retry")
    assert retry.isVisible()
    assert qapp.clipboard().text() == BEFORE
    # WHEN the person clicks Retry
    qtbot.mouseClick(retry, Qt.MouseButton.LeftButton)
    # THEN the same image goes again, and the text reaches the clipboard
    qtbot.waitUntil(lambda: qapp.clipboard().text() == "Total 13.49", timeout=WAIT)
    first, second = chat.chat_requests()
    assert image_url(second) == image_url(first)
    assert first_text(second) == first_text(first)
    qtbot.waitUntil(lambda: "characters copied" in card_text(), timeout=WAIT)


# --- 6. the overlay says what release does and switches preset ------------------------------


def grab_screens(handler: str | None = None) -> list[ScreenGrab]:
    return [
        ScreenGrab(screen.name(), screen.geometry(), screen.grabWindow(0).toImage())
        for screen in QGuiApplication.screens()
    ]


def xdotool(*args: str) -> None:
    subprocess.run(["xdotool", *args], check=True, timeout=30, env=dict(os.environ))


def read_hint(tmp_path: Path) -> str:
    """The overlay's hint as tesseract reads it from the screen's pixels."""
    shot = tmp_path / "screen.png"
    subprocess.run(["import", "-window", "root", str(shot)], check=True, timeout=30)
    screen = Image.open(shot).convert("L")
    width, height = screen.size
    band = screen.crop((width // 2 - 500, height // 3 - 60, width // 2 + 500, height // 3 + 60))
    # Light text on a dark pill: dark text on white reads best, larger.
    band = band.point(lambda v: 0 if v > 140 else 255).resize((band.width * 3, band.height * 3))
    band.save(tmp_path / "hint.png")
    result = subprocess.run(
        ["tesseract", str(tmp_path / "hint.png"), "stdout", "--psm", "6"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    return " ".join(result.stdout.split())


def test_overlay_hint_names_the_preset_and_keys_switch_it(make_app, qtbot, tmp_path):
    # GIVEN the overlay of a describe capture
    chat = make_app(grab=grab_screens)
    chat.api.enqueue(Stream("Looks like code."))
    overlay = chat.overlay
    with qtbot.waitSignal(overlay.shown, timeout=WAIT):
        chat.controller.capture("describe")
    # THEN its hint says what release does: the preset, and where it goes
    qtbot.waitUntil(lambda: "Describe" in read_hint(tmp_path), timeout=WAIT)
    hint = read_hint(tmp_path)
    assert "127.0.0.1" in hint and "automatic" in hint, hint
    # WHEN the person presses 7 (Explain code), Tab (the next) and Shift+Tab (back)
    with qtbot.waitSignal(overlay.preset_changed, timeout=WAIT) as changed:
        xdotool("key", "7")
    assert changed.args == ["code"]
    qtbot.waitUntil(lambda: "Explain code" in read_hint(tmp_path), timeout=WAIT)
    with qtbot.waitSignal(overlay.preset_changed, timeout=WAIT) as changed:
        xdotool("key", "Tab")
    assert changed.args == ["latex"]
    qtbot.waitUntil(lambda: "latex" in read_hint(tmp_path).lower(), timeout=WAIT)
    with qtbot.waitSignal(overlay.preset_changed, timeout=WAIT) as changed:
        xdotool("key", "shift+Tab")
    assert changed.args == ["code"]
    # AND drags a region
    with qtbot.waitSignal(overlay.selected, timeout=WAIT):
        xdotool("mousemove", "300", "300", "mousedown", "1")
        xdotool("mousemove", "400", "380")
        xdotool("mousemove", "500", "420", "mouseup", "1")
    # THEN the capture goes out with the chosen preset's prompt
    chat.wait_requests(1)
    assert first_text(chat.chat_requests()[0]) == chat.controller.config.presets["code"].prompt
    chat.wait_text("Looks like code.")


# --- 7. the window's preset picker ----------------------------------------------------------


def test_picking_a_preset_in_the_window_reruns_the_image_with_it(chat, qtbot):
    # GIVEN a described capture in the window
    chat.api.enqueue(Stream("A sign in German."), Stream("Exit this way."))
    chat.ask("describe")
    chat.wait_idle()
    first = chat.window.conversation
    # WHEN the person picks "Translate to English" in the preset list
    combo = chat.window.header.preset_combo
    qtbot.mouseClick(combo, Qt.MouseButton.LeftButton)
    view = combo.view()
    qtbot.waitUntil(view.isVisible, timeout=WAIT)
    # A release right after the list opens is taken as the end of the opening click.
    qtbot.wait(QApplication.doubleClickInterval() + 100)
    index = combo.findData("translate")
    view.scrollTo(combo.model().index(index, 0))
    rect = view.visualRect(combo.model().index(index, 0))
    qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    # THEN the same image is asked with that preset's prompt, in a new conversation
    chat.wait_text("Exit this way.")
    chat.wait_idle()
    described, translated = chat.chat_requests()
    assert first_text(translated) == chat.controller.config.presets["translate"].prompt
    assert image_url(translated) == image_url(described)
    assert chat.window.conversation is not first
    assert "A sign in German." not in chat.window.transcript_text()
    qtbot.waitUntil(lambda: len(chat.history_entries()) == 2, timeout=WAIT)


# --- 9. DESKTOP_VLM_BASE_URL in Settings ----------------------------------------------------


def test_settings_show_the_base_url_override_and_test_connection_uses_it(
    qtbot, qapp, fake_api, monkeypatch
):
    from desktop_vlm.app import build

    # GIVEN the app started with DESKTOP_VLM_BASE_URL pointing at the loopback server
    monkeypatch.setenv("DESKTOP_VLM_BASE_URL", fake_api.url)
    shell = build(qapp)
    try:
        # WHEN Settings opens
        shell.open_settings()
        dialog = shell.settings
        qtbot.waitUntil(dialog.isVisible, timeout=WAIT)
        note = dialog.provider.override_note
        # THEN it says the variable is set, and where requests go
        assert note.isVisible()
        assert "DESKTOP_VLM_BASE_URL" in note.text() and fake_api.url in note.text()
        # WHEN the person clicks Test connection
        before = len(fake_api.requests)
        qtbot.mouseClick(dialog.provider.test_button, Qt.MouseButton.LeftButton)
        # THEN the loopback server is asked for its models, and the models are reported
        qtbot.waitUntil(
            lambda: any(
                r.method == "GET" and r.path == "/v1/models" for r in fake_api.requests[before:]
            ),
            timeout=WAIT,
        )
        qtbot.waitUntil(lambda: "model" in dialog.provider.test_result.text().lower(), timeout=WAIT)
        dialog.reject()
    finally:
        shell.hotkeys.unregister_all()
        shell.tray.hide()
        shell.notifier.close()
        shell.controller.history.close()
        if shell.controller.window is not None:
            shell.controller.window.close()


# --- 10. dark theme ---------------------------------------------------------------------------


def dark_palette() -> QPalette:
    palette = QPalette()
    for role, color in (
        (QPalette.ColorRole.Window, "#202124"),
        (QPalette.ColorRole.WindowText, "#e8eaed"),
        (QPalette.ColorRole.Base, "#17181a"),
        (QPalette.ColorRole.AlternateBase, "#26282b"),
        (QPalette.ColorRole.Text, "#e8eaed"),
        (QPalette.ColorRole.Button, "#2b2d31"),
        (QPalette.ColorRole.ButtonText, "#e8eaed"),
        (QPalette.ColorRole.PlaceholderText, "#9aa0a6"),
    ):
        palette.setColor(role, QColor(color))
    return palette


@pytest.fixture
def dark(qapp) -> Iterator[QPalette]:  # noqa: ANN001
    old = qapp.palette()
    qapp.setPalette(dark_palette())
    yield qapp.palette()
    qapp.setPalette(old)


def luminance(rgb: tuple[int, int, int]) -> float:
    """WCAG relative luminance (0 black to 1 white), from the contrast with black."""
    return theme.contrast(QColor(*rgb), QColor("black")) * 0.05 - 0.05


def rendered_colours(transcript) -> list[tuple[str, QColor, QColor]]:  # noqa: ANN001
    """(text, foreground, background) of every piece of text in the transcript as drawn."""
    base = transcript.viewport().palette().color(QPalette.ColorRole.Base)
    default = transcript.palette().color(QPalette.ColorRole.Text)
    found = []
    block = transcript.document().begin()
    while block.isValid():
        block_bg = block.blockFormat().background()
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            fmt = fragment.charFormat()
            fg = (
                fmt.foreground().color()
                if fmt.foreground().style() != Qt.BrushStyle.NoBrush
                else default
            )
            if fmt.background().style() != Qt.BrushStyle.NoBrush:
                bg = fmt.background().color()
            elif block_bg.style() != Qt.BrushStyle.NoBrush:
                bg = block_bg.color()
            else:
                bg = base
            if fragment.text().strip():
                found.append((fragment.text(), fg, bg))
            it += 1
        block = block.next()
    return found


def test_dark_theme_transcript_reads_and_the_window_is_dark(make_app, dark, qtbot):
    # GIVEN a dark desktop palette
    chat = make_app()
    answer = (
        "Visit [the site](https://example.com) and run `ls -la`:\n\n"
        "```bash\necho hello\n```\n\nDone."
    )
    chat.api.enqueue(Stream(answer), Status(500))
    # WHEN an answer with a link, inline code and a code block, then an error, are shown
    chat.ask()
    chat.wait_idle()
    chat.type_question("And more?")
    chat.wait_text("HTTP 500")
    chat.wait_idle()
    # THEN every piece of text reads against what is behind it (WCAG 4.5)
    colours = rendered_colours(chat.window.transcript)
    seen = " ".join(text for text, _fg, _bg in colours)
    for needed in ("You", "the site", "ls -la", "echo hello", "Copy", "HTTP 500", "tokens"):
        assert needed in seen, needed
    poor = [
        (text, fg.name(), bg.name(), round(theme.contrast(fg, bg), 2))
        for text, fg, bg in colours
        if theme.contrast(fg, bg) < 4.5
    ]
    assert poor == []
    # AND the window's pixels are dark
    image = chat.window.grab().toImage()
    sample = [
        image.pixelColor(x, y).getRgb()[:3]
        for x in range(0, image.width(), 7)
        for y in range(0, image.height(), 7)
    ]
    assert statistics.median(luminance(rgb) for rgb in sample) < 0.1


# --- 11. smaller ones --------------------------------------------------------------------------


def test_only_the_last_answer_has_a_regenerate_link(chat):
    # GIVEN an answer and a follow-up's answer
    chat.api.enqueue(Stream("First answer."), Stream("Second answer."), Stream("Third take."))
    chat.ask()
    chat.wait_idle()
    assert chat.links().count("Regenerate") == 1
    chat.type_question("More?")
    chat.wait_text("Second answer.")
    chat.wait_idle()
    # THEN only one Regenerate link is left, and it regenerates the last answer
    assert chat.links().count("Regenerate") == 1
    chat.click("Regenerate")
    chat.wait_text("Third take.")
    chat.wait_idle()
    text = chat.window.transcript_text()
    assert "First answer." in text and "Second answer." not in text
    assert [m["role"] for m in chat.chat_requests()[-1].json["messages"]] == [
        "user",
        "assistant",
        "user",
    ]


def test_an_old_error_goes_after_a_successful_retry(chat):
    # GIVEN a follow-up that failed, its error on screen
    chat.api.enqueue(Stream("Answer one."), Status(500), Stream("Answer two."))
    chat.ask()
    chat.wait_idle()
    chat.type_question("And?")
    chat.wait_text("HTTP 500")
    chat.wait_idle()
    # WHEN Retry works
    chat.click("Retry")
    chat.wait_text("Answer two.")
    chat.wait_idle()
    # THEN the error is gone, the conversation reads as it is
    text = chat.window.transcript_text()
    assert "HTTP 500" not in text and "⚠" not in text
    assert questions(text) == [chat.controller.config.presets["describe"].prompt, "And?"]


def test_a_question_given_back_stays_with_its_conversation(chat):
    # GIVEN a follow-up that failed: its question is back in the box
    chat.api.enqueue(Stream("Answer one."), Status(500), Stream("About the new image."))
    chat.ask()
    chat.wait_idle()
    first = chat.window.conversation.id
    chat.type_question("And the total?")
    chat.wait_text("HTTP 500")
    chat.wait_idle()
    assert chat.window.question.toPlainText() == "And the total?"
    # WHEN a new image comes in
    chat.ask("describe", raw_image(50, 50))
    chat.wait_text("About the new image.")
    chat.wait_idle()
    # THEN the box is empty for it
    assert chat.window.question.toPlainText() == ""
    # AND the question comes back with its own conversation
    chat.open_from_history(first)
    chat.wait_text("Answer one.")
    assert chat.window.question.toPlainText() == "And the total?"


def test_copy_and_copy_answer_copy_the_same_text_copy_markdown_the_source(chat, qapp, qtbot):
    answer = "The **total** is `13.49`:\n\n- coffee 4.50\n- cake 8.99\n\nPaid by *card*."
    chat.api.enqueue(Stream(answer))
    chat.ask()
    chat.wait_idle()
    clipboard = qapp.clipboard()
    # WHEN the person clicks Copy under the answer
    chat.click("Copy")
    copied = clipboard.text()
    assert "**" not in copied and "`" not in copied and "total is 13.49" in copied
    # AND presses Ctrl+Shift+C, and clicks Copy answer on the toolbar
    clipboard.setText("")
    window = chat.window
    window.activateWindow()
    qtbot.waitUntil(window.isActiveWindow, timeout=WAIT)
    qtbot.keyClick(
        window.question,
        Qt.Key.Key_C,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert clipboard.text() == copied
    clipboard.setText("")
    toolbar = window.findChild(QWidget, "toolbar")
    button = toolbar.widgetForAction(window.action_copy_answer)
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    assert clipboard.text() == copied
    # THEN Copy Markdown gives the source
    chat.click("Copy Markdown")
    assert clipboard.text() == answer


def test_ocr_answers_keep_their_line_breaks_in_the_window(chat, tmp_path):
    # GIVEN an image dropped on the window with the ocr preset
    reading = "Invoice 2041\nCafe Lumen\n  Total: 13.49\nThank you"
    chat.api.enqueue(
        Stream(["Invoice 2041\n", "Cafe Lumen\n", "  Total: 13.49\n", "Thank you"]),
        Stream("Something else."),
    )
    chat.controller.open_window()
    path = tmp_path / "receipt.png"
    Image.effect_noise((60, 40), 40).convert("RGB").save(path)
    chat.window.image_dropped.emit(str(path), "ocr")
    chat.wait_text("Thank you")
    chat.wait_idle()
    # THEN the lines are shown as lines
    assert reading in chat.window.transcript_text()
    ocr = chat.window.conversation.id
    # AND still after another conversation, reopened from the history
    chat.ask("describe")
    chat.wait_text("Something else.")
    chat.wait_idle()
    chat.open_from_history(ocr)
    chat.wait_text("Thank you")
    assert reading in chat.window.transcript_text()


def test_history_lists_titles_with_previews_and_no_failed_attempts(chat, qtbot):
    # GIVEN an answered capture and one whose request failed
    filler = " ".join(f"word{i}" for i in range(40))
    chat.api.enqueue(
        Stream(
            f"The **red square** sits on a `white` card. {filler}\n\n"
            "A **green** `circle` is in the corner."
        ),
        Status(500),
    )
    chat.ask()
    chat.wait_idle()
    chat.ask("describe", raw_image(20, 20))
    chat.wait_text("HTTP 500")
    chat.wait_idle()
    # THEN the list shows the answered one only: its title with the start of its answer
    qtbot.waitUntil(lambda: len(chat.history_entries()) == 1, timeout=WAIT)
    qtbot.wait(300)  # a late refresh must not add the failed one
    (entry,) = chat.history_entries()
    title, _when, preview = entry.split("\n")
    assert title == "Describe"
    assert preview.startswith("The red square sits on a white card")
    # WHEN the person searches for a word deep in the answer
    qtbot.keyClicks(chat.window.history.search, "circle")
    qtbot.waitUntil(lambda: "circle" in " ".join(chat.history_entries()), timeout=WAIT)
    # THEN the hit's snippet reads as words, no raw Markdown
    (hit,) = chat.history_entries()
    assert hit.startswith("Describe\n") and "green circle" in hit
    assert not set("*`") & set(hit), hit


def test_a_new_conversation_waiting_for_its_answer_marks_no_other_in_the_list(chat, qtbot):
    # GIVEN an answered capture, shown and marked in the history list
    chat.api.enqueue(Stream("A red square."), Stream(["Blue."], pause_after=0))
    chat.ask()
    chat.wait_idle()
    qtbot.waitUntil(lambda: len(chat.history_entries()) == 1, timeout=WAIT)
    chat.window.show_conversation(chat.window.conversation, "Describe")
    assert [i.text().split("\n")[0] for i in chat.window.history.list.selectedItems()] == [
        "Describe"
    ]
    # WHEN a second capture waits for its first token
    chat.ask("describe", raw_image(20, 20))
    chat.wait_requests(2)
    # THEN the list marks nothing: the conversation shown is not the first one
    assert chat.window.history.list.selectedItems() == []
    chat.api.release()
    chat.wait_text("Blue.")
    chat.wait_idle()


def test_export_proposes_the_documents_folder(chat, monkeypatch):
    chat.api.enqueue(Stream("An answer."))
    chat.ask()
    chat.wait_idle()
    proposed: list[str] = []

    def save_dialog(parent, caption, directory, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003
        proposed.append(directory)
        return "", ""

    monkeypatch.setattr(QFileDialog, "getSaveFileName", save_dialog)
    chat.window.action_export.trigger()
    (path,) = proposed
    assert Path(path).parent == Path(os.environ["HOME"]) / "Documents"
    assert path.endswith(".md")


@pytest.mark.parametrize(
    "failures",
    [
        [Status(401)],
        # (a server's own words are quoted as they are: OpenAI's 404 has backticks)
        [Status(404, message="The model does not exist.")] * 2,
        [Status(400, message="This model does not support image input.")],
        [Status(413)],
        [HtmlError(502)],
    ],
    ids=["401", "404", "no-vision", "413", "html-502"],
)
def test_errors_in_the_window_name_no_command_to_run(chat, failures):
    chat.api.enqueue(*failures)
    chat.ask()
    chat.qtbot.waitUntil(lambda: "⚠" in chat.window.transcript_text(), timeout=WAIT)
    chat.wait_idle()
    text = chat.window.transcript_text()
    assert "`" not in text and "desktop-vlm " not in text, text


def test_a_server_without_vision_models_names_no_command(chat):
    chat.api.enqueue_models(Models(["text-only-a", "text-only-b"]))
    chat.ask()
    chat.qtbot.waitUntil(lambda: "⚠" in chat.window.transcript_text(), timeout=WAIT)
    text = chat.window.transcript_text()
    assert "`" not in text and "desktop-vlm " not in text, text


def test_a_remote_provider_without_a_key_names_no_command(make_app, config):
    remote = with_base_url(config, "https://api.example.invalid/v1")
    chat = make_app(remote)
    chat.ask()
    chat.qtbot.waitUntil(lambda: "⚠" in chat.window.transcript_text(), timeout=WAIT)
    text = chat.window.transcript_text()
    assert "key" in text.lower()
    assert "`" not in text and "desktop-vlm " not in text, text


def test_links_in_answers_open_only_on_the_web_and_never_act(chat, monkeypatch):
    opened: list[str] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url.toString()))
    answer = (
        "[site](https://example.com/a) [plain](http://example.org/) "
        "[mail](mailto:someone@example.com) [local](file:///etc/passwd) "
        "[script](javascript:alert(1)) [act](action:regenerate) "
        "[forged](dvlm-0000000000000000:regenerate:1:-1)"
    )
    chat.api.enqueue(Stream(answer))
    chat.ask()
    chat.wait_idle()
    before = chat.window.transcript_text()
    for label in ("site", "plain", "mail", "local", "script", "act", "forged"):
        chat.click(label)
    chat.qtbot.wait(300)
    # THEN only the web and mail links went to the browser, and nothing was asked again
    assert opened == ["https://example.com/a", "http://example.org/", "mailto:someone@example.com"]
    assert len(chat.chat_requests()) == 1
    assert not chat.controller.busy and chat.window.transcript_text() == before


def test_a_capture_leaves_the_tray_icon_in_the_tray(make_app, qtbot):
    from PySide6.QtGui import QIcon, QPixmap
    from PySide6.QtWidgets import QSystemTrayIcon

    # GIVEN the tray icon in the tray host
    pixmap = QPixmap(22, 22)
    pixmap.fill(QColor("teal"))
    tray = QSystemTrayIcon(QIcon(pixmap))
    tray.show()

    def icon_window() -> QWidget | None:
        for widget in QApplication.topLevelWidgets():
            if widget.metaObject().className() == "QSystemTrayIconSys":
                return widget
        return None

    qtbot.waitUntil(lambda: icon_window() is not None and icon_window().isVisible(), timeout=WAIT)
    before = icon_window().geometry().size()
    # WHEN a capture starts and is cancelled
    chat = make_app(grab=grab_screens)
    with qtbot.waitSignal(chat.overlay.shown, timeout=WAIT):
        chat.controller.capture("describe")
    with qtbot.waitSignal(chat.overlay.cancelled, timeout=WAIT):
        xdotool("key", "Escape")
    qtbot.wait(300)
    # THEN the icon is still shown in the tray, at its size
    assert icon_window().isVisible() and icon_window().geometry().size() == before
    tray.hide()


def test_plain_answers_and_questions_read_as_text_not_as_labels(chat, qtbot):
    from PySide6.QtGui import QFont

    chat.api.enqueue(Stream("Line one\nLine two"))
    chat.controller.ask(raw_image(), chat.controller.config.preset("ocr"), None, window=True)
    chat.wait_text("Line two")
    chat.wait_idle()
    document = chat.window.transcript.document()
    for text in ("Line one", "Line two"):
        block = document.find(text).block()
        fragment = block.begin().fragment()
        assert fragment.charFormat().fontWeight() <= QFont.Weight.Normal, text
        assert block.blockFormat().topMargin() == 0, text  # one line, not a paragraph each
