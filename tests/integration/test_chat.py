"""The chat window and its controller with a real stream worker against the loopback server:
what appears in the window, what reaches the server, and what survives a failure."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog
from support.chat_harness import WAIT, Harness, raw_image  # noqa: F401
from support.fake_api import CutMidEvent, HtmlError, Status, Stream

from desktop_vlm.core.config import Config, with_base_url


def popup_text(chat) -> str | None:
    """What the quick preset's card shows (None while there is none)."""
    from PySide6.QtWidgets import QApplication

    for widget in QApplication.topLevelWidgets():
        if widget.objectName() == "quick_popup" and widget.isVisible():
            return f"{widget.title.text()}\n{widget.message.text()}"
    return None


@pytest.fixture
def chat(qtbot, fake_api):
    config = replace(with_base_url(Config(), fake_api.url), max_retries=0)
    harness = Harness(qtbot, fake_api, config)
    yield harness
    harness.close()


# --- streaming ---------------------------------------------------------------------------


def test_answer_appears_while_it_streams(chat):
    # GIVEN a server that holds the answer after two tokens
    chat.api.enqueue(Stream(["A red ", "square ", "on white."], pause_after=2))
    chat.ask()
    # THEN the first two are on screen while the rest has not been sent
    chat.wait_text("A red square")
    assert "on white." not in chat.window.transcript_text()
    assert chat.window.composer.stop_button.isVisible() and chat.window.progress.isVisible()
    chat.api.release()
    chat.wait_text("on white.")
    chat.wait_idle()
    assert chat.window.composer.send_button.isVisible() and not chat.window.progress.isVisible()
    assert chat.window.question.hasFocus()


def test_answer_is_rendered_as_markdown_with_details(chat):
    chat.api.enqueue(
        Stream(["**Bold** claim\n\n", "| a | b |\n|---|---|\n| 1 | 2 |\n"], usage=(700, 20))
    )
    chat.ask()
    chat.wait_idle()
    text = chat.window.transcript_text()
    assert "Bold claim" in text and "**" not in text  # rendered, not raw Markdown
    assert "700 + 20 tokens" in text
    assert chat.chat_requests()[0].json["model"] in text


def test_the_status_line_sums_up_the_conversation_not_the_last_answer_again(chat):
    # GIVEN an answer: its details are on its own line, and the status line does not repeat them
    chat.api.enqueue(Stream("It is a receipt.", usage=(700, 20)), Stream("13.49.", usage=(760, 5)))
    chat.ask("describe")
    chat.wait_idle()
    assert "700 + 20 tokens" in chat.window.transcript_text()
    assert chat.window.status.text() == ""
    # WHEN a follow-up is answered, THEN the status line says what the conversation took
    chat.type_question("What is the total?")
    chat.wait_text("13.49.")
    chat.wait_idle()
    assert chat.window.status.text().startswith("This conversation: 2 answers · 1,485 tokens")


def test_an_answer_cut_at_max_tokens_says_so_on_its_line_and_below(chat):
    # GIVEN a server that stops the answer at the token limit
    chat.api.enqueue(Stream("The first half of", finish_reason="length"))
    # WHEN it is asked
    chat.ask("describe")
    chat.wait_idle()
    # THEN the answer's line and the status line both say it was cut, and how to get the rest
    assert "cut at max_tokens" in chat.window.transcript_text()
    assert "cut at max_tokens: ask it to go on" in chat.window.status.text()


def test_enter_while_the_answer_is_coming_keeps_the_question_and_says_why(chat, qtbot, tmp_path):
    # GIVEN an answer still coming (the server holds the rest)
    chat.api.enqueue(
        Stream(["The first part", " and the rest."], pause_after=1), Stream("It is 13.49.")
    )
    chat.ask("describe")
    chat.wait_text("The first part")
    # WHEN the person types a follow-up and presses Enter
    chat.type_question("And the total?")
    # THEN nothing is sent; the question stays in the box and a note next to it says why
    assert len(chat.chat_requests()) == 1
    assert chat.window.composer.draft() == "And the total?"
    note = chat.window.composer.wait_note
    assert note.isVisible() and "once the answer is in" in note.text()
    chat.window.grab().save(str(tmp_path / "enter-while-answering.png"))  # to look at
    # WHEN the answer ends, THEN the note goes, and Enter sends the question
    chat.api.release()
    chat.wait_idle()
    assert not note.isVisible()
    chat.qtbot.keyClick(chat.window.question, Qt.Key.Key_Return)
    chat.wait_text("It is 13.49.")
    assert chat.chat_requests()[1].json["messages"][-1]["content"] == "And the total?"


