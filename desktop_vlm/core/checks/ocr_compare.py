"""Check a model's reading of an image against a classic OCR engine's reading of the same image.

A vision model reads small print better than classic OCR, and it also invents: a 3 for an 8 in
an amount, a line that is not there. Classic OCR misreads letters but rarely invents a value, so
where the two disagree on a value, a person should look. Only values are compared (numbers,
amounts, dates and times, codes, e-mail addresses); plain words differing is what classic OCR
does all the time and is never flagged. Whole lines of the answer with no counterpart in the
offline reading are reported as added, and offline lines with values or real words that the
answer lacks as dropped.

How: both texts become tokens (``ocr_tokens``), whose keys hide layout, Markdown, typography
and OCR's letter confusions. The key sequences are aligned (``ocr_align``: SequenceMatcher
between anchors), each stretch where they differ is compared character by character
(``ocr_regions``), so a value one side splits and the other writes whole (``16. 49`` /
``16.49``, an IBAN in groups) reads the same, and a zone with many issues is compared again
regardless of order (``ocr_reorder``: a table read column by column).

Two numbers agree when they have the same value (``1,234.50`` = ``1234.50`` = ``1.234,50``), or
the same digits where one side has no decimal separator at all (classic OCR drops small dots:
``1250`` for ``12.50``). A decimal point in another place (``12.50`` / ``125.0``) is flagged, and
so is any digit that differs. In codes only the digits (and the a-f of hexadecimal) count: OCR
drops and misreads letters (``NV-2024`` for ``INV-2024``); e-mail addresses are compared whole,
with OCR's letter confusions (``l``/``1``, ``rn``/``m``) and dots forgiven.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from desktop_vlm.core.checks.ocr_align import align
from desktop_vlm.core.checks.ocr_regions import Finding, RegionJudge, compare_values_unordered
from desktop_vlm.core.checks.ocr_reorder import Issues, settle_reordered
from desktop_vlm.core.checks.ocr_tokens import Line, Token, blank_markup, tokenize
from desktop_vlm.core.ocr_types import OcrResult

log = logging.getLogger(__name__)

#: Each text is compared up to this many characters (an answer of this size compares in well
#: under a second; see tests/benchmarks/bench_checks.py).
MAX_CHARS = 250_000
#: And up to this many tokens each (a realistic answer of MAX_CHARS has about 40,000).
MAX_TOKENS = 60_000
#: At most this many items per list are kept; the rest are counted in ``omitted``.
MAX_REPORTED = 200
#: A line with less than this share of its tokens matched has no counterpart.
LINE_MATCH_SHARE = 0.5
#: Below this share of matched tokens the answer is not a reading of the same text (a
#: description, a translation) and nothing is flagged.
COMPARABLE_SHARE = 0.3
_MIN_TOKENS_FOR_GUARD = 20

Span = tuple[int, int]


@dataclass(frozen=True)
class Disagreement:
    """A value the two readings disagree on. One side is empty (``""``, span None) when only
    the other has the value."""

    kind: str  # "number", "amount", "date" (also times of day), "code" or "email"
    model: str
    offline: str
    model_span: Span | None
    offline_span: Span | None

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "model": self.model,
            "offline": self.offline,
            "model_span": list(self.model_span) if self.model_span else None,
            "offline_span": list(self.offline_span) if self.offline_span else None,
        }


@dataclass(frozen=True)
class UnmatchedLine:
    """A line of one reading with no counterpart in the other; ``span`` in its own text."""

    text: str
    span: Span


@dataclass(frozen=True)
class Comparison:
    engine: str
    disagreements: tuple[Disagreement, ...] = ()
    added_lines: tuple[UnmatchedLine, ...] = ()
    dropped_lines: tuple[UnmatchedLine, ...] = ()
    #: False when there was nothing to compare against, or the answer is not a reading of the
    #: same text; then nothing is flagged.
    comparable: bool = True
    #: False when the offline reading's order is not the answer's, in all or in part (a table
    #: read column by column): there only the values were compared, as two bags, and no lines
    #: are reported.
    in_order: bool = True
    #: Items left out of the lists above beyond MAX_REPORTED each.
    omitted: int = 0
    #: Part of the texts was not compared: an input longer than MAX_CHARS (only its beginning
    #: counts), or a long stretch too repetitive to align in bounded time.
    partial: bool = False

    @property
    def clean(self) -> bool:
        return not (self.disagreements or self.added_lines or self.dropped_lines)

    @property
    def summary(self) -> str:
        """One short sentence for a notice: ``"2 values differ from the offline reading"``."""
        if not self.comparable:
            return "The offline reading is too different to compare"
        parts = []
        if self.disagreements:
            n = len(self.disagreements)
            parts.append(f"{_count(n, 'value differs', 'values differ')} from the offline reading")
        if self.added_lines:
            n = len(self.added_lines)
            parts.append(f"{_count(n, 'line is', 'lines are')} not in the offline reading")
        if self.dropped_lines:
            n = len(self.dropped_lines)
            parts.append(f"{_count(n, 'line', 'lines')} of the offline reading missing")
        if not parts:
            return "Agrees with the offline reading"
        return "; ".join(parts)

    def to_json(self) -> dict[str, Any]:
        """What ``ask --json`` carries as ``check`` (JSON-ready: lists, strings, numbers)."""
        return {
            "engine": self.engine,
            "summary": self.summary,
            "comparable": self.comparable,
            "in_order": self.in_order,
            "disagreements": [d.to_json() for d in self.disagreements],
            "added_lines": [line.text for line in self.added_lines],
            "dropped_lines": [line.text for line in self.dropped_lines],
            "omitted": self.omitted,
            "partial": self.partial,
        }


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def compare_readings(model_text: str, offline_text: str, *, engine: str = "") -> Comparison:
    """Where the model's answer disagrees with the offline OCR reading of the same image."""
    partial = len(model_text) > MAX_CHARS or len(offline_text) > MAX_CHARS
    model_text, offline_text = model_text[:MAX_CHARS], offline_text[:MAX_CHARS]
    model_tokens, model_lines = tokenize(blank_markup(model_text), MAX_TOKENS)
    offline_tokens, offline_lines = tokenize(offline_text, MAX_TOKENS)
    partial = partial or MAX_TOKENS in (len(model_tokens), len(offline_tokens))
    if not offline_tokens:
        return Comparison(engine, comparable=not model_tokens, partial=partial)
    texts = _Texts(model_text, offline_text, model_tokens, offline_tokens)

    opcodes = align([t.key for t in model_tokens], [t.key for t in offline_tokens])
    shared = sum(i2 - i1 for tag, i1, i2, _, _ in opcodes if tag == "equal")
    if len(model_tokens) >= _MIN_TOKENS_FOR_GUARD and shared < COMPARABLE_SHARE * len(model_tokens):
        # Little in the same order: a table read column by column, or not the same text.
        findings = compare_values_unordered(model_tokens, offline_tokens)
        log.debug(
            "%s of %s tokens in order; values alike: %s",
            shared,
            len(model_tokens),
            findings is not None,
        )
        if findings is None:
            return Comparison(engine, comparable=False, partial=partial)
        return _unordered(texts.disagreements(findings), engine, partial)

    judge = RegionJudge(model_tokens, offline_tokens)
    judge.judge(opcodes)
    added = _unmatched_lines(model_text, model_lines, model_tokens, judge.model_matched, False)
    dropped = _unmatched_lines(
        offline_text, offline_lines, offline_tokens, judge.offline_matched, True
    )
    issues = settle_reordered(
        (model_tokens, model_lines),
        (offline_tokens, offline_lines),
        opcodes,
        Issues(judge.findings, {n for _, n in added}, {n for _, n in dropped}),
    )
    added = [(line, n) for line, n in added if n in issues.added]
    dropped = [(line, n) for line, n in dropped if n in issues.dropped]
    disagreements = texts.disagreements(issues.findings, issues.added, issues.dropped)
    omitted = sum(max(0, len(items) - MAX_REPORTED) for items in (disagreements, added, dropped))
    return Comparison(
        engine,
        tuple(disagreements[:MAX_REPORTED]),
        tuple(line for line, _ in added[:MAX_REPORTED]),
        tuple(line for line, _ in dropped[:MAX_REPORTED]),
        in_order=not issues.reordered,
        omitted=omitted,
        partial=partial or judge.partial,
    )


