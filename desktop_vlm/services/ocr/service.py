"""The GUI's way to the OCR engine: a helper process started on demand, kept while in use.

The tray app must stay under 75 MB while idle, and numpy, onnxruntime and the models take
about 150 MB, so they never enter the app's process. :class:`OcrService` starts
``python -m desktop_vlm.services.ocr.worker`` when it is first needed (``warm_up()`` when the
capture overlay opens, so the models are loaded by the time the mouse is released), talks to it
over pipes, stops it after ``idle_timeout`` seconds without use, and starts a new one if it
died. One helper at a time; requests are served one at a time.

``read()`` blocks: call it from a worker thread, never the GUI thread. No Qt here.
"""

from __future__ import annotations

import collections
import json
import logging
import os
import queue
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from desktop_vlm.core.errors import ImageError, OfflineEngineError
from desktop_vlm.core.ocr_types import OcrResult
from desktop_vlm.core.rawimage import RawImage
from desktop_vlm.services.ocr import protocol

log = logging.getLogger(__name__)

DEFAULT_IDLE_TIMEOUT = 60.0
DEFAULT_READ_TIMEOUT = 30.0
#: Extra seconds the client waits beyond the engine's own time limit before killing it.
GRACE_S = 5.0
_EOF = object()


class _Helper:
    """One running helper process, with threads draining its stdout and stderr."""

    def __init__(self, command: Sequence[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen(
            list(command),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            close_fds=True,
        )
        self.answers: queue.Queue[Any] = queue.Queue()
        self.stderr_tail: collections.deque[str] = collections.deque(maxlen=20)
        threading.Thread(target=self._read_answers, name="ocr-answers", daemon=True).start()
        threading.Thread(target=self._read_stderr, name="ocr-stderr", daemon=True).start()

    def _read_answers(self) -> None:
        stream = self.proc.stdout
        assert stream is not None
        try:
            while True:
                line = stream.readline(protocol.MAX_ANSWER + 1)
                if not line:
                    break
                if not line.endswith(b"\n"):
                    self.answers.put(protocol.ProtocolError("answer too long or cut off"))
                    break
                try:
                    self.answers.put(json.loads(line))
                except ValueError as exc:
                    self.answers.put(protocol.ProtocolError(f"answer is not JSON: {exc}"))
                    break
        except (OSError, ValueError):
            pass
        finally:
            stream.close()
        self.answers.put(_EOF)

    def _read_stderr(self) -> None:
        stream = self.proc.stderr
        assert stream is not None
        try:
            for raw in iter(lambda: stream.readline(4096), b""):
                line = raw.decode("utf-8", "replace").rstrip()
                if line:
                    self.stderr_tail.append(line[:300])
                    log.info("%s", line[:300])
        except (OSError, ValueError):
            pass
        finally:
            stream.close()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def send(self, header: dict[str, Any], payload: bytes = b"") -> None:
        assert self.proc.stdin is not None
        protocol.write_request(self.proc.stdin, header, payload)

    def answer(self, request_id: int, deadline: float) -> dict[str, Any]:
        """The answer to ``request_id`` (earlier answers, e.g. to a warm-up, are skipped)."""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError
            try:
                item = self.answers.get(timeout=left)
            except queue.Empty:
                raise TimeoutError from None
            if item is _EOF:
                self.answers.put(_EOF)  # later waiters see it too
                raise EOFError
            if isinstance(item, Exception):
                raise item
            if isinstance(item, dict) and item.get("id") == request_id:
                return item

    def stop(self, wait: float = 2.0) -> None:
        proc = self.proc
        self._close_stdin()  # the helper's loop ends at end of input
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(5)
        self._close_stdin()

    def _close_stdin(self) -> None:
        try:
            if self.proc.stdin:
                self.proc.stdin.close()
        except OSError:
            pass  # a broken pipe on the final flush

    def why_stopped(self) -> str:
        code = self.proc.poll()
        tail = next((line for line in reversed(self.stderr_tail) if "Error" in line), "")
        return f"exit code {code}" + (f": {tail}" if tail else "")


class OcrService:
    """Reads text in a helper process. Thread-safe; ``read`` blocks, ``warm_up`` does not."""

    #: Seconds beyond a reading's own time limit before a silent helper is killed.
    grace_s = GRACE_S

    def __init__(
        self,
        *,
        idle_timeout: float = DEFAULT_IDLE_TIMEOUT,
        command: Sequence[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.idle_timeout = idle_timeout
        self.command = list(command or [sys.executable, "-m", "desktop_vlm.services.ocr.worker"])
        self.env = _helper_env(env)
        self._lock = threading.Lock()
        self._helper: _Helper | None = None
        self._next_id = 0
        self._timer: threading.Timer | None = None
        self._closed = False

    @property
    def running(self) -> bool:
        helper = self._helper
        return helper is not None and helper.alive()

    @property
    def pid(self) -> int | None:
        helper = self._helper
        return helper.proc.pid if helper is not None and helper.alive() else None

    def warm_up(self) -> None:
        """Start the helper and have it load the models, without waiting for either."""
        if not self._lock.acquire(blocking=False):
            return  # a reading is under way: the helper is warm
        try:
            if self._closed:
                return
            helper = self._ensure_started()
            self._next_id += 1
            helper.send({"id": self._next_id, "op": "load"})
        except (OSError, OfflineEngineError) as exc:
            log.warning("could not warm up the OCR helper: %s", exc)
        finally:
            self._lock.release()
        self._arm_idle_timer()

    def read(self, source: Any, timeout: float = DEFAULT_READ_TIMEOUT) -> OcrResult:
        """Read the text of ``source`` (RawImage, encoded bytes, a path or a PIL image)."""
        header, payload = _request_for(source)
        header.update(op="read", timeout=timeout)
        with self._lock:
            if self._closed:
                raise OfflineEngineError("The OCR service has been closed")
            helper = self._ensure_started()
            self._next_id += 1
            request_id = header["id"] = self._next_id
            deadline = time.monotonic() + timeout + self.grace_s
            try:
                helper.send(header, payload)
                answer = helper.answer(request_id, deadline)
            except TimeoutError:
                helper.kill()
                self._helper = None
                raise OfflineEngineError(
                    f"Reading the text took longer than {timeout:g} s and was stopped",
                    "Select a smaller region, or try again.",
                ) from None
            except (EOFError, OSError, protocol.ProtocolError) as exc:
                try:  # a broken pipe or end of output comes just before the exit code
                    helper.proc.wait(1)
                except subprocess.TimeoutExpired:
                    pass
                detail = helper.why_stopped() if not helper.alive() else str(exc)
                helper.kill()
                self._helper = None
                raise OfflineEngineError(
                    f"The OCR helper process stopped unexpectedly ({detail})",
                    "Try again; a new one is started. If it keeps failing, run "
                    "'python -m desktop_vlm.services.ocr IMAGE' to see why.",
                ) from None
        self._arm_idle_timer()
        if not answer.get("ok"):
            raise protocol.error_from_json(answer.get("error"))
        try:
            return protocol.result_from_json(answer["result"])
        except (KeyError, protocol.ProtocolError) as exc:
            raise OfflineEngineError(f"The OCR helper gave a malformed answer ({exc})") from None

    def close(self) -> None:
        """Stop the helper (if running) and refuse further readings."""
        self._closed = True
        self._cancel_timer()
        with self._lock:
            self._stop_helper()

    def stop(self) -> None:
        """Stop the helper now; the next reading or warm-up starts a new one."""
        self._cancel_timer()
        with self._lock:
            self._stop_helper()

    # --- internals -------------------------------------------------------------------------

    def _ensure_started(self) -> _Helper:
        helper = self._helper
        if helper is not None and helper.alive():
            return helper
        if helper is not None:
            log.warning("OCR helper had stopped (%s); starting a new one", helper.why_stopped())
            helper.kill()
        try:
            self._helper = _Helper(self.command, self.env)
        except OSError as exc:
            raise OfflineEngineError(
                f"The OCR helper process could not be started ({exc})",
                "Check that the Python interpreter running desktop-vlm still exists.",
            ) from None
        log.info("OCR helper started (pid %d)", self._helper.proc.pid)
        return self._helper

    def _stop_helper(self) -> None:
        helper, self._helper = self._helper, None
        if helper is not None:
            helper.stop()
            log.info("OCR helper stopped")

    def _arm_idle_timer(self) -> None:
        self._cancel_timer()
        if self._closed or self.idle_timeout <= 0:
            return
        timer = threading.Timer(self.idle_timeout, self._idle)
        timer.daemon = True
        self._timer = timer
        timer.start()

    def _cancel_timer(self) -> None:
        timer, self._timer = self._timer, None
        if timer is not None:
            timer.cancel()

    def _idle(self) -> None:
        if not self._lock.acquire(blocking=False):
            return  # busy: the reading re-arms the timer when it ends
        try:
            if self._timer is not None and self._timer is not threading.current_thread():
                return  # re-armed since this timer fired
            self._timer = None
            self._stop_helper()
        finally:
            self._lock.release()


def _helper_env(extra: dict[str, str] | None) -> dict[str, str]:
    env = dict(os.environ if extra is None else extra)
    # The helper must import this very package, also when it runs from a source checkout.
    root = str(Path(__file__).resolve().parents[3])
    paths = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    if root not in paths:
        env["PYTHONPATH"] = os.pathsep.join([root, *paths])
    return env


def _request_for(source: Any) -> tuple[dict[str, Any], bytes]:
    """The protocol header and payload for ``source``; too large a payload is refused."""
    if isinstance(source, RawImage):
        header: dict[str, Any] = {
            "format": "raw",
            "width": source.width,
            "height": source.height,
            "mode": source.mode,
            "stride": source.stride,
        }
        payload = bytes(source.data)
    elif isinstance(source, bytes | bytearray | memoryview):
        header, payload = {"format": "encoded"}, bytes(source)
    elif isinstance(source, str | os.PathLike):
        from desktop_vlm.core import imageprep  # Pillow only here: the idle tray stays lean

        header, payload = {"format": "encoded"}, imageprep._read_source(source)
    elif hasattr(source, "tobytes") and hasattr(source, "mode"):  # a PIL image
        img = source if source.mode in ("RGB", "RGBA", "L") else source.convert("RGB")
        header = {"format": "raw", "width": img.width, "height": img.height, "mode": img.mode}
        payload = img.tobytes()
    else:
        raise TypeError(f"cannot read text from a {type(source).__name__}")
    if len(payload) > protocol.MAX_PAYLOAD:
        raise ImageError(
            f"The image is too large to read its text ({len(payload) // (1024 * 1024)} MB)",
            "Select a smaller region.",
        )
    return header, payload