def test_follow_up_resends_the_whole_history_with_one_image(chat):
    chat.api.enqueue(Stream("It is a receipt."), Stream("The total is 13.49."))
    chat.ask("describe")
    chat.wait_idle()
    chat.type_question("What is the total?")
    chat.wait_text("The total is 13.49.")
    chat.wait_idle()
    first, second = chat.chat_requests()
    messages = second.json["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "user"]
    assert messages[1]["content"] == "It is a receipt."
    assert messages[2]["content"] == "What is the total?"
    images = [
        p
        for m in messages
        if isinstance(m["content"], list)
        for p in m["content"]
        if p["type"] == "image_url"
    ]
    assert len(images) == 1
    assert images[0] == first.json["messages"][0]["content"][1]
    assert "It is a receipt." in chat.window.transcript_text()


def test_enter_sends_shift_enter_breaks_up_recalls(chat, qtbot):
    chat.api.enqueue(Stream("first"), Stream("second"))
    chat.ask()
    chat.wait_idle()
    box = chat.window.question
    qtbot.keyClicks(box, "line one")
    qtbot.keyClick(box, Qt.Key.Key_Return, Qt.KeyboardModifier.ShiftModifier)
    qtbot.keyClicks(box, "line two")
    assert box.toPlainText() == "line one\nline two"
    qtbot.keyClick(box, Qt.Key.Key_Return)
    chat.wait_text("second")
    chat.wait_idle()
    assert chat.chat_requests()[-1].json["messages"][-1]["content"] == "line one\nline two"
    assert box.toPlainText() == ""
    qtbot.keyClick(box, Qt.Key.Key_Up)
    assert box.toPlainText() == "line one\nline two"


def test_stop_ends_the_request_at_the_server_and_keeps_the_text(chat, qtbot):
    chat.api.enqueue(Stream(["word "] * 400, delay=0.02))
    chat.ask()
    chat.wait_text("word word word")
    qtbot.mouseClick(chat.window.composer.stop_button, Qt.MouseButton.LeftButton)
    chat.wait_idle()
    assert chat.api.disconnects.wait(timeout=10)
    turn = chat.window.conversation.turns[-1]
    assert turn.role == "assistant" and not turn.complete and turn.text.startswith("word")
    assert "stopped" in chat.window.transcript_text()
    assert chat.window.status.text() == "Stopped"


def test_regenerate_replaces_the_last_answer(chat):
    chat.api.enqueue(Stream("First take."), Stream("Second take."))
    chat.ask()
    chat.wait_idle()
    chat.window.action_regenerate.trigger()
    chat.wait_text("Second take.")
    chat.wait_idle()
    assert "First take." not in chat.window.transcript_text()
    assert [m["role"] for m in chat.chat_requests()[-1].json["messages"]] == ["user"]


# --- failures --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure, words, link",
    [
        (Status(401), "rejected the API key", "Set the API key"),
        (Status(404), "is not available", "Pick another model"),
        (Status(429, retry_after=3600), "rate-limiting", "Retry"),
        (Status(500), "HTTP 500", "Retry"),
        (HtmlError(502), "HTML error page", "Retry"),
        (Status(400, message="context too long"), "context too long", "Retry"),
    ],
    ids=lambda v: getattr(v, "code", None) and f"{type(v).__name__}{v.code}",
)
def test_failed_follow_up_shows_why_and_keeps_everything(chat, failure, words, link):
    # A model chosen automatically that is gone is chosen again once, from a fresh list.
    again = [failure] if getattr(failure, "code", 0) == 404 else []
    chat.api.enqueue(Stream("Answer one."), failure, *again)
    chat.ask()
    chat.wait_idle()
    chat.type_question("And the total?")
    chat.qtbot.waitUntil(
        lambda: words.lower() in chat.window.transcript_text().lower(), timeout=WAIT
    )
    chat.wait_idle()
    # the typed question is back in the box, the earlier answer is still shown
    assert chat.window.question.toPlainText() == "And the total?"
    assert "Answer one." in chat.window.transcript_text()
    assert link in chat.links()
    # and trying again works
    chat.api.enqueue(Stream("Now it works."))
    chat.click("Retry")
    chat.wait_text("Now it works.")
    chat.wait_idle()
    assert chat.window.question.toPlainText() == ""
    assert chat.chat_requests()[-1].json["messages"][-1]["content"] == "And the total?"


