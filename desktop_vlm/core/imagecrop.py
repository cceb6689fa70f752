"""A part of an image, prepared to be sent on its own (a closer look at a region).

The part is cut from the capture as it was taken when that is still at hand, so a region of a
4K screen that went out downscaled to 2048 px is sent again at its own detail; otherwise it is
cut from the image that was sent.
"""

from __future__ import annotations

import io
from typing import Any

from PIL import Image

from desktop_vlm.core.errors import ImageError
from desktop_vlm.core.imageprep import PreparedImage, load_image, prepare_image, prepare_loaded

Box = tuple[int, int, int, int]  # x, y, width, height


def crop_image(data: bytes, box: Box) -> PreparedImage:
    """The region ``box`` of the encoded image ``data``."""
    with Image.open(io.BytesIO(data)) as img:
        part = img.crop(_clamped(box, img.width, img.height))
        out = io.BytesIO()
        part.save(out, format="PNG")
    return prepare_image(out.getvalue())


def crop_source(source: Any, box: Box, *, image_format: str = "auto") -> PreparedImage:
    """The region ``box`` (in the source's own pixels) of a capture, file or image bytes, cut
    at full resolution (then brought within the API's limit like any image)."""
    img = source if isinstance(source, Image.Image) else load_image(source, max_side=0)[0]
    part = img.crop(_clamped(box, img.width, img.height))
    return prepare_loaded(part, image_format=image_format)


def to_source_box(region: Box, shown: tuple[int, int], box: Box) -> Box:
    """``region`` in the pixels of an image of size ``shown`` that shows ``box`` of the source,
    as a box in the source's pixels (rounded outwards: nothing selected is lost)."""
    x, y, w, h = region
    sx, sy = box[2] / shown[0], box[3] / shown[1]
    left, top = box[0] + int(x * sx), box[1] + int(y * sy)
    right = box[0] + min(box[2], -int(-(x + w) * sx))
    bottom = box[1] + min(box[3], -int(-(y + h) * sy))
    return left, top, right - left, bottom - top


def _clamped(box: Box, width: int, height: int) -> tuple[int, int, int, int]:
    x, y, w, h = box
    left, top = max(0, x), max(0, y)
    right, bottom = min(width, x + w), min(height, y + h)
    if right <= left or bottom <= top:
        raise ImageError("The chosen part of the image is empty", "Drag over a larger part.")
    return left, top, right, bottom
