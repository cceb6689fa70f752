"""The arithmetic behind the redaction rules: check digits, OCR digit repair and randomness.

Kept apart from the patterns so each predicate can be tested on plain strings. Every function
here is pure and linear in its input.
"""

from __future__ import annotations

import math
import re
from collections import Counter

# --- check digits ------------------------------------------------------------------------------


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check every payment card number carries in its last digit."""
    if not digits.isdigit():
        return False
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if position % 2:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def ean13_ok(digits: str) -> bool:
    """The EAN-13 check (weights 1, 3), which ISBN-13s and product barcodes carry."""
    if len(digits) != 13 or not digits.isdigit():
        return False
    total = sum((3 if i % 2 else 1) * (ord(c) - 48) for i, c in enumerate(digits[:12]))
    return (10 - total % 10) % 10 == ord(digits[12]) - 48


#: IBAN length per country: the SWIFT IBAN registry, plus the countries that use IBANs outside
#: it (West and Central Africa, Algeria, Iran, ...). Unknown country codes are not IBANs.
IBAN_LENGTHS: dict[str, int] = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BI": 27, "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27,
    "DK": 18, "DO": 28, "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27,
    "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28, "HN": 28, "HR": 21, "HU": 28,
    "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22,
    "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23,
    "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24,
    "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
    "AO": 25, "BF": 28, "BJ": 28, "CF": 27, "CG": 27, "CI": 28, "CM": 27, "CV": 25, "DZ": 26,
    "GA": 27, "GQ": 27, "GW": 25, "IR": 26, "KM": 27, "MA": 28, "MG": 27, "ML": 28, "MZ": 25,
    "NE": 28, "SN": 28, "TD": 27, "TG": 28,
}  # fmt: skip


def iban_ok(iban: str) -> bool:
    """ISO 13616: known country, its length, and the mod-97 check (the four leading characters
    moved to the end, letters as 10..35, the number mod 97 is 1)."""
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not iban[2:4].isdigit():
        return False
    if not all("A" <= c <= "Z" or "0" <= c <= "9" for c in iban):
        return False
    rearranged = iban[4:] + iban[:4]
    remainder = 0
    for char in rearranged:
        value = ord(char) - 48 if char <= "9" else ord(char) - 55
        remainder = (remainder * (100 if value > 9 else 10) + value) % 97
    return remainder == 1


# --- OCR digit repair --------------------------------------------------------------------------

#: What OCR reads for a digit on screen: O for 0, l/I/| for 1. Nothing else is repaired (S/5 and
#: B/8 are as often real letters as misread digits).
CONFUSABLE_DIGITS = {"O": "0", "o": "0", "I": "1", "l": "1", "|": "1"}
_ALNUM_RUN = re.compile(r"[A-Za-z0-9|]+")


def repair_digits(text: str) -> str:
    """``text`` with O/o read as 0 and I/l/| as 1 inside runs that are plainly numbers.

    A run (letters, digits and ``|`` between other characters) is repaired only when it holds
    nothing but digits and those look-alikes, at least two real digits, and at least twice as
    many real digits as look-alikes: "4l11" becomes "4111", "2O24" "2024"; "IE29", "lol", "I0"
    and "l0l0" stay as they are. The result has the length of ``text``, so positions carry over.
    """
    pieces: list[str] = []
    last = 0
    for match in _ALNUM_RUN.finditer(text):
        run = match.group(0)
        lookalikes = sum(c in CONFUSABLE_DIGITS for c in run)
        digits = sum(c.isdigit() for c in run)
        if lookalikes and lookalikes + digits == len(run) and digits >= max(2, 2 * lookalikes):
            pieces.append(text[last : match.start()])
            pieces.append("".join(CONFUSABLE_DIGITS.get(c, c) for c in run))
            last = match.end()
    if not pieces:
        return text
    pieces.append(text[last:])
    return "".join(pieces)


# --- randomness --------------------------------------------------------------------------------

#: Shortest string the shape rule calls a key (the prefixed rules catch shorter known keys).
RANDOM_MIN_CHARS = 24
_HEX = re.compile(r"[0-9a-fA-F]+(?:-[0-9a-fA-F]+)*")
#: A path segment that is a word: "usr", "site-packages", "x86_64-linux-gnu", "build-id".
_PATH_WORD = re.compile(r"(?=.*[a-z]{3})[a-z][a-z0-9.]*(?:[-_][a-z0-9.]+)*")
#: A piece of a snake/kebab identifier that is a word: "test", "Index", "UTF", "v2" excluded.
_ID_WORD = re.compile(r"(?:[a-z]{3,}|[A-Z][a-z]{2,}|[A-Z]{3,})\d{0,3}")
#: Word-like stretches inside a camelCase identifier.
_WORDISH = re.compile(r"[A-Z][a-z]{2,}|[a-z]{6,}")
_VOWELS = frozenset("aeiouyAEIOUY")
_DIGITS_INSIDE_LETTERS = re.compile(r"(?<=[A-Za-z])\d+(?=[A-Za-z])")


def shannon_entropy(text: str) -> float:
    """Bits per character of ``text``'s own character frequencies (0 for "", "aaaa")."""
    if not text:
        return 0.0
    size = len(text)
    return -sum(n / size * math.log2(n / size) for n in Counter(text).values())