def test_interrupted_answer_is_kept_and_marked(chat):
    chat.api.enqueue(CutMidEvent(after_tokens=3, text=["Part ", "of ", "it ", "never"]))
    chat.ask()
    chat.wait_text("The partial answer is kept")
    chat.wait_idle()
    text = chat.window.transcript_text()
    assert "Part of it" in text and "interrupted" in text
    chat.api.enqueue(Stream("Whole answer."))
    chat.window.action_regenerate.trigger()
    chat.wait_text("Whole answer.")


def test_connection_refused_on_first_turn_offers_retry(chat, fake_api):
    import socket

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    chat.controller.apply_config(
        with_base_url(chat.controller.config, f"http://127.0.0.1:{port}/v1")
    )
    chat.ask()
    chat.wait_text("connection refused")
    chat.wait_idle()
    chat.controller.apply_config(with_base_url(chat.controller.config, fake_api.url))
    chat.api.enqueue(Stream("Back online."))
    chat.click("Retry")
    chat.wait_text("Back online.")


# --- copying, history, export, quick extraction ----------------------------------------


def test_copy_answer_and_a_single_code_block(chat, qapp):
    answer = "Run this:\n\n```bash\necho hello\nls -la\n```\n\nThen **done**."
    chat.api.enqueue(Stream(answer))
    chat.ask()
    chat.wait_idle()
    clipboard = qapp.clipboard()
    chat.click("Copy bash code")
    assert clipboard.text() == "echo hello\nls -la"
    chat.click("Copy Markdown")
    assert clipboard.text() == answer
    chat.click("Copy")
    assert "**" not in clipboard.text() and "echo hello" in clipboard.text()


def test_dropped_image_starts_a_new_conversation_and_old_ones_reopen(chat, tmp_path):
    chat.api.enqueue(Stream("About the first."), Stream("About the dropped file."))
    chat.ask()
    chat.wait_idle()
    path = tmp_path / "dropped.png"
    Image.new("RGB", (40, 30), "navy").save(path)
    chat.window.image_dropped.emit(str(path), "describe")
    chat.wait_text("About the dropped file.")
    chat.wait_idle()
    assert "About the first." not in chat.window.transcript_text()
    chat.qtbot.waitUntil(lambda: chat.window.history.list.count() == 2, timeout=WAIT)
    first_id = chat.session.conversations()[1].id
    chat.window.conversation_selected.emit(first_id)
    assert "About the first." in chat.window.transcript_text()


def test_export_markdown(chat, tmp_path, monkeypatch):
    chat.api.enqueue(Stream("A *fine* answer."))
    chat.ask()
    chat.wait_idle()
    target = tmp_path / "conv.md"
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    chat.window.action_export.trigger()
    text = target.read_text()
    assert "## Answer" in text and "A *fine* answer." in text and "data:image/png;base64," in text


def test_ocr_preset_copies_exactly_the_answer_without_a_window(chat):
    answer = "Line 1\n  indented line 2\nÜnicode ✓"
    chat.api.enqueue(Stream(["Line 1\n", "  indented line 2\n", "Ünicode ✓"]))
    chat.ask("ocr")
    # WHILE it works, a card near the region says so, with Cancel
    chat.qtbot.waitUntil(lambda: popup_text(chat) is not None, timeout=WAIT)
    chat.qtbot.waitUntil(lambda: bool(chat.copied), timeout=WAIT)
    # THEN exactly the answer is on the clipboard, and the card says how much
    assert chat.copied == [answer]
    chat.qtbot.waitUntil(
        lambda: f"{len(answer)} characters copied" in (popup_text(chat) or ""), timeout=WAIT
    )
    assert chat.window is None


def test_ask_preset_puts_the_image_in_the_composer_and_sends_the_persons_question(chat):
    # GIVEN a capture with the ask preset
    chat.api.enqueue(Stream("Blue."))
    chat.ask("ask")
    # THEN the window waits for the question, with the image beside the box, sending nothing
    chat.qtbot.waitUntil(lambda: chat.window.composer.attachment.isVisible(), timeout=WAIT)
    assert chat.window.question.hasFocus() and chat.chat_requests() == []
    # WHEN the question is typed
    chat.type_question("What colour dominates?")
    chat.wait_text("Blue.")
    # THEN exactly that was asked, with the image once, and the transcript shows it
    sent = chat.chat_requests()[-1].json["messages"][0]["content"][0]["text"]
    assert sent == "What colour dominates?"
    assert json.dumps(chat.chat_requests()[-1].json).count('"type": "image_url"') == 1
    assert "You\nWhat colour dominates?" in chat.window.transcript_text()


