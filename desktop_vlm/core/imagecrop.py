"""A part of an image, prepared to be sent on its own (a closer look at a region)."""

from __future__ import annotations

import io

from PIL import Image

from desktop_vlm.core.errors import ImageError
from desktop_vlm.core.imageprep import PreparedImage, prepare_image


def crop_image(data: bytes, box: tuple[int, int, int, int]) -> PreparedImage:
    """The region ``box`` = (x, y, width, height) of the encoded image ``data``."""
    x, y, width, height = box
    with Image.open(io.BytesIO(data)) as img:
        left, top = max(0, x), max(0, y)
        right, bottom = min(img.width, x + width), min(img.height, y + height)
        if right <= left or bottom <= top:
            raise ImageError("The chosen part of the image is empty", "Drag over a larger part.")
        part = img.crop((left, top, right, bottom))
        out = io.BytesIO()
        part.save(out, format="PNG")
    return prepare_image(out.getvalue())
