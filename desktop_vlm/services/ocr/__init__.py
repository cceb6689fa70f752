"""The embedded offline OCR engine: PP-OCRv6 (shipped in the rapidocr wheel) on onnxruntime.

``read_text`` reads in this process (the command line); ``OcrService`` reads in a helper
process (the tray app, which must stay small while idle). Importing this package loads
neither numpy nor onnxruntime: that happens on the first reading.
"""

from __future__ import annotations

from desktop_vlm.services.ocr.engine import (
    DEFAULT_TIMEOUT,
    OcrEngine,
    engine_info,
    is_available,
    read_text,
)
from desktop_vlm.services.ocr.service import DEFAULT_IDLE_TIMEOUT, OcrService

__all__ = [
    "DEFAULT_IDLE_TIMEOUT",
    "DEFAULT_TIMEOUT",
    "OcrEngine",
    "OcrService",
    "engine_info",
    "is_available",
    "read_text",
]
