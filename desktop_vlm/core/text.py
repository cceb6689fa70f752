"""Text from a server or a model, made safe to store, show and print.

Three things go wrong with text that arrives from outside, and each has one function here:

- It is not always valid text. A server that streams JSON may put the two halves of a UTF-16
  surrogate pair (``\\ud83d`` and ``\\ude00``) into two chunks; Python's ``json`` then yields
  lone surrogates, which crash ``str.encode("utf-8")`` in a history write, a clipboard copy or
  a print. ``JoinedText`` joins such halves across pieces and ``clean_text`` repairs a whole
  string; whatever comes out of this module encodes as UTF-8.
- It may talk to the terminal. An answer or an error message printed raw can move the cursor,
  retitle the window, rewrite the clipboard (OSC 52), hide text or reorder it (bidi overrides).
  ``terminal_safe`` and the streaming ``TerminalFilter`` drop every escape sequence whole and
  every control character except line feed and tab.
- It may be long and ragged. ``one_line`` makes a server's message fit a notice or an error.

Everything here is linear in its input, and the streaming filter holds at most one character.
"""

from __future__ import annotations

import re

__all__ = [
    "MAX_SEQUENCE_CHARS",
    "JoinedText",
    "TerminalFilter",
    "clean_text",
    "one_line",
    "terminal_safe",
]

#: A pair in order, or a surrogate on its own (which has no character to stand for).
_SURROGATES = re.compile("([\ud800-\udbff][\udc00-\udfff])|[\ud800-\udfff]")


def _join_pair(match: re.Match[str]) -> str:
    pair = match.group(1)
    if pair is None:
        return "\ufffd"
    return chr(0x10000 + ((ord(pair[0]) - 0xD800) << 10) + (ord(pair[1]) - 0xDC00))


