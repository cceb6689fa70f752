"""The helper process's wire format, shared by both ends so they cannot drift apart.

Over the helper's stdin, each request is one JSON line (at most ``MAX_HEADER`` bytes) followed
by exactly ``size`` bytes of image (encoded file bytes, or raw pixels described by width,
height, mode and stride). Over its stdout, each answer is one JSON line (at most
``MAX_ANSWER`` bytes) carrying the request's ``id``. Nothing else is ever written to stdout.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any, BinaryIO

from desktop_vlm.core.errors import ImageError, OfflineEngineError, VlmError
from desktop_vlm.core.ocr_types import OcrLine, OcrResult, OcrWord

MAX_HEADER = 4096
#: A 4K capture as raw BGRA is 33 MB; 8K would be 133 MB and is sent encoded instead.
MAX_PAYLOAD = 64 * 1024 * 1024
#: 100,000 characters of text with a box per word stay far below this.
MAX_ANSWER = 16 * 1024 * 1024


class ProtocolError(Exception):
    """The other end said something outside the protocol."""


def write_request(stream: BinaryIO, header: dict[str, Any], payload: bytes = b"") -> None:
    header = dict(header, size=len(payload))
    line = json.dumps(header, separators=(",", ":")).encode("utf-8") + b"\n"
    if len(line) > MAX_HEADER:
        raise ValueError("request header too long")
    stream.write(line)
    if payload:
        stream.write(payload)
    stream.flush()


def read_request(stream: BinaryIO) -> tuple[dict[str, Any], bytes] | None:
    """The next (header, payload), or None at end of input."""
    line = stream.readline(MAX_HEADER + 1)
    if not line:
        return None
    if not line.endswith(b"\n"):
        raise ProtocolError("request header too long or cut off")
    try:
        header = json.loads(line)
    except ValueError as exc:
        raise ProtocolError(f"request header is not JSON: {exc}") from None
    if not isinstance(header, dict):
        raise ProtocolError("request header is not a JSON object")
    size = header.get("size", 0)
    if not isinstance(size, int) or not 0 <= size <= MAX_PAYLOAD:
        raise ProtocolError(f"payload size {size!r} outside 0..{MAX_PAYLOAD}")
    payload = stream.read(size) if size else b""
    if len(payload) != size:
        raise ProtocolError("payload cut off")
    return header, payload


def encode_answer(answer: dict[str, Any]) -> bytes:
    return json.dumps(answer, separators=(",", ":"), ensure_ascii=False).encode("utf-8") + b"\n"


def result_to_json(result: OcrResult) -> dict[str, Any]:
    return asdict(result)


def result_from_json(data: dict[str, Any]) -> OcrResult:
    try:
        lines = tuple(
            OcrLine(
                text=str(line["text"]),
                box=_box(line["box"]),
                confidence=float(line["confidence"]),
                words=tuple(
                    OcrWord(str(w["text"]), _box(w["box"]), float(w["confidence"]))
                    for w in line["words"]
                ),
                block=int(line["block"]),
            )
            for line in data["lines"]
        )
        return OcrResult(
            text=str(data["text"]),
            lines=lines,
            engine=str(data["engine"]),
            width=int(data["width"]),
            height=int(data["height"]),
            elapsed_s=float(data["elapsed_s"]),
            extra={str(k): float(v) for k, v in data.get("extra", {}).items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ProtocolError(f"malformed result: {exc!r}") from None


def _box(value: Any) -> tuple[int, int, int, int]:
    left, top, right, bottom = (int(v) for v in value)
    return left, top, right, bottom


def error_to_json(exc: BaseException) -> dict[str, Any]:
    if isinstance(exc, VlmError):
        kind = "image" if isinstance(exc, ImageError) else "engine"
        return {"kind": kind, "message": exc.message, "hint": exc.hint}
    return {"kind": "internal", "message": f"{type(exc).__name__}: {exc}"[:500], "hint": ""}


def error_from_json(data: Any) -> VlmError:
    if not isinstance(data, dict):
        return OfflineEngineError("The OCR helper failed without saying why")
    message = str(data.get("message", ""))[:500] or "The OCR helper failed"
    hint = str(data.get("hint", ""))[:500]
    if data.get("kind") == "image":
        return ImageError(message, hint)
    if data.get("kind") == "internal":
        return OfflineEngineError(f"The OCR helper failed: {message}", "Try again.")
    return OfflineEngineError(message, hint)
