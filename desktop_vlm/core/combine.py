"""Two regions in one image: the API takes one image per request, so "what changed between 1 and
2?" is asked about a single picture holding both, each under a band with its number.

The layout puts the parts side by side or one above the other, whichever leaves them larger once
the whole is brought within the API's 2048 pixels (a wide pair stacks, a tall pair sits side by
side); the parts keep their own pixels, top-aligned, on a neutral background.
"""

from __future__ import annotations

from dataclasses import dataclass

from desktop_vlm.core.imageprep import MAX_SIDE

#: Height of the band that carries a part's number, and the gap between the parts, in pixels of
#: the combined image before any downscaling.
LABEL_BAND = 36
GAP = 16


@dataclass(frozen=True)
class Placement:
    """Where each part and its numbered band go, in the combined image's pixels."""

    width: int
    height: int
    parts: tuple[tuple[int, int], ...]  # top-left corner of each part
    bands: tuple[tuple[int, int, int, int], ...]  # x, y, width, height of each number's band
    side_by_side: bool


def place(sizes: list[tuple[int, int]], max_side: int = MAX_SIDE) -> Placement:
    """The layout of parts of ``sizes`` (width, height), numbered in order from 1."""
    if not sizes or any(w <= 0 or h <= 0 for w, h in sizes):
        raise ValueError("every part needs a positive size")
    across = _layout(sizes, side_by_side=True)
    down = _layout(sizes, side_by_side=False)

    def scale(p: Placement) -> float:
        return min(1.0, max_side / max(p.width, p.height))

    # Larger parts after the fit win; at equal size, the less elongated whole.
    def key(p: Placement) -> tuple[float, float]:
        return (round(scale(p), 4), -max(p.width, p.height) / min(p.width, p.height))

    return max((across, down), key=key)


def _layout(sizes: list[tuple[int, int]], *, side_by_side: bool) -> Placement:
    parts: list[tuple[int, int]] = []
    bands: list[tuple[int, int, int, int]] = []
    x = y = 0
    for w, h in sizes:
        bands.append((x, y, w, LABEL_BAND))
        parts.append((x, y + LABEL_BAND))
        if side_by_side:
            x += w + GAP
        else:
            y += LABEL_BAND + h + GAP
    if side_by_side:
        width = x - GAP
        height = LABEL_BAND + max(h for _, h in sizes)
    else:
        width = max(w for w, _ in sizes)
        height = y - GAP
    return Placement(width, height, tuple(parts), tuple(bands), side_by_side)