def test_follow_up_waits_until_the_gui_has_handled_the_previous_answer(chat):
    import time

    # The worker's thread is done before its queued "finished" reaches the GUI.
    chat.api.enqueue(Stream(["First ", "answer."], pause_after=1), Stream("Second answer."))
    chat.ask()
    chat.wait_text("First")
    chat.api.release()
    deadline = time.monotonic() + 15
    while chat.worker.running() and time.monotonic() < deadline:
        time.sleep(0.001)  # no event processing: the end is queued, not yet handled
    # GIVEN the worker is done but the GUI has not processed the end yet
    assert not chat.worker.running() and chat.controller.busy
    conversation = chat.window.conversation
    chat.window.follow_up.emit(conversation.id, "Too early?", "describe", None, None)
    chat.wait_idle()
    assert [t.role for t in conversation.turns] == ["user", "assistant"]
    assert conversation.turns[1].text == "First answer." and conversation.turns[1].complete
    assert len(chat.chat_requests()) == 1


def test_markdown_renders_while_the_answer_streams(chat):
    # GIVEN a server that holds the answer after three pieces
    chat.api.enqueue(Stream(["**Total:** ", "13.49\n\n", "- coffee\n", "- cake"], pause_after=3))
    chat.ask()
    # THEN what has arrived is already rendered (no raw ** markers) before the answer ends
    chat.qtbot.waitUntil(
        lambda: (
            "Total: 13.49" in chat.window.transcript_text()
            and "**" not in chat.window.transcript_text()
        ),
        timeout=WAIT,
    )
    assert chat.window.streaming and "cake" not in chat.window.transcript_text()
    chat.api.release()
    chat.wait_text("cake")
    chat.wait_idle()


def test_a_huge_piece_is_shown_batch_by_batch_and_nothing_is_lost(chat):
    # GIVEN a server that sends a 300,000-character answer as one piece
    words = 60_000
    chat.api.enqueue(Stream(["Start: ", "word " * words + "END"], pause_after=1, usage=(5, 7)))
    added: list[int] = []
    chat.ask()
    chat.wait_text("Start:")
    document = chat.window.transcript.document()
    document.contentsChange.connect(lambda _at, _removed, count: added.append(count))
    chat.api.release()
    chat.wait_idle()
    # THEN it was laid out in bounded batches (no one step grows with the answer)...
    big = [count for count in added if count > 1_000]
    assert len(big) >= 5 and max(added) <= 50_000, added
    # ...and all of it is there, with its details once the last batch is shown
    text = chat.window.transcript_text()
    assert "5 + 7 tokens" in text
    shown = text.replace("\n", "")  # long plain lines are laid out in blocks of LINE_CHUNK
    assert shown.count("word") == words and "word END" in shown


def _blocks(transcript) -> list[tuple[str, int | None]]:  # noqa: ANN001 - a Transcript
    """Each block's text and its number in a list (None: not a list item), as laid out."""
    out = []
    block = transcript.document().begin()
    while block.isValid():
        listed = block.textList()
        out.append((block.text(), listed.itemNumber(block) + 1 if listed else None))
        block = block.next()
    return out


@pytest.mark.parametrize("listing", ["1. one\n", "- one\n"])
def test_an_answer_ending_in_a_list_keeps_its_list_to_itself(chat, listing):
    # GIVEN an answer streamed in pieces that is a list, then a follow-up
    chat.api.enqueue(
        Stream([listing, listing.replace("one", "two")], pause_after=1),
        Stream(["# Title", "\n\nBody."]),
    )
    chat.ask()
    chat.wait_text("one")
    chat.api.release()
    chat.wait_idle()
    chat.type_question("And then?")
    chat.wait_idle()
    for rendered in ("streamed", "reopened"):
        blocks = _blocks(chat.window.transcript)
        texts = [text for text, _ in blocks]
        first = texts.index("one")
        # THEN the list is the answer's two items, right under the model's name...
        assert blocks[first - 1 : first + 2] == [
            (chat.chat_requests()[0].json["model"], None),
            ("one", 1),
            ("two", 2),
        ], rendered
        # ...and what follows (its details, the next question, its answer) is in no list
        assert all(number is None for _, number in blocks[first + 2 :]), (rendered, blocks)
        assert "You" in texts[first + 2 :] and "Title" in texts
        conversation = chat.window.conversation
        chat.window.show_conversation(conversation, "Describe")


