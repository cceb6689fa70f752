"""Encode by content: the smallest PNG or JPEG that reads as well as the lossless image.

Every image travels as base64 inside a JSON body, so its bytes are paid for twice (upload time,
and the server's parse). What keeps them few depends on what the picture is:

- A screen (text, flat colours, anti-aliased edges) becomes a PNG with a palette. After the
  downscale to 2048 px, 99 % of a real screen's pixels fall in its 256 most common colours
  (measured on browser pages, code in light and dark themes, tables). The palette is built so
  that text edges survive: the frequent colours (backgrounds, text, syntax colours) keep their
  exact values, and the rest of the palette goes to the blends between them, chosen by a median
  cut in which each colour weighs by the square root of its pixel count. By plain pixel count,
  the backgrounds would take most entries; weighed so, each colour pair keeps the grey levels
  of its anti-aliased edges (16 and more per pair of text colour and background). The palette is kept only where it is faithful (PSNR
  at least 40 dB against the source, better than JPEG at quality 90 does on text).
- An image with at most 256 colours becomes a palette PNG with exactly those colours: lossless.
- A photograph becomes a JPEG with 4:2:0 chroma, as cameras write them.
- Anything in between (a page with a photo in it, a desktop over a wallpaper) becomes a JPEG
  with full colour resolution (4:4:4), because text may matter there and 4:2:0 smears coloured
  text.
- Small images (below 256x256) stay lossless PNG: there are no bytes worth saving.

Grey images keep one channel: PNG or JPEG, whichever codes a sample of them more compactly.

Mapping 2.4 million pixels onto a palette is what Pillow's quantizers spend 100-200 ms on. Here
it costs a few: every channel is first cut to its top 6 bits, where Pillow's palette lookup (a
table of 64x64x64 cells, each holding the entry nearest to its low corner) is exact, and the
palette then carries the true colours (a frequent cell's most common source colour, a blend
cell's mean colour) rather than the cut ones. Flat colours come back exactly, a blend as its
cell's mean, and only the rarest blends (under 1 % of a screen's pixels) as the nearest entry's.
"""

from __future__ import annotations

import io
import logging
import math
import zlib
from dataclasses import dataclass
from enum import StrEnum

from PIL import Image, ImageChops, ImageStat

log = logging.getLogger(__name__)

#: Most entries a PNG palette holds.
PALETTE_COLORS = 256
#: A palette is used only when its image is at least this faithful to the source (PSNR, dB).
#: Real screens come out at 52-60 dB; JPEG at quality 90 gives text about 38 dB.
MIN_PALETTE_PSNR = 40.0
#: Share of a sample's pixels the 256 most common colour cells must cover to try a palette
#: (screens: 0.99 and more; a page with a photo in it: 0.87; a photograph: 0.39). The palette's
#: fidelity decides in the end; this only spares photographs the work.
SCREEN_COVERAGE = 0.9
#: Below this share it is a photograph (JPEG 4:2:0); between the two, mixed content (4:4:4).
PHOTO_COVERAGE = 0.6
#: Colours covering at least this share of the pixels keep their exact value in the palette.
DOMINANT_SHARE = 0.001
#: Entries kept back from the median cut for colours it leaves far from every entry: any
#: colour on at least FAR_MIN_PIXELS pixels (a short word) more than FAR_LEVELS away in a
#: channel gets an entry of its own, most common first.
REPAIR_COLORS = 32
FAR_MIN_PIXELS = 16
FAR_LEVELS = 12
#: Images with fewer pixels than this are sent lossless: their bytes do not matter.
SMALL_PIXELS = 256 * 256
#: The colour statistics look at about this many pixels (a regular subsample).
SAMPLE_PIXELS = 150_000
#: A sample with more distinct 6-bit colour cells than this is a photograph.
MAX_SAMPLE_CELLS = 1 << 14
#: zlib settings. A screen's palette image is mostly long runs of one index: run-length
#: matching alone codes it within 3 % of the default level's size in less than half the time
#: (10 against 26 ms for 2048x1152). Truecolour PNG at level 3 is about 2x faster than the
#: default and within a few percent of its size.
PALETTE_PNG_LEVEL = 9
PALETTE_PNG_STRATEGY = zlib.Z_RLE
TRUECOLOR_PNG_LEVEL = 3
#: Grey images below this many pixels are always PNG; above, PNG unless its sample is more than
#: GREY_PNG_TOLERANCE times JPEG's. The sample: SAMPLE_BANDS full-width bands of
#: SAMPLE_BAND_ROWS rows (full resolution, so that both codecs see real neighbourhoods).
GREY_PNG_ALWAYS_PIXELS = 1_000_000
GREY_PNG_TOLERANCE = 1.3
SAMPLE_BANDS = 6
SAMPLE_BAND_ROWS = 16

