"""The chat session: every conversation, every request in flight, and the rules of each turn.

One place decides what a turn does to a conversation, so that the windows only render what they
are given and the controller only wires signals:

- A first turn (a capture, the clipboard, a dropped image, the same image with another preset)
  starts a request before its image is ready; the conversation exists from the moment the image
  is, with the question exactly as it will be sent and as the person asked it.
- A follow-up, a regenerate and a retry each make a request on an existing conversation; at most
  one request runs per conversation, but any number of conversations may be answered at once
  (a second capture never cancels the first).
- While an answer streams its pieces are collected here, once; the conversation's pending turn
  holds the text so far whenever asked (for the history's flush or a window that opens it).
- When an answer ends it is complete; when a request fails or is stopped, what arrived is kept
  and marked, an answer that never began disappears, and a follow-up's question goes back to the
  person (``Failure.restore``) instead of leaving two questions in a row.

Pure: no Qt, no threads, no I/O. Costs are the caller's (``finish`` takes the estimate).
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from desktop_vlm.core.completions import Completion
from desktop_vlm.core.conversation import Conversation, ImageRef, Turn
from desktop_vlm.core.presets import Action, Preset

FIRST, FOLLOW_UP, REGENERATE, RETRY = "first", "follow-up", "regenerate", "retry"


class SessionError(Exception):
    """A request the rules refuse (a conversation already answering, nothing to regenerate)."""


@dataclass
class Request:
    """One question in flight and what happens to its answer."""

    id: int
    kind: str
    preset: Preset
    #: The question's text as sent, and as the transcript shows it.
    prompt: str
    shown: str
    #: A model the person picked for this request (None: the preset's, the profile's or auto).
    model: str | None
    #: Where the answer goes: the chat window, the clipboard, a notice.
    show: bool
    copy: bool
    notify: bool
    conversation: Conversation | None = None
    pieces: list[str] = field(default_factory=list)
    reasoning: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)
    #: Set by the caller for its own bookkeeping (e.g. the screen rectangle of a capture).
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def answer(self) -> Turn | None:
        return self.conversation.pending_answer if self.conversation else None

    @property
    def text(self) -> str:
        return "".join(self.pieces)

    @property
    def quick(self) -> bool:
        """Answered without the window (copied and/or notified): shows progress elsewhere."""
        return not self.show


@dataclass(frozen=True)
class Failure:
    request: Request
    #: The answer kept (it had text), marked stopped or interrupted; None if there was none.
    partial: Turn | None
    #: A follow-up's question, to go back into the question box.
    restore: str
    stopped: bool


class ChatSession:
    def __init__(self, keep: int = 20) -> None:
        #: Newest first. Conversations beyond ``keep`` with nothing in flight are dropped from
        #: memory (the history store has them), so images do not pile up.
        self._conversations: list[Conversation] = []
        self._requests: dict[int, Request] = {}
        self._ids = itertools.count(1)
        self.keep = keep

    # --- conversations --------------------------------------------------------------------

    def conversations(self) -> list[Conversation]:
        return list(self._conversations)

    def find(self, conversation_id: str) -> Conversation | None:
        for conversation in self._conversations:
            if conversation.id == conversation_id:
                return conversation
        return None

    def adopt(self, conversation: Conversation) -> Conversation:
        """Bring a conversation (loaded from history) into the session; the one already here
        wins, so a conversation being answered is never replaced by its stored copy."""
        found = self.find(conversation.id)
        if found is not None:
            return found
        self._conversations.insert(0, conversation)
        self._trim()
        return conversation

    def forget(self, conversation_id: str | None = None) -> None:
        """Drop one conversation (or all without a request in flight)."""
        busy = {r.conversation.id for r in self._requests.values() if r.conversation}
        self._conversations = [
            c
            for c in self._conversations
            if c.id in busy or (conversation_id is not None and c.id != conversation_id)
        ]

    # --- requests -------------------------------------------------------------------------

    def requests(self) -> list[Request]:
        return list(self._requests.values())

    def request(self, request_id: int) -> Request | None:
        return self._requests.get(request_id)

    def busy(self, conversation_id: str) -> Request | None:
        for request in self._requests.values():
            if request.conversation is not None and request.conversation.id == conversation_id:
                return request
        return None

    def start(
        self,
        preset: Preset,
        question: str | None = None,
        *,
        window: bool | None = None,
        model: str | None = None,
    ) -> Request:
        """A first turn; its conversation appears with ``image_ready``. ``window`` forces the
        answer into the chat window (an image dropped on it) or out of it."""
        prompt = preset.first_prompt(question)
        show = Action.WINDOW in preset.actions if window is None else window
        request = Request(
            id=next(self._ids),
            kind=FIRST,
            preset=preset,
            prompt=prompt,
            shown=question or prompt,
            model=model,
            show=show,
            copy=Action.COPY in preset.actions,
            notify=Action.NOTIFY in preset.actions,
        )
        self._requests[request.id] = request
        return request

    def image_ready(self, request_id: int, image: ImageRef, meta: dict | None = None) -> Request:
        request = self._live(request_id)
        if request.conversation is not None:
            raise SessionError("this request has its image already")
        conversation = Conversation(
            image=image, preset_id=request.preset.id, title=_title(request), meta=dict(meta or {})
        )
        conversation.ask(request.prompt, shown=request.shown, label=request.preset.title)
        request.conversation = conversation
        self._conversations.insert(0, conversation)
        self._trim()
        return request

    def again(self, conversation_id: str, preset: Preset, model: str | None = None) -> Request:
        """The same image asked anew with another preset: a new conversation at once."""
        source = self._conversation(conversation_id)
        if preset.asks_question:
            raise SessionError(f"the preset '{preset.title}' needs a question: type it below")
        request = self.start(preset, window=True, model=model)
        return self.image_ready(request.id, source.current_image())

    def compose(self, preset: Preset, image: ImageRef, meta: dict | None = None) -> Conversation:
        """An image waiting for the person's first question (the ``ask`` preset)."""
        conversation = Conversation(
            image=image, preset_id=preset.id, title=preset.title, meta=dict(meta or {})
        )
        self._conversations.insert(0, conversation)
        self._trim()
        return conversation

    def follow_up(
        self,
        conversation_id: str,
        text: str,
        preset: Preset,
        model: str | None = None,
        *,
        image: ImageRef | None = None,
        label: str = "",
    ) -> Request:
        """The person's next question (with an image of its own for a part looked at closer);
        on a composed conversation, its first question, framed by the preset."""
        conversation = self._idle(conversation_id)
        if not conversation.turns:
            prompt = preset.first_prompt(text) if preset.asks_question else text
            # The person's own words need no label; a preset that frames them says so.
            conversation.ask(
                prompt, shown=text, label=preset.title if preset.prompt else "", image=image
            )
            conversation.title = " ".join(text.split())[:80]
            return self._on(conversation, FOLLOW_UP, preset, text, model)
        if conversation.pending_answer is not None or conversation.turns[-1].role == "user":
            raise SessionError("the last question has no answer yet: retry it first")
        conversation.ask(text, label=label, image=image)
        return self._on(conversation, FOLLOW_UP, preset, text, model)

    def regenerate(
        self, conversation_id: str, turn_index: int, preset: Preset, model: str | None = None
    ) -> Request:
        """A new answer instead of the last one; an older answer cannot be regenerated."""
        conversation = self._idle(conversation_id)
        if turn_index != conversation.last_answer_index() or turn_index < 0:
            raise SessionError("only the last answer can be regenerated")
        conversation.drop_last_answer()
        return self._on(conversation, REGENERATE, preset, conversation.turns[-1].text, model)

    def retry(
        self, conversation_id: str, preset: Preset, model: str | None = None, *, window: bool = True
    ) -> Request:
        """Send again a conversation whose last question has no (complete) answer. A first
        turn tried again is a first turn: its answer also goes where the preset says
        (clipboard), and with ``window=False`` (Retry on a quick notice) only there."""
        conversation = self._idle(conversation_id)
        last = conversation.turns[-1]
        if last.role == "assistant" and not last.complete:
            conversation.drop_last_answer()  # stopped or cut short: a fresh answer replaces it
        if conversation.turns[-1].role != "user":
            raise SessionError("the last question is answered already")
        request = self._on(conversation, RETRY, preset, conversation.turns[-1].display_text, model)
        if len(conversation.turns) == 1:
            request.kind = FIRST
            request.show = window or Action.WINDOW in preset.actions
            request.copy = Action.COPY in preset.actions
            request.notify = Action.NOTIFY in preset.actions
        return request

    def messages(self, request_id: int) -> list[dict[str, Any]]:
        request = self._live(request_id)
        if request.conversation is None:
            raise SessionError("the image is not ready yet")
        return request.conversation.messages()

    # --- the answer -----------------------------------------------------------------------

    def answer_started(self, request_id: int, model: str) -> Turn:
        request = self._live(request_id)
        if request.conversation is None:
            raise SessionError("an answer needs its image first")
        return request.conversation.begin_answer(model)

    def add(self, request_id: int, text: str = "", reasoning: str = "") -> None:
        request = self._requests.get(request_id)
        if request is None or request.answer is None:
            return
        if text:
            request.pieces.append(text)
        if reasoning:
            request.reasoning.append(reasoning)

    def sync(self, request: Request) -> Turn | None:
        """The pending answer with the text received so far (for a flush or a redraw)."""
        turn = request.answer
        if turn is not None:
            turn.text = request.text
            turn.reasoning = "".join(request.reasoning)
        return turn

    def finish(
        self,
        request_id: int,
        completion: Completion,
        *,
        ttft_s: float | None,
        elapsed_s: float | None,
        cost_usd: float | None,
    ) -> tuple[Request, Turn]:
        request = self._requests.pop(request_id)
        turn = request.answer
        if turn is None:
            raise SessionError("the answer never began")
        turn.text = completion.text
        turn.reasoning = completion.reasoning or "".join(request.reasoning)
        turn.model = completion.model
        turn.usage = completion.usage
        turn.cost_usd = cost_usd
        turn.ttft_s = ttft_s
        turn.elapsed_s = elapsed_s
        turn.complete = True
        if completion.finish_reason == "length":
            turn.meta["cut_at_max_tokens"] = True
        return request, turn

    def fail(self, request_id: int, *, stopped: bool) -> Failure:
        request = self._requests.pop(request_id)
        conversation = request.conversation
        turn = self.sync(request)
        restore = ""
        if turn is not None and turn.text:
            turn.complete = False  # keep what arrived, marked
            turn.error = "stopped" if stopped else "interrupted"
            return Failure(request, turn, "", stopped)
        if conversation is not None:
            if turn is not None:
                conversation.turns.pop()  # an answer that never began
            if request.kind == FOLLOW_UP:
                restore = conversation.withdraw_question(first=len(conversation.turns) == 1)
        return Failure(request, None, restore, stopped)

    # --- internals ------------------------------------------------------------------------

    def _on(
        self, conversation: Conversation, kind: str, preset: Preset, shown: str, model: str | None
    ) -> Request:
        request = Request(
            id=next(self._ids),
            kind=kind,
            preset=preset,
            prompt=conversation.turns[-1].text,
            shown=shown,
            model=model,
            show=True,
            copy=False,
            notify=False,
            conversation=conversation,
        )
        self._requests[request.id] = request
        return request

    def _live(self, request_id: int) -> Request:
        request = self._requests.get(request_id)
        if request is None:
            raise SessionError(f"no request {request_id} is in flight")
        return request

    def _conversation(self, conversation_id: str) -> Conversation:
        conversation = self.find(conversation_id)
        if conversation is None:
            raise SessionError("that conversation is not open")
        return conversation

    def _idle(self, conversation_id: str) -> Conversation:
        conversation = self._conversation(conversation_id)
        if self.busy(conversation_id) is not None:
            raise SessionError("this conversation is still being answered")
        return conversation

    def _trim(self) -> None:
        busy = {r.conversation.id for r in self._requests.values() if r.conversation}
        kept: list[Conversation] = []
        for index, conversation in enumerate(self._conversations):
            if index < self.keep or conversation.id in busy:
                kept.append(conversation)
        self._conversations = kept

    def __iter__(self) -> Iterator[Conversation]:
        return iter(list(self._conversations))


def _title(request: Request) -> str:
    if request.preset.asks_question and request.shown:
        return " ".join(request.shown.split())[:80]
    return request.preset.title
