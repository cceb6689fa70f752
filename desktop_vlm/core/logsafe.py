"""Keep secrets out of log output: every key the app handles is registered here, and a filter
on each log handler replaces it in the formatted message (defence in depth; the code already
avoids logging keys)."""

from __future__ import annotations

import logging
import threading

from desktop_vlm.core.errors import redact

_secrets: set[str] = set()
_lock = threading.Lock()


def register_secret(secret: str | None) -> None:
    if secret and len(secret) >= 4:
        with _lock:
            _secrets.add(secret)


def redact_known(text: str) -> str:
    with _lock:
        secrets = tuple(_secrets)
    return redact(text, *secrets) if secrets else text


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets:
            return True
        message = record.getMessage()
        cleaned = redact_known(message)
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact_known(record.exc_text)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


def install_redaction(handler: logging.Handler) -> None:
    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(RedactingFilter())
