"""The rules for the API key as text: what a pasted key may look like, how to find it again in
whatever a server sends back, and which base URLs would leak it.

A server receives the key with every request, so a hostile or careless one can echo it back in
any form: as sent, percent-encoded in a URL (``sk%2Dabc``), JSON-escaped (``sk\\u002dabc``),
inside a base64 Basic header, wrapped over two lines, or shortened (``sk-abc...wxyz``).
``redact_text`` is the choke point all such text passes through before anything shows it, logs
it or stores it, and it looks for every one of those forms in one pass over a decoded copy of
the text, so its cost stays linear in the text.

Keys are compared case-sensitively: API keys are case-sensitive secrets, and a copy with its
case changed is not the key. (A case-folded echo would still leak most of a key; catching it
would mean an ASCII-lowered copy of the text searched the same way.)
"""

from __future__ import annotations

import base64
import logging
import re
import unicodedata
from bisect import bisect_right
from collections.abc import Iterator
from functools import lru_cache
from urllib.parse import urlsplit

logger = logging.getLogger(__name__)

__all__ = [
    "MAX_KEY_CHARS",
    "REDACTED",
    "base_url_problem",
    "redact_text",
    "validate_api_key",
]

MAX_KEY_CHARS = 4096
MAX_BASE_URL_CHARS = 2048
REDACTED = "[redacted]"
#: A "secret" shorter than this would blank out ordinary words; such values are skipped.
MIN_SECRET_CHARS = 4
#: Servers and dashboards show a key by its first or last characters; 12 of them are redacted.
FRAGMENT_CHARS = 12
#: Any run of this many characters from anywhere inside a key is redacted too.
RUN_CHARS = 16
#: A shortened key ("sk-abc...wxyz") is redacted when its two ends show this many characters.
SHORTENED_CHARS = 8

# --- a pasted key ----------------------------------------------------------------------------

# Invisible characters a copy from a web page or a document can carry along at either end.
_INVISIBLE = "\ufeff\u200b\u200c\u200d\u2060"
_LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_QUOTES = "\"'`\u201c\u201d\u2018\u2019\u00ab\u00bb"
_ASSIGNMENT = re.compile(r"(?:export\s+)?([A-Z][A-Z0-9]*_[A-Z0-9_]*)\s*=")


def _strip_edges(text: str) -> str:
    for _ in range(4):  # whitespace and invisible characters, in any mix, at both ends
        stripped = text.strip().strip(_INVISIBLE)
        if stripped == text:
            break
        text = stripped
    return text


def _shown(char: str) -> str:
    """A character named so that a person can find it, without printing invisible ones."""
    if char.isprintable() and not char.isspace():
        return char
    return f"U+{ord(char):04X}"


def validate_api_key(text: str) -> str:
    """The key in ``text`` with surrounding whitespace removed, or ``UsageError`` saying what is
    wrong with it. Messages never contain the key, only the one character that is wrong."""
    # Imported here so that errors.redact can call redact_text without an import cycle.
    from desktop_vlm.core.errors import UsageError

    key = _strip_edges(text)
    if not key:
        raise UsageError("The key is empty", "Paste the whole key, as the provider shows it")
    if len(key) > MAX_KEY_CHARS:
        raise UsageError(
            f"The key is {len(key):,} characters long; API keys are at most {MAX_KEY_CHARS:,}",
            "Check that you pasted the key and nothing else",
        )
    if key[:7].lower() == "bearer ":
        raise UsageError('The key starts with "Bearer "', 'Paste only the key, without "Bearer"')
    assignment = _ASSIGNMENT.match(key)
    if assignment:
        raise UsageError(
            f'The key looks like a line of a shell or .env file ("{assignment.group(1)}=...")',
            'Paste only what follows the "=" sign',
        )
    if len(key) >= 2 and key[0] in _QUOTES and key[-1] in _QUOTES:
        raise UsageError("The key is wrapped in quotes", "Paste it without the quotes")
    for position, char in enumerate(key, start=1):
        if char in _LINE_BREAKS:
            raise UsageError(
                f"The key contains a line break (at position {position}), as if two lines "
                "were pasted",
                "Paste the key on one line",
            )
        if char.isspace():
            what = "a space" if char == " " else f"a blank character ({_shown(char)})"
            raise UsageError(
                f"The key contains {what} at position {position}",
                "API keys have no spaces: check what you pasted",
            )
        if not "\x21" <= char <= "\x7e":
            if char == "\u2026":
                hint = "It looks shortened: copy the whole key, not the one a page displays"
            else:
                hint = "API keys are ASCII: check what you pasted"
            raise UsageError(
                "The key contains characters outside printable ASCII "
                f"({_shown(char)} at position {position})",
                hint,
            )
    return key


