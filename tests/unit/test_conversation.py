"""One conversation about one image, as the API page's multi-turn recipe sends it: the image
once in the first user turn, the whole history with every follow-up."""

from __future__ import annotations

import base64
import json

import pytest

from desktop_vlm.core.completions import Usage
from desktop_vlm.core.conversation import Conversation, ImageRef, Turn

IMAGE = ImageRef(
    mime="image/png", data=base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB"), width=1, height=1
)
PART = ImageRef(mime="image/png", data=b"\x89PNG part", width=40, height=30)
DATA_URL = "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB"


def answered(conversation: Conversation, text: str, model: str = "m") -> Turn:
    turn = conversation.begin_answer(model)
    turn.text = text
    turn.complete = True
    return turn


def image_parts(messages: list[dict]) -> list[dict]:
    return [
        part
        for message in messages
        if isinstance(message["content"], list)
        for part in message["content"]
        if part.get("type") == "image_url"
    ]


def roles(messages: list[dict]) -> list[str]:
    return [m["role"] for m in messages]


def test_first_turn_is_the_prompt_then_the_image_as_a_data_url() -> None:
    conversation = Conversation(image=IMAGE, preset_id="describe")
    conversation.ask("Describe this image in detail.")
    conversation.begin_answer("Qwen/Qwen2.5-VL-7B-Instruct")

    assert conversation.messages() == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Describe this image in detail."},
                {"type": "image_url", "image_url": {"url": DATA_URL}},
            ],
        }
    ]
    json.dumps(conversation.messages())  # what goes on the wire


def test_follow_ups_resend_the_whole_history_with_the_image_exactly_once() -> None:
    # GIVEN a first question and answer, and two follow-ups
    conversation = Conversation(image=IMAGE, preset_id="receipt")
    conversation.ask("What items are on this receipt?")
    answered(conversation, "Coffee $4.50, Sandwich $8.99")
    conversation.ask("What is the total amount?")
    answered(conversation, "$13.49")
    conversation.ask("And the tax?")
    conversation.begin_answer("m")

    # WHEN the request for the last follow-up is built
    messages = conversation.messages()

    # THEN it is the API page's shape: alternating roles, the image only in the first turn,
    # text for everything after, ending with the question being answered
    assert messages[1:] == [
        {"role": "assistant", "content": "Coffee $4.50, Sandwich $8.99"},
        {"role": "user", "content": "What is the total amount?"},
        {"role": "assistant", "content": "$13.49"},
        {"role": "user", "content": "And the tax?"},
    ]
    assert messages[0]["content"][0] == {"type": "text", "text": "What items are on this receipt?"}
    assert image_parts(messages) == [{"type": "image_url", "image_url": {"url": DATA_URL}}]
    assert roles(messages) == ["user", "assistant", "user", "assistant", "user"]


def test_the_answer_being_generated_is_not_in_its_own_request() -> None:
    conversation = Conversation(image=IMAGE, preset_id="describe")
    conversation.ask("Describe.")
    answer = conversation.begin_answer("m")
    # Even after the first tokens arrived (a retry of the same request must not include them)
    answer.text = "A cat"
    assert conversation.pending_answer is answer
    assert roles(conversation.messages()) == ["user"]
    answer.complete = True
    assert conversation.pending_answer is None
    assert roles(conversation.messages()) == ["user", "assistant"]


def test_an_answer_cut_short_stays_in_the_history_of_the_next_question() -> None:
    conversation = Conversation(image=IMAGE, preset_id="describe")
    conversation.ask("Describe.")
    stopped = conversation.begin_answer("m")
    stopped.text = "A cat sitting on"  # the person pressed Stop here
    conversation.ask("What colour is the cat?")
    conversation.begin_answer("m")
    messages = conversation.messages()
    assert roles(messages) == ["user", "assistant", "user"]
    assert messages[1]["content"] == "A cat sitting on"


def test_ask_refuses_two_questions_in_a_row_and_answers_need_a_question() -> None:
    conversation = Conversation(image=IMAGE, preset_id="describe")
    with pytest.raises(ValueError):
        conversation.begin_answer("m")
    conversation.ask("Describe.")
    with pytest.raises(ValueError):
        conversation.ask("Again?")
    answered(conversation, "A cat.")
    with pytest.raises(ValueError):
        conversation.begin_answer("m")


def test_withdraw_question_after_a_failed_follow_up_restores_the_previous_state() -> None:
    # GIVEN an answered first turn and a follow-up whose request failed before any text
    conversation = Conversation(image=IMAGE, preset_id="describe")
    conversation.ask("Describe.")
    answered(conversation, "A cat.")
    before = conversation.messages()
    conversation.ask("What breed?")
    failed = conversation.begin_answer("m")
    failed.error = "The server is busy"

    # WHEN the question is withdrawn (it goes back to the input box)
    question = conversation.withdraw_question()

    # THEN its text comes back and the history is as it was: asking again is allowed and
    # does not put two user turns in a row
    assert question == "What breed?"
    assert conversation.messages() == before
    conversation.ask("What breed is it?")
    conversation.begin_answer("m")
    assert roles(conversation.messages()) == ["user", "assistant", "user"]


def test_withdraw_question_without_an_answer_started() -> None:
    conversation = Conversation(image=IMAGE, preset_id="describe")
    conversation.ask("Describe.")
    answered(conversation, "A cat.")
    conversation.ask("What breed?")
    assert conversation.withdraw_question() == "What breed?"
    assert len(conversation.turns) == 2


