"""The stream worker: the only code that leaves the GUI thread.

Image encoding, key-store access (a D-Bus round trip), model resolution and the HTTP stream all
run on a pool thread; results come back only through Qt signals, which Qt queues onto the GUI
thread because this QObject lives there. One worker runs one request at a time.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from desktop_vlm.core.completions import ChatRequest
from desktop_vlm.core.config import Config
from desktop_vlm.core.conversation import Conversation, ImageRef
from desktop_vlm.core.errors import CancelledError, VlmError
from desktop_vlm.core.presets import Preset
from desktop_vlm.core.rawimage import RawImage
from desktop_vlm.services.cancellation import Cancellation

if TYPE_CHECKING:
    from desktop_vlm.services.client import ChatClient

log = logging.getLogger(__name__)

ClientFactory = Callable[[Config], "ChatClient"]
ModelResolver = Callable[[Config, Preset, "ChatClient", "str | None"], str]
ModelLister = Callable[["ChatClient"], list[str]]


@dataclass
class Job:
    """One request. A first turn carries ``image``; a follow-up carries ``messages``."""

    config: Config
    preset: Preset
    prompt: str = ""
    image: RawImage | bytes | str | None = None
    messages: list[dict[str, Any]] | None = None
    model: str | None = None
    cancellation: Cancellation = field(default_factory=Cancellation)


class StreamWorker(QObject):
    image_ready = Signal(object)  # ImageRef of what is being sent
    started = Signal(str)  # the model answering
    delta = Signal(str)  # a piece of the answer
    finished = Signal(object)  # StreamResult
    failed = Signal(object)  # VlmError (CancelledError when stopped)
    models_ready = Signal(list)  # the endpoint's model ids, for the model picker

    def __init__(
        self,
        client_factory: ClientFactory,
        model_resolver: ModelResolver,
        model_lister: ModelLister | None = None,
        pool: QThreadPool | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self._client_factory = client_factory
        self._model_resolver = model_resolver
        self._model_lister = model_lister or (lambda client: client.list_models())
        self._pool = pool or QThreadPool.globalInstance()
        self._job: Job | None = None
        self._lock = threading.Lock()

    @property
    def busy(self) -> bool:
        """A job runs on the pool thread. It clears before the end signal reaches the GUI
        thread, so the GUI tracks its own in-flight state (Controller.busy)."""
        return self._job is not None

    def start(self, job: Job) -> None:
        """Run ``job``; a request still running is cancelled and its signals are dropped."""
        with self._lock:
            previous, self._job = self._job, job
        if previous is not None:
            previous.cancellation.cancel()
        self._pool.start(FunctionRunnable(lambda: self._run(job)))

    def stop(self) -> None:
        with self._lock:
            job = self._job
        if job is not None:
            job.cancellation.cancel()

    def fetch_models(self, config: Config) -> None:
        """List the endpoint's models in the background; failures are only logged."""

        def work() -> None:
            try:
                models = self._model_lister(self._client_factory(config))
            except VlmError as exc:
                log.info("model list unavailable: %s", exc)
                return
            except Exception:  # noqa: BLE001
                log.exception("unexpected error listing models")
                return
            self.models_ready.emit(models)

        self._pool.start(FunctionRunnable(work))

    def _run(self, job: Job) -> None:
        try:
            messages = job.messages
            if messages is None:
                # Pillow loads here, on the pool thread, at the first image: not at start-up.
                from desktop_vlm.core.imageprep import prepare_image

                image = prepare_image(
                    job.image,
                    image_format=job.config.image_format,
                    jpeg_quality=job.config.jpeg_quality,
                )
                ref = ImageRef(
                    image.mime,
                    base64.b64encode(image.data).decode("ascii"),
                    image.width,
                    image.height,
                )
                self._emit(job, self.image_ready, ref)
                first = Conversation(image=ref, preset_id=job.preset.id)
                first.ask(job.prompt)
                messages = first.messages()
            job.cancellation.raise_if_cancelled()
            client = self._client_factory(job.config)
            model = self._model_resolver(job.config, job.preset, client, job.model)
            self._emit(job, self.started, model)
            request = ChatRequest(
                model=model,
                messages=messages,
                max_tokens=job.preset.max_tokens,
                temperature=job.preset.temperature,
            )
            stream = client.stream_chat(request, job.cancellation)
            for piece in stream:
                self._emit(job, self.delta, piece)
            self._finish(job, self.finished, stream.result)
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
                VlmError(f"Unexpected error ({type(exc).__name__}); see the log file"),
            )

    def _emit(self, job: Job, signal: Signal, value: object) -> None:
        if self._job is job and not job.cancellation.cancelled:
            signal.emit(value)

    def _finish(self, job: Job, signal: Signal, value: object) -> None:
        with self._lock:
            current = self._job is job
            if current:
                self._job = None
        if current:
            signal.emit(value)


class FunctionRunnable(QRunnable):
    """Run a function on a QThreadPool thread (results go back through signals)."""

    def __init__(self, fn: Callable[[], None]) -> None:
        super().__init__()
        self._fn = fn
        self.setAutoDelete(True)

    def run(self) -> None:
        self._fn()
