"""Solid boxes over an image: the only thing redaction does to pixels.

Used for the boxes the rules found and for the ones a person drew by hand in the capture
overlay, so both are painted the same way: opaque, with the edges rounded outwards, on a copy.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

from PIL import Image, ImageColor

#: Black: no text colour on a light theme looks like it, and on a dark theme it reads as a gap.
DEFAULT_FILL = "#000000"
#: Modes painted as they are; others (palette, CMYK, YCbCr, LAB) are converted to RGB(A) first,
#: where "black" means black.
_PAINTABLE_MODES = frozenset({"1", "L", "LA", "La", "RGB", "RGBA", "RGBa", "RGBX", "I", "F"})

BoxLike = Sequence[float]


def clamp_box(box: BoxLike, width: int, height: int) -> tuple[int, int, int, int] | None:
    """``box`` as whole pixels inside a ``width`` x ``height`` image: corners in either order
    (a rectangle dragged right to left), fractions rounded outwards; None when nothing is left."""
    x0, y0, x1, y1 = (float(v) for v in box)
    if not all(math.isfinite(v) for v in (x0, y0, x1, y1)):
        return None
    left = max(0, math.floor(min(x0, x1)))
    top = max(0, math.floor(min(y0, y1)))
    right = min(width, math.ceil(max(x0, x1)))
    bottom = min(height, math.ceil(max(y0, y1)))
    if right <= left or bottom <= top:
        return None
    return left, top, right, bottom


def paint_over(
    image: Image.Image,
    boxes: Iterable[BoxLike],
    color: str | tuple[int, int, int] = DEFAULT_FILL,
) -> Image.Image:
    """A new image: ``image`` with every box filled solid with ``color``.

    Boxes are ``(left, top, right, bottom)`` in the image's pixels, right and bottom exclusive
    (as OCR boxes are); boxes reaching past the edges are clipped, empty ones skipped. The
    source is never changed. Transparent images keep their alpha channel, and the boxes are
    opaque in it.
    """
    if image.mode in _PAINTABLE_MODES:
        out = image.copy()
    elif image.mode in ("P", "PA") and (image.mode == "PA" or "transparency" in image.info):
        out = image.convert("RGBA")
    else:
        out = image.convert("RGB")
    if not isinstance(color, str):
        color = "#{:02x}{:02x}{:02x}".format(*color[:3])
    fill = ImageColor.getcolor(color, out.mode)
    for box in boxes:
        pixels = clamp_box(box, out.width, out.height)
        if pixels is not None:
            out.paste(fill, pixels)
    return out
