"""What the windows say: errors with the fix a person can click instead of a command to run,
the links under an error, and one-line previews of answers for lists and notices."""

from __future__ import annotations

import re
import time

from desktop_vlm.core import errors as E

#: Markdown markup that a one-line preview drops.
_MARKUP = re.compile(r"(^|\s)(#{1,6}|[-*+>]|\d+[.)])\s+|[*_`~|]+|!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"\[([^\]]*)\]\([^)]*\)")


def in_window(error: E.VlmError) -> str:
    """The error's line for a window or a notice: its cause, and a fix found in the app."""
    message = error.message.rstrip(".")
    if isinstance(error, E.KeyMissingError | E.AuthenticationError):
        return f"{message}. Set the API key in Settings"
    if isinstance(error, E.KeyringError):
        return f"{message}. Unlock your keyring, or set the key's environment variable"
    if isinstance(error, E.ModelNotFoundError):
        return f"{message}. It may have been withdrawn: pick another one in the model list"
    if isinstance(error, E.VisionUnsupportedError):
        return f"{message}. Pick a vision model in the model list"
    if isinstance(error, E.EndpointNotFoundError | E.ConfigError):
        return f"{message}. Check the profile's base URL in Settings"
    hint = error.hint
    if "`" in hint:  # a command to run: the window offers its own actions instead
        return message
    return error.line()


def error_actions(error: E.VlmError) -> list[tuple[str, str]]:
    """(link kind, label) under an error in the chat window."""
    if isinstance(error, E.CancelledError):
        return [("retry", "Send again")]
    if isinstance(
        error, E.AuthenticationError | E.PermissionDeniedError | E.KeyMissingError | E.KeyringError
    ):
        return [("settings", "Set the API key"), ("retry", "Retry")]
    if isinstance(error, E.ModelNotFoundError | E.VisionUnsupportedError):
        return [("model", "Pick another model"), ("retry", "Retry")]
    if isinstance(error, E.ConfigError | E.EndpointNotFoundError):
        return [("settings", "Open settings"), ("retry", "Retry")]
    if isinstance(error, E.ImageError):
        return []
    return [("retry", "Retry")]


_TABLE_RULE = re.compile(r"^\s*\|?\s*:?-{2,}:?\s*(\|\s*:?-{2,}:?\s*)*\|?\s*$", re.M)
_FENCE = re.compile(r"^\s*(```|~~~).*$", re.M)


def preview_line(text: str, limit: int = 80) -> str:
    """The start of an answer as one line of plain words (no Markdown, tables as words)."""
    text = text[: limit * 6]
    text = _TABLE_RULE.sub(" ", _FENCE.sub(" ", text))
    text = _LINK.sub(r"\1", text).replace("|", " ")
    text = _MARKUP.sub(lambda m: m.group(1) or "", text)  # "**Lumen**," reads "Lumen,"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def when(created: float) -> str:
    return time.strftime("%d %b %H:%M", time.localtime(created))
