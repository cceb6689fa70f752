"""Readings as tokens: what the OCR comparison aligns, and which tokens carry values.

A model's answer and a classic OCR engine's reading of the same screen differ in many harmless
ways (layout, Markdown, typography, the engine's misread letters) and in a few that matter (a
digit inside an amount, a date, an invoice number, an e-mail address). This module turns a text
into tokens whose alignment key hides the harmless differences, and marks the tokens whose
value must agree. Spans always point into the text as given, so a disagreement can be shown
where it is.

Rules (each is a decision the comparison documents):
- Typography: NFKC (ligatures, full-width forms, NBSP), curly quotes and dashes made straight,
  case folded, Markdown backslash escapes dropped.
- Markdown in the model's answer: code fences, table separator rows, horizontal rules, ``<br>``
  and link targets are blanked before tokenizing; emphasis, headings, bullets, pipes and
  backticks are not part of any token.
- OCR confusions: ``o/0``, ``i/l/1``, ``s/5``, ``b/8``, ``z/2``, ``g/9``, ``rn/m``, ``vv/w``,
  ``cl/d`` fold together in words and codes; inside a number those letters read as the digits
  they resemble, and a leading ``S``/``C``/``E`` before an amount reads as a currency sign
  (``S16.49`` is ``$16.49``, not 516.49). A token of mostly letters whose digits all look like
  letters (``T0tal``, ``Emai1``) is a word, not a code.
- Numbers: grouping is dropped (``1,234.50``, ``1.234,50``, ``1 234,50`` and ``1234.50`` are one
  value; see ``number_value`` for the decimal rule). In a hexadecimal code of six or more
  characters (or after ``0x``) the letters a-f count as digits.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

#: Kinds whose value must agree (everything but "word").
SIGNIFICANT = frozenset({"number", "amount", "date", "code", "email"})

_TYPOGRAPHY = str.maketrans(
    {
        "\u2018": "'",
        "\u2019": "'",
        "\u201a": "'",
        "\u201b": "'",
        "\u2032": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2010": "-",
        "\u2011": "-",
        "\u2012": "-",
        "\u2013": "-",
        "\u2014": "-",
        "\u2212": "-",
        "\\": None,
    }
)
#: Characters read as letters when tokenizing, one for one (so spans stay true): OCR writes
#: the x of 0x1F and of "2 x" as a multiplication sign.
_SAME_LENGTH = str.maketrans({"\u00d7": "x"})
_LETTER_AS_DIGIT = str.maketrans(
    {"o": "0", "l": "1", "i": "1", "s": "5", "b": "8", "z": "2", "g": "9"}
)
_DIGIT_AS_LETTER = str.maketrans({"0": "o", "1": "l", "5": "s", "8": "b", "2": "z", "9": "g"})
_FOLD_DROP = str.maketrans(dict.fromkeys("-._/', :"))
_CONFUSABLE_LETTERS = frozenset("olisbzg")

# Lines of Markdown that carry no text: fences, table separator rows, horizontal rules.
_MARKUP_LINE = re.compile(
    r"^[ \t]*(?:(?:`{3,}|~{3,}).*|\|?[ \t]*:?-{2,}:?[ \t]*(?:\|[ \t]*:?-{2,}:?[ \t]*)*\|?[ \t]*"
    r"|(?:[-*_][ \t]*){3,})$",
    re.MULTILINE,
)
_MARKUP_INLINE = re.compile(r"<br\s*/?>|\]\([^()\s]{0,2000}\)", re.IGNORECASE)

_ALNUM = r"[^\W_]"
# What may join two runs of letters and digits into one token. Commas, colons and narrow spaces
# join only digits (1,234.50 / 12:30 / 1 234,50); a Markdown backslash may precede a connector.
_CONNECT = (
    r"(?:\\?[-._/@'\u2018\u2019\u2010\u2011\u2012\u2013\u2014]"
    r"|(?<=\d)[,:\u00a0\u202f\u2009](?=\d))"
)
# IBAN-like runs are one token even when printed in groups of four.
_IBAN = r"\b[A-Z]{2}\d{2}(?:[ \u00a0]?[A-Z0-9]{4})(?:[ \u00a0]?\d{4}){1,7}(?:[ \u00a0]?\d{1,4})?\b"
_TOKEN = re.compile(rf"{_IBAN}|{_ALNUM}+(?:{_CONNECT}{_ALNUM}+)*")

_HEX = re.compile(r"^(?:0x[0-9a-f]+|(?=[0-9a-f]{6})[0-9a-f]*[a-f][0-9a-f]*)$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^\W\d_]{2,}$")
_DATE_YMD = re.compile(r"^(\d{4})([-./])(\d{1,2})\2(\d{1,2})$")
_DATE_DMY = re.compile(r"^(\d{1,2})([-./])(\d{1,2})\2(\d{4}|\d{2})$")
_TIME = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
_GROUPED = re.compile(r"^\d{1,3}(?:([.,' ])\d{3})(?:\1\d{3})*(?:([.,])(\d+))?$")
_PLAIN = re.compile(r"^\d+(?:([.,])(\d+))?$")
_CURRENCY_NEAR = re.compile(r"[$€£¥₹₽₩₺]|\b(?:eur|usd|gbp|chf|jpy|sek|nok|dkk|pln|czk)\b", re.I)
_LOOKALIKE_CURRENCY = frozenset("sce")  # $ and € as classic OCR reads them, before an amount


class Token(NamedTuple):
    """One token: ``span`` in the text as given, ``key`` for alignment, ``digits`` the digits it
    carries (after reading confusable letters as digits where it is a number). A named tuple:
    a long answer has tens of thousands, and tuples are built fastest."""

    span: tuple[int, int]
    line: int
    kind: str
    key: str
    digits: str
    #: Where the decimal separator sits (digits after it), None for whole numbers and non-numbers.
    decimals: int | None
    #: What a character-level comparison sees: the digits of a number or date, else the key
    #: without "@" (so a value OCR split in two reads the same as the whole).
    chars: str

    @property
    def significant(self) -> bool:
        return self.kind in SIGNIFICANT

    @property
    def substantial(self) -> bool:
        """Worth reporting when it has no counterpart at all (a lone digit is too often noise,
        a list number or a table border)."""
        return self.kind in SIGNIFICANT and (self.kind != "number" or len(self.digits) >= 2)


class Line(NamedTuple):
    """One line of a reading: its span (stripped) and the indices of its tokens."""

    span: tuple[int, int]
    first: int
    end: int


def normalise(text: str) -> str:
    """Typography folded away: what two renderings of the same characters have in common."""
    text = unicodedata.normalize("NFKC", text).translate(_TYPOGRAPHY).casefold()
    if not text.isascii():
        text = "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in text)
    return text


def fold(text: str) -> str:
    """A normalised word or code with OCR's letter confusions and separators folded away."""
    if not text.isascii():
        decomposed = unicodedata.normalize("NFKD", text)
        text = "".join(c for c in decomposed if not unicodedata.combining(c))
    if "rn" in text or "vv" in text or "cl" in text:
        text = text.replace("rn", "m").replace("vv", "w").replace("cl", "d")
    return text.translate(_LETTER_AS_DIGIT).translate(_FOLD_DROP)


