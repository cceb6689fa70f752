"""Presets: a prompt plus what to do with the answer.

The built-in prompts follow the use cases of the API page (document analysis, captioning, visual
Q&A). Each preset may pin a model, ``max_tokens`` and ``temperature``; ``config.toml`` can
override any field of a built-in under ``[presets.ID]`` or add new presets.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from desktop_vlm.core.checks.receipt import RECEIPT_PROMPT


class Action(StrEnum):
    """What happens to a finished answer."""

    WINDOW = "window"  # show it in the chat window (streams there as it arrives)
    COPY = "copy"  # put exactly the answer text on the clipboard
    NOTIFY = "notify"  # a desktop notification ("N characters copied")


@dataclass(frozen=True)
class Preset:
    id: str
    title: str
    prompt: str
    actions: frozenset[Action] = frozenset({Action.WINDOW})
    model: str | None = None
    max_tokens: int = 1024
    temperature: float = 0.2
    #: The person types the question (the ``ask`` preset); ``prompt`` frames it if not empty.
    asks_question: bool = False
    #: The answer is Markdown (False: plain text whose line breaks are kept, e.g. OCR).
    markdown: bool = True
    #: Text extraction the offline engine can answer when no model is reachable.
    offline: bool = False
    #: Check a model's reading against the offline engine's (numbers, dates, codes).
    verify: bool = False
    #: "receipt" or "table": the answer is validated as that structure ("" for prose).
    structured: str = ""
    builtin: bool = False

    def first_prompt(self, question: str | None = None) -> str:
        """The text of the first user turn."""
        if self.asks_question:
            if not question:
                raise ValueError(f"preset {self.id!r} needs a question")
            return f"{self.prompt}\n\n{question}" if self.prompt else question
        return self.prompt


_OCR = (
    "Transcribe all text in this image exactly as written. Keep the original language, "
    "spelling, punctuation, line breaks and reading order. Output only the text itself: "
    "no introduction, no explanation, no Markdown, no code fences. If there is no text, "
    "output nothing."
)

_BUILTINS = (
    Preset(
        id="ocr",
        title="Extract text",
        prompt=_OCR,
        actions=frozenset({Action.COPY, Action.NOTIFY}),
        max_tokens=4096,
        temperature=0.0,
        markdown=False,
        offline=True,
        verify=True,
    ),
    Preset(
        id="describe",
        title="Describe",
        prompt="Describe this image in detail, including colors, objects, and any text visible.",
        max_tokens=1024,
        temperature=0.2,
    ),
    Preset(
        id="ask",
        title="Ask a question",
        prompt="",
        asks_question=True,
        max_tokens=1024,
        temperature=0.2,
    ),
    Preset(
        id="receipt",
        title="Read receipt",
        prompt=RECEIPT_PROMPT,
        max_tokens=2048,
        temperature=0.0,
        structured="receipt",
    ),
    Preset(
        id="table",
        title="Table to Markdown",
        prompt=(
            "Convert the table in this image to a Markdown table. Keep every row and column, "
            "the header, and the cell text exactly as written. Output only the table."
        ),
        actions=frozenset({Action.WINDOW, Action.COPY}),
        max_tokens=4096,
        temperature=0.0,
        structured="table",
        verify=True,
    ),
    Preset(
        id="translate",
        title="Translate to English",
        prompt=(
            "Translate all text in this image into English. Keep the layout's structure "
            "(headings, lists, line breaks). Output only the translation."
        ),
        max_tokens=2048,
        temperature=0.1,
    ),
    Preset(
        id="code",
        title="Explain code",
        prompt=(
            "Transcribe the code in this image into a fenced code block with the right "
            "language tag, then explain briefly what it does and point out any bug you see."
        ),
        max_tokens=2048,
        temperature=0.1,
    ),
    Preset(
        id="latex",
        title="Formula to LaTeX",
        prompt=(
            "Write the mathematical formula in this image as LaTeX. Output only the LaTeX "
            "source, without $ delimiters, code fences or explanation."
        ),
        actions=frozenset({Action.COPY, Action.NOTIFY}),
        max_tokens=1024,
        temperature=0.0,
        markdown=False,
    ),
)

BUILTIN_PRESETS: tuple[Preset, ...] = tuple(replace(p, builtin=True) for p in _BUILTINS)

DEFAULT_PRESET_ID = "describe"


def builtin_presets() -> dict[str, Preset]:
    return {p.id: p for p in BUILTIN_PRESETS}


def merge_preset(base: Preset | None, preset_id: str, fields: dict) -> Preset:
    """A preset from config fields, on top of the built-in of the same id if there is one."""
    if base is None:
        base = Preset(id=preset_id, title=preset_id, prompt="")
    return replace(base, **fields)
