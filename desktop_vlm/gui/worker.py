"""The stream worker: takes a request's messages, gives back the pieces of its answer.

Key-store access (a D-Bus round trip), model resolution and the HTTP stream run on a pool thread;
results come back only through Qt signals, which Qt queues onto the GUI thread because this
QObject lives there. Any number of requests may run at once, each known by its request id, and
each can be stopped on its own; a stopped request reports ``failed`` with CancelledError.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

from PySide6.QtCore import QObject, QThreadPool, Signal

from desktop_vlm.core.completions import ChatRequest
from desktop_vlm.core.config import Config
from desktop_vlm.core.errors import (
    CancelledError,
    KeyMissingError,
    ModelNotFoundError,
    NotSentError,
    VlmError,
)
from desktop_vlm.core.presets import Preset
from desktop_vlm.gui.pool import FunctionRunnable
from desktop_vlm.services.cancellation import Cancellation

if TYPE_CHECKING:
    from desktop_vlm.services.client import ChatClient

log = logging.getLogger(__name__)


#: How long a finished answer's check waits for the offline reading.
CHECK_WAIT_S = 60.0


class OfflineOnlyError(KeyMissingError):
    """The offline engine answered the first turn; the next question needs a model."""


class Endpoint(Protocol):
    """What the worker needs of services.endpoint (the app injects it; tests pass their own)."""

    def route(self, config: Config, preset: Preset) -> Any: ...
    def has_key(self, config: Config) -> bool: ...
    def read_offline(self, source: object, timeout: float = ...) -> Any: ...
    def warm_offline(self) -> None: ...
    def make_client(self, config: Config) -> ChatClient: ...
    def resolve_model(
        self, config: Config, preset: Preset, client: ChatClient, explicit: str | None
    ) -> tuple[str, bool]: ...
    def served_models(self, client: ChatClient) -> list[str]: ...
    def forget_models(self, client: ChatClient) -> None: ...


@dataclass
class Job:
    """One request: the messages to send and how (the preset's limits, a model if picked)."""

    request_id: int
    config: Config
    preset: Preset
    messages: list[dict[str, Any]]
    model: str | None = None
    #: What the offline engine reads if it answers: the capture itself, or the image sent.
    image: object = None
    cancellation: Cancellation = field(default_factory=Cancellation)
    #: Show the preview and wait for the person before anything is sent ([privacy] confirm).
    confirm: bool = False
    approval: threading.Event = field(default_factory=threading.Event)
    approved: bool = False


class StreamWorker(QObject):
    notice = Signal(int, str)  # request id, who answers when it is not the usual (one line)
    started = Signal(int, str)  # request id, the model answering
    delta = Signal(int, object)  # request id, a Delta of the answer
    finished = Signal(int, object)  # request id, StreamResult
    checked = Signal(int, object)  # request id, the offline check's JSON or None (after finished)
    failed = Signal(int, object)  # request id, VlmError (CancelledError when stopped)
    models_ready = Signal(list)  # the endpoint's model ids, for the model picker
    #: request id, {"host", "model"}: the request waits for approve() before it is sent
    confirm_wanted = Signal(int, object)

    def __init__(
        self, endpoint: Endpoint, pool: QThreadPool | None = None, parent: QObject | None = None
    ) -> None:
        super().__init__(parent)
        self._endpoint = endpoint
        self._pool = pool or QThreadPool.globalInstance()
        self._jobs: dict[int, Job] = {}
        self._lock = threading.Lock()

    def running(self) -> int:
        with self._lock:
            return len(self._jobs)

    def start(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.request_id] = job
        self._pool.start(FunctionRunnable(lambda: self._run(job)))

    def stop(self, request_id: int) -> None:
        with self._lock:
            job = self._jobs.get(request_id)
        if job is not None:
            job.cancellation.cancel()

    def approve(self, request_id: int, send: bool) -> None:
        """The person's answer to confirm_wanted: send, or cancel with nothing sent."""
        with self._lock:
            job = self._jobs.get(request_id)
        if job is not None:
            job.approved = send
            job.approval.set()

    def stop_all(self) -> None:
        with self._lock:
            jobs = list(self._jobs.values())
        for job in jobs:
            job.cancellation.cancel()

    def fetch_models(self, config: Config) -> None:
        """List the endpoint's models in the background; failures are only logged."""

        def work() -> None:
            try:
                models = self._endpoint.served_models(self._endpoint.make_client(config))
            except VlmError as exc:
                log.info("model list unavailable: %s", exc)
                return
            except Exception:  # noqa: BLE001
                log.exception("unexpected error listing models")
                return
            self.models_ready.emit(models)

        self._pool.start(FunctionRunnable(work))

    def has_key(self, config: Config) -> bool:
        """A key is stored for the active profile (False when the keyring cannot say)."""
        return self._endpoint.has_key(config)

    def read_offline(self, source: object) -> Any:
        """The offline engine's reading of ``source`` (called from a pool thread: it blocks)."""
        return self._endpoint.read_offline(source)

    def warm_offline(self) -> None:
        """Start the offline engine now, off the GUI thread (a text capture has begun)."""

        def work() -> None:
            try:
                self._endpoint.warm_offline()
            except Exception as exc:  # noqa: BLE001 - the reading itself will say what is wrong
                log.info("offline engine not warmed: %s", exc)

        self._pool.start(FunctionRunnable(work))

    def _run(self, job: Job) -> None:
        try:
            job.cancellation.raise_if_cancelled()
            chosen = self._endpoint.route(job.config, job.preset)
            if chosen.notice:
                self._emit(job, self.notice, chosen.notice)
            if chosen.offline:
                self._answered(job, self._offline(job))
                return
            job.config = chosen.config
            reading = self._start_reading(job) if job.preset.verify else None
            client = self._endpoint.make_client(job.config)
            model, automatic = self._endpoint.resolve_model(
                job.config, job.preset, client, job.model
            )
            if job.confirm:
                self._wait_for_approval(job, model)
            for again in (True, False):
                self._emit(job, self.started, model)
                try:
                    result = self._stream(job, client, model)
                except ModelNotFoundError:
                    if not (automatic and again):
                        raise
                    # The model chosen from a day-old list is gone: list again, choose again.
                    log.info("model %s is gone; choosing again from a fresh list", model)
                    self._endpoint.forget_models(client)
                    model, automatic = self._endpoint.resolve_model(
                        job.config, job.preset, client, None
                    )
                    continue
                self._answered(job, result)
                if reading is not None:
                    self._check(job, reading, result.completion.text)
                return
        except CancelledError as exc:
            self._finish(job, self.failed, exc)
        except VlmError as exc:
            log.info("request failed: %s", exc)
            self._finish(job, self.failed, exc)
        except Exception as exc:  # noqa: BLE001 - a bug must not kill the pool thread silently
            log.exception("unexpected error in the stream worker")
            self._finish(
                job,
                self.failed,
                VlmError(f"Unexpected error ({type(exc).__name__}); the log file has the details"),
            )

    def _answered(self, job: Job, result: Any) -> None:
        """Deliver the answer, its structure checked here: a receipt or table answer may be a
        million characters, and the GUI thread must not parse it."""
        if job.preset.structured:
            from desktop_vlm.core.answer_checks import check_structured

            result.structured = check_structured(job.preset.structured, result.completion.text)
        self._finish(job, self.finished, result)

    def _wait_for_approval(self, job: Job, model: str) -> None:
        """Nothing is sent until the person says Send in the preview; Cancel or Stop ends it."""
        self._emit(job, self.confirm_wanted, {"host": host_of(job.config), "model": model})
        while not job.approval.wait(0.2):
            job.cancellation.raise_if_cancelled()
        job.cancellation.raise_if_cancelled()
        if not job.approved:
            raise NotSentError("Not sent: cancelled in the preview")

    def _start_reading(self, job: Job) -> dict:
        """The offline reading of the same image, made while the model answers."""
        holder: dict = {}

        def read() -> None:
            try:
                holder["reading"] = self._endpoint.read_offline(job.image)
            except Exception as exc:  # noqa: BLE001 - a check that cannot run is only logged
                log.info("offline check unavailable: %s", exc)

        holder["thread"] = threading.Thread(target=read, name="offline-check", daemon=True)
        holder["thread"].start()
        return holder

    def _check(self, job: Job, holder: dict, answer: str) -> None:
        from desktop_vlm.core.checks import compare_with_offline

        holder["thread"].join(CHECK_WAIT_S)
        reading = holder.get("reading")
        if job.cancellation.cancelled:
            return
        # None when there is no reading to compare with: the GUI stops waiting for it either way
        check = compare_with_offline(answer, reading).to_json() if reading is not None else None
        _send(self.checked, job.request_id, check)

    def _offline(self, job: Job) -> object:
        """The offline engine's reading, delivered as an answer of its own."""
        from desktop_vlm.core.completions import Completion, Delta
        from desktop_vlm.services.client import StreamResult

        if len(job.messages) > 1:
            raise OfflineOnlyError(
                "The offline engine reads the image's text; it cannot answer follow-up questions",
                "Store an API key in Settings, or start a local server with a vision model",
            )
        started = time.monotonic()
        reading = self._endpoint.read_offline(job.image)
        job.cancellation.raise_if_cancelled()
        self._emit(job, self.started, reading.engine)
        if reading.text:
            self._emit(job, self.delta, Delta(reading.text))
        elapsed = time.monotonic() - started
        completion = Completion(text=reading.text, model=reading.engine, finish_reason="stop")
        return StreamResult(completion, ttft_s=elapsed, elapsed_s=elapsed, attempts=1)

    def _stream(self, job: Job, client: ChatClient, model: str) -> object:
        request = ChatRequest(
            model=model,
            messages=job.messages,
            max_tokens=job.preset.max_tokens,
            temperature=job.preset.temperature,
        )
        stream = client.stream_chat(request, job.cancellation)
        for piece in stream:
            self._emit(job, self.delta, piece)
        return stream.result

    def _emit(self, job: Job, signal: Signal, value: object) -> None:
        if not job.cancellation.cancelled:
            _send(signal, job.request_id, value)

    def _finish(self, job: Job, signal: Signal, value: object) -> None:
        with self._lock:
            self._jobs.pop(job.request_id, None)
        _send(signal, job.request_id, value)


def _send(signal: Signal, request_id: int, value: object) -> None:
    """Emit from the pool thread; once the app has closed the worker there is no one to tell
    (a reading or a check that ends during quit), which is not an error."""
    try:
        signal.emit(request_id, value)
    except RuntimeError as exc:  # "Signal source has been deleted"
        log.debug("request %d ended after the worker closed: %s", request_id, exc)


def host_of(config: Config) -> str:
    """The host (and port, if not the scheme's own) a request with ``config`` goes to."""
    parts = urlsplit(config.active.base_url)
    host = parts.hostname or config.active.base_url
    return f"{host}:{parts.port}" if parts.port else host
