"""What an offline text reading is made of: words and lines with their boxes, in image pixels.

Shared by the offline OCR engine (services), the check of a model's reading against it and the
automatic redaction (core), so none of them depends on another's internals. Boxes are
``(left, top, right, bottom)`` in pixels of the image that was read, right and bottom exclusive.
"""

from __future__ import annotations

from dataclasses import dataclass, field

Box = tuple[int, int, int, int]


@dataclass(frozen=True)
class OcrWord:
    text: str
    box: Box
    confidence: float = 1.0


@dataclass(frozen=True)
class OcrLine:
    """One line of text in reading order; ``words`` carry their own boxes when the engine gives
    them (else they are estimated from the line's box by character count)."""

    text: str
    box: Box
    confidence: float = 1.0
    words: tuple[OcrWord, ...] = ()
    #: Lines of one block (paragraph, column) share a number; a new block starts a paragraph.
    block: int = 0


@dataclass(frozen=True)
class OcrResult:
    """The whole reading: ``text`` is the lines in reading order, one per line, with a blank
    line between blocks; ``engine`` names the engine and its models (for ``--json``'s model)."""

    text: str
    lines: tuple[OcrLine, ...] = ()
    engine: str = ""
    width: int = 0
    height: int = 0
    elapsed_s: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)