def _unordered(disagreements: list[Disagreement], engine: str, partial: bool) -> Comparison:
    return Comparison(
        engine,
        tuple(disagreements[:MAX_REPORTED]),
        in_order=False,
        omitted=max(0, len(disagreements) - MAX_REPORTED),
        partial=partial,
    )


@dataclass(frozen=True)
class _Texts:
    model_text: str
    offline_text: str
    model_tokens: list[Token]
    offline_tokens: list[Token]

    def disagreements(
        self,
        findings: list[Finding],
        added_at: frozenset[int] | set[int] = frozenset(),
        dropped_at: frozenset[int] | set[int] = frozenset(),
    ) -> list[Disagreement]:
        """Findings as text, in the answer's order; a value on a line reported whole (added
        or dropped) is not reported again."""
        found = []
        for finding in findings:
            if finding.offline is None and self.model_tokens[finding.model[0]].line in added_at:
                continue
            if finding.model is None and self.offline_tokens[finding.offline[0]].line in dropped_at:
                continue
            model_span = _span(self.model_tokens, finding.model)
            offline_span = _span(self.offline_tokens, finding.offline)
            found.append(
                Disagreement(
                    finding.kind,
                    self.model_text[slice(*model_span)] if model_span else "",
                    self.offline_text[slice(*offline_span)] if offline_span else "",
                    model_span,
                    offline_span,
                )
            )
        found.sort(key=lambda d: (d.model_span or (-1, -1), d.offline_span or (-1, -1)))
        return found


def _span(tokens: list[Token], first_last: tuple[int, int] | None) -> Span | None:
    if first_last is None:
        return None
    return tokens[first_last[0]].span[0], tokens[first_last[1]].span[1]


def _unmatched_lines(
    text: str, lines: list[Line], tokens: list[Token], matched: list[bool], offline: bool
) -> list[tuple[UnmatchedLine, int]]:
    """Lines with content whose tokens mostly found no counterpart (with their line index).

    Content: a substantial value, or (the model's side) two tokens of two characters or more,
    or (the offline side, where icons and borders read as stray letters) three real words.
    """
    found = []
    for index, line in enumerate(lines):
        own = tokens[line.first : line.end]
        if not any(t.substantial for t in own):
            if offline:
                words = sum(1 for t in own if t.kind == "word" and sum(map(str.isalpha, t.key)) > 2)
                if words < 3:
                    continue
            elif sum(1 for t in own if len(t.key) > 1) < 2:
                continue
        hits = sum(matched[line.first : line.end])
        if hits < LINE_MATCH_SHARE * len(own):
            found.append((UnmatchedLine(text[line.span[0] : line.span[1]], line.span), index))
    return found


def compare_with_offline(model_text: str, reading: OcrResult) -> Comparison:
    """``compare_readings`` against the offline engine's result, naming its engine."""
    return compare_readings(model_text, reading.text, engine=reading.engine)
