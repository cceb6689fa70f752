"""Uncompressed pixels as a capture hands them over, without importing Pillow."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class RawImage:
    """Uncompressed pixels, e.g. a screen capture: rows of ``stride`` bytes in ``mode``.

    ``mode`` names the byte order in memory as Pillow's raw decoder spells it: "RGBA", "BGRA"
    (Qt's ARGB32 on little-endian machines), "ARGB" (on big-endian ones), "RGB", "BGR", "RGBX",
    "BGRX", "XRGB" or "L".
    """

    width: int
    height: int
    data: bytes
    mode: str = "BGRA"
    stride: int = 0
