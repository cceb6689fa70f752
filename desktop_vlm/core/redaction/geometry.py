"""From characters to pixels: a line's text with each character's word, and the box that covers
a span of characters.

A span that covers whole words gets the union of those words' boxes. Where a span begins or ends
inside a word ("key=sk-abc..."), the cut is placed by character position within the word's box,
estimated twice: with every character equally wide (monospace: code, terminals) and with the
advance widths of a typical sans-serif UI font (``_SANS_WIDTHS``), and the estimate that covers
more wins. It is then moved one average character further out: covering the "=" next to a key
costs nothing, showing the key's first character would leak it. (Measured on DejaVu Sans 16 px
read by rapidocr: "OPENAI_API_KEY=sk-..." as one word, the even estimate puts the key's start
15 px late, the sans one 1 px early.)

OCR word boxes tend to stop a few pixels short of the first and last glyph of a line, where the
line box (from the text detector) does not, so the first and last word of a line are widened to
the line box.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from desktop_vlm.core.ocr_types import Box, OcrLine

#: How far a cut inside a word is moved outwards, in average character widths of that word.
CUT_MARGIN_CHARS = 1.0
#: Advance widths in em of the printable ASCII characters, the mean of DejaVu Sans and
#: Liberation Sans (Arial's metrics), to 0.05 em. Other characters count as 0.6 em.
_SANS_WIDTHS = {
    0.25: "ijl'", 0.3: "fI,./:;\\| ", 0.35: "rt!()-[]", 0.4: 'J"`', 0.45: "*", 0.5: "csz{}",
    0.55: "kvxyL?_", 0.6: "0123456789abdeghnopquFT$", 0.65: "EKPSYZ^",
    0.7: "ABCRVX#&+<=>~", 0.75: "wDHNU", 0.8: "GOQ", 0.85: "M", 0.9: "m%", 0.95: "W", 1.0: "@",
}  # fmt: skip
_WIDTH_OF = {char: width for width, chars in _SANS_WIDTHS.items() for char in chars}


@dataclass(frozen=True)
class _Piece:
    start: int
    end: int
    box: Box


@dataclass(frozen=True)
class LineText:
    """A line's text and where each word's characters are in it."""

    text: str
    pieces: tuple[_Piece, ...]
    box: Box
    #: True when the line was longer than ``max_chars`` and only its start is here.
    truncated: bool = False

    @classmethod
    def of(cls, line: OcrLine, max_chars: int) -> LineText:
        """The line's own text when its words can be found in it in order with nothing but
        spaces between them (an engine may split "sk-abcAbc" into words "sk-abc", "Abc" where
        the text has no space: the text is what was on the screen); otherwise the words joined
        by single spaces. A line without word boxes is one word: its text in its box."""
        line_box = _ordered(line.box)
        words = [(w.text, _ordered(w.box)) for w in line.words if w.text]
        if not words:
            text, pieces = line.text, [_Piece(0, len(line.text), line_box)]
        else:
            starts = _find_in_order(line.text, [word for word, _ in words])
            if starts is not None:
                text = line.text
            else:
                text, starts, position = " ".join(w for w, _ in words), [], 0
                for word, _ in words:
                    starts.append(position)
                    position += len(word) + 1
            pieces = [_Piece(a, a + len(w), box) for a, (w, box) in zip(starts, words, strict=True)]
        truncated = len(text) > max_chars
        if truncated:  # keep the start; a word cut in two keeps its share of the box
            text = text[:max_chars]
            pieces = [_cut_to(p, max_chars) for p in pieces if p.start < max_chars]
        if line.words and pieces:
            pieces[0] = _widened(pieces[0], line_box, left=True)
            if not truncated:
                pieces[-1] = _widened(pieces[-1], line_box, left=False)
        return cls(text, tuple(pieces), line_box, truncated)

    def box_of(self, start: int, end: int) -> Box | None:
        """The box covering characters ``start:end`` (None when they fall on no word)."""
        boxes = []
        for piece in self.pieces:
            low, high = max(start, piece.start), min(end, piece.end)
            if low >= high:
                continue
            left, top, right, bottom = piece.box
            word = self.text[piece.start : piece.end]
            margin = CUT_MARGIN_CHARS * (right - left) / len(word)
            cut_left, cut_right = float(left), float(right)
            if low != piece.start:
                cut_left = min(_cut_positions(piece.box, word, low - piece.start)) - margin
            if high != piece.end:
                cut_right = max(_cut_positions(piece.box, word, high - piece.start)) + margin
            boxes.append(
                (
                    max(left, math.floor(cut_left)),
                    top,
                    min(right, math.ceil(cut_right)),
                    bottom,
                )
            )
        return union(boxes) if boxes else None


def _cut_positions(box: Box, word: str, chars: int) -> tuple[float, float]:
    """Where in ``box`` the first ``chars`` characters of ``word`` end: with every character
    equally wide, and with sans-serif advance widths."""
    left, right = box[0], box[2]
    even = left + (right - left) * chars / len(word)
    widths = [_WIDTH_OF.get(c, 0.6) for c in word]
    sans = left + (right - left) * sum(widths[:chars]) / sum(widths)
    return even, sans


def _find_in_order(text: str, words: list[str]) -> list[int] | None:
    """Where each word starts in ``text``, when they follow each other with only spaces between
    (and around) them; None otherwise."""
    starts, position = [], 0
    for word in words:
        found = text.find(word, position)
        if found < 0 or text[position:found].strip():
            return None
        starts.append(found)
        position = found + len(word)
    return starts if not text[position:].strip() else None


def _cut_to(piece: _Piece, limit: int) -> _Piece:
    if piece.end <= limit:
        return piece
    left, top, right, bottom = piece.box
    kept = (limit - piece.start) / (piece.end - piece.start)
    return _Piece(piece.start, limit, (left, top, left + math.ceil((right - left) * kept), bottom))


def _widened(piece: _Piece, line_box: Box, left: bool) -> _Piece:
    """The line's first (``left``) or last word reaching out to the line box's edge, when that
    edge lies just beyond it (at most one line height: a bogus line box is not trusted)."""
    w_left, w_top, w_right, w_bottom = piece.box
    reach = max(w_bottom - w_top, line_box[3] - line_box[1])
    if left and 0 < w_left - line_box[0] <= reach:
        return _Piece(piece.start, piece.end, (line_box[0], w_top, w_right, w_bottom))
    if not left and 0 < line_box[2] - w_right <= reach:
        return _Piece(piece.start, piece.end, (w_left, w_top, line_box[2], w_bottom))
    return piece


def _ordered(box: Box) -> Box:
    left, top, right, bottom = (int(v) for v in box)
    return min(left, right), min(top, bottom), max(left, right), max(top, bottom)


def union(boxes: list[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def pad_box(box: Box, pad: int, width: int = 0, height: int = 0, side_slack: float = 0.0) -> Box:
    """``box`` grown by ``pad`` pixels on every side, and by ``side_slack`` times its height
    more on the left and right; kept inside ``width`` x ``height`` (when they are known, i.e.
    not 0) and never below 0."""
    left, top, right, bottom = box
    side = pad + round(side_slack * (bottom - top))
    left, top = max(0, left - side), max(0, top - pad)
    right, bottom = right + side, bottom + pad
    if width > 0:
        right = min(right, width)
    if height > 0:
        bottom = min(bottom, height)
    return left, top, right, bottom
