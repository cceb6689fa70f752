"""One conversation about one image: the first user turn carries the prompt and the image,
answers and follow-ups append, and the whole history is resent with every follow-up (the API
page's multi-turn recipe). The API takes one image per request, so a later question may carry
an image of its own (a part looked at closer): the request then sends that image, with the
question that brought it, and the text of every turn before it.

Serialises to and from plain dicts for the history store; the image travels as bytes.
"""

from __future__ import annotations

import base64
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from desktop_vlm.core.completions import Usage


@dataclass(frozen=True)
class ImageRef:
    """The image as sent: its MIME type and encoded bytes."""

    mime: str
    data: bytes
    width: int
    height: int
    #: The part of the original capture this image shows (x, y, width, height in the capture's
    #: pixels), when the capture is larger than what was sent; None: not known.
    box: tuple[int, int, int, int] | None = None

    @property
    def base64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    @property
    def data_url(self) -> str:
        return f"data:{self.mime};base64,{self.base64}"


@dataclass
class Turn:
    role: str  # "user" or "assistant"
    text: str
    created: float = field(default_factory=time.time)
    #: For questions: what the transcript shows when it differs from what was sent (the
    #: person's own question inside a preset's framing), and a short label (the preset).
    shown: str = ""
    label: str = ""
    #: A question that brings its own image (a part looked at closer): sent instead of the
    #: conversation's image from this turn on.
    image: ImageRef | None = None
    # For answers: what produced it and what it cost.
    model: str | None = None
    usage: Usage | None = None
    cost_usd: float | None = None
    ttft_s: float | None = None
    elapsed_s: float | None = None
    #: False while streaming, and for an answer cut short (stopped, failed, app killed).
    complete: bool = True
    error: str | None = None
    #: Thinking a reasoning model streamed apart from its answer.
    reasoning: str = ""
    #: Checks and structured data attached to an answer ("check", "structured", "warnings").
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def display_text(self) -> str:
        return self.shown or self.text


