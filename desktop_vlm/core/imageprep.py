"""Turn whatever the person gave us into an image the API accepts.

The API takes one JPEG or PNG of at most 2048x2048 pixels, as a base64 ``data:`` URL. Input may
be a file path, encoded bytes, or raw pixels from a screen capture. Every Pillow mode is brought
to 8-bit L or RGB; transparency is flattened onto white, because model preprocessors drop the
alpha channel and dark text on a transparent background would otherwise turn black on black.
Hostile input (decompression bombs, truncated files, non-images) is refused with an ImageError.
"""

from __future__ import annotations

import base64
import io
import logging
import os
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

from desktop_vlm.core.encoding import encode
from desktop_vlm.core.errors import ImageError
from desktop_vlm.core.rawimage import RawImage

log = logging.getLogger(__name__)

#: The API's limit on either side.
MAX_SIDE = 2048
#: Refuse anything larger before decoding it: 9000x6000 photos (54 MP) pass, bombs do not.
MAX_PIXELS = 120_000_000
#: Encoded files larger than this are not read at all.
MAX_FILE_BYTES = 200 * 1024 * 1024
#: Formats we decode; everything else (SVG, PDF, EPS, ...) is refused by name.
#: (Multi-picture JPEGs, "MPO", are opened by the JPEG plugin; Pillow has no "MPO" opener.)
READABLE_FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "TIFF", "BMP", "ICO", "PPM", "TGA")
#: Outputs of at least this many pixels are resized in strips on several threads.
PARALLEL_PIXELS = 1_000_000
MAX_THREADS = 4

ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass(frozen=True)
class PreparedImage:
    mime: str
    data: bytes
    width: int
    height: int
    source_width: int
    source_height: int
    #: How the bytes were made: "png palette 256", "png palette exact 12", "png",
    #: "jpeg q90 4:4:4", "jpeg q90 4:2:0" (see desktop_vlm.core.encoding).
    encoding: str = ""

    @property
    def data_url(self) -> str:
        return f"data:{self.mime};base64,{base64.b64encode(self.data).decode('ascii')}"

    @property
    def format_name(self) -> str:
        return "PNG" if self.mime == "image/png" else "JPEG"

    def describe(self) -> str:
        size = f"{self.width}x{self.height}"
        if (self.width, self.height) != (self.source_width, self.source_height):
            size = f"{self.source_width}x{self.source_height} → {size}"
        how = self.encoding.split(" ", 1)[1] if " " in self.encoding else ""
        how = f" ({how})" if how else ""
        return f"{size} {self.format_name}{how}, {len(self.data) / 1024:.0f} KB"


def prepare_image(
    source: str | os.PathLike[str] | bytes | RawImage,
    *,
    max_side: int = MAX_SIDE,
    image_format: str = "auto",
    jpeg_quality: int = 90,
) -> PreparedImage:
    """Decode, orient, convert, downscale and encode ``source`` for the API.

    "auto" encodes by content (palette PNG for screens, JPEG for photographs; see
    desktop_vlm.core.encoding); "png" is lossless truecolour or grey PNG, "jpeg" is JPEG 4:4:4.
    """
    if image_format not in ("auto", "png", "jpeg"):
        raise ValueError(f"image_format must be auto, png or jpeg, not {image_format!r}")
    img, source_size = load_image(source, max_side=max_side)
    return prepare_loaded(
        img, source_size, max_side=max_side, image_format=image_format, jpeg_quality=jpeg_quality
    )


def load_image(
    source: str | os.PathLike[str] | bytes | RawImage, *, max_side: int = MAX_SIDE
) -> tuple[Image.Image, tuple[int, int]]:
    """The upright 8-bit pixels of ``source`` (L, RGB or RGBA), and the size it declares.

    A JPEG much larger than ``max_side`` decodes at a reduced scale (it is downscaled anyway);
    ``max_side=0`` decodes every pixel (a closer look at a part).
    """
    if isinstance(source, RawImage):
        img = _from_raw(source)
        source_size = img.size
    else:
        img, source_size = _decode(_read_source(source), max_side or 1 << 30)
        before = img.size
        img = _orient(img)
        if img.size != before:  # rotated by 90 or 270 degrees
            source_size = source_size[::-1]
    return _to_8bit(img), source_size


def prepare_loaded(
    img: Image.Image,
    source_size: tuple[int, int] | None = None,
    *,
    max_side: int = MAX_SIDE,
    image_format: str = "auto",
    jpeg_quality: int = 90,
) -> PreparedImage:
    """Downscale and encode pixels from ``load_image`` (or painted over since) for the API."""
    source_size = source_size or img.size
    img = _downscale(img, max_side)
    encoded = encode(img, image_format, jpeg_quality)
    log.debug(
        "encoded %sx%s as %s, %s bytes", img.width, img.height, encoded.method, len(encoded.data)
    )
    return PreparedImage(
        mime=encoded.mime,
        data=encoded.data,
        width=img.width,
        height=img.height,
        source_width=source_size[0],
        source_height=source_size[1],
        encoding=encoded.method,
    )