def blank_markup(text: str) -> str:
    """The model's answer with Markdown that carries no text replaced by spaces (same length,
    so spans stay true)."""

    def spaces(match: re.Match[str]) -> str:
        return " " * len(match.group(0))

    return _MARKUP_INLINE.sub(spaces, _MARKUP_LINE.sub(spaces, text))


def tokenize(text: str, max_tokens: int = 1_000_000) -> tuple[list[Token], list[Line]]:
    """Tokens of ``text`` in reading order, and its lines (those with at least one token);
    at most ``max_tokens`` (the caller sees it reached and says the text was cut)."""
    tokens: list[Token] = []
    lines: list[Line] = []
    described: dict[str, tuple[str, str, str, int | None, str]] = {}  # words and prices repeat
    text = text.translate(_SAME_LENGTH)
    start = 0
    length = len(text)
    while start <= length and len(tokens) < max_tokens:
        end = text.find("\n", start)
        if end == -1:
            end = length
        first = len(tokens)
        line = len(lines)
        currency = _CURRENCY_NEAR.search(text, start, end) is not None
        for match in _TOKEN.finditer(text, start, end):
            raw = match.group()
            found = described.get(raw)
            if found is None:
                found = described[raw] = _describe(raw)
            kind, key, digits, decimals, chars = found
            left, right = match.span()
            if currency and kind == "number":  # an amount when a currency is printed beside it
                near = text[max(start, left - 4) : left] + " " + text[right : min(end, right + 5)]
                if _CURRENCY_NEAR.search(near):
                    kind = "amount"
            tokens.append(Token((left, right), line, kind, key, digits, decimals, chars))
            if len(tokens) >= max_tokens:
                end = right
                break
        if len(tokens) > first:
            line_text = text[start:end]
            left = start + len(line_text) - len(line_text.lstrip())
            lines.append(Line((left, start + len(line_text.rstrip())), first, len(tokens)))
        start = end + 1
    return tokens, lines


