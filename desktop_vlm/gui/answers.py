"""The life of an answer, from the worker's signals: the session's rules applied, the pieces
shown as they stream (and written to disk about once a second), the answer delivered where its
preset says, checked (the offline reading, a receipt's or a table's structure), and a failure
shown with what fixes it."""

from __future__ import annotations

import logging

from PySide6.QtCore import QObject, QTimer

from desktop_vlm.core import errors as E
from desktop_vlm.core.pricing import estimate_cost, format_cost
from desktop_vlm.core.session import FIRST, Request, SessionError
from desktop_vlm.gui import wording
from desktop_vlm.gui.deliver import deliver

log = logging.getLogger(__name__)


class AnswerFlow(QObject):
    def __init__(self, controller, parent: QObject | None = None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self._c = controller
        worker = controller._worker
        worker.notice.connect(self.notice)
        worker.started.connect(self.started)
        worker.delta.connect(self.delta)
        worker.finished.connect(self.finished)
        worker.failed.connect(self.failed)
        worker.checked.connect(self.checked)
        # While answers stream, what has arrived is written to disk about once a second.
        self._flush_timer = QTimer(self, interval=1000, timeout=self.flush_partials)
        #: Finished answers whose offline check is still to come: request id -> (conv, index).
        self._awaiting: dict[int, tuple] = {}

    def notice(self, request_id: int, text: str) -> None:
        """Who answers, when it is not the usual (offline, a server found on this machine)."""
        request = self._c.session.request(request_id)
        if request is None:
            return
        request.context["notice"] = text
        if request.show and self._c.chat.window is not None:
            self._c.chat.window.set_status(text)
        elif not request.copy:
            self._c._notifier.notify(request.preset.title, text)

    def started(self, request_id: int, model: str) -> None:
        request = self._c.session.request(request_id)
        if request is None or request.conversation is None:
            return
        conversation = request.conversation
        again = request.answer is not None and not request.answer.text
        if again:
            request.answer.model = model  # chosen again after a stale model list
        else:
            self._c.session.answer_started(request_id, model)
        self._c.history.save(conversation)
        self._flush_timer.start()
        if self._c.chat.window is None or not request.show:
            return
        plain = not request.preset.markdown
        if again:
            if self._c.chat.window.conversation is conversation:
                self._c.chat.window.show_conversation(
                    conversation, self._c.chat.title(conversation), streaming=(model, "", plain)
                )
        else:
            self._c.chat.window.begin_answer(
                conversation.id, model, len(conversation.turns) - 1, plain
            )

    def delta(self, request_id: int, delta) -> None:  # noqa: ANN001 - Delta
        request = self._c.session.request(request_id)
        if request is None or request.conversation is None:
            return
        self._c.session.add(request_id, delta.text, delta.reasoning)
        if self._c.chat.window is not None and request.show:
            self._c.chat.window.append(request.conversation.id, delta)

    def finished(self, request_id: int, result) -> None:  # noqa: ANN001 - StreamResult
        completion = result.completion
        usage = completion.usage
        cost = estimate_cost(
            completion.model, usage.prompt_tokens, usage.completion_tokens, self._c.config.prices
        )
        try:
            request, turn = self._c.session.finish(
                request_id,
                completion,
                ttft_s=result.ttft_s,
                elapsed_s=result.elapsed_s,
                cost_usd=cost,
            )
        except (KeyError, SessionError):
            return
        self._c.running_changed.emit(len(self._c.session.requests()))
        if not request.preset.markdown:
            turn.meta["plain"] = True
        conversation = request.conversation
        index = len(conversation.turns) - 1
        structured = result.structured  # checked by the worker, off this thread
        if structured is not None:
            turn.meta["structured"] = structured.meta()
        self._c.history.save(conversation)
        self._c.chat.refresh_history()
        log.info("request finished: %d characters from %s", len(turn.text), completion.model)
        clipboard = structured.clipboard if structured and structured.clipboard else turn.text
        self._deliver(request, clipboard)
        if request.preset.verify and request.kind == FIRST:
            self._awaiting[request_id] = (conversation, index, request)
        window = self._c.chat.window
        if window is not None and request.show:
            window.finish_answer(conversation.id, turn, index, _status(conversation, turn))
        if structured is not None and structured.follow_up and not request.context.get("again"):
            # Not usable as the structure asked for: one question more, quoting the problem.
            again = self._c.session.follow_up(
                conversation.id, structured.follow_up, request.preset, request.model
            )
            again.context["again"] = True
            if window is not None and window.conversation is conversation:
                window.add_question(conversation.id, conversation.turns[-1])
                window.set_answering(True)
            self._c.history.save(conversation)
            self._c._send(again)

    def checked(self, request_id: int, check: dict | None) -> None:
        """The offline reading agrees, or says which values differ: shown where the answer is
        (None: no reading could be made; the answer stands unchecked)."""
        found = self._awaiting.pop(request_id, None)
        if found is None or check is None:
            return
        conversation, index, request = found
        if index >= len(conversation.turns):
            return
        turn = conversation.turns[index]
        turn.meta["check"] = check
        self._c.history.save(conversation)
        if not (check.get("disagreements") or check.get("added_lines")):
            return
        summary = check.get("summary") or "The answer differs from the offline reading"
        log.info("notice: check: %s", summary)
        window = self._c.chat.window
        if request.show and window is not None and window.conversation is conversation:
            window.show_conversation(conversation, self._c.chat.title(conversation))
        card = self._c._cards.recent(request_id)
        if card is not None:
            card.warn(summary)
        elif not request.show:
            self._c._notifier.notify("Check the copied text", summary, error=True)

    def failed(self, request_id: int, error: E.VlmError) -> None:
        if self._c.session.request(request_id) is None:
            return
        failure = self._c.session.fail(request_id, stopped=isinstance(error, E.CancelledError))
        self._c.running_changed.emit(len(self._c.session.requests()))
        request = failure.request
        if isinstance(error, E.NotSentError):
            message = "Not sent (cancelled in the preview)"
        else:
            message = "Stopped" if failure.stopped else wording.in_window(error)
        log.info("request ended: %s", message)
        if request.conversation is not None:
            self._c.history.save(request.conversation)
            self._c.chat.refresh_history()
        popup = self._c._cards.take(request.id)
        if not request.show:
            if failure.stopped:
                if popup is not None:
                    popup.close()
            elif popup is not None:
                log.info("notice: %s failed: %s", request.preset.title, message)
                popup.failed(message, retry=request.conversation is not None)
                conversation_id = request.conversation.id if request.conversation else ""
                popup.retry_requested.connect(lambda: self.retry_quick(conversation_id))
            else:
                self._c._notifier.notify(f"{request.preset.title} failed", message, error=True)
            return
        if self._c.chat.window is None or request.conversation is None:
            return
        conversation = request.conversation
        if failure.partial is not None:
            # The partial answer is on screen already: keep it, add its details and the error,
            # without re-rendering the whole conversation (it may be very long).
            self._c.chat.window.finish_answer(
                conversation.id, failure.partial, len(conversation.turns) - 1, message
            )
            if not failure.stopped:
                self._c.chat.window.fail(conversation.id, message, wording.error_actions(error))
            return
        if self._c.chat.window.conversation is conversation:
            self._c.chat.window.show_conversation(
                conversation, self._c.chat.title(conversation), compose=not conversation.turns
            )
        self._c.chat.window.fail(
            conversation.id, message, wording.error_actions(error), restore=failure.restore
        )

    def retry_quick(self, conversation_id: str) -> None:
        conversation = self._c.session.find(conversation_id)
        if conversation is None:
            return
        preset = self._c.chat.preset_of(conversation)
        try:
            request = self._c.session.retry(conversation_id, preset, window=False)
        except SessionError as exc:
            self._c._notifier.notify(preset.title, str(exc).capitalize(), error=True)
            return
        self._c._popup(request)
        self._c._send(request)

    def _deliver(self, request: Request, text: str) -> None:
        deliver(
            request,
            text,
            self._c._write_clipboard,
            self._c._notifier,
            self._c._cards.take(request.id),
        )

    def flush_partials(self) -> None:
        streaming = [r for r in self._c.session.requests() if r.answer is not None]
        if not streaming:
            self._flush_timer.stop()
            return
        for request in streaming:
            self._c.session.sync(request)
            self._c.history.save_turn(request.conversation, len(request.conversation.turns) - 1)


def _status(conversation, turn) -> str:  # noqa: ANN001 - Conversation, Turn
    """The line under the transcript once an answer is in: the answer's own details are on its
    line already, so this one says what the whole conversation took (from its second answer)
    and warns of an answer cut short."""
    answers, tokens, cost = conversation.totals()
    parts = []
    if answers > 1:
        parts.append(f"This conversation: {answers} answers")
        if tokens is not None:
            parts.append(f"{tokens:,} tokens")
        if cost is not None:
            parts.append(format_cost(cost))
    if turn.meta.get("cut_at_max_tokens"):
        parts.append("the answer was cut at max_tokens: ask it to go on")
    return " · ".join(parts)
