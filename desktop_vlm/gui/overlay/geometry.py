"""Where a selection lies: pointer positions mapped to the captured image's pixels.

The ratio is image size / window size, not devicePixelRatio (compositors that hand back
logical-size images make that wrong), snapped to the devicePixelRatio when the image is within a
pixel of it; positions are floored to the index of the pixel under the hotspot. See the package
docstring for why.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QPointF, QRect, QRectF, QSize

_EPSILON = 1e-6  # positions are whole device pixels up to float noise: 3 / 1.4 * 1.4 < 3


@dataclass(frozen=True)
class RegionInfo:
    """Where the selection lies: which screen, in desktop logical and in image pixel terms."""

    screen_name: str
    logical_rect: QRectF  # desktop (virtual) logical coordinates, as QScreen.geometry() uses
    pixel_rect: QRect  # coordinates in that screen's captured image
    covered: int = 0  # areas covered by hand inside it (R in the overlay)
    parts: int = 1  # regions combined into the image (Shift on release adds one)

    def as_dict(self) -> dict[str, Any]:
        logical, pixel = self.logical_rect, self.pixel_rect
        return {
            "screen_name": self.screen_name,
            "logical_rect": [logical.x(), logical.y(), logical.width(), logical.height()],
            "pixel_rect": [pixel.x(), pixel.y(), pixel.width(), pixel.height()],
            "covered": self.covered,
            "parts": self.parts,
        }


def image_scale(
    image_size: QSize, logical_size: QSize, device_pixel_ratio: float
) -> tuple[float, float]:
    """Image pixels per logical pixel across and down (see the module docstring for the snap)."""
    if logical_size.isEmpty() or image_size.isEmpty():
        return 1.0, 1.0
    fits_dpr = (
        abs(image_size.width() - logical_size.width() * device_pixel_ratio) < 1
        and abs(image_size.height() - logical_size.height() * device_pixel_ratio) < 1
    )
    if fits_dpr:
        return device_pixel_ratio, device_pixel_ratio
    return (
        image_size.width() / logical_size.width(),
        image_size.height() / logical_size.height(),
    )


def pixel_rect_between(a: QPointF, b: QPointF, image_size: QSize) -> QRect:
    """The image pixels under two image-space positions and all pixels between them."""

    def index(value: float, limit: int) -> int:
        return min(max(math.floor(value + _EPSILON), 0), limit - 1)

    left, right = sorted((index(a.x(), image_size.width()), index(b.x(), image_size.width())))
    top, bottom = sorted((index(a.y(), image_size.height()), index(b.y(), image_size.height())))
    return QRect(left, top, right - left + 1, bottom - top + 1)
