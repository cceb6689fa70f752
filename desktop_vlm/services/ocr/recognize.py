"""Line recognition: crop each detected line, scale it to the recogniser's 48-pixel height,
run the lines in batches of similar width, and decode the CTC output into text, a confidence
and the span of every word.

The recogniser emits one class per 8 input columns; CTC decoding keeps the first column of
each run of one class and drops the blanks. Those columns are what place the words inside the
line, so word boxes come from the model, not from counting characters.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
from PIL import Image

from desktop_vlm.services.ocr.models import LINE_HEIGHT, Recognizer

#: Lines per inference call, and the most padded pixels one call may hold.
BATCH_LINES = 8
BATCH_PIXELS = LINE_HEIGHT * 8000
#: A line wider than this (after scaling to 48 rows) is squeezed to it: bounded work per line.
MAX_LINE_WIDTH = 6000
MIN_LINE_WIDTH = 16
#: CTC fires a little after a word's left edge: words start this many steps before it.
LEAD = 0.75


@dataclass(frozen=True)
class LineReading:
    text: str
    confidence: float
    #: (start, end) of each space-separated word, in pixels from the crop's left edge.
    word_spans: tuple[tuple[float, float], ...]


def read_lines(
    model: Recognizer,
    bgr: np.ndarray,
    boxes: list[tuple[int, int, int, int]],
    deadline: float | None = None,
) -> list[LineReading]:
    """The reading of each box of ``bgr`` (same order). Raises TimeoutError past ``deadline``."""
    crops = [_scaled(bgr, box) for box in boxes]
    order = sorted(range(len(crops)), key=lambda i: crops[i].shape[1])
    results: list[LineReading | None] = [None] * len(crops)
    input_name = model.session.get_inputs()[0].name
    start = 0
    while start < len(order):
        stop = start + 1
        while stop < len(order) and stop - start < BATCH_LINES:
            if (stop - start + 1) * crops[order[stop]].shape[1] * LINE_HEIGHT > BATCH_PIXELS:
                break
            stop += 1
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError
        batch = order[start:stop]
        width = crops[batch[-1]].shape[1]
        tensor = np.zeros((len(batch), 3, LINE_HEIGHT, width), dtype=np.float32)
        for slot, index in enumerate(batch):
            crop = crops[index]
            tensor[slot, :, :, : crop.shape[1]] = crop.transpose(2, 0, 1)
        tensor *= 1 / 127.5
        tensor -= 1.0
        # Padding is 0 after normalisation (mid grey), as PaddleOCR trains it; the loop above
        # wrote raw pixels, so put the padding back to grey.
        for slot, index in enumerate(batch):
            tensor[slot, :, :, crops[index].shape[1] :] = 0.0
        scores = model.session.run(None, {input_name: tensor})[0]
        for slot, index in enumerate(batch):
            box = boxes[index]
            used = crops[index].shape[1]
            results[index] = _decode(scores[slot], model.classes, width, used, box[2] - box[0])
        start = stop
    return [r for r in results if r is not None]


def _scaled(bgr: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    left, top, right, bottom = box
    crop = bgr[top:bottom, left:right]
    h, w = crop.shape[:2]
    width = min(MAX_LINE_WIDTH, max(MIN_LINE_WIDTH, math.ceil(LINE_HEIGHT * w / h)))
    resample = Image.Resampling.BILINEAR
    return np.asarray(Image.fromarray(crop).resize((width, LINE_HEIGHT), resample))


def _decode(
    scores: np.ndarray, classes: list[str], tensor_width: int, used: int, crop_width: int
) -> LineReading:
    best = scores.argmax(axis=1)
    steps = best.shape[0]
    keep = np.ones(steps, dtype=bool)
    keep[1:] = best[1:] != best[:-1]
    keep &= best != 0  # the CTC blank
    columns = np.flatnonzero(keep)
    if columns.size == 0:
        return LineReading("", 0.0, ())
    confidence = float(scores[columns, best[columns]].mean())
    chars = [classes[i] for i in best[columns].tolist()]
    # One class per (tensor_width / steps) scaled pixels; back to crop pixels.
    to_crop = (tensor_width / steps) * (crop_width / used)
    words: list[str] = []
    spans: list[tuple[float, float]] = []
    current: list[str] = []
    first = last = 0
    for char, column in zip(chars, columns.tolist(), strict=True):
        if char.isspace():
            if current:
                words.append("".join(current))
                spans.append((max(0.0, first - LEAD) * to_crop, (last + 1) * to_crop))
                current = []
            continue
        if not current:
            first = column
        current.append(char)
        last = column
    if current:
        words.append("".join(current))
        spans.append((max(0.0, first - LEAD) * to_crop, (last + 1) * to_crop))
    return LineReading(" ".join(words), confidence, tuple(spans))