def read_image_bytes(source: str | os.PathLike[str] | bytes) -> bytes:
    """The bytes of ``source``, refused with an ImageError when missing, too big or not an image.

    Cheap (no decoding): callers check the input before choosing where to send it.
    """
    data = _read_source(source)
    what = _sniff_non_image(data)
    if what:
        name = "the image" if isinstance(source, bytes | bytearray | memoryview) else str(source)
        raise ImageError(f"{name} is {what}", "Supported: PNG, JPEG, WebP, GIF, TIFF, BMP.")
    return data


def _read_source(source: str | os.PathLike[str] | bytes) -> bytes:
    if isinstance(source, bytes | bytearray | memoryview):
        data = bytes(source)
        name = "the image"
    else:
        path = Path(source)
        name = str(path)
        try:
            size = path.stat().st_size
            if size > MAX_FILE_BYTES:
                raise ImageError(
                    f"{name} is {size // (1024 * 1024)} MB, too large to be an image we can send",
                    "Use a smaller image.",
                )
            data = path.read_bytes()
        except IsADirectoryError:
            raise ImageError(
                f"{name} is a folder, not an image", "Give the path of a file."
            ) from None
        except FileNotFoundError:
            raise ImageError(f"{name} does not exist", "Check the path.") from None
        except PermissionError:
            raise ImageError(f"{name} cannot be read (permission denied)") from None
        except OSError as exc:
            raise ImageError(f"{name} cannot be read: {exc.strerror or exc}") from None
    if not data:
        raise ImageError(f"{name} is empty (0 bytes)", "Use a PNG or JPEG image.")
    return data


def _sniff_non_image(data: bytes) -> str | None:
    head = data[:512].lstrip()
    low = head.lower()
    if head.startswith(b"%PDF"):
        return "a PDF document; export the page as PNG first"
    if b"<svg" in low or (low.startswith(b"<?xml") and b"svg" in low):
        return "an SVG vector drawing; export it as PNG first"
    if low.startswith((b"<!doctype html", b"<html")):
        return "an HTML page, not an image"
    if low.startswith(b"%!ps"):
        return "a PostScript file; export it as PNG first"
    try:
        data[:4096].decode("utf-8")
    except UnicodeDecodeError:
        return None
    if all(b >= 0x09 for b in data[:4096]):
        return "text, not an image"
    return None