#: Each channel cut to its top 6 bits (see the module docstring).
_CELL = [v & 0xFC for v in range(256)]


class Content(StrEnum):
    """What an image shows, as far as its encoding is concerned."""

    SCREEN = "screen"
    MIXED = "mixed"
    PHOTO = "photo"


@dataclass(frozen=True)
class Encoded:
    """Encoded image bytes, their MIME type and how they were made ("png palette 256")."""

    data: bytes
    mime: str
    method: str


def encode(img: Image.Image, image_format: str = "auto", jpeg_quality: int = 90) -> Encoded:
    """Encode an L or RGB image: "png" and "jpeg" as asked (lossless PNG, JPEG 4:4:4), "auto"
    by content (see the module docstring)."""
    if image_format == "png":
        return _png(img)
    if image_format == "jpeg":
        return _jpeg(img, jpeg_quality, full_chroma=True)
    if img.mode != "RGB":
        return _grey(img, jpeg_quality)
    exact = exact_palette(img)
    if exact is not None:
        return _palette_png(exact, f"png palette exact {_palette_size(exact)}")
    if img.width * img.height < SMALL_PIXELS:
        return _png(img)
    sample = _sample(img)
    content = _content(_coverage(sample, _cells(sample)))
    if content is Content.SCREEN:
        cut = img.point(_CELL * 3)
        palette = _design_palette(cut, sample)
        if palette is not None:
            fidelity = _psnr(sample, _apply_palette(sample, palette))
            if fidelity >= MIN_PALETTE_PSNR:
                return _palette_png(_index(cut, palette), f"png palette {len(palette[0]) // 3}")
            log.debug("palette too lossy (%.1f dB): encoding as mixed content", fidelity)
        content = Content.MIXED
    return _jpeg(img, jpeg_quality, full_chroma=content is not Content.PHOTO)


def classify(img: Image.Image) -> Content:
    """Screen, photo or in between, from how many pixels the 256 most common colours cover."""
    sample = _sample(img if img.mode == "RGB" else img.convert("RGB"))
    return _content(_coverage(sample, _cells(sample)))


def _content(coverage: float) -> Content:
    if coverage >= SCREEN_COVERAGE:
        return Content.SCREEN
    return Content.PHOTO if coverage < PHOTO_COVERAGE else Content.MIXED


def exact_palette(img: Image.Image) -> Image.Image | None:
    """The RGB image as a palette image with exactly its own colours, if it has at most 256."""
    colours = img.getcolors(PALETTE_COLORS)  # returns None at once when there are more
    if colours is None:
        return None
    cells = {_cell_of(colour) for _, colour in colours}
    if len(cells) == len(colours):
        # One colour per 6-bit cell: the fast exact lookup applies.
        entries = [colour for _, colour in sorted(colours, reverse=True)]
        return _apply_palette(img, ([v for c in map(_cell_of, entries) for v in c], _flat(entries)))
    # Colours closer than the cells: Pillow's quantizer maps exactly when the colours fit.
    return img.quantize(len(colours), method=Image.Quantize.MAXCOVERAGE, dither=Image.Dither.NONE)


# --- the palette ----------------------------------------------------------------------------