@dataclass
class Conversation:
    image: ImageRef
    preset_id: str
    turns: list[Turn] = field(default_factory=list)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: float = field(default_factory=time.time)
    title: str = ""
    #: What happened to the image before it was sent (e.g. "redactions": {"email": 1}).
    meta: dict[str, Any] = field(default_factory=dict)
    #: The capture as taken (a RawImage, bytes or a path), while this conversation is in memory:
    #: a closer look at a part is cut from it at full resolution. Never stored or sent.
    original: Any = field(default=None, repr=False, compare=False)

    # --- building -------------------------------------------------------------------------

    def ask(
        self, text: str, *, shown: str = "", label: str = "", image: ImageRef | None = None
    ) -> Turn:
        """Add the person's next question (the preset prompt for the first turn)."""
        if self.turns and self.turns[-1].role == "user":
            raise ValueError("the previous question has no answer yet")
        turn = Turn(
            role="user", text=text, shown=shown if shown != text else "", label=label, image=image
        )
        self.turns.append(turn)
        return turn

    def begin_answer(self, model: str) -> Turn:
        if not self.turns or self.turns[-1].role != "user":
            raise ValueError("an answer needs a question before it")
        turn = Turn(role="assistant", text="", model=model, complete=False)
        self.turns.append(turn)
        return turn

    @property
    def pending_answer(self) -> Turn | None:
        last = self.turns[-1] if self.turns else None
        return last if last and last.role == "assistant" and not last.complete else None

    @property
    def first_question(self) -> Turn | None:
        return self.turns[0] if self.turns else None

    def last_answer_index(self, *, with_text: bool = False) -> int:
        for index in range(len(self.turns) - 1, -1, -1):
            turn = self.turns[index]
            if turn.role == "assistant" and (turn.text or not with_text):
                return index
        return -1

    def totals(self) -> tuple[int, int | None, float | None]:
        """(answers with text, their tokens, their cost): None where any answer's is unknown."""
        answers = [t for t in self.turns if t.role == "assistant" and t.text]
        tokens: int | None = 0
        cost: float | None = 0.0
        for turn in answers:
            total = turn.usage.total_tokens if turn.usage is not None else None
            tokens = None if tokens is None or total is None else tokens + total
            cost = None if cost is None or turn.cost_usd is None else cost + turn.cost_usd
        return len(answers), tokens, cost

    def withdraw_question(self, *, first: bool = False) -> str:
        """Remove the last question and its failed or empty answer; return the question text.

        Used when a request fails before any answer text arrived, so the question goes back
        to the input box instead of leaving two user turns in a row (which several chat
        templates reject). The first question goes only with ``first`` (a question typed about
        an image that waited for it).
        """
        if self.turns and self.turns[-1].role == "assistant":
            if self.turns[-1].text:
                raise ValueError("the last answer has text; keep it")
            self.turns.pop()
        if not self.turns or self.turns[-1].role != "user" or (len(self.turns) == 1 and not first):
            raise ValueError("no follow-up question to withdraw")
        return self.turns.pop().display_text

    def drop_last_answer(self) -> None:
        """Forget the last answer so it can be generated again."""
        if not self.turns or self.turns[-1].role != "assistant":
            raise ValueError("there is no answer to regenerate")
        self.turns.pop()

    # --- the wire format ----------------------------------------------------------------

    def current_image(self, upto: int | None = None) -> ImageRef:
        """The image a request made now (or for the turns before ``upto``) sends."""
        turns = self.turns if upto is None else self.turns[:upto]
        for turn in reversed(turns):
            if turn.role == "user" and turn.image is not None:
                return turn.image
        return self.image

    def messages(self) -> list[dict[str, Any]]:
        """The ``messages`` list of the API page: the image exactly once, with the question that
        brought it (the first, or a later one with an image of its own), text for every other
        turn; ends with the question awaiting an answer."""
        turns = [
            t for t in self.turns if not (t.role == "assistant" and not t.complete and not t.text)
        ]
        if turns and turns[-1].role == "assistant" and not turns[-1].complete:
            turns = turns[:-1]  # the answer being generated is not part of its own request
        carrier = 0
        for index, turn in enumerate(turns):
            if turn.role == "user" and turn.image is not None:
                carrier = index
        image = turns[carrier].image if carrier else self.image
        messages: list[dict[str, Any]] = []
        for index, turn in enumerate(turns):
            if index == carrier:
                content: Any = [
                    {"type": "text", "text": turn.text},
                    {"type": "image_url", "image_url": {"url": image.data_url}},
                ]
            else:
                content = turn.text
            messages.append({"role": turn.role, "content": content})
        return messages

    # --- export -------------------------------------------------------------------------

    def to_markdown(self, preset_title: str = "") -> str:
        """The conversation as a Markdown document (the image embedded as a data URL)."""
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(self.created))
        lines = [f"# {self.title or preset_title or 'Conversation'}", "", f"*{when}*", ""]
        lines += [f"![captured image]({self.image.data_url})", ""]
        for turn in self.turns:
            if turn.role == "user":
                heading = f"## Question ({turn.label})" if turn.label else "## Question"
                lines += [heading, "", turn.display_text, ""]
            else:
                lines += ["## Answer", "", turn.text, ""]
                meta = [m for m in (turn.model, _tokens(turn.usage)) if m]
                if not turn.complete:
                    meta.append("incomplete")
                if meta:
                    lines += [f"*{' · '.join(meta)}*", ""]
        return "\n".join(lines)

    # --- persistence ----------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain data (bytes for images), for the history store and for tests."""
        return {
            "id": self.id,
            "created": self.created,
            "preset_id": self.preset_id,
            "title": self.title,
            "meta": dict(self.meta),
            "image": _image_dict(self.image),
            "turns": [_turn_dict(t) for t in self.turns],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conversation:
        return cls(
            image=_image_from(data["image"]),
            preset_id=data["preset_id"],
            turns=[_turn_from(raw) for raw in data.get("turns", [])],
            id=data["id"],
            created=data["created"],
            title=data.get("title", ""),
            meta=dict(data.get("meta") or {}),
        )


def _tokens(usage: Usage | None) -> str:
    if usage is None or usage.total_tokens is None:
        return ""
    return f"{usage.total_tokens} tokens"


def _image_dict(image: ImageRef | None) -> dict[str, Any] | None:
    if image is None:
        return None
    return {"mime": image.mime, "data": image.data, "width": image.width, "height": image.height}


def _image_from(raw: dict[str, Any] | None) -> ImageRef | None:
    if raw is None:
        return None
    return ImageRef(raw["mime"], bytes(raw["data"]), int(raw["width"]), int(raw["height"]))


_TURN_FIELDS = (
    "role",
    "text",
    "created",
    "shown",
    "label",
    "model",
    "cost_usd",
    "ttft_s",
    "elapsed_s",
    "complete",
    "error",
    "reasoning",
)


def _turn_dict(turn: Turn) -> dict[str, Any]:
    data = {name: getattr(turn, name) for name in _TURN_FIELDS}
    data["usage"] = (
        None
        if turn.usage is None
        else {
            "prompt_tokens": turn.usage.prompt_tokens,
            "completion_tokens": turn.usage.completion_tokens,
        }
    )
    data["image"] = _image_dict(turn.image)
    data["meta"] = dict(turn.meta)
    return data


def _turn_from(raw: dict[str, Any]) -> Turn:
    fields = {name: raw[name] for name in _TURN_FIELDS if name in raw}
    usage = raw.get("usage")
    return Turn(
        **fields,
        usage=None if usage is None else Usage(**usage),
        image=_image_from(raw.get("image")),
        meta=dict(raw.get("meta") or {}),
    )
