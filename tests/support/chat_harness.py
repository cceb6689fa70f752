"""The chat window and its controller, with a real stream worker, as one harness for tests."""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import Qt, QUrl

from desktop_vlm.core.config import Config
from desktop_vlm.core.imageprep import RawImage
from desktop_vlm.gui.controller import Controller
from desktop_vlm.gui.notifier import Notifier
from desktop_vlm.gui.overlay import RegionOverlay
from desktop_vlm.gui.worker import StreamWorker
from desktop_vlm.services.endpoint import make_client, resolve_model, served_models
from desktop_vlm.services.secrets import KeyStore

WAIT = 15_000


def raw_image(width: int = 64, height: int = 48) -> RawImage:
    img = Image.effect_noise((width, height), 50).convert("RGBA")
    return RawImage(width, height, img.tobytes(), mode="RGBA")


class Harness:
    def __init__(self, qtbot, api, config: Config):
        self.qtbot = qtbot
        self.api = api
        self.copied: list[str] = []
        self.notices: list[tuple[str, str]] = []
        keys = KeyStore(environ={})
        self.worker = StreamWorker(lambda cfg: make_client(cfg, keys), resolve_model, served_models)
        self.notifier = Notifier(None)
        self.notifier.shown.connect(lambda t, b: self.notices.append((t, b)))
        self.controller = Controller(
            config,
            worker=self.worker,
            overlay=RegionOverlay(),
            notifier=self.notifier,
            grab=lambda handler=None: [],
            read_clipboard=lambda: None,
            write_clipboard=self.copied.append,
            ask_question=lambda preset: "What colour dominates?",
        )

    @property
    def window(self):
        return self.controller.window

    def ask(self, preset_id: str = "describe") -> None:
        self.controller.ask(raw_image(), self.controller.config.preset(preset_id), None)

    def chat_requests(self):
        return [r for r in self.api.requests if r.path.endswith("/chat/completions")]

    def wait_text(self, text: str) -> None:
        self.qtbot.waitUntil(lambda: text in self.window.transcript_text(), timeout=WAIT)

    def wait_idle(self) -> None:
        self.qtbot.waitUntil(
            lambda: not self.controller.busy and not self.window.streaming, timeout=WAIT
        )

    def type_question(self, text: str) -> None:
        box = self.window.question
        box.setFocus()
        self.qtbot.keyClicks(box, text)
        self.qtbot.keyClick(box, Qt.Key.Key_Return)

    def click_link(self, href: str) -> None:
        self.window.transcript.anchorClicked.emit(QUrl(href))
