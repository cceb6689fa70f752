"""One conversation about one image: the first user turn carries the prompt and the image,
answers and follow-ups append, and the whole history is resent with every follow-up (the API
page's multi-turn recipe). Serializes to and from JSON for the history store.
"""

from __future__ import annotations

import json
import time
import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from desktop_vlm.core.completions import Usage


def _tokens(usage: Usage | None) -> str:
    if usage is None or usage.total_tokens is None:
        return ""
    return f"{usage.total_tokens} tokens"


@dataclass(frozen=True)
class ImageRef:
    """The image as sent: its MIME type and base64 payload (no whitespace)."""

    mime: str
    base64: str
    width: int
    height: int

    @property
    def data_url(self) -> str:
        return f"data:{self.mime};base64,{self.base64}"


@dataclass
class Turn:
    role: str  # "user" or "assistant"
    text: str
    created: float = field(default_factory=time.time)
    # For answers: what produced it and what it cost.
    model: str | None = None
    usage: Usage | None = None
    cost_usd: float | None = None
    ttft_s: float | None = None
    elapsed_s: float | None = None
    #: False while streaming, and for an answer cut short (stopped, failed, app killed).
    complete: bool = True
    error: str | None = None


@dataclass
class Conversation:
    image: ImageRef
    preset_id: str
    turns: list[Turn] = field(default_factory=list)
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    created: float = field(default_factory=time.time)
    title: str = ""

    # --- building -------------------------------------------------------------------------

    def ask(self, text: str) -> Turn:
        """Add the person's next question (the preset prompt for the first turn)."""
        if self.turns and self.turns[-1].role == "user":
            raise ValueError("the previous question has no answer yet")
        turn = Turn(role="user", text=text)
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

    def withdraw_question(self) -> str:
        """Remove the last question and its failed or empty answer; return the question text.

        Used when a request fails before any answer text arrived, so the question goes back
        to the input box instead of leaving two user turns in a row (which several chat
        templates reject).
        """
        if self.turns and self.turns[-1].role == "assistant":
            if self.turns[-1].text:
                raise ValueError("the last answer has text; keep it")
            self.turns.pop()
        if not self.turns or self.turns[-1].role != "user" or len(self.turns) == 1:
            raise ValueError("no follow-up question to withdraw")
        return self.turns.pop().text

    def drop_last_answer(self) -> None:
        """Forget the last answer so it can be generated again."""
        if not self.turns or self.turns[-1].role != "assistant":
            raise ValueError("there is no answer to regenerate")
        self.turns.pop()

    # --- the wire format ----------------------------------------------------------------

    def messages(self) -> list[dict[str, Any]]:
        """The ``messages`` list of the API page: content parts for the first turn, the
        image exactly once, text for the rest; ends with the question awaiting an answer."""
        turns = [
            t for t in self.turns if not (t.role == "assistant" and not t.complete and not t.text)
        ]
        if turns and turns[-1].role == "assistant" and not turns[-1].complete:
            turns = turns[:-1]  # the answer being generated is not part of its own request
        messages: list[dict[str, Any]] = []
        for index, turn in enumerate(turns):
            if index == 0:
                content: Any = [
                    {"type": "text", "text": turn.text},
                    {"type": "image_url", "image_url": {"url": self.image.data_url}},
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
                lines += ["## Question", "", turn.text, ""]
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
        data = asdict(self)
        for turn in data["turns"]:
            if turn["usage"] is not None:
                turn["usage"] = {
                    "prompt_tokens": turn["usage"]["prompt_tokens"],
                    "completion_tokens": turn["usage"]["completion_tokens"],
                }
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Conversation:
        turns = []
        for raw in data.get("turns", []):
            raw = dict(raw)
            if raw.get("usage") is not None:
                raw["usage"] = Usage(**raw["usage"])
            turns.append(Turn(**raw))
        return cls(
            image=ImageRef(**data["image"]),
            preset_id=data["preset_id"],
            turns=turns,
            id=data["id"],
            created=data["created"],
            title=data.get("title", ""),
        )

    @classmethod
    def from_json(cls, text: str) -> Conversation:
        return cls.from_dict(json.loads(text))
