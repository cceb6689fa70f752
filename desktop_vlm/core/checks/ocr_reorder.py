"""Part of a reading in another order: a table the offline engine read column by column.

Classic OCR often reads a table (or a receipt's price column) a column at a time, while the
model reads it row by row. Aligned in order, every cell of it then looks added, dropped or
changed. So after the ordered comparison, each zone of the answer with several issues is
compared again as two bags of values against the stretch of the offline reading between the
same agreeing neighbours; when that finds a third of the issues or fewer, its findings replace
the zone's (its lines are then not reported: order cannot tell which line is which).
"""

from __future__ import annotations

from dataclasses import dataclass

from desktop_vlm.core.checks.ocr_align import Opcode
from desktop_vlm.core.checks.ocr_regions import Finding, compare_values_unordered
from desktop_vlm.core.checks.ocr_tokens import Line, Token

#: A zone needs this many issues before order is doubted, and the bags must find this many
#: times fewer.
MIN_ISSUES = 3
GAIN = 3
#: Troubled lines this close (untroubled lines between them) belong to one zone.
_ZONE_GAP = 2


@dataclass
class Issues:
    """The ordered comparison's issues: value findings and the lines reported whole."""

    findings: list[Finding]
    added: set[int]  # model line indices
    dropped: set[int]  # offline line indices
    reordered: bool = False


def settle_reordered(
    model: tuple[list[Token], list[Line]],
    offline: tuple[list[Token], list[Line]],
    opcodes: list[Opcode],
    issues: Issues,
) -> Issues:
    """``issues`` with each zone that is only in another order compared regardless of order."""
    model_tokens, model_lines = model
    offline_tokens, offline_lines = offline
    troubled = set(issues.added)
    troubled.update(model_tokens[f.model[0]].line for f in issues.findings if f.model)
    if len(troubled) + len(issues.dropped) < MIN_ISSUES:
        return issues
    before, after = _neighbours(opcodes, len(model_tokens), len(offline_tokens))
    for first_line, last_line in _zones(sorted(troubled)):
        i0, i1 = model_lines[first_line].first, model_lines[last_line].end
        j0, j1 = before[i0], after[i1]
        if j0 >= j1:
            continue
        in_zone = [f for f in issues.findings if _inside(f, i0, i1, j0, j1)]
        added = {n for n in issues.added if first_line <= n <= last_line}
        dropped = {n for n in issues.dropped if j0 <= offline_lines[n].first < j1}
        count = len(in_zone) + len(added) + len(dropped)
        if count < MIN_ISSUES:
            continue
        bag = compare_values_unordered(model_tokens, offline_tokens, range(i0, i1), range(j0, j1))
        if bag is None or len(bag) * GAIN > count:
            continue
        settled = {id(f) for f in in_zone}
        issues.findings = [f for f in issues.findings if id(f) not in settled] + bag
        issues.added -= added
        issues.dropped -= dropped
        issues.reordered = True
    return issues


def _inside(finding: Finding, i0: int, i1: int, j0: int, j1: int) -> bool:
    if finding.model is not None:
        return i0 <= finding.model[0] < i1
    return finding.offline is not None and j0 <= finding.offline[0] < j1


def _zones(lines: list[int]) -> list[tuple[int, int]]:
    zones: list[tuple[int, int]] = []
    for line in lines:
        if zones and line - zones[-1][1] <= _ZONE_GAP + 1:
            zones[-1] = (zones[-1][0], line)
        else:
            zones.append((line, line))
    return zones


def _neighbours(opcodes: list[Opcode], len_a: int, len_b: int) -> tuple[list[int], list[int]]:
    """For each model position i: ``before[i]``, the offline position just after the last
    agreeing token before i; ``after[i]``, the offline position of the first agreeing token
    at or after i (the stretch of the offline reading between the same neighbours)."""
    partner = [-1] * len_a
    for tag, i1, i2, j1, _ in opcodes:
        if tag == "equal":
            partner[i1:i2] = range(j1, j1 + (i2 - i1))
    before = [0] * (len_a + 1)
    last = 0
    for i in range(len_a):
        before[i] = last
        if partner[i] != -1:
            last = partner[i] + 1
    before[len_a] = last
    after = [len_b] * (len_a + 1)
    following = len_b
    for i in range(len_a - 1, -1, -1):
        if partner[i] != -1:
            following = partner[i]
        after[i] = following
    return before, after