def _decode(data: bytes, max_side: int) -> tuple[Image.Image, tuple[int, int]]:
    """The decoded first frame, and the size the file declares (before any draft scaling)."""
    what = _sniff_non_image(data)
    if what:
        raise ImageError(f"The input is {what}", "Supported: PNG, JPEG, WebP, GIF, TIFF, BMP.")
    try:
        with warnings.catch_warnings():
            # Pillow warns from 89 MP on; MAX_PIXELS below is the limit we promise (and enforce).
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=READABLE_FORMATS)
    except Image.DecompressionBombError:
        raise _bomb() from None
    except UnidentifiedImageError:
        raise ImageError(
            "The input is not an image format we can read",
            "Supported: PNG, JPEG, WebP, GIF, TIFF, BMP.",
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise ImageError(f"The image cannot be decoded: {exc}") from None
    width, height = img.size
    if width <= 0 or height <= 0:
        raise ImageError("The image has no pixels (zero width or height)")
    if width * height > MAX_PIXELS:
        raise _bomb(width, height)
    # Animated GIF/WebP/APNG open at their first frame, which is what a person sees first.
    # (Not n_frames: it parses every later frame, and a damaged one raises IndexError.)
    if img.format == "JPEG" and max(width, height) > 2 * max_side:
        # Let libjpeg decode at 1/2, 1/4 or 1/8 scale: much faster, and we downscale anyway.
        scale = max_side / max(width, height)
        img.draft(img.mode, (max(1, int(width * scale)), max(1, int(height * scale))))
    try:
        img.load()
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise ImageError(
            f"The image is damaged or truncated ({exc})", "Save it again and retry."
        ) from None
    return img, (width, height)


def _bomb(width: int = 0, height: int = 0) -> ImageError:
    size = f" ({width}x{height})" if width else ""
    return ImageError(
        f"The image is too large to open safely{size}",
        f"Images up to {MAX_PIXELS // 1_000_000} megapixels are accepted.",
    )


def _orient(img: Image.Image) -> Image.Image:
    try:
        # in_place: without it, an image that needs no turn is copied (25 MB for a 4K screen).
        ImageOps.exif_transpose(img, in_place=True)
        return img
    except Exception as exc:  # noqa: BLE001 - malformed EXIF must not stop us
        log.warning("ignoring unreadable EXIF orientation: %s", exc)
        return img


#: Bytes per pixel of each RawImage.mode. ARGB and XRGB are Qt's ARGB32 and RGB32 as they lie in
#: memory on big-endian machines (desktop_vlm.platform.qimage names them so).
_RAW_BANDS = {
    "RGBA": 4,
    "BGRA": 4,
    "ARGB": 4,
    "RGBX": 4,
    "BGRX": 4,
    "XRGB": 4,
    "RGB": 3,
    "BGR": 3,
    "L": 1,
}


def _from_raw(raw: RawImage) -> Image.Image:
    if raw.width <= 0 or raw.height <= 0:
        raise ImageError("The captured region is empty", "Drag a larger rectangle.")
    if raw.width * raw.height > MAX_PIXELS:
        raise _bomb(raw.width, raw.height)
    bands = _RAW_BANDS.get(raw.mode)
    if bands is None:
        raise ValueError(f"RawImage.mode must be one of {', '.join(_RAW_BANDS)}, not {raw.mode!r}")
    stride = raw.stride or raw.width * bands
    if len(raw.data) < stride * (raw.height - 1) + raw.width * bands:
        raise ImageError("The captured pixels are incomplete")
    target = "RGBA" if raw.mode in ("RGBA", "BGRA", "ARGB") else "L" if raw.mode == "L" else "RGB"
    # frombytes, not frombuffer: frombuffer maps RGBA/RGBX rows directly and then wants
    # stride * height bytes, refusing a last row without padding that the check above allows.
    return Image.frombytes(target, (raw.width, raw.height), raw.data, "raw", raw.mode, stride, 1)


def _to_8bit(img: Image.Image) -> Image.Image:
    """Bring any mode to L or RGB (alpha flattened onto white)."""
    mode = img.mode
    if mode in ("L", "RGB"):
        return img
    if mode == "1":
        return img.convert("L")
    if mode == "P":
        img = img.convert("RGBA") if "transparency" in img.info else img.convert("RGB")
        return _to_8bit(img)
    if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
        # Scale the full 16-bit range to 8 bits; a plain convert("L") would clip to white.
        img32 = img.convert("I") if mode != "I" else img
        high = img32.getextrema()[1] or 1
        scale = 1 / 256 if high > 255 else 1
        return img32.point(lambda v: v * scale).convert("L")
    if mode == "F":
        low, high = img.getextrema()
        span = (high - low) or 1
        return img.point(lambda v: (v - low) * 255 / span).convert("L")
    if mode in ("LA", "La", "PA", "RGBa", "RGBA"):
        rgba = img.convert("RGBA")
        if rgba.getextrema()[3][0] == 255:
            flat = rgba.convert("RGB")  # fully opaque: nothing to flatten
        else:
            background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
            background.alpha_composite(rgba)
            flat = background.convert("RGB")
        return flat.convert("L") if mode in ("LA", "La") else flat
    # CMYK, YCbCr, LAB, HSV and the rest: Pillow knows how to reach RGB.
    try:
        return img.convert("RGB")
    except ValueError as exc:
        raise ImageError(f"Images in the {mode} colour mode are not supported ({exc})") from None


def target_size(width: int, height: int, max_side: int = MAX_SIDE) -> tuple[int, int]:
    """The size after downscaling so neither side exceeds ``max_side``, aspect kept."""
    longest = max(width, height)
    if longest <= max_side:
        return width, height
    scale = max_side / longest
    return max(1, round(width * scale)), max(1, round(height * scale))


def _downscale(img: Image.Image, max_side: int) -> Image.Image:
    size = target_size(img.width, img.height, max_side)
    if size == img.size:
        return img
    strips = _strip_count(size)
    if strips < 2:
        return _resize(img, size, (0, 0, img.width, img.height))
    # Pillow's resampling releases the GIL, so horizontal strips of the output can be computed
    # on all cores at once. A strip reads source rows beyond its box where the filter reaches,
    # so the strips join without seams, pixel-identical to one whole-image resize.
    rows = [round(size[1] * i / strips) for i in range(strips + 1)]
    scale = img.height / size[1]
    parts: list[Image.Image | BaseException | None] = [None] * strips

    def work(i: int) -> None:
        box = (0, rows[i] * scale, img.width, rows[i + 1] * scale)
        try:
            parts[i] = _resize(img, (size[0], rows[i + 1] - rows[i]), box)
        except BaseException as exc:  # noqa: BLE001 - raised again on the calling thread
            parts[i] = exc

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(1, strips)]
    for thread in threads:
        thread.start()
    work(0)
    for thread in threads:
        thread.join()
    out = Image.new(img.mode, size)
    for part, top in zip(parts, rows, strict=False):
        if isinstance(part, BaseException):
            raise part
        assert part is not None
        out.paste(part, (0, top))
    return out


def _resize(
    img: Image.Image, size: tuple[int, int], box: tuple[float, float, float, float]
) -> Image.Image:
    # Lanczos, as the API page's own helper uses: the text stays exactly as sharp as theirs.
    # reducing_gap: for factors of 6 and more, an integer box reduction first (several times
    # faster, near-identical); a 4K screen (factor 1.875) gets the plain filter.
    return img.resize(size, Image.Resampling.LANCZOS, box=box, reducing_gap=3.0)


def _strip_count(size: tuple[int, int]) -> int:
    if size[0] * size[1] < PARALLEL_PIXELS or size[1] < 64:
        return 1
    return max(1, min(_cpus(), MAX_THREADS))


def _cpus() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1
