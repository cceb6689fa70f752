"""The checks of `desktop-vlm ask`: the offline reading of the same image, made while the model
answers, and a structured answer (receipt, table) validated, with one follow-up question when a
receipt comes back unusable."""

from __future__ import annotations

import logging
import threading
from typing import Any

from desktop_vlm.core.answer_checks import RECEIPT, Structured, check_structured
from desktop_vlm.core.checks import compare_with_offline

log = logging.getLogger(__name__)

#: How long the answer waits for the offline reading it is checked against.
CHECK_WAIT_S = 60.0


class OfflineCheck:
    """The offline engine reads ``source`` on a thread from the moment this is made."""

    def __init__(self, source: Any) -> None:
        self._reading = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._read, args=(source,), daemon=True)
        self._thread.start()

    def _read(self, source: Any) -> None:
        try:
            from desktop_vlm.services.ocr import read_text

            self._reading = read_text(source)
        except Exception as exc:  # noqa: BLE001 - a check that cannot run is only a note
            self._error = exc

    def compare(self, answer: str) -> dict[str, Any] | None:
        """The check object for ``--json`` (None when the offline reading failed)."""
        self._thread.join(CHECK_WAIT_S)
        if self._reading is None:
            log.info("offline check unavailable: %s", self._error)
            return None
        return compare_with_offline(answer, self._reading).to_json()


def settle(kind: str, answer: str, ask_again) -> tuple[str, Structured | None]:  # noqa: ANN001
    """The answer checked as ``kind``; an unusable receipt is asked for once more with
    ``ask_again(question) -> answer``, and the second answer is the one kept."""
    structured = check_structured(kind, answer)
    if structured is not None and structured.kind == RECEIPT and structured.follow_up:
        log.info("receipt answer not usable (%s); asking once more", structured.problem)
        answer = ask_again(structured.follow_up)
        structured = check_structured(kind, answer)
    return answer, structured


def disagreement_line(check: dict[str, Any]) -> str:
    """One line for stderr naming the values that differ, or "" when they agree."""
    items = check.get("disagreements") or []
    if not items and not check.get("added_lines"):
        return ""
    shown = ", ".join(
        f"{d.get('model') or '(missing)'} (offline: {d.get('offline') or 'missing'})"
        for d in items[:5]
    )
    summary = check.get("summary") or f"{len(items)} values differ from the offline reading"
    return f"{summary}" + (f": {shown}" if shown else "")
