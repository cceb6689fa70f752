"""Text detection: the DB (differentiable binarisation) detector's input and its output boxes.

PP-OCR's detector paints a probability map of "this pixel is inside a text line" at the input's
resolution. Screen text is horizontal, so where rapidocr fits rotated rectangles with OpenCV,
Shapely and pyclipper, we take axis-aligned boxes of the connected regions (labelled from row
runs with a union-find, in numpy and a short Python loop) and grow them by the same "unclip"
distance the model was trained with. That keeps OpenCV's 150 ms import out of every reading.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: The network downsamples by 32: input sides must be multiples of it.
STRIDE = 32
#: Below this the detector sees too little around a lone word (rapidocr pads to 30+ rows too).
MIN_SIDE = 64
#: Probability above which a pixel is text (PP-OCR's default).
PIXEL_THRESHOLD = 0.3
#: Mean probability a region needs to count as a text line (PP-OCR's default).
BOX_THRESHOLD = 0.5
#: How far a region is grown back out, as area * ratio / perimeter (PP-OCR's default).
UNCLIP_RATIO = 1.6
#: Regions whose shorter side is below this many map pixels are noise.
MIN_REGION = 3
#: At most this many regions are turned into lines (PP-OCR's max_candidates).
MAX_REGIONS = 1000


@dataclass(frozen=True)
class DetectorInput:
    tensor: np.ndarray  # (1, 3, H, W) float32, BGR, in [-1, 1]
    scale: float  # detector pixels per image pixel
    width: int  # the scaled image inside the padded tensor
    height: int


def prepare(bgr: np.ndarray, scale: float) -> DetectorInput:
    """The detector's input: ``bgr`` resized by ``scale``, padded with its border colour."""
    from PIL import Image

    height, width = bgr.shape[:2]
    if scale != 1.0:
        size = (max(1, round(width * scale)), max(1, round(height * scale)))
        bgr = np.asarray(Image.fromarray(bgr).resize(size, Image.Resampling.BILINEAR))
        height, width = bgr.shape[:2]
    padded_h = max(MIN_SIDE, -(-height // STRIDE) * STRIDE)
    padded_w = max(MIN_SIDE, -(-width // STRIDE) * STRIDE)
    tensor = np.empty((1, 3, padded_h, padded_w), dtype=np.float32)
    planes = bgr.transpose(2, 0, 1).astype(np.float32)
    planes *= 1 / 127.5
    planes -= 1.0
    tensor[0, :, :height, :width] = planes
    if padded_h > height or padded_w > width:
        # The image's own border colour: a white margin around a dark-theme crop would draw
        # a frame the detector could take for text.
        border = np.concatenate([planes[:, 0, :], planes[:, -1, :], planes[:, :, 0]], axis=1)
        fill = np.median(border, axis=1)[:, None, None]
        tensor[0, :, height:, :] = fill
        tensor[0, :, :height, width:] = fill
    return DetectorInput(tensor, scale, width, height)


@dataclass(frozen=True)
class Region:
    box: tuple[int, int, int, int]  # left, top, right, bottom in image pixels
    score: float


def regions(prob: np.ndarray, given: DetectorInput, image_size: tuple[int, int]) -> list[Region]:
    """Text-line boxes in image pixels from the detector's (H, W) probability map."""
    prob = prob[: given.height, : given.width]
    mask = prob > PIXEL_THRESHOLD
    # PP-OCR dilates by a 2x2 kernel: thin strokes at small sizes stay joined.
    grown = mask.copy()
    grown[1:, :] |= mask[:-1, :]
    grown[:, 1:] |= mask[:, :-1]
    grown[1:, 1:] |= mask[:-1, :-1]
    image_w, image_h = image_size
    to_image = 1.0 / given.scale
    found = []
    for left, top, right, bottom in _components(grown)[:MAX_REGIONS]:
        w, h = right - left, bottom - top
        if min(w, h) < MIN_REGION:
            continue
        score = float(prob[top:bottom, left:right].mean())
        if score < BOX_THRESHOLD:
            continue
        grow = w * h * UNCLIP_RATIO / (2 * (w + h))
        x0 = max(0, round((left - grow) * to_image))
        y0 = max(0, round((top - grow) * to_image))
        x1 = min(image_w, round((right + grow) * to_image))
        y1 = min(image_h, round((bottom + grow) * to_image))
        if min(x1 - x0, y1 - y0) < (MIN_REGION + 2) * to_image:
            continue
        found.append(Region((x0, y0, x1, y1), score))
    return found


def _components(mask: np.ndarray) -> list[tuple[int, int, int, int]]:
    """Bounding boxes (left, top, right, bottom; exclusive) of 8-connected regions, largest
    first."""
    height, width = mask.shape
    edges = np.diff(np.pad(mask, ((0, 0), (1, 1))).astype(np.int8), axis=1)
    rows, starts = np.nonzero(edges == 1)
    _, ends = np.nonzero(edges == -1)  # same row order: every run starts before it ends
    if rows.size == 0:
        return []
    rows_l, starts_l, ends_l = rows.tolist(), starts.tolist(), ends.tolist()
    parent = list(range(len(rows_l)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    # Runs of consecutive rows touch (8-connectivity) when their spans overlap or meet at a
    # corner; two pointers walk the previous row's runs alongside the current row's.
    row_begin = np.searchsorted(rows, np.arange(height + 1)).tolist()
    for y in range(1, height):
        a, a_end = row_begin[y - 1], row_begin[y]
        b, b_end = row_begin[y], row_begin[y + 1]
        while a < a_end and b < b_end:
            if starts_l[a] <= ends_l[b] and starts_l[b] <= ends_l[a]:
                ra, rb = find(a), find(b)
                if ra != rb:
                    parent[max(ra, rb)] = min(ra, rb)
            if ends_l[a] < ends_l[b]:
                a += 1
            else:
                b += 1
    boxes: dict[int, list[int]] = {}
    for i, y in enumerate(rows_l):
        root = find(i)
        box = boxes.get(root)
        if box is None:
            boxes[root] = [starts_l[i], y, ends_l[i], y + 1, ends_l[i] - starts_l[i]]
        else:
            box[0] = min(box[0], starts_l[i])
            box[2] = max(box[2], ends_l[i])
            box[3] = y + 1
            box[4] += ends_l[i] - starts_l[i]
    ordered = sorted(boxes.values(), key=lambda b: -b[4])
    return [(b[0], b[1], b[2], b[3]) for b in ordered]