def _sample(img: Image.Image) -> Image.Image:
    """A regular subsample of real pixels (nearest neighbour: no new blended colours)."""
    step = math.isqrt(img.width * img.height // SAMPLE_PIXELS)
    if step < 2:
        return img
    size = (max(1, img.width // step), max(1, img.height // step))
    return img.resize(size, Image.Resampling.NEAREST)


def _cells(sample: Image.Image) -> list[tuple[int, tuple[int, int, int]]] | None:
    """(pixel count, cell) of the sample's 6-bit colour cells, most common first (None if
    there are more than MAX_SAMPLE_CELLS)."""
    cells = sample.point(_CELL * 3).getcolors(MAX_SAMPLE_CELLS)
    return sorted(cells, reverse=True) if cells is not None else None


def _coverage(sample: Image.Image, cells: list[tuple[int, tuple]] | None) -> float:
    """Share of the sample's pixels in its PALETTE_COLORS most common cells."""
    if not cells:
        return 0.0
    return sum(count for count, _ in cells[:PALETTE_COLORS]) / (sample.width * sample.height)


def _design_palette(cut: Image.Image, sample: Image.Image) -> tuple[list[int], list[int]] | None:
    """(lookup colours on the 6-bit grid, true colours), flat, at most PALETTE_COLORS entries.

    ``cut`` is the whole image with its channels cut to 6 bits (its cells are counted exactly),
    ``sample`` a subsample of the source (for the true colours). The frequent colours come
    first, exactly; then a median cut over the other cells, each weighted by the square root
    of its pixel count, so that the blends along every edge get entries; then entries of their
    own for colours the cut left far from every entry (a word in a rare colour).
    """
    cells = cut.getcolors(1 << 16)
    originals = sample.getcolors(1 << 16)
    if cells is None or originals is None:
        return None
    cells.sort(reverse=True)
    total = cut.width * cut.height
    dominant = [cell for count, cell in cells if count >= DOMINANT_SHARE * total]
    dominant = dominant[: PALETTE_COLORS // 2]
    # A frequent cell shows its most common source colour (flat colours stay exact), a blend's
    # cell the mean of its colours in the sample (or, if the sample has none, its middle).
    common: dict[tuple[int, int, int], tuple[int, tuple[int, int, int]]] = {}
    sums: dict[tuple[int, int, int], list[int]] = {}
    for count, colour in originals:
        r, g, b = colour
        key = (r & 0xFC, g & 0xFC, b & 0xFC)
        if count > common.get(key, (0,))[0]:
            common[key] = (count, colour)
        acc = sums.get(key)
        if acc is None:
            sums[key] = [count, count * r, count * g, count * b]
        else:
            acc[0] += count
            acc[1] += count * r
            acc[2] += count * g
            acc[3] += count * b

    def shown(cell: tuple[int, int, int]) -> tuple[int, int, int]:
        acc = sums.get(cell)
        if acc is None:
            return (cell[0] + 2, cell[1] + 2, cell[2] + 2)
        n, r, g, b = acc
        return ((r + n // 2) // n, (g + n // 2) // n, (b + n // 2) // n)

    palette = _Palette()
    for cell in dominant:
        palette.add(cell, common[cell][1] if cell in common else shown(cell))
    blends = [(count, cell) for count, cell in cells if cell not in palette]
    # Weights as a 150,000-pixel sample would count them, to keep the cut's input small.
    scale = max(1, total // SAMPLE_PIXELS)
    weighted = [(math.isqrt(n // scale) or 1, shown(cell)) for n, cell in blends]
    room = PALETTE_COLORS - len(palette) - REPAIR_COLORS
    for colour in _median_cut(weighted, room):
        palette.add(_cell_of(colour), colour)
    for _, cell in _far_cells(blends, palette):
        if len(palette) >= PALETTE_COLORS:
            break
        palette.add(cell, shown(cell))
    for _, cell in blends:  # any room left: the most common blends
        if len(palette) >= PALETTE_COLORS:
            break
        palette.add(cell, shown(cell))
    return _flat(palette.lookup), _flat(palette.true)


class _Palette:
    """Entries being chosen: one per 6-bit cell, with the colour each shows."""

    def __init__(self) -> None:
        self.lookup: list[tuple[int, int, int]] = []
        self.true: list[tuple[int, int, int]] = []
        self._cells: set[tuple[int, int, int]] = set()

    def __len__(self) -> int:
        return len(self.lookup)

    def __contains__(self, cell: object) -> bool:
        return cell in self._cells

    def add(self, cell: tuple[int, int, int], colour: tuple[int, int, int]) -> None:
        if cell not in self._cells:
            self._cells.add(cell)
            self.lookup.append(cell)
            self.true.append(colour)


def _far_cells(
    cells: list[tuple[int, tuple[int, int, int]]], palette: _Palette
) -> list[tuple[int, tuple[int, int, int]]]:
    """The cells with at least FAR_MIN_PIXELS pixels whose nearest entry is more than
    FAR_LEVELS away in some channel, most common first. (Pillow finds the nearest entries.)"""
    candidates = [(n, cell) for n, cell in cells if n >= FAR_MIN_PIXELS]
    if not candidates or not len(palette):
        return candidates
    probe = Image.frombytes("RGB", (len(candidates), 1), b"".join(bytes(c) for _, c in candidates))
    nearest = _index(probe, (_flat(palette.lookup), _flat(palette.lookup))).tobytes()
    far = []
    for (n, (r, g, b)), i in zip(candidates, nearest, strict=True):
        er, eg, eb = palette.lookup[i]
        if abs(r - er) > FAR_LEVELS or abs(g - eg) > FAR_LEVELS or abs(b - eb) > FAR_LEVELS:
            far.append((n, (r, g, b)))
    return far


def _median_cut(colours: list[tuple[int, tuple[int, int, int]]], count: int) -> list[tuple]:
    """``count`` representative colours of ``colours`` (each with its weight)."""
    if count <= 0 or not colours:
        return []
    if len(colours) <= count:
        return [colour for _, colour in colours]
    weighted = b"".join(bytes(colour) * weight for weight, colour in colours)
    strip = Image.frombytes("RGB", (len(weighted) // 3, 1), weighted)
    quantized = strip.quantize(count, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    palette = quantized.getpalette() or []
    used = sorted(index for _, index in quantized.getcolors(count) or [])
    return [tuple(palette[3 * i : 3 * i + 3]) for i in used]


def _apply_palette(img: Image.Image, palette: tuple[list[int], list[int]]) -> Image.Image:
    return _index(img.point(_CELL * 3), palette)


def _index(cut: Image.Image, palette: tuple[list[int], list[int]]) -> Image.Image:
    """The palette image of ``cut`` (channels already cut to 6 bits): exact nearest entries."""
    lookup, true = palette
    finder = Image.new("P", (1, 1))
    finder.putpalette(lookup)
    indexed = cut.quantize(palette=finder, dither=Image.Dither.NONE)
    indexed.putpalette(true)
    return indexed


def _cell_of(colour: tuple[int, ...]) -> tuple[int, int, int]:
    return (colour[0] & 0xFC, colour[1] & 0xFC, colour[2] & 0xFC)


def _flat(colours: list[tuple[int, ...]]) -> list[int]:
    return [v for colour in colours for v in colour[:3]]


def _palette_size(img: Image.Image) -> int:
    return len(img.getpalette() or []) // 3


def _psnr(a: Image.Image, b: Image.Image) -> float:
    diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB"))
    mse = sum(ImageStat.Stat(diff).sum2) / (3 * a.width * a.height)
    return math.inf if mse == 0 else 10 * math.log10(255 * 255 / mse)


# --- the encoders -----------------------------------------------------------------------------


def _palette_png(indexed: Image.Image, method: str) -> Encoded:
    out = io.BytesIO()
    indexed.save(
        out, format="PNG", compress_level=PALETTE_PNG_LEVEL, compress_type=PALETTE_PNG_STRATEGY
    )
    return Encoded(out.getvalue(), "image/png", method)


def _png(img: Image.Image) -> Encoded:
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=TRUECOLOR_PNG_LEVEL)
    return Encoded(out.getvalue(), "image/png", "png")


def _jpeg(img: Image.Image, quality: int, *, full_chroma: bool) -> Encoded:
    out = io.BytesIO()
    # subsampling 0 is 4:4:4 (every pixel keeps its colour), 2 is 4:2:0.
    subsampling = 0 if full_chroma or img.mode == "L" else 2
    img.save(out, format="JPEG", quality=quality, subsampling=subsampling, optimize=False)
    chroma = "" if img.mode == "L" else (" 4:4:4" if subsampling == 0 else " 4:2:0")
    return Encoded(out.getvalue(), "image/jpeg", f"jpeg q{quality}{chroma}")


def _grey(img: Image.Image, quality: int) -> Encoded:
    """Grey images: PNG unless JPEG codes a sample of them much more compactly."""
    if img.width * img.height <= GREY_PNG_ALWAYS_PIXELS:
        return _png(img)
    sample = _bands(img)
    png = len(_png(sample).data)
    jpeg = len(_jpeg(sample, quality, full_chroma=True).data)
    return _png(img) if png <= jpeg * GREY_PNG_TOLERANCE else _jpeg(img, quality, full_chroma=True)


def _bands(img: Image.Image) -> Image.Image:
    """SAMPLE_BANDS evenly spaced full-width bands, stacked: ~8 % of a 2048x1152 image."""
    height = SAMPLE_BAND_ROWS
    count = min(SAMPLE_BANDS, img.height // height)
    if count < 2:
        return img
    step = (img.height - height) / (count - 1)
    sample = Image.new(img.mode, (img.width, height * count))
    for i in range(count):
        top = round(i * step)
        sample.paste(img.crop((0, top, img.width, top + height)), (0, i * height))
    return sample
