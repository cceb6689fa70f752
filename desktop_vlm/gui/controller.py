"""The one place that wires the parts together: commands in (tray, hotkeys, socket), overlay,
image preparation, the session's rules, the stream worker, the chat window, clipboard, notices
and the history out. Widgets never call each other, and no rule of a conversation lives here:
``core.session.ChatSession`` decides, this module carries the results where they go.

Every request runs to its end or until the person stops it; several may run at once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import replace

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QWidget

from desktop_vlm.core import errors as E
from desktop_vlm.core.config import Config
from desktop_vlm.core.conversation import ImageRef
from desktop_vlm.core.outgoing import Outgoing
from desktop_vlm.core.presets import Preset
from desktop_vlm.core.rawimage import RawImage
from desktop_vlm.core.session import ChatSession, Request
from desktop_vlm.gui import wording
from desktop_vlm.gui.answers import AnswerFlow
from desktop_vlm.gui.capture_flow import CaptureFlow
from desktop_vlm.gui.chat_link import ChatLink
from desktop_vlm.gui.history import History
from desktop_vlm.gui.images import ImageSource, keep_original, prepare, thumbnail
from desktop_vlm.gui.notifier import Notifier
from desktop_vlm.gui.overlay import RegionOverlay
from desktop_vlm.gui.pool import run_in_pool
from desktop_vlm.gui.quick_popup import QuickCards, region_rect, working_text
from desktop_vlm.gui.send_gate import SendGate
from desktop_vlm.gui.worker import Job, StreamWorker
from desktop_vlm.platform import memory
from desktop_vlm.platform.screenshot import ScreenGrab

log = logging.getLogger(__name__)

KEEP_WITH_HISTORY = 4
KEEP_WITHOUT = 20
#: What a quick card says while the preview before sending waits for the person.
PREVIEW_WAITS = "Check the preview: Send or Cancel"

Grabber = Callable[["str | None"], list[ScreenGrab]]  # forced handler name, or None
ClipboardReader = Callable[[], "RawImage | str | None"]
ClipboardWriter = Callable[[str], None]


class Controller(QObject):
    quit_requested = Signal()
    settings_requested = Signal()
    running_changed = Signal(int)  # requests in flight (the tray shows them)

    def __init__(
        self,
        config: Config,
        *,
        worker: StreamWorker,
        overlay: RegionOverlay,
        notifier: Notifier,
        grab: Grabber,
        read_clipboard: ClipboardReader,
        write_clipboard: ClipboardWriter,
        history: History | None = None,
        window_factory: Callable[[Config], QWidget] | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.config = config
        self.session = ChatSession()
        self._worker = worker
        self._overlay = overlay
        self._notifier = notifier
        self._grab = grab
        self._read_clipboard = read_clipboard
        self._write_clipboard = write_clipboard
        self.history = history or History(None)
        self._keep_in_memory()
        self.chat = ChatLink(
            self.session,
            self.history,
            lambda: self.config,
            self._preset,
            window_factory,
            parent=self,
        )
        self.chat.send.connect(self._send)
        self.chat.stop.connect(worker.stop)
        self.chat.ask.connect(
            lambda source, preset, image, window: self.ask(source, preset, image, window=window)
        )
        self.chat.capture.connect(lambda preset_id: self.capture(preset_id))
        self.chat.settings.connect(self.settings_requested.emit)
        self.chat.models_wanted.connect(self._models_wanted)
        self.commands_seen = 0
        self._models: list[str] = []
        self._cards = QuickCards()
        self.capture_flow = CaptureFlow(
            overlay, grab, lambda: self.config, parent=self, has_key=worker.has_key
        )
        self.capture_flow.captured.connect(
            lambda raw, image, preset, info: self.ask(raw, preset, image, near=info)
        )
        self.capture_flow.warm_up.connect(worker.warm_offline)
        self.capture_flow.failed.connect(
            lambda text: self._notifier.notify("Screen capture failed", text, error=True)
        )
        self.answers = AnswerFlow(self, parent=self)
        self._gate = SendGate(self.session, worker, lambda: self.chat.window, parent=self)
        self._gate.asking.connect(lambda rid: self._cards.working(rid, PREVIEW_WAITS))
        self._gate.decided.connect(self._sent_or_not)
        worker.models_ready.connect(self._models_ready)
        self.history.problem.connect(
            lambda text: self._notifier.notify("History", text, error=True)
        )

    # --- commands -----------------------------------------------------------------------------

    def handle_command(
        self, command: str, preset_id: str | None = None, handler: str | None = None
    ) -> None:
        if command in ("capture", "clipboard"):
            self.commands_seen += 1
        if command == "capture":
            self.capture(preset_id, handler)
        elif command == "clipboard":
            self.ask_clipboard(preset_id)
        elif command == "show":
            self.open_window()
        elif command == "settings":
            self.settings_requested.emit()
        elif command == "quit":
            self.quit_requested.emit()

    def set_default_preset(self, preset_id: str) -> None:
        if preset_id in self.config.presets:
            self.config = replace(self.config, default_preset=preset_id)

    def apply_config(self, config: Config) -> None:
        """New settings take effect for the next request."""
        self.config = config
        self._models = []
        self.history.enabled = config.keep_history
        self._keep_in_memory()
        if self.chat.window is not None:
            self.chat.window.set_presets(list(config.presets.values()), config.default_preset)

    def capture(self, preset_id: str | None = None, handler: str | None = None) -> None:
        preset = self._preset(preset_id)
        if preset is not None:
            self.capture_flow.start(preset, handler)

    def ask_clipboard(self, preset_id: str | None = None) -> None:
        preset = self._preset(preset_id)
        if preset is None:
            return
        source = self._read_clipboard()
        if source is None:
            self._notifier.notify(
                "No image on the clipboard",
                "Copy an image (or an image file), then try again.",
                error=True,
            )
            return
        self.ask(source, preset, thumbnail(source))

    def ask(
        self,
        source: ImageSource,
        preset: Preset,
        image: QImage | None,
        *,
        window: bool | None = None,
        near: object = None,
    ) -> None:
        """A new conversation about ``source`` with ``preset`` (``near``: the capture's
        RegionInfo, where a quick preset shows its progress)."""
        if preset.asks_question:
            window = True  # the question is typed in the window, beside the image
            request = None
        else:
            request = self.session.start(preset, window=window)
            request.context["source"] = source  # what the offline engine reads, if it answers
            request.context["near"] = region_rect(near)
            request.context["region"] = near
            self.running_changed.emit(len(self.session.requests()))
            if request.quick:
                self._popup(request)
        if window or (request is not None and request.show):
            self.open_window().show_pending(preset.title, image)
        config = self.config
        read = self._worker.read_offline

        def done(outgoing: Outgoing | None, error: BaseException | None) -> None:
            self._prepared(request, preset, outgoing, error, image, near)
            # the capture's pixels and the encoder's buffers are free now: give them back
            run_in_pool(memory.trim, parent=self)

        run_in_pool(lambda: prepare(source, config, read), done, parent=self)

    def open_window(self):  # noqa: ANN201 - ChatWindow, imported on first use
        return self.chat.open()

    @property
    def window(self):  # noqa: ANN201
        return self.chat.window

    def show_conversation(self, conversation_id: str) -> None:
        self.chat.show_conversation(conversation_id)

    @property
    def busy(self) -> bool:
        """Some request is in flight as far as the GUI knows."""
        return bool(self.session.requests())

    # --- first turns ----------------------------------------------------------------------

    def _popup(self, request: Request) -> None:
        self._cards.open(
            request.id,
            request.preset.title,
            request.context.get("near"),
            working_text(request.preset.title, request.preset.offline),
            lambda rid=request.id: self._cancel_quick(rid),
        )

    def _sent_or_not(self, request_id: int, send: bool) -> None:
        request = self.session.request(request_id)
        if send and request is not None:
            self._cards.working(request_id, working_text(request.preset.title, offline=False))

    def _cancel_quick(self, request_id: int) -> None:
        request = self.session.request(request_id)
        if request is not None:
            request.context["cancelled"] = True
            self._worker.stop(request_id)

    def _prepared(
        self,
        request: Request | None,
        preset: Preset,
        outgoing: Outgoing | None,
        error: BaseException | None,
        image: QImage | None,
        region: object = None,
    ) -> None:
        if request is not None and request.context.get("cancelled"):
            self.session.fail(request.id, stopped=True)
            self.running_changed.emit(len(self.session.requests()))
            return
        if error is not None:
            if request is not None:
                self.session.fail(request.id, stopped=False)
                self.running_changed.emit(len(self.session.requests()))
            failure = (
                error
                if isinstance(error, E.VlmError)
                else E.ImageError(f"The image could not be prepared ({type(error).__name__})")
            )
            if request is None or request.show:
                self.chat.window.fail(None, wording.in_window(failure), [])
            elif request.id in self._cards:
                self._cards.take(request.id).failed(wording.in_window(failure), retry=False)
            else:
                self._notifier.notify(
                    "The image cannot be used", wording.in_window(failure), error=True
                )
            return
        ref = outgoing.ref
        meta = {**outgoing.meta(), **_region_meta(region)}
        if request is None:  # the ask preset: the image waits for the question in the window
            conversation = self.session.compose(preset, ref, meta)
            keep_original(conversation, outgoing.original, self)
            self.chat.window.show_conversation(
                conversation, self.chat.title(conversation), image, compose=True
            )
            return
        twin = self._twin(request, ref)
        if twin is not None:
            # The same image with the same preset is being answered already (a shortcut
            # pressed many times): one request, not many; the first one's answer arrives.
            self.session.fail(request.id, stopped=True)
            self.running_changed.emit(len(self.session.requests()))
            if request.id in self._cards:
                self._cards.take(request.id).close()
            log.info("%s about the same image is running already", preset.id)
            return
        self.session.image_ready(request.id, ref, meta)
        keep_original(request.conversation, outgoing.original, self)
        self.history.save(request.conversation)
        if request.show and self.chat.window is not None:
            self.chat.window.show_conversation(
                request.conversation, self.chat.title(request.conversation), image
            )
            self.chat.window.set_answering(True)
            waits = self._gate.needed(request, self.config.confirm_send)
            self.chat.window.set_status(
                "Check the preview: Send or Cancel" if waits else "Sending…"
            )
        self._send(request)

    def _keep_in_memory(self) -> None:
        """With a history to load them from, only the last few conversations (and their
        images) stay in memory; without one, more do, since nothing else keeps them."""
        self.session.keep = KEEP_WITH_HISTORY if self.history.available else KEEP_WITHOUT

    def _twin(self, request: Request, ref: ImageRef) -> Request | None:
        for other in self.session.requests():
            if (
                other is not request
                and other.kind == "first"
                and other.conversation is not None
                and other.preset.id == request.preset.id
                and other.conversation.image.data == ref.data
            ):
                return other
        return None

    def _send(self, request: Request) -> None:
        self.running_changed.emit(len(self.session.requests()))
        image = request.context.get("source") or request.conversation.current_image().data
        self._worker.start(
            Job(
                request.id,
                self.config,
                request.preset,
                self.session.messages(request.id),
                request.model,
                image=image,
                confirm=self._gate.needed(request, self.config.confirm_send),
            )
        )

    def _models_wanted(self) -> None:
        if not self._models:
            self._worker.fetch_models(self.config)

    def _models_ready(self, models: list[str]) -> None:
        self._models = models
        if self.chat.window is not None:
            self.chat.window.set_models(models)

    def _preset(self, preset_id: str | None, quiet: bool = False) -> Preset | None:
        try:
            return self.config.preset(preset_id)
        except KeyError:
            if not quiet:
                self._notifier.notify(
                    "Unknown preset",
                    f"There is no preset '{preset_id}'. Known: {', '.join(self.config.presets)}",
                    error=True,
                )
            return None


def _region_meta(region: object) -> dict:
    """What the overlay did to the capture: regions combined, areas covered by hand."""
    meta = {}
    parts = getattr(region, "parts", 1)
    covered = getattr(region, "covered", 0)
    if parts > 1:
        meta["parts"] = parts
    if covered:
        meta["covered_by_hand"] = covered
    return meta
