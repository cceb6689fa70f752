"""QImage to the core's RawImage, without a PNG round trip."""

from __future__ import annotations

import sys

from PySide6.QtGui import QImage

from desktop_vlm.core.rawimage import RawImage


def to_raw(image: QImage) -> RawImage:
    """Copy the pixels out as 8-bit BGRA/RGBA rows (one memcpy; encoding happens elsewhere)."""
    if image.format() not in (QImage.Format.Format_ARGB32, QImage.Format.Format_RGB32):
        image = image.convertToFormat(QImage.Format.Format_ARGB32)
    # ARGB32 is a 32-bit word 0xAARRGGBB: BGRA in memory on little-endian machines.
    mode = "BGRA" if sys.byteorder == "little" else "ARGB"
    if image.format() == QImage.Format.Format_RGB32:
        mode = "BGRX" if sys.byteorder == "little" else "XRGB"
    data = bytes(image.constBits())[: image.sizeInBytes()]
    return RawImage(
        width=image.width(),
        height=image.height(),
        data=data,
        mode=mode,
        stride=image.bytesPerLine(),
    )
