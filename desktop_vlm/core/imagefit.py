"""An image made small enough for a provider that limits the image bytes of one request (Groq:
4 MB of base64). JPEG quality goes down first, then the size, a step at a time, until it fits;
an image that fits already is left exactly as it is."""

from __future__ import annotations

import io
import math

from PIL import Image

from desktop_vlm.core.errors import ImageError
from desktop_vlm.core.imageprep import PreparedImage

QUALITIES = (85, 75, 65)
MIN_SIDE = 256


def base64_size(data: bytes) -> int:
    return 4 * math.ceil(len(data) / 3)


def fit_base64(image: PreparedImage, max_base64_bytes: int | None) -> PreparedImage:
    """``image`` as is when its base64 is within ``max_base64_bytes``, else re-encoded smaller."""
    if not max_base64_bytes or base64_size(image.data) <= max_base64_bytes:
        return image
    with Image.open(io.BytesIO(image.data)) as opened:
        pixels = opened.convert("RGB")
    scale = 1.0
    while True:
        size = (max(1, round(pixels.width * scale)), max(1, round(pixels.height * scale)))
        candidate = pixels if scale == 1.0 else pixels.resize(size, Image.Resampling.LANCZOS)
        for quality in QUALITIES:
            out = io.BytesIO()
            candidate.save(out, format="JPEG", quality=quality, subsampling=0)
            data = out.getvalue()
            if base64_size(data) <= max_base64_bytes:
                return PreparedImage(
                    mime="image/jpeg",
                    data=data,
                    width=candidate.width,
                    height=candidate.height,
                    source_width=image.source_width,
                    source_height=image.source_height,
                )
        if min(size) <= MIN_SIDE:
            raise ImageError(
                "The image cannot be made small enough for this provider's limit "
                f"({max_base64_bytes // 1_000_000} MB)",
                "Capture a smaller region.",
            )
        scale *= 0.8
