"""The one choke point for secrets in what a server sends back: error messages and answer text.

A server may echo the API key anywhere: in an error body, an ``error`` event inside the stream, a
reason phrase, a redirect's Location, or the answer itself ("your key sk-... is invalid"). The
client passes every error it raises through ``guard()`` and every piece of answer text through
``clean_pieces()``, so what reaches a window, a notice, a log line, a history record or stdout
has the key replaced. Streamed text is held back only while its tail could be the start of a
key, so a key split across two pieces is caught too and ordinary text is not delayed.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from desktop_vlm.core.completions import Delta
from desktop_vlm.core.errors import VlmError, redact


class SecretFilter:
    def __init__(self, *secrets: str | None) -> None:
        self._secrets = tuple(s for s in secrets if s and len(s) >= 4)
        # What redact() replaces: each secret, and long secrets' first and last 12 characters.
        needles: set[str] = set()
        for secret in self._secrets:
            needles.add(secret)
            if len(secret) >= 16:
                needles.update((secret[:12], secret[-12:]))
        self._needles = tuple(sorted(needles, key=len, reverse=True))

    def text(self, text: str) -> str:
        return redact(text, *self._secrets) if self._secrets else text

    def scrub(self, error: VlmError) -> VlmError:
        """The error with every secret taken out of its message, hint and server message."""
        if not self._secrets:
            return error
        error.message = self.text(error.message)
        error.hint = self.text(error.hint)
        if isinstance(getattr(error, "server_message", None), str):
            error.server_message = self.text(error.server_message)  # type: ignore[attr-defined]
        error.args = (error.line(),)
        return error

    @contextmanager
    def guard(self) -> Iterator[None]:
        """Scrub every VlmError raised inside the block."""
        try:
            yield
        except VlmError as error:
            self.scrub(error)
            raise

    def clean_pieces(self, pieces: Iterable[Delta]) -> Iterator[Delta]:
        """The pieces with secrets replaced, holding back a tail that may begin one."""
        if not self._secrets:
            yield from pieces
            return
        held = {"text": "", "reasoning": ""}
        for piece in pieces:
            out = {}
            for channel in held:
                value = getattr(piece, channel)
                if not value:
                    out[channel] = ""
                    continue
                buffered = self.text(held[channel] + value)
                keep = self._open_tail(buffered)
                out[channel] = buffered[: len(buffered) - keep]
                held[channel] = buffered[len(buffered) - keep :]
            if out["text"] or out["reasoning"]:
                yield Delta(out["text"], out["reasoning"])
        rest = {channel: self.text(value) for channel, value in held.items()}
        if rest["text"] or rest["reasoning"]:
            yield Delta(rest["text"], rest["reasoning"])

    def _open_tail(self, text: str) -> int:
        """The length of the longest end of ``text`` that is the start of something redacted."""
        best = 0
        for needle in self._needles:
            for size in range(min(len(needle) - 1, len(text)), best, -1):
                if text.endswith(needle[:size]):
                    best = size
                    break
        return best
