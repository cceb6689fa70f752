"""The OCR helper process: ``python -m desktop_vlm.services.ocr.worker``.

The tray app must stay small while idle, and the models take ~150 MB once loaded, so they live
here, in a process :class:`~desktop_vlm.services.ocr.service.OcrService` starts on demand and
stops when idle. Requests come in on stdin and answers go out on stdout as described in
:mod:`~desktop_vlm.services.ocr.protocol`; one at a time, in order. End of stdin (the app quit
or died) ends the process. Logging goes to stderr, which the app reads into its own log.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import Any, BinaryIO

from desktop_vlm.core.errors import VlmError
from desktop_vlm.core.rawimage import RawImage
from desktop_vlm.services.ocr import protocol

log = logging.getLogger(__name__)


def serve(requests: BinaryIO, answers: BinaryIO) -> int:
    from desktop_vlm.services.ocr.engine import OcrEngine

    engine = OcrEngine(threads=_threads())
    while True:
        try:
            message = protocol.read_request(requests)
        except protocol.ProtocolError as exc:
            log.error("stopping: %s", exc)  # the stream is out of step; nothing can be trusted
            return 2
        if message is None:
            return 0
        header, payload = message
        answer: dict[str, Any] = {"id": header.get("id")}
        try:
            answer.update(_handle(engine, header, payload))
            answer["ok"] = True
        except VlmError as exc:
            answer.update(ok=False, error=protocol.error_to_json(exc))
        except Exception as exc:  # noqa: BLE001 - every failure is an answer, not a crash
            log.exception("request %r failed", header.get("op"))
            answer.update(ok=False, error=protocol.error_to_json(exc))
        data = protocol.encode_answer(answer)
        if len(data) > protocol.MAX_ANSWER:
            too_long = {"kind": "engine", "message": "The text is too long to hand over"}
            data = protocol.encode_answer({"id": header.get("id"), "ok": False, "error": too_long})
        answers.write(data)
        answers.flush()


def _handle(engine: Any, header: dict[str, Any], payload: bytes) -> dict[str, Any]:
    op = header.get("op")
    if op == "ping":
        return {"pid": os.getpid(), "loaded": engine.loaded, "engine": engine.name}
    if op == "load":
        engine.prime()
        return {"pid": os.getpid(), "loaded": True, "engine": engine.name, "load_s": engine.load_s}
    if op == "read":
        timeout = header.get("timeout")
        timeout = float(timeout) if isinstance(timeout, int | float) and timeout > 0 else None
        result = engine.read(_source(header, payload), timeout=timeout)
        return {"result": protocol.result_to_json(result)}
    raise ValueError(f"unknown request {op!r}")


def _source(header: dict[str, Any], payload: bytes) -> Any:
    if header.get("format") == "raw":
        return RawImage(
            width=int(header["width"]),
            height=int(header["height"]),
            data=payload,
            mode=str(header.get("mode", "RGB")),
            stride=int(header.get("stride", 0)),
        )
    return payload


def _threads() -> int | None:
    value = os.environ.get("DESKTOP_VLM_OCR_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else None


def main() -> int:
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="ocr-helper %(levelname)s %(message)s"
    )
    # Our answers own the real stdout; anything a library prints goes to stderr instead.
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        return serve(sys.stdin.buffer, answers)
    except BrokenPipeError:
        return 0  # the app went away mid-answer
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
