"""Reading order: from recognised line boxes to text a person would type.

A recursive XY-cut. A region splits into columns where a vertical gutter of clear width runs
through its whole height and both sides hold at least two rows of wide text; otherwise it splits at
its largest horizontal gap (the topmost of equal ones, so a heading comes off before the
columns below it are found). What can no longer be split is one visual row: its pieces are
joined left to right by single spaces. Consecutive rows form a block unless the vertical gap
between them is clearly larger than the gap between lines, or a column boundary lies between
them; blocks are separated by a blank line.

Pure Python, no numpy: the rules are tested on boxes alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import median

Box = tuple[int, int, int, int]

#: A gutter this many (median) line heights wide separates columns.
COLUMN_GAP = 1.5
#: Both columns must be this many line heights wide (in the median): text set in columns is;
#: the prices beside the items of a receipt are not, and are read with their rows.
COLUMN_WIDTH = 4
#: A vertical gap this many line heights above the usual one between lines starts a new block.
BLOCK_GAP = 0.4
#: Boxes of consecutive rows may overlap by this many line heights and still be two rows.
OVERLAP = 0.3


@dataclass(frozen=True)
class Piece:
    """One recognised line box (the detector may cut a visual row into several)."""

    text: str
    box: Box
    index: int = 0  # the caller's own handle


@dataclass(frozen=True)
class Row:
    pieces: tuple[Piece, ...]  # left to right
    box: Box
    block: int

    @property
    def text(self) -> str:
        return " ".join(p.text for p in self.pieces if p.text)


def arrange(pieces: list[Piece]) -> list[Row]:
    """The rows in reading order, each with its block number."""
    pieces = [p for p in pieces if p.text.strip()]
    if not pieces:
        return []
    line_h = median(p.box[3] - p.box[1] for p in pieces)
    leaves: list[tuple[list[Piece], int]] = []
    _cut(pieces, line_h, leaves, [0])
    placed = []
    for group, column in leaves:
        group.sort(key=lambda p: p.box[0])
        placed.append((tuple(group), _union([p.box for p in group]), column))
    # The usual gap between lines of a block (negative when the boxes overlap, as the
    # detector's boxes of tightly set lines do): the lower third of the gaps seen, since most
    # gaps are inside blocks. Only a gap clearly above it separates blocks.
    gaps = sorted(
        box[1] - before[1][3]
        for before, (_, box, column) in zip(placed, placed[1:], strict=False)
        if column == before[2]
    )
    usual = min(gaps[len(gaps) // 3], 0) if len(gaps) == 1 else gaps[len(gaps) // 3] if gaps else 0
    usual = min(usual, OVERLAP * line_h)
    rows: list[Row] = []
    block = -1
    for i, (group, box, column) in enumerate(placed):
        if (
            i == 0
            or column != placed[i - 1][2]
            or box[1] - placed[i - 1][1][3] > (usual + BLOCK_GAP * line_h)
        ):
            block += 1
        rows.append(Row(group, box, block))
    return rows


def _cut(pieces: list[Piece], line_h: float, out: list, column: list[int]) -> None:
    """Append (row pieces, column id) to ``out`` in reading order."""
    split = _gutter(pieces, line_h)
    if split is not None:
        left = [p for p in pieces if _mid_x(p) < split]
        right = [p for p in pieces if _mid_x(p) >= split]
        if left and right:
            _cut(left, line_h, out, column)
            column[0] += 1
            _cut(right, line_h, out, column)
            column[0] += 1
            return
    gaps = _gaps([(p.box[1], p.box[3]) for p in pieces], OVERLAP * line_h)
    if gaps:
        widest = max(size for _, size in gaps)
        at = next(pos for pos, size in gaps if size >= widest - 2)  # topmost of the widest
        above = [p for p in pieces if _mid_y(p) < at]
        below = [p for p in pieces if _mid_y(p) >= at]
        if above and below:
            _cut(above, line_h, out, column)
            _cut(below, line_h, out, column)
            return
    out.append((list(pieces), column[0]))  # one visual row


def _gutter(pieces: list[Piece], line_h: float) -> float | None:
    """The x of the widest clear vertical gutter that separates two columns, if any."""
    best = None
    for pos, size in _gaps([(p.box[0], p.box[2]) for p in pieces], 0):
        if size < COLUMN_GAP * line_h:
            continue
        left = [p for p in pieces if _mid_x(p) < pos]
        right = [p for p in pieces if _mid_x(p) >= pos]
        if _rows(left, line_h) < 2 or _rows(right, line_h) < 2:
            continue
        if min(_width(left), _width(right)) < COLUMN_WIDTH * line_h:
            continue  # a narrow side is a table's column (prices on a receipt), read row by row
        if best is None or size > best[1]:
            best = (pos, size)
    return None if best is None else best[0]


def _width(pieces: list[Piece]) -> float:
    return median(p.box[2] - p.box[0] for p in pieces)


def _rows(pieces: list[Piece], line_h: float) -> int:
    if not pieces:
        return 0
    return len(_gaps([(p.box[1], p.box[3]) for p in pieces], OVERLAP * line_h)) + 1


def _gaps(spans: list[tuple[int, int]], tolerance: float) -> list[tuple[float, float]]:
    """(middle, size) of the gaps between the intervals ``spans`` cover. Intervals that overlap
    by at most ``tolerance`` still have a gap between them (of negative size): boxes of tightly
    spaced lines overlap by a few pixels after the detector's unclip."""
    gaps: list[tuple[float, float]] = []
    reach: float | None = None
    for start, end in sorted(spans):
        if reach is not None and start >= reach - tolerance and end > reach:
            gaps.append(((reach + start) / 2, start - reach))
        reach = end if reach is None else max(reach, end)
    return gaps


def _mid_x(piece: Piece) -> float:
    return (piece.box[0] + piece.box[2]) / 2


def _mid_y(piece: Piece) -> float:
    return (piece.box[1] + piece.box[3]) / 2


def _union(boxes: list[Box]) -> Box:
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )


def to_text(rows: list[Row]) -> str:
    """Rows one per line, a blank line between blocks."""
    lines: list[str] = []
    block = None
    for row in rows:
        if block is not None and row.block != block:
            lines.append("")
        lines.append(row.text)
        block = row.block
    return "\n".join(lines)
