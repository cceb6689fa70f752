"""Test images made in code: every Pillow mode, EXIF orientations, hostile files, raw pixels.

Nothing here is read from disk: each generator returns the encoded bytes (or pixels) a test
feeds to ``prepare_image``, so a failing case can be rebuilt from its arguments alone.
"""

from __future__ import annotations

import io
import random
import struct
import zlib
from collections.abc import Callable

from PIL import Image, ImageDraw

#: Colour of the marker square drawn into orientation test images.
MARKER = (255, 0, 0)


def encode(img: Image.Image, fmt: str, **params: object) -> bytes:
    out = io.BytesIO()
    img.save(out, format=fmt, **params)
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img


def gradient_16bit_png(width: int = 256, height: int = 4) -> bytes:
    """A 16-bit grey PNG whose columns run from 0 (left) to 65535 (right)."""
    img = Image.new("I;16", (width, height))
    img.putdata([round(x * 65535 / (width - 1)) for x in range(width)] * height)
    return encode(img, "PNG")


def gradient_32bit_tiff(width: int = 256, height: int = 4, *, high: int = 65535) -> bytes:
    """A mode "I" TIFF, columns from 0 to ``high``."""
    img = Image.new("I", (width, height))
    img.putdata([round(x * high / (width - 1)) for x in range(width)] * height)
    return encode(img, "TIFF")


def gradient_float_tiff(width: int = 256, height: int = 4) -> bytes:
    """A mode "F" TIFF with values from -1.0 (left) to 1.0 (right), as scientific images have."""
    img = Image.new("F", (width, height))
    img.putdata([-1.0 + 2.0 * x / (width - 1) for x in range(width)] * height)
    return encode(img, "TIFF")


def glyph_on_transparent(mode: str = "RGBA", size: tuple[int, int] = (64, 48)) -> Image.Image:
    """A black filled square in the middle of a fully transparent image (dark text on
    nothing, as a screenshot of a text layer has). The transparent pixels are black too,
    so dropping alpha instead of flattening makes the whole image black."""
    img = Image.new("RGBA", size, (0, 0, 0, 0))
    w, h = size
    ImageDraw.Draw(img).rectangle((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=(0, 0, 0, 255))
    if mode == "RGBA":
        return img
    if mode == "LA":
        return img.convert("LA")
    if mode == "PA":
        return _grey_pa(img.convert("LA"))
    raise ValueError(mode)


def _grey_pa(la: Image.Image) -> Image.Image:
    """An "LA" image as "PA" with a grey palette (index i is grey level i)."""
    pa = Image.merge("PA", la.split())
    pa.putpalette([v for i in range(256) for v in (i, i, i)])
    return pa


def glyph_on_transparent_palette(size: tuple[int, int] = (64, 48)) -> bytes:
    """A "P" PNG with a transparent palette entry (tRNS) as background and a black square."""
    img = Image.new("P", size, 0)
    img.putpalette([0, 0, 0, 0, 0, 0] + [0] * (254 * 3))
    w, h = size
    ImageDraw.Draw(img).rectangle((w // 4, h // 4, 3 * w // 4, 3 * h // 4), fill=1)
    return encode(img, "PNG", transparency=0)


def marked_image(size: tuple[int, int] = (120, 80)) -> Image.Image:
    """White RGB image with a red square in its stored top-left corner."""
    img = Image.new("RGB", size, (255, 255, 255))
    side = min(size) // 4
    ImageDraw.Draw(img).rectangle((0, 0, side - 1, side - 1), fill=MARKER)
    return img


def with_orientation(
    orientation: int, fmt: str = "JPEG", size: tuple[int, int] = (120, 80)
) -> bytes:
    """``marked_image`` stored as is, with an EXIF Orientation tag telling viewers to rotate."""
    img = marked_image(size)
    exif = Image.Exif()
    exif[0x0112] = orientation
    params: dict[str, object] = {"exif": exif.tobytes()}
    if fmt == "JPEG":
        params.update(quality=95, subsampling=0)
    return encode(img, fmt, **params)


def with_huge_exif(size: tuple[int, int] = (40, 30), comment_bytes: int = 60_000) -> bytes:
    """A JPEG whose APP1 EXIF segment is nearly the 64 KB maximum."""
    exif = Image.Exif()
    exif[0x010E] = "x" * comment_bytes  # ImageDescription
    exif[0x0112] = 1
    return encode(Image.new("RGB", size, (0, 128, 255)), "JPEG", exif=exif.tobytes())


def png_declaring(width: int, height: int, *, bit_depth: int = 1, colour_type: int = 0) -> bytes:
    """A tiny PNG whose IHDR declares ``width`` x ``height`` but whose data is a few bytes:
    what a decompression bomb or a damaged download looks like before decoding."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


def noise(mode: str, size: tuple[int, int], seed: int) -> Image.Image:
    """Deterministic random pixels in ``mode`` (a photo-like image that does not compress)."""
    rng = random.Random(seed)
    rgb = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    if mode == "RGB":
        return rgb
    if mode in ("I;16", "I"):
        return rgb.convert("L").convert("I").point(lambda v: v * 257).convert(mode)
    if mode == "F":
        return rgb.convert("L").convert("F").point(lambda v: v / 255)
    if mode in ("RGBA", "LA", "PA"):
        alpha = Image.frombytes("L", size, rng.randbytes(size[0] * size[1]))
        rgba = rgb.copy()
        rgba.putalpha(alpha)
        return _grey_pa(rgba.convert("LA")) if mode == "PA" else rgba.convert(mode)
    return rgb.convert(mode)


def animated_gif(colours: list[tuple[int, int, int]], size: tuple[int, int] = (32, 24)) -> bytes:
    frames = [Image.new("RGB", size, c).convert("P") for c in colours]
    return encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)


def raw_pixels(
    width: int,
    height: int,
    stride: int,
    order: str,
    pixel_at: Callable[[int, int], tuple[int, int, int, int]],
) -> bytes:
    """Rows of ``stride`` bytes, each pixel four bytes in ``order`` ("BGRA" or "RGBA"), the
    padding after each row filled with 0xEE so a decoder that ignores the stride shows it."""
    rows = bytearray()
    for y in range(height):
        row = bytearray()
        for x in range(width):
            r, g, b, a = pixel_at(x, y)
            row += bytes((b, g, r, a)) if order == "BGRA" else bytes((r, g, b, a))
        row += b"\xee" * (stride - len(row))
        rows += row
    return bytes(rows)
