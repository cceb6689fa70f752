"""The offline OCR engine, in this process: an image in, an :class:`OcrResult` out.

It runs PP-OCRv6's detector and recogniser (int8 versions of the rapidocr wheel's models, see
``models``) on onnxruntime and does the small pre- and post-processing itself, so a reading
costs numpy, onnxruntime and Pillow and nothing else: no OpenCV, no rapidocr import, no
network. Screen text is upright and horizontal, so there is no angle classifier (rapidocr's
turned whole lines of clean text upside down in our trials).

Nothing heavy is imported until the first reading (or :meth:`OcrEngine.load`), so importing
this module costs nothing in the tray app. One engine reads one image at a time (a lock):
both cores already work on each reading.
"""

from __future__ import annotations

import io
import logging
import os
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from desktop_vlm.core.errors import ImageError, OfflineEngineError
from desktop_vlm.core.ocr_types import OcrLine, OcrResult, OcrWord
from desktop_vlm.core.rawimage import RawImage
from desktop_vlm.services.ocr import models

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

#: The detector sees at most this many pixels a side (the API's limit too); larger images are
#: scaled down for detection only, and lines are still read from the full-resolution pixels.
DETECT_MAX_SIDE = 2048
#: Larger images are refused before any work (8K screens, 7680x4320, still pass).
MAX_PIXELS = 40_000_000
#: Lines whose mean character confidence is below this are dropped (rapidocr's text_score).
MIN_CONFIDENCE = 0.5
#: Bounded output: at most this many lines and characters.
MAX_LINES = 1000
MAX_TEXT_CHARS = 100_000
#: Default time limit of one reading, in seconds.
DEFAULT_TIMEOUT = 60.0

Source = RawImage | bytes | bytearray | memoryview | str | os.PathLike[str] | Any


def engine_info(alphabet: str = "latin", precision: str = "int8") -> str:
    """Engine and model name, e.g. "rapidocr 3.10.0 (PP-OCRv6 small, int8)", without loading."""
    return models.files(alphabet, precision).name


def is_available() -> bool:
    """True when the models and onnxruntime are installed (nothing is imported or loaded)."""
    return not models.missing()


class OcrEngine:
    """PP-OCR on onnxruntime. Thread-safe; models load on first use and stay loaded."""

    def __init__(
        self, *, threads: int | None = None, alphabet: str = "latin", precision: str = "int8"
    ) -> None:
        if alphabet not in ("latin", "all"):
            raise ValueError(f"alphabet must be 'latin' or 'all', not {alphabet!r}")
        if precision not in models.PRECISIONS:
            raise ValueError(f"precision must be one of {models.PRECISIONS}, not {precision!r}")
        self.threads = threads or models.default_threads()
        self.alphabet = alphabet
        self.precision = precision
        self._lock = threading.Lock()
        self._detector: Any = None
        self._recognizer: models.Recognizer | None = None
        self.load_s = 0.0

    @property
    def name(self) -> str:
        return engine_info(self.alphabet, self.precision)

    @property
    def loaded(self) -> bool:
        return self._recognizer is not None

    def load(self) -> None:
        """Load both models now (the helper does this while the person is still dragging)."""
        with self._lock:
            self._load()

    def _load(self) -> None:
        if self._recognizer is not None:
            return
        chosen = models.require(self.alphabet, self.precision)
        started = time.perf_counter()
        try:
            import numpy  # noqa: F401  (fail here, with our message, if it is broken)
            import onnxruntime  # noqa: F401
        except ImportError as exc:
            raise OfflineEngineError(
                f"The offline OCR engine cannot run: {exc}", models.INSTALL_HINT
            ) from exc
        self._detector = models.load_detector(chosen.detector, self.threads)
        self._recognizer = models.load_recognizer(chosen.recognizer, self.threads, self.alphabet)
        self.load_s = time.perf_counter() - started
        log.info("OCR models loaded in %.0f ms (%d threads)", self.load_s * 1000, self.threads)

    def prime(self) -> None:
        """Load, then run both models once on a small blank image: onnxruntime sets up its
        threads and buffers on the first run, which would otherwise land on the first
        reading. The helper does this while the person is still dragging."""
        from PIL import Image

        with self._lock:
            self._load()
        blank = Image.new("RGB", (256, 64), "white")
        self.read(blank, timeout=None)
        # A blank image gives the recogniser nothing to read: prime it with one empty line.
        import numpy as np

        from desktop_vlm.services.ocr import recognize

        with self._lock:
            assert self._recognizer is not None
            recognize.read_lines(
                self._recognizer, np.full((32, 256, 3), 255, np.uint8), [(0, 0, 256, 32)]
            )

    def read(self, source: Source, *, timeout: float | None = DEFAULT_TIMEOUT) -> OcrResult:
        """Read the text of ``source`` (RawImage, encoded bytes, a path or a PIL image)."""
        started = time.perf_counter()
        deadline = None if timeout is None else time.monotonic() + timeout
        rgb = load_rgb(source)
        decoded = time.perf_counter()
        with self._lock:
            self._load()
            try:
                return self._read(rgb, started, decoded, deadline)
            except TimeoutError:
                raise OfflineEngineError(
                    f"Reading the text took longer than {timeout:g} s and was stopped",
                    "Select a smaller region.",
                ) from None

    def _read(self, rgb: Image.Image, started: float, decoded: float, deadline) -> OcrResult:
        import numpy as np

        from desktop_vlm.services.ocr import detect, layout, recognize

        assert self._recognizer is not None
        bgr = np.asarray(rgb)[:, :, ::-1].copy()
        height, width = bgr.shape[:2]
        scale = min(1.0, DETECT_MAX_SIDE / max(width, height))
        given = detect.prepare(bgr, scale)
        name = self._detector.get_inputs()[0].name
        prob = self._detector.run(None, {name: given.tensor})[0][0, 0]
        regions = detect.regions(prob, given, (width, height))
        detected = time.perf_counter()
        if deadline is not None and time.monotonic() > deadline:
            raise TimeoutError
        boxes = [r.box for r in regions]
        readings = recognize.read_lines(self._recognizer, bgr, boxes, deadline)
        recognized = time.perf_counter()

        pieces = [
            layout.Piece(reading.text, box, i)
            for i, (reading, box) in enumerate(zip(readings, boxes, strict=True))
            if reading.text and reading.confidence >= MIN_CONFIDENCE
        ]
        rows = layout.arrange(pieces)[:MAX_LINES]
        lines = tuple(_line(row, readings) for row in rows)
        text = layout.to_text(rows)
        if len(text) > MAX_TEXT_CHARS:
            text = text[:MAX_TEXT_CHARS]
        finished = time.perf_counter()
        return OcrResult(
            text=text,
            lines=lines,
            engine=self.name,
            width=width,
            height=height,
            elapsed_s=finished - started,
            extra={
                "decode_s": decoded - started,
                "detect_s": detected - decoded,
                "recognize_s": recognized - detected,
                "layout_s": finished - recognized,
                "load_s": self.load_s,
                "lines_detected": float(len(boxes)),
            },
        )


