"""Automatic redaction: what on a screenshot must be covered before it leaves the machine.

With ``[privacy] redact = "auto"`` the app reads the image with the offline OCR engine, asks
``find_sensitive`` what is sensitive, and sends ``paint_over``'s copy with solid boxes over it;
the rest of the image is untouched. Everything here is pure (stdlib and Pillow).

What is found, and the decisions behind each rule:

- ``email``: ``local@domain.tld``. OCR often reads "a@b.com" as "a @ b.com", so one space on
  either side of "@" is accepted, but only with a common top-level domain (.com, .org, .de, ...),
  because "x @ self.weight" in code has the same shape. Spaces around dots are not accepted
  ("end. Next" is prose). "icon@2x.png" is a file name, not an address.
- ``phone``: "+CC ..." and "00CC ..." forms (8-15 digits, E.164); national forms with a trunk
  "0" ("030 1234567", "07700 900123", "01 23 45 67 89"), an area code in parentheses, or the
  North American 3-3-4 shape. Bare digit strings, and any other grouping, only right after a
  label ("Tel:", "Phone", "Mobile", "Fax"...). Never: fewer than 7 digits, dates, times, IP
  addresses, versions, amounts with decimals, thousands-grouped figures ("1 234 567"), numbers
  glued to a word ("INV-2024-001234"). Known gap: an unlabelled national number without a
  trunk prefix, e.g. Spain's "612 345 678", is not covered (it is shaped like a figure).
- ``card``: 13-19 digits, in one block, groups of four, 4-6-5/4-6-4 (Amex, Diners), or groups
  of four or more (OCR drops a space now and then: "5555 5555 55554444"), with spaces or dashes;
  Luhn must hold. ISBN-13s (978/979 with a valid EAN check) and numbers
  labelled ISBN are not cards; neither is a run of one repeated digit.
- ``iban``: country code, two check digits, the BBAN to that country's exact length (table in
  ``checks.IBAN_LENGTHS``), with or without single spaces; mod-97 must hold.
- ``secret``: vendor-prefixed keys (``sk-``, ``sk-proj-``, ``sk-ant-``, ``ghp_``/``gho_``/
  ``ghs_``/``ghu_``/``ghr_``, ``github_pat_``, ``AKIA``/``ASIA``, ``xoxb-``/``xoxp-``..., ``AIza``,
  ``glpat-``, Stripe ``sk_live_``, ``npm_``, ``pypi-``, ``hf_``, SendGrid), JWTs, ``Bearer``
  and ``Authorization: Basic`` credentials, ``user:password@`` inside URLs, values labelled as a
  password/token/key (``DB_PASSWORD=...``), PEM private keys (the BEGIN line and the block
  under it, down to END), and strings that look generated (``checks.looks_random``: 24+ chars
  of letters mixed with digits, no word structure, entropy over a measured threshold). Hex is
  never a key by shape: a 40-hex git commit id, a SHA-256, a UUID or a colour stays visible
  (a hex key is covered only when labelled); a 40-char base64 token is covered. URLs without
  credentials, paths and identifiers stay visible.

OCR tolerance: inside runs that are plainly numbers (only digits and look-alikes, at least
two real digits and twice as many digits as look-alikes), "O"/"o" is read as 0 and "l"/"I"/"|"
as 1 before the card, IBAN and phone rules run; Luhn and mod-97 are then checked on the repaired
digits, so the check digits still decide (a wrong repair fails them like a wrong digit).
IBANs are tried as printed first, because their bank codes may hold real O's and I's.

Boxes: a finding may span several words (card groups, IBAN groups, a phone with spaces); its
box is the union of those words' boxes. A match inside a word gets a box estimated from its
character positions (``geometry``). Every box is padded by ``pad`` pixels, and a little more
left and right (``side_slack``), clamped to the image.
A finding's ``text`` is the sensitive text itself: never log it (``Redaction`` summaries carry
counts and boxes only).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from PIL import Image

from desktop_vlm.core.ocr_types import Box, OcrResult
from desktop_vlm.core.redaction import patterns
from desktop_vlm.core.redaction.checks import repair_digits
from desktop_vlm.core.redaction.geometry import LineText, pad_box, union
from desktop_vlm.core.redaction.paint import DEFAULT_FILL, BoxLike, clamp_box, paint_over

__all__ = [
    "DEFAULT_FILL",
    "KINDS",
    "Finding",
    "Redaction",
    "clamp_box",
    "find_sensitive",
    "paint_over",
    "redact_image",
]

log = logging.getLogger(__name__)

#: Kinds in the order they are reported; "manual" is a box a person drew.
KINDS = ("email", "phone", "card", "iban", "secret", "manual")
_NOUNS = {
    "email": ("e-mail address", "e-mail addresses"),
    "phone": ("phone number", "phone numbers"),
    "card": ("card number", "card numbers"),
    "iban": ("IBAN", "IBANs"),
    "secret": ("key", "keys"),
    "manual": ("area drawn by hand", "areas drawn by hand"),
}
#: Bounds on what is read: a 2048x2048 screen full of 10-px text holds about 40,000 characters.
#: Past them the rest is not searched (and a warning is logged).
MAX_LINES = 5000
MAX_LINE_CHARS = 4000
MAX_TOTAL_CHARS = 200_000
#: Lines a PEM private key block may run below its BEGIN line (a 4096-bit RSA key has ~50).
MAX_PEM_LINES = 120
DEFAULT_PAD = 2
#: Extra padding left and right, as a share of the box's height: rapidocr's word boxes end up to
#: 4 px short of the glyphs of 16-px text (about 0.2 of a 20-px line).
DEFAULT_SIDE_SLACK = 0.15


@dataclass(frozen=True)
class Finding:
    """Something sensitive: its kind (one of ``KINDS``), the text as read, and the padded box
    in image pixels (left, top, right, bottom; right and bottom exclusive)."""

    kind: str
    text: str
    box: Box

    def __repr__(self) -> str:  # the text is the secret: keep it out of logs and tracebacks
        return f"Finding(kind={self.kind!r}, text=<{len(self.text)} chars>, box={self.box!r})"


@dataclass(frozen=True)
class Redaction:
    """What was covered on one image: the findings and the boxes drawn by hand."""

    findings: tuple[Finding, ...] = ()
    manual: tuple[Box, ...] = ()

    @property
    def boxes(self) -> tuple[Box, ...]:
        return tuple(f.box for f in self.findings) + self.manual

    @property
    def areas(self) -> int:
        return len(self.findings) + len(self.manual)

    @property
    def counts(self) -> dict[str, int]:
        """Areas per kind, in ``KINDS`` order, kinds with none left out."""
        counted = {kind: 0 for kind in KINDS}
        for finding in self.findings:
            counted[finding.kind] += 1
        counted["manual"] += len(self.manual)
        return {kind: n for kind, n in counted.items() if n}

    def describe(self) -> str:
        """One line for a person: "3 areas covered: 1 e-mail address, 1 card number, 1 key"."""
        if not self.areas:
            return "nothing covered"
        parts = [f"{n} {_NOUNS[kind][n != 1]}" for kind, n in self.counts.items()]
        area_word = "area" if self.areas == 1 else "areas"
        return f"{self.areas} {area_word} covered: {', '.join(parts)}"

    def to_dict(self) -> dict[str, Any]:
        """Counts and boxes, never the covered text (it is what was meant not to leave)."""
        return {
            "areas": self.areas,
            "counts": self.counts,
            "boxes": [{"kind": f.kind, "box": list(f.box)} for f in self.findings]
            + [{"kind": "manual", "box": list(b)} for b in self.manual],
            "summary": self.describe(),
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)


@dataclass
class _Line:
    """One line while it is searched: its text as read and with digits repaired, and the
    character spans findings already hold."""

    layout: LineText
    digits: str
    claimed: list[tuple[int, int]]

    def claim(self, start: int, end: int) -> bool:
        """Reserve ``start:end`` unless an earlier (higher-priority) finding holds part of it."""
        if end <= start or any(s < end and start < e for s, e in self.claimed):
            return False
        self.claimed.append((start, end))
        return True


def find_sensitive(
    result: OcrResult, *, pad: int = DEFAULT_PAD, side_slack: float = DEFAULT_SIDE_SLACK
) -> list[Finding]:
    """Everything sensitive in an OCR reading, in reading order (see the module docstring).

    Boxes grow by ``pad`` pixels on every side and by ``side_slack`` times their height more on
    the left and right, within the image (``result.width`` x ``result.height``)."""
    lines = result.lines[:MAX_LINES]
    if len(result.lines) > MAX_LINES:
        log.warning("redaction read only the first %s of %s lines", MAX_LINES, len(result.lines))
    states = []
    budget = MAX_TOTAL_CHARS
    for line in lines:
        layout = LineText.of(line, min(MAX_LINE_CHARS, budget))
        if layout.truncated:
            log.warning("redaction read only the first %s characters of a line", len(layout.text))
        states.append(_Line(layout, repair_digits(layout.text), []))
        budget -= len(layout.text)
        if budget <= 0:
            log.warning("redaction stopped after %s characters", MAX_TOTAL_CHARS)
            break
    raw_findings: list[tuple[int, int, str, str, Box]] = []

    def add(index: int, kind: str, start: int, end: int) -> None:
        state = states[index]
        text = state.layout.text
        # Spans never begin or end on the space between two words.
        while start < end and text[start] == " ":
            start += 1
        while end > start and text[end - 1] == " ":
            end -= 1
        box = state.layout.box_of(start, end)
        if box is not None and state.claim(start, end):
            raw_findings.append((index, start, kind, text[start:end], box))

    raw_findings += _pem_blocks(states)
    for index, state in enumerate(states):
        raw, digits = state.layout.text, state.digits
        # Order is priority: a span claimed by an earlier rule is not reported again.
        for start, end in patterns.find_keys(raw):
            add(index, "secret", start, end)
        for start, end in patterns.find_ibans(raw, digits):
            add(index, "iban", start, end)
        for start, end in patterns.find_cards(digits):
            add(index, "card", start, end)
        for start, end in patterns.find_emails(raw):
            add(index, "email", start, end)
        for start, end in patterns.find_phones(digits, raw):
            add(index, "phone", start, end)
        for start, end in patterns.find_labelled_secrets(raw):
            add(index, "secret", start, end)
        for start, end in patterns.find_random_tokens(raw):
            add(index, "secret", start, end)
    raw_findings.sort(key=lambda f: (f[0], f[1]))
    return [
        Finding(kind, text, pad_box(box, pad, result.width, result.height, side_slack))
        for _, _, kind, text, box in raw_findings
    ]


def _pem_blocks(states: list[_Line]) -> list[tuple[int, int, str, str, Box]]:
    """PEM private keys: the BEGIN line from the header on, and the lines under it through END
    (or through the last line that looks like base64), as one finding with one box."""
    found = []
    index = 0
    while index < len(states):
        state = states[index]
        header = patterns.PEM_BEGIN.search(state.layout.text)
        if header is None:
            index += 1
            continue
        start, end = header.start(), len(state.layout.text)
        header_box = state.layout.box_of(start, end)
        if header_box is None or not state.claim(start, end):
            index += 1
            continue
        boxes, texts = [header_box], [state.layout.text[start:]]
        last = min(len(states), index + 1 + MAX_PEM_LINES)
        below = index + 1
        while below < last:
            body = states[below].layout.text.strip()
            if patterns.PEM_BEGIN.search(body):
                break
            is_end = patterns.PEM_END.search(body) is not None
            if not (is_end or patterns.is_pem_body(body)):
                break
            states[below].claim(0, len(states[below].layout.text))
            boxes.append(states[below].layout.box)
            texts.append(body)
            below += 1
            if is_end:
                break
        found.append((index, start, "secret", "\n".join(texts), union(boxes)))
        index = below
    return found


def redact_image(
    image: Image.Image,
    result: OcrResult | None,
    *,
    manual_boxes: Iterable[BoxLike] = (),
    color: str | tuple[int, int, int] = DEFAULT_FILL,
    pad: int = DEFAULT_PAD,
    side_slack: float = DEFAULT_SIDE_SLACK,
) -> tuple[Image.Image, Redaction]:
    """Find what ``result`` (the OCR reading of ``image``; None when there is none) shows that is
    sensitive, add the boxes drawn by hand, and paint all of them over a copy of ``image``."""
    findings: tuple[Finding, ...] = ()
    if result is not None:
        findings = tuple(find_sensitive(result, pad=pad, side_slack=side_slack))
    if result is not None and result.width and (result.width, result.height) != image.size:
        log.warning(
            "OCR read a %sx%s image but %sx%s is painted; boxes may miss",
            result.width,
            result.height,
            *image.size,
        )
    manual = tuple(
        box for box in (clamp_box(b, image.width, image.height) for b in manual_boxes) if box
    )
    redaction = Redaction(findings, manual)
    if not redaction.areas:
        return image.copy(), redaction
    log.info("redaction: %s", redaction.describe())
    return paint_over(image, redaction.boxes, color), redaction