def clean_text(text: str) -> str:
    """``text`` with each surrogate pair joined into its character and each lone surrogate
    replaced by U+FFFD, so that ``text.encode("utf-8")`` cannot fail."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return _SURROGATES.sub(_join_pair, text)
    return text  # the common case: nothing to repair, no copy made


def _is_high_surrogate(char: str) -> bool:
    return "\ud800" <= char <= "\udbff"


class JoinedText:
    """Streamed pieces of text, joined: a high surrogate that ends one piece waits for the low
    surrogate that may begin the next.

    ``add`` returns the clean text that can be shown now; ``finish`` returns what was held
    (U+FFFD for a half pair that never found its other half). ``text`` is everything returned
    so far.
    """

    def __init__(self) -> None:
        self._held = ""
        self._parts: list[str] = []

    def add(self, piece: str) -> str:
        text = self._held + piece
        self._held = ""
        if text and _is_high_surrogate(text[-1]):
            text, self._held = text[:-1], text[-1]
        return self._emit(clean_text(text))

    def finish(self) -> str:
        """The end of the stream: release what is held. The joiner can be used again after."""
        held, self._held = self._held, ""
        return self._emit(clean_text(held))

    @property
    def text(self) -> str:
        if len(self._parts) > 1:
            self._parts = ["".join(self._parts)]
        return self._parts[0] if self._parts else ""

    def _emit(self, text: str) -> str:
        if text:
            self._parts.append(text)
        return text


# --- terminal output ---------------------------------------------------------------------

#: A sequence that runs longer than this without ending is abandoned: what it swallowed stays
#: dropped and the text after it is shown. (OSC 52 payloads are longer, and are dropped too.)
MAX_SEQUENCE_CHARS = 4096

# Everything the plain-text state must act on: C0 controls except tab and line feed, DEL, the
# C1 controls (U+0080-U+009F, which include 8-bit CSI, OSC, DCS, SOS, PM, APC and ST), and the
# bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069).
_SPECIAL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
# What can end (or interrupt) a control string: BEL, ESC (of ESC \), CAN, SUB, 8-bit ST.
_STRING_END = re.compile("[\x07\x1b\x18\x1a\x9c]")

_TEXT, _ESCAPE, _ESCAPE_INTERMEDIATE, _CSI, _STRING, _STRING_ESCAPE = range(6)
_STRING_INTRODUCERS = "]PX^_"  # after ESC: OSC, DCS, SOS, PM, APC
_C1_STRING_INTRODUCERS = "\x9d\x90\x98\x9e\x9f"
_CANCEL = "\x18\x1a"  # CAN and SUB abort any sequence (ECMA-48)


class TerminalFilter:
    """Streaming ``terminal_safe``: feed pieces of text as they arrive, write what comes out.

    An escape sequence split across pieces is remembered as a state, not as held text, so the
    filter holds nothing but one possible half of a surrogate pair. The output never contains
    ESC, a C1 control, a C0 control other than line feed and tab, or a bidi override.
    """

    def __init__(self, max_sequence_chars: int = MAX_SEQUENCE_CHARS) -> None:
        if max_sequence_chars < 1:
            raise ValueError("max_sequence_chars must be positive")
        self.max_sequence_chars = max_sequence_chars
        self._joiner = JoinedText()
        self._state = _TEXT
        self._length = 0  # characters of the current sequence so far

    def feed(self, piece: str) -> str:
        return self._filter(self._joiner.add(piece))

    def finish(self) -> str:
        """The end of the text: an unfinished sequence is dropped, and the filter is reset."""
        tail = self._filter(self._joiner.finish())
        self._state, self._length = _TEXT, 0
        return tail

    def _filter(self, text: str) -> str:
        out: list[str] = []
        i, n = 0, len(text)
        while i < n:
            if self._state == _TEXT:
                found = _SPECIAL.search(text, i)
                if found is None:
                    out.append(text[i:])
                    break
                j = found.start()
                out.append(text[i:j])
                i = j + 1
                self._begin(text[j])
                continue
            if self._state == _STRING:
                # Skip the string's body in one search, within what the length bound allows.
                stop = min(n, i + self.max_sequence_chars - self._length)
                end = _STRING_END.search(text, i, stop)
                skipped = (end.start() if end else stop) - i
                self._length += skipped
                i += skipped
                if i >= n:
                    break
            char = text[i]
            self._length += 1
            if self._length > self.max_sequence_chars:
                self._state = _TEXT  # give up; ``char`` is read again as text
                continue
            if not self._step(char):
                self._state = _TEXT  # not part of a sequence: read it again as text
                continue
            i += 1
        return "".join(out)

    def _begin(self, char: str) -> None:
        """A special character in text: start a sequence, or drop the character."""
        self._length = 1
        if char == "\x1b":
            self._state = _ESCAPE
        elif char == "\x9b":
            self._state = _CSI
        elif char in _C1_STRING_INTRODUCERS:
            self._state = _STRING
        # Any other control or bidi override is simply dropped.

    def _step(self, char: str) -> bool:
        """Advance the sequence by ``char``; False when ``char`` does not belong to it."""
        code = ord(char)
        state = self._state
        if char == "\x1b" and state != _STRING:
            self._state, self._length = _ESCAPE, 1  # a new sequence interrupts this one
        elif char in _CANCEL:
            self._state = _TEXT
        elif state == _ESCAPE:
            if char == "[":
                self._state = _CSI
            elif char in _STRING_INTRODUCERS:
                self._state = _STRING
            elif 0x20 <= code <= 0x2F:
                self._state = _ESCAPE_INTERMEDIATE  # e.g. ESC ( B: designate a character set
            elif 0x30 <= code <= 0x7E:
                self._state = _TEXT  # a two-character sequence such as ESC c (reset)
            else:
                return False
        elif state == _ESCAPE_INTERMEDIATE:
            if 0x30 <= code <= 0x7E:
                self._state = _TEXT
            elif not 0x20 <= code <= 0x2F:
                return False
        elif state == _CSI:
            if 0x40 <= code <= 0x7E:
                self._state = _TEXT  # the final byte
            elif not 0x20 <= code <= 0x3F:
                return False  # parameters and intermediates only
        elif state == _STRING:
            if char == "\x1b":
                self._state = _STRING_ESCAPE
            elif char in "\x07\x9c":
                self._state = _TEXT  # BEL or ST ends the string
        elif state == _STRING_ESCAPE:
            if char == "\\":
                self._state = _TEXT  # ESC \ is ST
            else:
                # The string ended at that ESC, which begins a new sequence with ``char``.
                self._state, self._length = _ESCAPE, 1
                return self._step(char)
        return True


def terminal_safe(text: str) -> str:
    """What may be written to a terminal from an answer or an error message.

    Kept: ordinary Unicode, line feeds and tabs. Removed: escape sequences whole (CSI such as
    colours and cursor moves, OSC such as window titles and OSC 52 clipboard writes, DCS, SOS,
    PM, APC, and two-character ESC sequences), other C0 controls (carriage return, backspace,
    bell, ...), DEL, C1 controls and bidi overrides and isolates. Lone surrogates become U+FFFD.
    """
    terminal = TerminalFilter()
    return terminal.feed(text) + terminal.finish()


def one_line(text: str, limit: int = 300) -> str:
    """``text`` as one line of at most ``limit`` characters, for notices and error messages:
    control characters and escape sequences removed, every run of whitespace (line breaks too)
    made one space, and a cut marked with "…"."""
    if limit < 1:
        raise ValueError("limit must be positive")
    flat = " ".join(terminal_safe(text).split())
    if len(flat) <= limit:
        return flat
    return flat[: limit - 1].rstrip() + "…"