# --- finding a key in what a server sent --------------------------------------------------

# Every way a character of a key can be written other than as itself, and what can split a key
# without showing: line breaks (with their indentation), colour codes, invisible characters.
# The decoded copy drops the splitters, so "sk-ab\u200bcd" is found as "sk-abcd".
_ENCODED = re.compile(
    r"%(?:25)?(?P<pct>[0-9A-Fa-f]{2})"  # percent-encoded, also twice (%252D)
    r"|\\u(?P<u>[0-9A-Fa-f]{4})"  # JSON and JavaScript
    r"|\\x(?P<x>[0-9A-Fa-f]{2})"  # Python and C reprs
    r"|&#(?P<dec>[0-9]{1,7});|&#[xX](?P<hex>[0-9A-Fa-f]{1,6});"  # HTML
    r"|\\(?P<slash>/)"  # JSON's escaped solidus
    r"|(?P<drop>(?:\r\n?|\n|\\r\\n|\\[rn])[ \t]*"  # a real or an escaped line break
    r"|\x1b\[[0-?]*[ -/]*[@-~]"  # a CSI sequence such as a colour
    r"|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u00ad\u200b-\u200f\u2060-\u2064\ufeff])"  # invisible
)
# Where an encoding can begin: searched first, because a character class is scanned far faster
# than the alternation above is tried at every position.
_ENCODING_START = re.compile("[%\\\\&\x00-\x08\x0a-\x1f\x7f\u00ad\u200b-\u200f\u2060-\u2064\ufeff]")
_SHORTENING = re.compile(r"\.{2,}|\u2026|\*{3,}")


def _encodings(text: str) -> Iterator[re.Match[str]]:
    at = 0
    while (candidate := _ENCODING_START.search(text, at)) is not None:
        match = _ENCODED.match(text, candidate.start())
        if match is None:
            at = candidate.start() + 1
        else:
            yield match
            at = match.end()


class _Decoded:
    """``text`` with every encoded character decoded and line breaks dropped, and the way back
    from a position in the decoded copy to a span of ``text``."""

    def __init__(self, text: str) -> None:
        pieces: list[str] = []
        # One entry per segment: where it starts in the copy, where in ``text``, and for an
        # encoded character how long its encoding is (0 for a plain run, mapped one to one).
        self._copy_starts: list[int] = []
        self._text_starts: list[int] = []
        self._encoded_lengths: list[int] = []
        copied = done = 0
        for match in _encodings(text):
            start, end = match.span()
            if start > done:
                self._segment(copied, done, 0)
                pieces.append(text[done:start])
                copied += start - done
            if match.lastgroup != "drop":
                self._segment(copied, start, end - start)
                pieces.append(_decode(match))
                copied += 1
            done = end
        if done < len(text):
            self._segment(copied, done, 0)
            pieces.append(text[done:])
        self.text = "".join(pieces)

    def _segment(self, copy_start: int, text_start: int, encoded_length: int) -> None:
        self._copy_starts.append(copy_start)
        self._text_starts.append(text_start)
        self._encoded_lengths.append(encoded_length)

    def span(self, start: int, end: int) -> tuple[int, int]:
        """The span of the original text that the copy's ``[start, end)`` came from."""
        return self._where(start)[0], self._where(end - 1)[1]

    def _where(self, index: int) -> tuple[int, int]:
        seg = bisect_right(self._copy_starts, index) - 1
        if self._encoded_lengths[seg]:
            start = self._text_starts[seg]
            return start, start + self._encoded_lengths[seg]
        start = self._text_starts[seg] + index - self._copy_starts[seg]
        return start, start + 1


def _decode(match: re.Match[str]) -> str:
    name = match.lastgroup or ""
    value = match.group(name)
    if name == "slash":
        return value
    code = int(value, 10 if name == "dec" else 16)
    return chr(code) if code <= 0x10FFFF else "\ufffd"