def test_a_plain_answer_offers_copy_and_no_markdown_copy(chat, qapp):
    # GIVEN a window showing a plain-text answer (extracted text reopened from the history)
    chat.api.enqueue(Stream("  *not* Markdown\nline 2"))
    chat.ask()
    chat.wait_idle()
    assert "Copy Markdown" in chat.links()  # a Markdown answer has both
    conversation = chat.window.conversation
    conversation.turns[-1].meta["plain"] = True
    chat.window.show_conversation(conversation, "Extract text")
    # THEN it has Copy, which copies it exactly, and no second link that would do the same
    assert "Copy" in chat.links() and "Copy Markdown" not in chat.links()
    assert "*not* Markdown" in chat.window.transcript_text()
    chat.click("Copy")
    assert qapp.clipboard().text() == "  *not* Markdown\nline 2"


def test_text_after_a_live_rendering_keeps_its_space(qtbot):
    from desktop_vlm.core.completions import Delta
    from desktop_vlm.gui.chat.transcript import Transcript

    transcript = Transcript()
    qtbot.addWidget(transcript)
    transcript.begin_answer("m", 1, plain=False)
    # GIVEN the first piece shown at once as Markdown (which drops its trailing space)...
    transcript.append(Delta("The "))
    # ...and the next ones shown as they come, before the next rendering
    transcript.append(Delta("**items** are"))
    transcript.flush()
    transcript.append(Delta(":\n\n"))
    transcript.flush()
    transcript.append(Delta("- one"))
    transcript.flush()
    shown = transcript.toPlainText()
    # THEN the words stay apart (as text until the next rendering, or rendered)
    assert "The **items** are:\n" in shown or "The items are:\n" in shown, shown
    assert shown.rstrip().endswith("- one") or shown.rstrip().endswith("one"), shown


def test_a_long_code_line_wraps_in_the_window(chat):
    # GIVEN an answer with a code line far wider than the window
    line = "result = compute(" + ", ".join(f"argument_{i}" for i in range(60)) + ")"
    chat.api.enqueue(Stream(f"Here:\n\n```python\n{line}\n```\n"))
    chat.ask()
    chat.wait_idle()
    chat.window.resize(700, 500)
    chat.window.show()
    chat.qtbot.waitExposed(chat.window)
    transcript = chat.window.transcript
    chat.qtbot.wait(100)
    # THEN the transcript has no horizontal scroll bar: the line wraps, all of it there
    assert transcript.horizontalScrollBar().maximum() == 0
    assert line in chat.window.transcript_text().replace("\n", "")
    assert "Copy python code" in chat.links()


def test_copy_and_regenerate_are_offered_only_with_an_answer(chat):
    # GIVEN a first question that failed: nothing to copy or regenerate yet
    chat.api.enqueue(Status(500), Stream("A red square."))
    chat.ask()
    chat.wait_text("HTTP 500")
    chat.wait_idle()
    window = chat.window
    assert not window.action_copy_answer.isEnabled()
    assert not window.action_regenerate.isEnabled()
    # WHEN it is retried and answered, THEN both are there
    chat.click("Retry")
    chat.wait_text("A red square.")
    chat.wait_idle()
    assert window.action_copy_answer.isEnabled() and window.action_regenerate.isEnabled()


def test_tilde_fences_and_fences_in_list_items_have_their_copy_links(chat, qapp):
    answer = (
        "First:\n\n~~~python\nprint('tilde')\n~~~\n\n"
        "1. Install it:\n\n   ```bash\n   pip install thing\n   ```\n"
        "2. Run it:\n\n   ~~~\n   thing --help\n   ~~~\n"
    )
    chat.api.enqueue(Stream(answer))
    chat.ask()
    chat.wait_idle()
    # THEN each of the three blocks has its link, and each copies exactly its code
    links = chat.links()
    assert {"Copy python code", "Copy bash code", "Copy code"} <= set(links), links
    for label, code in (
        ("Copy python code", "print('tilde')"),
        ("Copy bash code", "pip install thing"),
        ("Copy code", "thing --help"),
    ):
        chat.click(label)
        assert qapp.clipboard().text() == code, label
