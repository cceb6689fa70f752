"""``[privacy] confirm = true``: nothing goes out before the person has seen it.

The worker stops before the request (after it knows the host and the model, chosen
automatically or not) and asks; this shows the exact image in the preview and carries Send or
Cancel back. An image approved once is not asked about again in the same conversation (a
follow-up about it sends nothing new); a new image (look closer) is. Answers from the offline
engine send nothing and are never previewed.
"""

from __future__ import annotations

from PySide6.QtCore import QObject, Signal
from PySide6.QtGui import QImage

from desktop_vlm.core.session import ChatSession, Request
from desktop_vlm.gui.preview import SendPreview


class SendGate(QObject):
    #: The preview of a request is shown (request id); the person decided (id, send).
    asking = Signal(int)
    decided = Signal(int, bool)

    def __init__(self, session: ChatSession, worker, window_of, parent=None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self._session = session
        self._worker = worker
        self._window_of = window_of  # () -> the chat window or None (the preview's parent)
        self._approved: set[tuple[str, int]] = set()
        self._open: dict[int, SendPreview] = {}
        worker.confirm_wanted.connect(self._ask)
        worker.failed.connect(lambda request_id, _error: self._close(request_id))

    def needed(self, request: Request, enabled: bool) -> bool:
        return enabled and _key(request) not in self._approved

    def _ask(self, request_id: int, where: dict) -> None:
        request = self._session.request(request_id)
        if request is None or request.conversation is None:
            self._worker.approve(request_id, False)
            return
        ref = request.conversation.current_image()
        image = QImage.fromData(ref.data)
        size = f"{ref.width} × {ref.height} px, {ref.mime.split('/')[-1].upper()}, "
        size += f"{_kib(len(ref.data))} (exactly what is sent)"
        redactions = request.conversation.meta.get("redactions") or {}
        by_hand = request.conversation.meta.get("covered_by_hand", 0)
        covered = redactions.get("summary", "")
        if by_hand:
            covered = ", ".join(filter(None, [covered, f"{by_hand} covered by hand"]))
        window = self._window_of()
        parent = window if window is not None and window.isVisible() else None
        preview = SendPreview(
            image,
            host=where.get("host", "?"),
            model=where.get("model", "?"),
            size_text=size,
            covered=f"Covered: {covered}" if covered else "",
            parent=parent,
        )
        self._open[request_id] = preview
        key = _key(request)

        def decided(send: bool) -> None:
            self._open.pop(request_id, None)
            if send:
                self._approved.add(key)
            self._worker.approve(request_id, send)
            self.decided.emit(request_id, send)

        preview.decided.connect(decided)
        self.asking.emit(request_id)
        preview.show()
        preview.raise_()
        preview.activateWindow()

    def _close(self, request_id: int) -> None:
        """Stopped from elsewhere (the card's Cancel, the window's Stop): the preview goes."""
        preview = self._open.pop(request_id, None)
        if preview is not None:
            preview.close()


def _key(request: Request) -> tuple[str, int]:
    conversation = request.conversation
    return (conversation.id, hash(conversation.current_image().data))


def _kib(size: int) -> str:
    return f"{size / 1024:.0f} KB" if size >= 1024 else f"{size} bytes"
