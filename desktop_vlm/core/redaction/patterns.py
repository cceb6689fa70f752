"""Where on one line of text something sensitive is: character spans, per kind.

Each ``find_*`` function takes a line as read (``raw``) and, where digits matter, the same line
with OCR look-alikes repaired (``digits``, same length; see ``checks.repair_digits``), and
returns ``(start, end)`` spans. The spans are turned into pixel boxes elsewhere. Every pattern
is linear: no nested quantifiers over the same characters.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from desktop_vlm.core.redaction.checks import (
    IBAN_LENGTHS,
    ean13_ok,
    iban_ok,
    looks_random,
    luhn_ok,
)

Span = tuple[int, int]

# --- keys and tokens ---------------------------------------------------------------------------

_B = r"(?<![A-Za-z0-9_-])"  # a key starts where a word does
#: Keys with a vendor prefix. Minimum lengths sit below the real ones so a key OCR cut short,
#: or one the screen shows only the start of, is still covered.
_PREFIXED = re.compile(
    _B + r"(?:"
    r"sk-ant-[A-Za-z0-9_-]{16,}"  # Anthropic
    r"|sk-(?:[a-z]{2,10}-)?[A-Za-z0-9_-]{20,}"  # OpenAI: sk-..., sk-proj-..., sk-svcacct-...
    r"|[sprk]k_(?:live|test)_[A-Za-z0-9]{10,}"  # Stripe
    r"|gh[pousr]_[A-Za-z0-9]{20,}"  # GitHub tokens
    r"|github_pat_[A-Za-z0-9_]{20,}"  # GitHub fine-grained tokens
    r"|(?:AKIA|ASIA)[A-Z0-9]{12,}"  # AWS access key ids (16 after the prefix)
    r"|xox[abposr]-[A-Za-z0-9-]{10,}"  # Slack
    r"|AIza[A-Za-z0-9_-]{30,}"  # Google API keys (35 after the prefix)
    r"|glpat-[A-Za-z0-9_-]{16,}"  # GitLab
    r"|npm_[A-Za-z0-9]{30,}"  # npm
    r"|pypi-[A-Za-z0-9_-]{40,}"  # PyPI
    r"|hf_[A-Za-z0-9]{30,}"  # Hugging Face
    r"|SG\.[A-Za-z0-9_-]{16,}\.[A-Za-z0-9_-]{16,}"  # SendGrid
    r"|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{4,}"  # JWT header.payload.sig
    r")"
)
#: ``Authorization: Bearer <token>`` / ``Basic <base64>``: the token, not the scheme word.
_BEARER = re.compile(r"(?i)\bbearer\s+([A-Za-z0-9._~+/-]{8,}=*)")
_BASIC = re.compile(r"(?i)\bauthorization:?\s*basic\s+([A-Za-z0-9+/]{8,}={0,2})")
#: ``scheme://user:password@host``: the credentials part.
_URL_CREDENTIALS = re.compile(r"(?i)\b[a-z][a-z0-9+.-]{1,15}://([^\s/:@]{1,64}:[^\s/@]{1,128})@")
#: ``password = hunter2``, ``API_KEY: "abc..."``, ``client-secret=...``: the value. The label
#: must end in the keyword (``max_tokens = 4096`` is not one; ``DB_PASSWORD`` is, because only
#: its end is matched, which also keeps the search linear); values that are clearly not
#: secrets (placeholders, ``${VAR}``, calls, masked ``****``) are left alone.
_LABELLED = re.compile(
    r"(?i)(?:pass(?:word|wd|phrase)?|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key"
    r"|auth[_-]?token|credentials?)"
    r"[\"']?\s*[:=]\s*[\"']?"
    r"((?![$<{*%(\[])[^\s\"',;()\[\]{}<>]{6,200})(?=$|[\s\"',;])"
)
_NOT_SECRET_VALUES = frozenset({
    "true", "false", "null", "none", "required", "optional", "enabled", "disabled", "hidden",
    "string", "number", "boolean", "undefined", "example", "default", "changeme", "redacted",
})  # fmt: skip
#: Candidates for the shape rule: runs of base64/base64url characters, padding included.
_TOKEN_RUN = re.compile(r"(?<![A-Za-z0-9+/_-])[A-Za-z0-9+/_-]{24,}={0,2}(?![A-Za-z0-9+/=_-])")

#: ``-----BEGIN RSA PRIVATE KEY-----`` and kin; OCR often gets the dashes wrong, so they are
#: optional.
PEM_BEGIN = re.compile(
    r"(?:[-\u2010-\u2015_~=]{2,}\s?)?BEGIN\s(?:[A-Z0-9]+\s){0,3}PRIVATE\sKEY(?:\sBLOCK)?"
    r"(?:\s?[-\u2010-\u2015_~=]{2,})?"
)
PEM_END = re.compile(r"END\s(?:[A-Z0-9]+\s){0,3}PRIVATE\sKEY")
_PEM_HEADER_FIELD = re.compile(r"(?:Proc-Type|DEK-Info|Comment):\s.*")
_BASE64 = re.compile(r"[A-Za-z0-9+/]+={0,2}")


def is_pem_body(line: str) -> bool:
    """A line inside a PEM block: base64 (OCR may split it into a few words), a last short line
    ending in "=", or a ``Proc-Type:``/``DEK-Info:`` field. Prose is not: it has no digit."""
    if _PEM_HEADER_FIELD.fullmatch(line):
        return True
    compact = line.replace(" ", "")
    if line.count(" ") > 3 or not _BASE64.fullmatch(compact):
        return False
    if compact.endswith("="):
        return True
    return len(compact) >= 16 and any(c.isdigit() or c in "+/" for c in compact)


def find_keys(raw: str) -> list[Span]:
    """Vendor-prefixed keys, JWTs, Bearer/Basic credentials, credentials inside URLs."""
    spans = [
        m.span()
        for m in _PREFIXED.finditer(raw)
        # "sk-learn-model-selection-notes" is a name: a key has a capital or a digit in it
        if not m.group(0).startswith("sk-") or any(c.isupper() or c.isdigit() for c in m.group(0))
    ]
    spans += [m.span(1) for m in _URL_CREDENTIALS.finditer(raw)]
    for match in _BEARER.finditer(raw):
        token = match.group(1)
        # "the bearer authentication scheme" is prose; a token has a digit or a symbol.
        if len(token) >= 24 or any(not c.isalpha() for c in token):
            spans.append(match.span(1))
    spans += [m.span(1) for m in _BASIC.finditer(raw)]
    return spans


def find_labelled_secrets(raw: str) -> list[Span]:
    """Values written after a label that says they are a password, token or key."""
    return [
        m.span(1)
        for m in _LABELLED.finditer(raw)
        if m.group(1).lower() not in _NOT_SECRET_VALUES and set(m.group(1)) - set("*x•.")
    ]


def find_random_tokens(raw: str) -> list[Span]:
    """Strings shaped like generated keys (``checks.looks_random``)."""
    return [m.span() for m in _TOKEN_RUN.finditer(raw) if looks_random(m.group(0))]


# --- e-mail addresses --------------------------------------------------------------------------

_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])"
    r"([A-Za-z0-9](?:[A-Za-z0-9._%+-]{0,62}[A-Za-z0-9_%+-])?)"
    r"( ?)@( ?)"
    r"((?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}([A-Za-z]{2,24}))"
    r"(?![A-Za-z0-9-]|\.[A-Za-z0-9])"
)
#: OCR often reads "name@example.com" as "name @ example.com". A space around "@" is accepted
#: only with one of these top-level domains, because "x @ self.weight" (Python's matrix product)
#: has the same shape.
COMMON_TLDS = frozenset({
    "com", "net", "org", "edu", "gov", "mil", "int", "info", "biz", "io", "co", "ai", "app", "dev",
    "me", "tv", "us", "uk", "de", "fr", "nl", "be", "ch", "at", "it", "es", "pt", "se",
    "no", "dk", "fi", "pl", "cz", "ru", "ua", "jp", "cn", "kr", "in", "au", "nz", "ca",
    "br", "mx", "ar", "eu", "ie", "gr", "hu", "ro", "tr", "il", "za", "sg", "hk", "tw",
    "email", "online",
})  # fmt: skip
_RETINA = re.compile(r"\d+x\.", re.IGNORECASE)  # icon@2x.png is a file name


def find_emails(raw: str) -> list[Span]:
    spans = []
    for match in _EMAIL.finditer(raw):
        spaced = match.group(2) or match.group(3)
        if spaced and match.group(5).lower() not in COMMON_TLDS:
            continue
        if _RETINA.match(match.group(4)):
            continue
        spans.append(match.span())
    return spans


# --- IBANs -------------------------------------------------------------------------------------

_IBAN_START = re.compile(r"(?<![A-Za-z0-9])([A-Z]{2})(\d{2})")


def _iban_span(text: str, start: int, length: int) -> tuple[str, int] | None:
    """Read ``length`` IBAN characters from ``start``, skipping single spaces between groups."""
    chars: list[str] = []
    pos = start
    while pos < len(text) and len(chars) < length:
        char = text[pos]
        if "A" <= char <= "Z" or "0" <= char <= "9":
            chars.append(char)
        elif not (char == " " and chars and pos + 1 < len(text) and text[pos + 1].isalnum()):
            return None
        pos += 1
    if len(chars) < length or (pos < len(text) and text[pos].isalnum()):
        return None
    return "".join(chars), pos


def find_ibans(raw: str, digits: str) -> list[Span]:
    """IBANs that pass mod-97, as printed or with OCR look-alikes repaired."""
    spans: list[Span] = []
    for match in _IBAN_START.finditer(raw):
        length = IBAN_LENGTHS.get(match.group(1))
        if length is None or (spans and match.start() < spans[-1][1]):
            continue
        for text in (raw, digits):
            found = _iban_span(text, match.start(), length)
            if found and iban_ok(found[0]):
                spans.append((match.start(), found[1]))
                break
    return spans


# --- numbers: cards and phones -----------------------------------------------------------------

_NUMBER_GROUP = re.compile(r"\+?\(?\d+\)?")
#: What may stand between two groups of one number: "4111 1111", "555-1234", "030/1234",
#: "(555) 123", "+49 (0)30".
_GROUP_GAPS = frozenset({"", " ", "-", ".", "/", " - ", " / "})
MAX_GROUPS = 12  # a run longer than this is a table of figures, not one number


def number_runs(text: str) -> Iterator[list[Span]]:
    """Runs of digit groups, each run a list of chunk spans split where a plain space stands.

    A run is not started after a letter, digit, ``.``, ``,``, ``/`` or ``word-`` (so "INV-2024"
    and "v1.2.3" are no runs) and ends before a letter or a decimal part ("1,234.56").
    """
    groups = list(_NUMBER_GROUP.finditer(text))
    index = 0
    while index < len(groups):
        run = [groups[index]]
        while index + 1 < len(groups) and len(run) < MAX_GROUPS:
            gap = text[run[-1].end() : groups[index + 1].start()]
            if gap not in _GROUP_GAPS or groups[index + 1].group(0).startswith("+"):
                break
            if gap == "" and not (
                run[-1].group(0).endswith(")") or groups[index + 1].group(0)[0] in "(+"
            ):
                break
            run.append(groups[index + 1])
            index += 1
        index += 1
        start, end = run[0].start(), run[-1].end()
        before = text[start - 1] if start else ""
        if before and (
            before.isalnum()
            or before in "_.,/"
            or (before == "-" and start >= 2 and text[start - 2].isalnum())
        ):
            continue
        after = text[end : end + 2]
        if (
            after[:1].isalnum()
            or after[:1] == "_"
            or (len(after) == 2 and after[0] in ".," and after[1].isdigit())
        ):
            continue
        chunks: list[Span] = []
        for group in run:
            if chunks and text[chunks[-1][1] : group.start()] != " ":
                chunks[-1] = (chunks[-1][0], group.end())
            else:
                chunks.append(group.span())
        yield chunks


def _best_subranges(
    text: str, chunks: list[Span], digits: tuple[int, int], is_valid: Callable[[Span], bool]
) -> list[Span]:
    """Longest runs of consecutive chunks that ``is_valid`` accepts, left to right; only runs
    with a number of digits within ``digits`` (inclusive) are tried."""
    counts = [sum(c.isdigit() for c in text[a:b]) for a, b in chunks]
    found = []
    i = 0
    while i < len(chunks):
        for j in range(len(chunks), i, -1):
            if not digits[0] <= sum(counts[i:j]) <= digits[1]:
                continue
            span = (chunks[i][0], chunks[j - 1][1])
            if is_valid(span):
                found.append(span)
                i = j
                break
        else:
            i += 1
    return found


def _card_ok(number: str) -> bool:
    if any(c in number for c in "+()./"):
        return False
    groups = [len(g) for g in re.split(r"[ -]", number) if g]
    digits = "".join(c for c in number if c.isdigit())
    if not 13 <= len(digits) <= 19 or len(set(digits)) == 1:
        return False
    if len(groups) > 1:
        fours = groups[0] == 4 and all(g == 4 for g in groups[1:-1]) and 1 <= groups[-1] <= 4
        amex_diners = groups[:2] == [4, 6] and len(groups) == 3 and groups[2] in (4, 5)
        # OCR drops the space between two groups now and then: "5555 5555 55554444".
        merged = all(g >= 4 for g in groups)
        if not (fours or amex_diners or merged):
            return False
    # An ISBN-13 or product barcode is not a card, even when Luhn happens to hold.
    if len(digits) == 13 and digits[:3] in ("978", "979") and ean13_ok(digits):
        return False
    return luhn_ok(digits)


def find_cards(digits: str) -> list[Span]:
    spans = []
    for chunks in number_runs(digits):
        label = digits[max(0, chunks[0][0] - 10) : chunks[0][0]].upper()
        if "ISBN" in label:
            continue
        spans += _best_subranges(digits, chunks, (13, 19), lambda s: _card_ok(digits[s[0] : s[1]]))
    return spans


_DATE = re.compile(r"\d{4}[-./]\d{1,2}[-./]\d{1,2}|\d{1,2}[-./]\d{1,2}[-./]\d{2,4}")
_IP_ADDRESS = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_PAREN_AREA = re.compile(r"\(\d{2,5}\)")
_TRUNK = re.compile(r"0[1-9]\d{0,4}[ ./-]")
_NANP = re.compile(r"(?:1[ .-])?\(?[2-9]\d{2}\)?([ .-]?)\d{3}[ .-]\d{4}")
_PHONE_LABEL = re.compile(
    r"(?i)\b(?:tel|t[ée]l[ée]phone|telefon|phone|mobile|mob|cell|fax|call|ph|handy|whatsapp)"
    r"\.?\s*(?:no\.?|nr\.?|number|#)?\s*[:.]?\s*$"
)


def _phone_ok(number: str, labelled: bool) -> bool:
    digits = "".join(c for c in number if c.isdigit())
    if not 7 <= len(digits) <= 15:
        return False
    if _DATE.fullmatch(number) or _IP_ADDRESS.fullmatch(number):
        return False
    if number.startswith("+"):
        return len(digits) >= 8
    if number[:2] == "00" and number[2:3].isdigit() and number[2] != "0" and not number.isdigit():
        return len(digits) >= 10
    if labelled:
        return True
    if _PAREN_AREA.match(number):
        return len(digits) <= 12
    if _TRUNK.match(number) and number[:2] != "00":
        return 8 <= len(digits) <= 13
    return bool(_NANP.fullmatch(number))


def find_phones(digits: str, raw: str) -> list[Span]:
    """International (+CC, 00CC) and national numbers with separators; bare digits only after a
    label ("Tel:", "Phone", "Mobile"...). Never dates, times, IP or version numbers, amounts,
    thousands-grouped figures, or numbers of fewer than 7 digits."""
    spans = []
    for chunks in number_runs(digits):

        def valid(span: Span) -> bool:
            labelled = bool(_PHONE_LABEL.search(raw[max(0, span[0] - 24) : span[0]]))
            return _phone_ok(digits[span[0] : span[1]], labelled)

        spans += _best_subranges(digits, chunks, (7, 15), valid)
    return spans
