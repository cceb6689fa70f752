"""The chat window and its controller, with a real stream worker against the loopback server, as
one harness for tests. Links are clicked where they are drawn: the harness finds the anchor in
the rendered transcript and presses the mouse on it, so a wrong or forged link would fail."""

from __future__ import annotations

from PIL import Image
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QTextCursor

from desktop_vlm.core.config import Config
from desktop_vlm.core.imageprep import RawImage
from desktop_vlm.gui.controller import Controller
from desktop_vlm.gui.notifier import Notifier
from desktop_vlm.gui.overlay import RegionOverlay
from desktop_vlm.gui.worker import StreamWorker
from desktop_vlm.services.endpoint import Endpoint
from desktop_vlm.services.secrets import KeyStore

WAIT = 15_000


def raw_image(width: int = 64, height: int = 48) -> RawImage:
    img = Image.effect_noise((width, height), 50).convert("RGBA")
    return RawImage(width, height, img.tobytes(), mode="RGBA")


def anchors(transcript) -> list[tuple[str, str, int]]:  # noqa: ANN001 - a Transcript
    """(text, href, position) of every link in the rendered document, in order."""
    found = []
    block = transcript.document().begin()
    while block.isValid():
        it = block.begin()
        while not it.atEnd():
            fragment = it.fragment()
            fmt = fragment.charFormat()
            if fmt.isAnchor():
                found.append((fragment.text(), fmt.anchorHref(), fragment.position()))
            it += 1
        block = block.next()
    return found


class Harness:
    def __init__(self, qtbot, api, config: Config, keys: KeyStore | None = None):
        self.qtbot = qtbot
        self.api = api
        self.copied: list[str] = []
        self.notices: list[tuple[str, str]] = []
        self.worker = StreamWorker(Endpoint(keys or KeyStore(environ={})))
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
        )

    @property
    def window(self):
        return self.controller.window

    @property
    def session(self):
        return self.controller.session

    def ask(self, preset_id: str = "describe", image: RawImage | None = None) -> None:
        self.controller.ask(image or raw_image(), self.controller.config.preset(preset_id), None)

    def chat_requests(self):
        return [r for r in self.api.requests if r.path.endswith("/chat/completions")]

    def close(self) -> None:
        """Stop what runs, close the window, and wait for the worker (the server released)."""
        self.worker.stop_all()
        if self.window is not None:
            self.window.close()
        self.api.release()
        self.qtbot.waitUntil(lambda: self.worker.running() == 0, timeout=WAIT)
        self.worker._endpoint.close()

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

    def links(self) -> list[str]:
        return [text for text, _href, _pos in anchors(self.window.transcript)]

    def click(self, label: str, occurrence: int = -1) -> None:
        """Press the mouse on the link ``label`` (the last one of that text by default)."""
        transcript = self.window.transcript
        matches = [a for a in anchors(transcript) if a[0] == label]
        assert matches, f"no link {label!r} in the transcript; links: {self.links()}"
        _text, _href, position = matches[occurrence]
        cursor = QTextCursor(transcript.document())
        cursor.setPosition(position + 1)
        transcript.setTextCursor(cursor)
        transcript.ensureCursorVisible()
        rect = transcript.cursorRect(cursor)
        point = QPoint(rect.left() - 2, rect.center().y())
        self.qtbot.mouseClick(transcript.viewport(), Qt.MouseButton.LeftButton, pos=point)