class _KeyForms:
    """What to look for of one key (built once per key and cached)."""

    def __init__(self, key: str) -> None:
        self.key = key
        needles = {key}
        if len(key) >= RUN_CHARS:
            needles.update((key[:FRAGMENT_CHARS], key[-FRAGMENT_CHARS:]))
        self.needles = tuple(sorted(needles, key=len, reverse=True))
        self.base64_cores = tuple(sorted(_base64_cores(key)))
        # Any 16-character run contains an 8-character window starting at a multiple of 9 of
        # the text being searched, so sampling the text there finds every run (see _runs).
        self.windows: dict[str, list[int]] = {}
        if len(key) >= RUN_CHARS:
            for offset in range(len(key) - _WINDOW + 1):
                places = self.windows.setdefault(key[offset : offset + _WINDOW], [])
                if len(places) < 4:  # a key that repeats itself is a key of low value anyway
                    places.append(offset)
        # For "sk-abc...wxyz": by the character next to the ellipsis, how many of the key's
        # first (last) characters could end (begin) there, longest first.
        self.head_sizes: dict[str, list[int]] = {}
        self.tail_sizes: dict[str, list[int]] = {}
        for size in range(min(FRAGMENT_CHARS, len(key) - 1), 0, -1):
            self.head_sizes.setdefault(key[size - 1], []).append(size)
            self.tail_sizes.setdefault(key[-size], []).append(size)


_WINDOW = RUN_CHARS // 2
_STRIDE = RUN_CHARS - _WINDOW + 1
_URLSAFE = str.maketrans("+/", "-_")
_BASE64_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/-_")