def _describe(raw: str) -> tuple[str, str, str, int | None, str]:
    """Kind, key, digits, decimal places and characters of one token's text."""
    kind, key, digits, decimals = _kind_of(normalise(raw))
    chars = digits if kind in ("number", "amount", "date") else key.replace("@", "")
    return kind, key, digits, decimals, chars


def _kind_of(norm: str) -> tuple[str, str, str, int | None]:
    if "@" in norm and _EMAIL.match(norm):
        return "email", fold(norm), _digits(norm), None
    if not any(c.isdigit() for c in norm):
        return "word", fold(norm), "", None
    letters = [c for c in norm if c.isalpha()]
    numeric = norm
    if letters and set(letters) <= _CONFUSABLE_LETTERS:
        numeric = _strip_lookalike_currency(norm).translate(_LETTER_AS_DIGIT)
    elif len(letters) == 1 and norm[0] in _LOOKALIKE_CURRENCY:
        numeric = _strip_lookalike_currency(norm)
    if not any(c.isalpha() for c in numeric):
        value = _numeric(numeric)
        if value is not None:
            return value
        return "code", fold(norm), _digits(numeric), None
    if _looks_like_misread_word(norm):
        return "word", fold(norm), "", None
    key = fold(norm)
    # In a hexadecimal code (an id, a hash, a colour) the letters a-f are digits too.
    return "code", key, key if _HEX.match(key) else _digits(norm), None


def _strip_lookalike_currency(norm: str) -> str:
    """``s16.49`` → ``16.49``: a leading S, C or E before a two-decimal amount is the currency
    sign misread, not a digit."""
    if norm[0] in _LOOKALIKE_CURRENCY and len(norm) > 4 and norm[1].isdigit():
        rest = norm[1:]
        if len(rest) > 3 and rest[-3] in ".," and rest[-2:].isdigit():
            return rest
    return norm


def _looks_like_misread_word(norm: str) -> bool:
    """``t0tal``, ``emai1``: mostly letters, and every digit is one OCR puts for a letter."""
    letters = sum(c.isalpha() for c in norm)
    digits = sum(c.isdigit() for c in norm)
    return digits < letters and norm.translate(_DIGIT_AS_LETTER).replace("-", "").isalpha()


def _numeric(numeric: str) -> tuple[str, str, str, int | None] | None:
    """A date, time, amount or number, or None when ``numeric`` is none of those. A number
    with two decimal places is an amount; others become one beside a currency (tokenize)."""
    digits = _digits(numeric)
    date = _DATE_YMD.match(numeric) or _DATE_DMY.match(numeric)
    if date:
        groups = (date.group(1), date.group(3), date.group(4))
        return "date", "-".join(str(int(g)) for g in groups), digits, None
    time = _TIME.match(numeric)
    if time:
        parts = [g for g in time.groups() if g is not None]
        return "date", ":".join(str(int(g)) for g in parts), digits, None
    value = number_value(numeric)
    if value is None:
        return None
    canonical, decimals = value
    return ("amount" if decimals == 2 else "number"), canonical, digits, decimals


def number_value(text: str) -> tuple[str, int | None] | None:
    """``("1234.5", 2)`` for ``"1,234.50"``: the value as a canonical string (grouping dropped,
    trailing fraction zeros dropped) and how many digits followed the decimal separator.

    Decimal rule: with both ``.`` and ``,`` the last one is the decimal separator; with one
    kind, a separator followed by exactly three digits groups (``1,234`` and ``1.234`` are 1234),
    any other is the decimal separator (``12,50`` is 12.5); spaces and apostrophes group.
    """
    text = text.replace("\u00a0", " ").replace("\u202f", " ").replace("\u2009", " ")
    grouped = _GROUPED.match(text)
    if grouped and text[0] != "0":
        group_sep, decimal_sep, fraction = grouped.groups()
        if decimal_sep == group_sep:
            return None  # 1.234.56: grouping and decimal the same sign, no rule fits
        whole = text.split(decimal_sep)[0] if decimal_sep else text
        whole = re.sub(r"[.,' ]", "", whole)
    else:
        plain = _PLAIN.match(text)
        if not plain:
            return None
        whole, fraction = text, None
        if plain.group(1):
            whole, fraction = text.split(plain.group(1))
    if fraction is None:
        return whole, None
    kept = fraction.rstrip("0")
    return (f"{whole}.{kept}" if kept else whole), len(fraction)


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())
