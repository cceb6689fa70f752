"""Where a first turn's answer goes, as its preset says: the clipboard, and a word of it on the
request's card (near the region) or, without a card, in a desktop notice."""

from __future__ import annotations

import logging
from collections.abc import Callable

from desktop_vlm.core.session import FIRST, Request
from desktop_vlm.gui import wording

log = logging.getLogger(__name__)


def deliver(
    request: Request, text: str, write_clipboard: Callable[[str], None], notifier, card
) -> None:  # noqa: ANN001 - a Notifier and a QuickPopup (or None)
    if request.kind != FIRST:
        if card is not None:
            card.close()
        return
    if request.copy:
        write_clipboard(text)
        if request.notify or card is not None:
            preview = wording.preview_line(text, 80) or "(empty answer)"
            notice = request.context.get("notice")
            body = f"{preview}\n{notice}" if notice else preview
            if card is not None:  # the card near the region says it, nothing else does
                log.info("notice: %d characters copied: %s", len(text), body)
                card.done(f"{len(text)} characters copied", body)
            else:
                notifier.notify(f"{len(text)} characters copied", body)
    elif request.notify and not request.show:
        if card is not None:
            card.done(request.preset.title, wording.preview_line(text, 200))
        else:
            notifier.notify(request.preset.title, wording.preview_line(text, 200))
    elif card is not None:
        card.close()