def _line(row: Any, readings: list[Any]) -> OcrLine:
    words: list[OcrWord] = []
    confidences = []
    for piece in row.pieces:
        reading = readings[piece.index]
        confidences.append(reading.confidence)
        left, top, right, bottom = piece.box
        for word, (start, end) in zip(reading.text.split(" "), reading.word_spans, strict=False):
            x0 = max(left, min(right - 1, left + int(start)))
            x1 = max(x0 + 1, min(right, left + round(end)))
            words.append(OcrWord(word, (x0, top, x1, bottom), round(reading.confidence, 4)))
    confidence = sum(confidences) / len(confidences) if confidences else 0.0
    return OcrLine(row.text, row.box, round(confidence, 4), tuple(words), row.block)


def load_rgb(source: Source) -> Image.Image:
    """``source`` as an 8-bit RGB Pillow image, with the same bounds as the API's images."""
    from PIL import Image

    from desktop_vlm.core import imageprep

    if isinstance(source, RawImage):
        if source.width * source.height > MAX_PIXELS:
            raise _too_large(source.width, source.height)
        img = imageprep._from_raw(source)
    elif isinstance(source, Image.Image):
        img = source
        if img.width * img.height > MAX_PIXELS:
            raise _too_large(img.width, img.height)
    elif isinstance(source, bytes | bytearray | memoryview | str | os.PathLike):
        data = source if not isinstance(source, str | os.PathLike) else Path(source)
        img, _ = imageprep._decode(imageprep._read_source(data), DETECT_MAX_SIDE * 4)
        if img.width * img.height > MAX_PIXELS:
            raise _too_large(img.width, img.height)
        img = imageprep._orient(img)
    else:
        raise TypeError(f"cannot read text from a {type(source).__name__}")
    if img.width < 1 or img.height < 1:
        raise ImageError("The image has no pixels (zero width or height)")
    img = imageprep._to_8bit(img)
    return img if img.mode == "RGB" else img.convert("RGB")


def _too_large(width: int, height: int) -> ImageError:
    return ImageError(
        f"The image is too large to read its text ({width}x{height})",
        f"Text is read from images up to {MAX_PIXELS // 1_000_000} megapixels; select a "
        "smaller region.",
    )


_default: OcrEngine | None = None
_default_lock = threading.Lock()


def default_engine() -> OcrEngine:
    global _default
    with _default_lock:
        if _default is None:
            _default = OcrEngine()
        return _default


def read_text(source: Source, *, timeout: float | None = DEFAULT_TIMEOUT) -> OcrResult:
    """Read the text of ``source`` in this process with the shared engine."""
    return default_engine().read(source, timeout=timeout)


def encode_png(img: Image.Image) -> bytes:
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1)
    return out.getvalue()