def _base64_cores(key: str) -> set[str]:
    """The part of the key's base64 form that does not depend on what surrounds it, for each of
    the three places the key can start at within a 3-byte group ("user:KEY", "KEY:", ...)."""
    raw = key.encode("utf-8", "surrogatepass")  # never raises, whatever the secret holds
    cores = set()
    for shift in range(3):
        encoded = base64.b64encode(b"\0" * shift + raw).decode("ascii")
        # The first group mixes in the bytes before the key; a final short one, those after it.
        core = encoded[4 if shift else 0 : 4 * ((shift + len(raw)) // 3)]
        if len(core) >= FRAGMENT_CHARS:
            cores.update((core, core.translate(_URLSAFE)))
    return cores


@lru_cache(maxsize=16)
def _forms(key: str) -> _KeyForms:
    return _KeyForms(key)


def redact_text(text: str, *secrets: str | None) -> str:
    """``text`` with each secret replaced by "[redacted]" wherever and however it appears.

    Found: the secret as is; percent-encoded (once or twice), JSON/JavaScript-escaped, in HTML
    character references, or any mix, character by character; split by a real or an escaped line
    break; in a URL's userinfo or query, a Location header, anywhere; base64-encoded as in a
    Basic auth header (standard and URL-safe alphabets); its first or last 12 characters; any
    16 consecutive characters of it; and shortened around an ellipsis ("sk-abc...wxyz") when
    the two ends show 8 or more of its characters. Secrets shorter than 4 characters are
    skipped. Matching is case-sensitive. Cost: linear in ``text``.
    """
    keys = sorted({s for s in secrets if s and len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True)
    if not text or not keys:
        return text
    forms = [_forms(key) for key in keys]
    spans: list[tuple[int, int]] = []
    for form in forms:  # as sent: also catches keys that themselves contain "%" or "\"
        spans += _needle_spans(text, form.needles)
        spans += _base64_spans(text, form.base64_cores)
    decoded = _Decoded(text) if next(_encodings(text), None) else None
    haystack = decoded.text if decoded else text
    found: list[tuple[int, int]] = []
    for form in forms:
        if decoded:
            found += _needle_spans(haystack, form.needles)
            found += _base64_spans(haystack, form.base64_cores)
        found += _runs(haystack, form)
        found += _shortened(haystack, form)
    spans += [decoded.span(*span) for span in found] if decoded else found
    if not spans:
        return text
    logger.debug("Redacted %d appearance(s) of a secret", len(spans))
    return _replace(text, spans)


def _needle_spans(haystack: str, needles: tuple[str, ...]) -> list[tuple[int, int]]:
    spans = []
    for needle in needles:
        at = haystack.find(needle)
        while at >= 0:
            spans.append((at, at + len(needle)))
            at = haystack.find(needle, at + len(needle))
    return spans


def _base64_spans(haystack: str, cores: tuple[str, ...]) -> list[tuple[int, int]]:
    """Where a key's base64 core appears, widened by the groups that mix in its first and last
    bytes (at most 4 characters each way, padding included), so none of the key's bytes remain."""
    spans = []
    for start, end in _needle_spans(haystack, cores):
        low = start
        while low > max(0, start - 4) and haystack[low - 1] in _BASE64_CHARS:
            low -= 1
        high = end
        while high < min(len(haystack), end + 4) and haystack[high] in _BASE64_CHARS:
            high += 1
        while high < min(len(haystack), end + 6) and haystack[high] == "=":
            high += 1
        spans.append((low, high))
    return spans


def _runs(haystack: str, form: _KeyForms) -> list[tuple[int, int]]:
    """Runs of at least RUN_CHARS characters of the key, found by sampling ``haystack`` at
    every _STRIDE-th position: any such run covers a sampled window that lies wholly inside it."""
    if not form.windows:
        return []
    key, size = form.key, len(haystack)
    spans = []
    covered = 0
    for at in range(0, size - _WINDOW + 1, _STRIDE):
        if at < covered:
            continue
        for offset in form.windows.get(haystack[at : at + _WINDOW], ()):
            # Extend the window both ways as far as the text goes on matching the key.
            if haystack.endswith(key[:offset], 0, at):
                back = offset
            else:
                back = 0
                while back < at and haystack[at - back - 1] == key[offset - back - 1]:
                    back += 1  # stops before the key's start: the whole of it did not match
            rest = key[offset + _WINDOW :]
            if haystack.startswith(rest, at + _WINDOW):
                ahead = _WINDOW + len(rest)
            else:
                ahead = _WINDOW
                while at + ahead < size and haystack[at + ahead] == key[offset + ahead]:
                    ahead += 1
            if back + ahead >= RUN_CHARS:
                spans.append((at - back, at + ahead))
                covered = at + ahead
                break
    return spans


def _shortened(haystack: str, form: _KeyForms) -> list[tuple[int, int]]:
    """ "sk-abc...wxyz": the key's start, an ellipsis or asterisks, the key's end."""
    key, spans = form.key, []
    if len(key) < SHORTENED_CHARS or not any(m in haystack for m in ("..", "\u2026", "***")):
        return spans
    for mark in _SHORTENING.finditer(haystack):
        start, end = mark.span()
        head = tail = 0
        for size in form.head_sizes.get(haystack[start - 1], ()) if start else ():
            if size <= start and haystack.startswith(key[:size], start - size):
                head = size
                break
        for size in form.tail_sizes.get(haystack[end : end + 1], ()):
            if haystack.startswith(key[-size:], end):
                tail = size
                break
        if head + tail >= SHORTENED_CHARS:
            spans.append((start - head, end + tail))
    return spans


def _replace(text: str, spans: list[tuple[int, int]]) -> str:
    out: list[str] = []
    done = 0
    for start, end in sorted(spans):
        if end <= done:
            continue  # inside a span already replaced
        if start >= done:
            out.append(text[done:start])
            out.append(REDACTED)
        # else: it overlaps the previous span, which simply grows to cover it
        done = end
    out.append(text[done:])
    return "".join(out)


# --- the base URL --------------------------------------------------------------------------


def _bad_char(url: str) -> tuple[int, str] | None:
    for position, char in enumerate(url, start=1):
        if char.isspace() or unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp"):
            return position, char
    return None


def base_url_problem(url: str) -> str | None:
    """None for a usable base URL; otherwise one line saying what is wrong and what to do.

    The message never repeats the URL, so a password or key inside it is not shown again.
    """
    example = "for example https://api.openai.com/v1"
    if not url:
        return f"The base URL is empty; set it, {example}"
    if len(url) > MAX_BASE_URL_CHARS:
        return f"The base URL is longer than {MAX_BASE_URL_CHARS:,} characters; check it"
    bad = _bad_char(url)
    if bad:
        what = "a space" if bad[1] == " " else f"a space or control character ({_shown(bad[1])})"
        return f"The base URL contains {what} at position {bad[0]}; remove it"
    if "\\" in url:
        return "The base URL contains a backslash; URLs use / between their parts"
    after_scheme = url.split("://", 1)[1] if "://" in url else url
    if "@" in re.split(r"[/?#]", after_scheme, maxsplit=1)[0]:
        return (
            "The base URL contains a user name or password; remove it and put the key in the "
            "keyring instead (desktop-vlm key set)"
        )
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in ("http", "https"):
        if scheme:
            return "The base URL uses an unsupported scheme; only https:// and http:// work"
        return f"The base URL must begin with https:// (or http:// on this machine), {example}"
    if "#" in url:
        return 'The base URL contains a fragment ("#..."); remove it and what follows'
    if "?" in url:
        return (
            'The base URL contains a query ("?..."); a base URL ends at its path, and a key '
            "belongs in the keyring (desktop-vlm key set)"
        )
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return "The base URL has a malformed host or port; write it as https://host[:port]/path"
    if not parts.hostname:
        return f"The base URL has no host name, {example}"
    if port == 0:
        return "The base URL has port 0; use the port the server listens on (1 to 65535)"
    return None