def entropy_threshold(length: int) -> float:
    """The entropy a random key of ``length`` characters reaches, with a little room.

    Over 3,000 random strings per length, the 1st percentile of ``shannon_entropy`` is 3.61 bits
    at 24 characters, 3.88 at 32, 4.10 at 40 and 4.47 at 64 for lower-case letters and digits
    (the poorest alphabet keys use besides hex), and 3.55/3.84/4.02/4.36 for upper-case base32;
    English-like names of the same lengths sit around 3.3-3.9. ``0.94 + 0.57 * log2(n)`` follows
    those percentiles; 0.1 bit is taken off, and the threshold stops rising at 4.2 so long keys
    over a small alphabet still pass. What the whole rule then misses and wrongly catches is
    measured by ``tests/benchmarks/redaction_rates.py``.
    """
    return min(0.84 + 0.57 * math.log2(max(length, 2)), 4.2)


def _wordy_share(token: str) -> float:
    covered = 0
    for match in _WORDISH.finditer(token):
        word = match.group(0)
        vowel_share = sum(c in _VOWELS for c in word) / len(word)
        capitalised = word[0].isupper() and 0.2 <= vowel_share <= 0.7
        if capitalised or 0.3 <= vowel_share <= 0.6:
            covered += len(word)
    return covered / len(token)


def looks_random(token: str) -> bool:
    """True for a string that looks like a generated key or token rather than something a
    person or a program named: at least 24 characters of letters, digits and ``+/_-``, letters
    mixed with digits (or upper with lower case all through), no word-like structure, and a
    character entropy above ``entropy_threshold``.

    Never true for: hex strings of any length (git commit ids, SHA-256 sums, UUIDs, colours:
    identifiers, not credentials; a hex key is caught only by a label such as ``api_key=``),
    paths (``/`` between word segments), snake/kebab identifiers of words, camelCase names,
    long English words (no digits, few case changes).
    """
    token = token.rstrip("=")
    if len(token) < RANDOM_MIN_CHARS:
        return False
    if _HEX.fullmatch(token):
        return False
    if "/" in token:
        segments = token.split("/")
        if token.startswith(("/", "~")) or any(_PATH_WORD.fullmatch(s) for s in segments):
            return any(looks_random(s) for s in segments)
    pieces = [p for p in re.split(r"[_-]", token) if p]
    if sum(bool(_ID_WORD.fullmatch(p)) for p in pieces) >= 2:
        return any(looks_random(p) for p in pieces if len(p) < len(token))
    if sum(c.isalpha() for c in token) < 4:
        return False
    case_changes = sum(
        a.isupper() != b.isupper()
        for a, b in zip(token, token[1:], strict=False)
        if a.isalpha() and b.isalpha()
    )
    if not (_DIGITS_INSIDE_LETTERS.search(token) or case_changes >= 0.4 * len(token)):
        return False
    if _wordy_share(token) >= 0.5:
        return False
    return shannon_entropy(token) >= entropy_threshold(len(token))
