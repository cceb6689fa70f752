"""Every failure a person can meet, as a typed error with a message that says what to do.

Each error renders as one line: what went wrong, then what to do about it. The command line
prints exactly that line and exits with the error's ``exit_code``; the GUI shows the same text.
Messages never contain the API key: server-supplied text passes through ``redact`` first.
"""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes of the command line, documented in the README."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    CONFIG = 3
    IMAGE = 4
    KEY_MISSING = 5
    KEYRING = 6
    AUTH = 7
    MODEL_NOT_FOUND = 8
    BAD_REQUEST = 9
    RATE_LIMITED = 10
    SERVER = 11
    NETWORK = 12
    PROTOCOL = 13
    APP = 14
    NO_DISPLAY = 15
    CANCELLED = 130


class VlmError(Exception):
    """Base of all expected failures. ``str(err)`` is the one line shown to the person."""

    exit_code: ExitCode = ExitCode.INTERNAL
    #: True when trying the same request again may succeed (network blips, 5xx, 429).
    retryable: bool = False

    def __init__(self, message: str, hint: str = "") -> None:
        self.message = message
        self.hint = hint
        super().__init__(self.line())

    def line(self) -> str:
        if not self.hint:
            return self.message
        return f"{self.message.rstrip('.')}. {self.hint}"


class UsageError(VlmError):
    exit_code = ExitCode.USAGE


class ConfigError(VlmError):
    exit_code = ExitCode.CONFIG


class InsecureEndpointError(ConfigError):
    """The key would travel in clear text to a machine other than this one."""


class ImageError(VlmError):
    exit_code = ExitCode.IMAGE


class KeyMissingError(VlmError):
    exit_code = ExitCode.KEY_MISSING


class KeyringError(VlmError):
    """No usable keyring, a locked one, or one that refused to store the key."""

    exit_code = ExitCode.KEYRING


class AppError(VlmError):
    """The running tray app could not be reached or started."""

    exit_code = ExitCode.APP


class CancelledError(VlmError):
    exit_code = ExitCode.CANCELLED


class NotSentError(CancelledError):
    """The person cancelled in the preview before sending: nothing left the machine."""


# --- errors of the API -------------------------------------------------------------------


class APIError(VlmError):
    """Anything that went wrong talking to the chat-completions server."""

    exit_code = ExitCode.PROTOCOL


class APIStatusError(APIError):
    """The server answered with an HTTP error status."""

    def __init__(self, message: str, hint: str = "", *, status: int, server_message: str = ""):
        self.status = status
        self.server_message = server_message
        super().__init__(message, hint)


class AuthenticationError(APIStatusError):
    exit_code = ExitCode.AUTH


class PermissionDeniedError(APIStatusError):
    exit_code = ExitCode.AUTH


class ModelNotFoundError(APIStatusError):
    exit_code = ExitCode.MODEL_NOT_FOUND


class VisionUnsupportedError(APIStatusError):
    """The model (or the server) cannot read images: a text-only model was chosen."""

    exit_code = ExitCode.MODEL_NOT_FOUND


class EndpointNotFoundError(APIStatusError):
    """404 for the endpoint itself: the base URL is wrong."""

    exit_code = ExitCode.CONFIG


class BadRequestError(APIStatusError):
    exit_code = ExitCode.BAD_REQUEST


class RateLimitError(APIStatusError):
    exit_code = ExitCode.RATE_LIMITED
    retryable = True

    def __init__(self, *args, retry_after: float | None = None, **kwargs):
        self.retry_after = retry_after
        super().__init__(*args, **kwargs)


class ServerError(APIStatusError):
    exit_code = ExitCode.SERVER
    retryable = True


class APIConnectionError(APIError):
    """Could not reach the server, or the connection broke before the answer began."""

    exit_code = ExitCode.NETWORK
    retryable = True


class APITimeoutError(APIConnectionError):
    pass


class ProtocolError(APIError):
    """The server said something that is not the chat-completions protocol."""

    exit_code = ExitCode.PROTOCOL


class StreamInterruptedError(APIError):
    """The answer had begun and then stopped before the server said it was complete.

    Never retried automatically: the person has already seen part of the answer.
    """

    exit_code = ExitCode.NETWORK


class StreamError(APIError):
    """The server reported an error inside the event stream."""

    exit_code = ExitCode.SERVER


def redact(text: str, *secrets: str | None) -> str:
    """Replace every secret in ``text``: as written, encoded (percent, JSON, HTML, base64),
    split by line breaks or invisible characters, shortened, or by its long fragments. The
    rules live in core/secrets_rules.py; this is the name the rest of the app calls."""
    from desktop_vlm.core.secrets_rules import redact_text

    return redact_text(text, *secrets)


# --- errors of the desktop ---------------------------------------------------------------


class CaptureError(VlmError):
    """No screen-grab method worked, or the person/desktop refused the screenshot."""

    exit_code = ExitCode.APP


class HotkeyError(VlmError):
    """A global hotkey could not be registered (taken by another program, or unsupported)."""

    exit_code = ExitCode.APP


class OfflineEngineError(VlmError):
    """The embedded OCR engine is missing, broken, too slow for its time limit or crashed."""

    exit_code = ExitCode.CONFIG