def test_withdraw_question_refuses_to_drop_answer_text_or_the_first_turn() -> None:
    conversation = Conversation(image=IMAGE, preset_id="describe")
    conversation.ask("Describe.")
    conversation.begin_answer("m")
    # The first question is the preset prompt with the image: nothing to withdraw to.
    with pytest.raises(ValueError):
        conversation.withdraw_question()
    conversation = Conversation(image=IMAGE, preset_id="describe")
    conversation.ask("Describe.")
    answered(conversation, "A cat.")
    conversation.ask("What breed?")
    partial = conversation.begin_answer("m")
    partial.text = "It looks like"
    with pytest.raises(ValueError):
        conversation.withdraw_question()
    assert conversation.turns[-1].text == "It looks like"  # nothing was lost


def test_drop_last_answer_allows_generating_it_again() -> None:
    conversation = Conversation(image=IMAGE, preset_id="describe")
    conversation.ask("Describe.")
    answered(conversation, "A dog.")
    before = conversation.messages()
    conversation.drop_last_answer()
    assert [t.role for t in conversation.turns] == ["user"]
    conversation.begin_answer("m")
    assert conversation.messages() == before[:1]
    with pytest.raises(ValueError):
        Conversation(image=IMAGE, preset_id="x").drop_last_answer()


def test_round_trip_gives_an_equal_conversation() -> None:
    conversation = Conversation(image=IMAGE, preset_id="ocr", title="Receipt — Café")
    conversation.ask("Transcribe.", shown="Transcribe", label="Extract text")
    answer = answered(conversation, "Grüße, 日本\nline 2", model="Qwen/Qwen2.5-VL-72B-Instruct")
    answer.usage = Usage(prompt_tokens=1234, completion_tokens=56)
    answer.cost_usd = 0.0007744
    answer.ttft_s = 0.8
    answer.elapsed_s = 3.25
    answer.reasoning = "Looking at the top line first."
    answer.meta["check"] = {"engine": "e", "disagreements": []}
    conversation.ask("Again?", image=PART)
    failed = conversation.begin_answer("m")
    failed.error = "The connection broke"

    data = conversation.to_dict()
    restored = Conversation.from_dict(data)

    assert restored == conversation
    assert restored.turns[1].usage.total_tokens == 1290
    assert restored.messages() == conversation.messages()
    assert data["image"]["data"] == IMAGE.data  # the bytes, not base64 text
    assert Conversation.from_dict(restored.to_dict()) == conversation


def test_round_trip_of_a_conversation_without_turns_or_title() -> None:
    conversation = Conversation(image=IMAGE, preset_id="describe")
    assert Conversation.from_dict(conversation.to_dict()) == conversation
    data = conversation.to_dict()
    del data["title"]
    assert Conversation.from_dict(data).title == ""


def test_a_question_with_its_own_image_sends_that_image_once_with_the_earlier_text() -> None:
    # GIVEN an answered first turn, and a closer look at a part of the image
    conversation = Conversation(image=IMAGE, preset_id="describe")
    conversation.ask("Describe.")
    answered(conversation, "A receipt.")
    conversation.ask("What is the total here?", image=PART)
    conversation.begin_answer("m")

    # WHEN the request is built
    messages = conversation.messages()

    # THEN exactly one image goes: the part, with the question that brought it; the text of
    # the turns before it stays
    assert image_parts(messages) == [{"type": "image_url", "image_url": {"url": PART.data_url}}]
    assert messages[0] == {"role": "user", "content": "Describe."}
    assert messages[1] == {"role": "assistant", "content": "A receipt."}
    assert messages[2]["content"][0] == {"type": "text", "text": "What is the total here?"}
    assert conversation.current_image() is PART
    assert conversation.current_image(upto=1) is IMAGE


def test_the_transcript_text_of_a_question_is_what_the_person_asked() -> None:
    conversation = Conversation(image=IMAGE, preset_id="ask")
    turn = conversation.ask("Answer briefly.\n\nWhat colour?", shown="What colour?")
    assert turn.display_text == "What colour?"
    assert conversation.messages()[0]["content"][0]["text"] == "Answer briefly.\n\nWhat colour?"
    same = Conversation(image=IMAGE, preset_id="describe").ask("Describe.", shown="Describe.")
    assert same.shown == "" and same.display_text == "Describe."


def test_the_first_question_is_withdrawn_only_when_asked_to() -> None:
    conversation = Conversation(image=IMAGE, preset_id="ask")
    conversation.ask("What colour?")
    conversation.begin_answer("m")
    assert conversation.withdraw_question(first=True) == "What colour?"
    assert conversation.turns == []


def test_totals_count_answers_with_text_and_say_none_where_one_is_unknown() -> None:
    conversation = Conversation(image=IMAGE, preset_id="describe")
    conversation.ask("Describe.")
    first = answered(conversation, "A receipt.")
    first.usage, first.cost_usd = Usage(prompt_tokens=700, completion_tokens=20), 0.0001
    conversation.ask("The total?")
    second = answered(conversation, "13.49.")
    second.usage, second.cost_usd = Usage(prompt_tokens=760, completion_tokens=5), 0.0002
    answers, tokens, cost = conversation.totals()
    assert (answers, tokens) == (2, 1485) and cost == pytest.approx(0.0003)
    # An answer whose cost is unknown (no price) or whose server sent no usage: unknown totals
    conversation.ask("And?")
    third = answered(conversation, "Nothing more.")
    assert conversation.totals() == (3, None, None)
    third.usage = Usage(prompt_tokens=800, completion_tokens=3)
    assert conversation.totals() == (3, 2288, None)
    # A question still waiting for its answer, and an empty failed answer, are not answers
    conversation.ask("Again?")
    conversation.begin_answer("m")
    assert conversation.totals()[0] == 3
