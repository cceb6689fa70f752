"""Judge the stretches where two aligned readings differ: which values disagree, and which
tokens still found a counterpart (for the added/dropped line report).

A stretch of moderate size is compared character by character, over each token's ``chars``
(digits for numbers, folded letters for words): a value that one side splits or joins
(``16. 49``, an IBAN in groups, ``2xFlat white``) then reads the same, and a changed character
is pinned to the value that holds it and to whatever the other side has in its place. A
stretch too long for that within the time bound (a rewritten page) falls back to pairing the
values in order.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from difflib import SequenceMatcher

from desktop_vlm.core.checks.ocr_align import Opcode
from desktop_vlm.core.checks.ocr_tokens import Token

#: Character comparison cells (len × len) allowed per stretch, and per comparison in total;
#: about 10 ms per million on a laptop core.
MAX_STRETCH_CELLS = 1_000_000
CHARACTER_BUDGET = 8_000_000
_PAIR_RATIO = 0.5
_FUZZY_WORD_RATIO = 0.6
_MAX_FUZZY_PAIRS = 20_000
_MAX_DP_CELLS = 2_500


@dataclass(frozen=True)
class Finding:
    """A disagreement as token indices; None where a side has nothing."""

    kind: str
    model: tuple[int, int] | None  # first and last model token
    offline: tuple[int, int] | None


class RegionJudge:
    """One comparison's working state: which tokens found a counterpart, what disagrees."""

    def __init__(self, a: list[Token], b: list[Token]) -> None:
        self.a, self.b = a, b
        self.model_matched = [False] * len(a)
        self.offline_matched = [False] * len(b)
        self.findings: list[Finding] = []
        self.partial = False
        self._budget = CHARACTER_BUDGET

    def judge(self, opcodes: list[Opcode]) -> None:
        for tag, i1, i2, j1, j2 in opcodes:
            if tag in ("equal", "skipped"):  # skipped: too repetitive to align, not judged
                self.partial = self.partial or tag == "skipped"
                self.model_matched[i1:i2] = [True] * (i2 - i1)
                self.offline_matched[j1:j2] = [True] * (j2 - j1)
                continue
            cells = sum(len(self.a[i].chars) for i in range(i1, i2)) * sum(
                len(self.b[j].chars) for j in range(j1, j2)
            )
            if cells <= MAX_STRETCH_CELLS and cells <= self._budget:
                self._budget -= cells
                self._by_characters(range(i1, i2), range(j1, j2))
            else:
                self._by_values(range(i1, i2), range(j1, j2))

    # --- character by character -------------------------------------------------------------

    def _by_characters(self, ia: range, jb: range) -> None:
        text_a, owner_a = _characters(self.a, ia)
        text_b, owner_b = _characters(self.b, jb)
        equal_a: dict[int, int] = defaultdict(int)
        equal_b: dict[int, int] = defaultdict(int)
        partners_a: dict[int, set[int]] = defaultdict(set)
        partners_b: dict[int, set[int]] = defaultdict(set)
        changed_a: set[int] = set()
        changed_b: set[int] = set()
        matcher = SequenceMatcher(None, text_a, text_b, autojunk=False)
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            if tag == "equal":  # character k of one side is character k of the other
                # Two unrelated words share a letter or two by chance: only a run of three or
                # a whole short token counts towards "this line has a counterpart".
                counts = i2 - i1 >= 3 or (_whole(owner_a, i1, i2) and _whole(owner_b, j1, j2))
                for i, j in zip(owner_a[i1:i2], owner_b[j1:j2], strict=True):
                    if counts:
                        equal_a[i] += 1
                        equal_b[j] += 1
                    partners_a[i].add(j)
                    partners_b[j].add(i)
                continue
            touched_a = _owners(owner_a, i1, i2)
            touched_b = _owners(owner_b, j1, j2)
            for i in touched_a:
                partners_a[i].update(touched_b)
            for j in touched_b:
                partners_b[j].update(touched_a)
            changed_a.update(touched_a)
            changed_b.update(touched_b)
        for i in ia:
            self.model_matched[i] = 2 * equal_a[i] >= len(self.a[i].chars)
        for j in jb:
            self.offline_matched[j] = 2 * equal_b[j] >= len(self.b[j].chars)

        reported_b: set[int] = set()
        for i in sorted(changed_a):
            token = self.a[i]
            partners = sorted(partners_a[i])
            if not token.significant or not self._worth_reporting(token, partners, self.b):
                continue
            reported_b.update(partners)
            span = (partners[0], partners[-1]) if partners else None
            self.findings.append(Finding(token.kind, (i, i), span))
        for j in sorted(changed_b - reported_b):
            token = self.b[j]
            partners = sorted(partners_b[j])
            if not token.significant or not self._worth_reporting(token, partners, self.a):
                continue
            if any(self.a[i].significant for i in partners):
                continue  # that model value was judged above
            span = (partners[0], partners[-1]) if partners else None
            self.findings.append(Finding(token.kind, span, (j, j)))
        # Same characters, but the decimal point in another place (12.50 / 125.0).
        for i in ia:
            token = self.a[i]
            if i in changed_a or token.decimals is None or len(partners_a[i]) != 1:
                continue
            (j,) = partners_a[i]
            other = self.b[j]
            if partners_b[j] == {i} and other.decimals not in (None, token.decimals):
                self.findings.append(Finding(token.kind, (i, i), (j, j)))

    @staticmethod
    def _worth_reporting(token: Token, partners: list[int], other: list[Token]) -> bool:
        """Whether a changed value is reported. Not when only letters differ and the digits
        are the same (``INV-2024`` / ``NV-2024``: OCR drops and misreads letters; an e-mail
        address is the exception). Not for a lone digit unless the other side has a value
        there: against nothing or a letter it is too often a list number, a bullet or a table
        border misread."""
        same_digits = token.digits == "".join(other[k].digits for k in partners)
        if partners and token.kind != "email" and same_digits:
            return False
        return token.substantial or any(other[k].significant for k in partners)

    # --- value by value (long stretches) ----------------------------------------------------

    def _by_values(self, ia: range, jb: range) -> None:
        self._match_words(ia, jb)
        values_a = [i for i in ia if self.a[i].significant]
        values_b = [j for j in jb if self.b[j].significant]
        if not values_a and not values_b:
            return
        for i, j in _pair(self.a, self.b, values_a, values_b):
            a = self.a[i] if i is not None else None
            b = self.b[j] if j is not None else None
            if a is not None and b is not None:
                self.model_matched[i] = self.offline_matched[j] = True  # type: ignore[index]
                if agree(a, b):
                    continue
            elif a is not None and not a.substantial or b is not None and not b.substantial:
                continue
            kind = a.kind if a is not None else b.kind  # type: ignore[union-attr]
            self.findings.append(
                Finding(
                    kind,
                    (i, i) if i is not None else None,
                    (j, j) if j is not None else None,
                )
            )

    def _match_words(self, ia: range, jb: range) -> None:
        """A word OCR misread still counts as the line's counterpart (for added/dropped)."""
        words_b = [j for j in jb if self.b[j].kind == "word" and len(self.b[j].key) > 1]
        words_a = [i for i in ia if self.a[i].kind == "word" and len(self.a[i].key) > 1]
        if not words_a or not words_b or len(words_a) * len(words_b) > _MAX_FUZZY_PAIRS:
            return
        keys_a = {i: self.a[i].key for i in words_a}
        for j in words_b:
            key_b = self.b[j].key
            for i, key_a in keys_a.items():
                if edit_similarity(key_a, key_b) >= _FUZZY_WORD_RATIO:
                    self.model_matched[i] = self.offline_matched[j] = True


def _characters(tokens: list[Token], indices: range) -> tuple[str, list[int]]:
    """The stretch's characters, and which token each belongs to."""
    parts: list[str] = []
    owner: list[int] = []
    for i in indices:
        parts.append(tokens[i].chars)
        owner.extend([i] * len(tokens[i].chars))
    return "".join(parts), owner


def _whole(owner: list[int], start: int, end: int) -> bool:
    """Whether characters start..end are whole tokens."""
    starts = start == 0 or owner[start - 1] != owner[start]
    return starts and (end == len(owner) or owner[end] != owner[end - 1])


def _owners(owner: list[int], start: int, end: int) -> range:
    """Tokens holding characters start..end; for an insertion point (start == end), the token
    it falls inside, if any."""
    if start < end:
        return range(owner[start], owner[end - 1] + 1)
    if 0 < start < len(owner) and owner[start - 1] == owner[start]:
        return range(owner[start], owner[start] + 1)
    return range(0)


def agree(a: Token, b: Token) -> bool:
    """Whether two value tokens read the same value: the same key, or the same digits where
    at most one side has a decimal separator or both have it in the same place."""
    if a.key == b.key:
        return True
    if not a.digits or a.digits != b.digits or "email" in (a.kind, b.kind):
        return False
    return a.decimals is None or b.decimals is None or a.decimals == b.decimals


def edit_similarity(x: str, y: str) -> float:
    """1 - Levenshtein distance / the longer length (on at most 40 characters each)."""
    x, y = x[:40], y[:40]
    previous = list(range(len(y) + 1))
    for row, char_x in enumerate(x, 1):
        current = [row]
        for column, char_y in enumerate(y, 1):
            current.append(
                min(
                    previous[column] + 1, current[-1] + 1, previous[column - 1] + (char_x != char_y)
                )
            )
        previous = current
    return 1.0 - previous[-1] / max(len(x), len(y), 1)


def _similarity(a: Token, b: Token) -> float:
    if agree(a, b):
        return 2.0
    if (a.kind == "email") != (b.kind == "email"):
        return 0.0
    return edit_similarity(a.key, b.key)


def _pair(
    a: list[Token], b: list[Token], ia: list[int], jb: list[int]
) -> list[tuple[int | None, int | None]]:
    """Value tokens of one stretch paired in order: the best-matching pairs first (a weighted
    longest common subsequence), then what lies between two pairs zipped; the rest unpaired."""
    if len(ia) == len(jb) or len(ia) * len(jb) > _MAX_DP_CELLS or not ia or not jb:
        return _zip(ia, jb)
    rows, cols = len(ia), len(jb)
    similarity = [[_similarity(a[i], b[j]) for j in jb] for i in ia]
    score = [[0.0] * (cols + 1) for _ in range(rows + 1)]
    for r in range(rows - 1, -1, -1):
        for c in range(cols - 1, -1, -1):
            best = max(score[r + 1][c], score[r][c + 1])
            if similarity[r][c] >= _PAIR_RATIO:
                best = max(best, similarity[r][c] + score[r + 1][c + 1])
            score[r][c] = best
    pairs: list[tuple[int | None, int | None]] = []
    gap_a: list[int] = []
    gap_b: list[int] = []
    r = c = 0
    while r < rows and c < cols:
        here = similarity[r][c]
        if here >= _PAIR_RATIO and score[r][c] == here + score[r + 1][c + 1]:
            pairs += _zip(gap_a, gap_b) + [(ia[r], jb[c])]
            gap_a, gap_b = [], []
            r, c = r + 1, c + 1
        elif score[r][c] == score[r + 1][c]:
            gap_a.append(ia[r])
            r += 1
        else:
            gap_b.append(jb[c])
            c += 1
    return pairs + _zip(gap_a + ia[r:], gap_b + jb[c:])


def _zip(ia: list[int], jb: list[int]) -> list[tuple[int | None, int | None]]:
    n = min(len(ia), len(jb))
    pairs: list[tuple[int | None, int | None]] = list(zip(ia[:n], jb[:n], strict=True))
    pairs += [(i, None) for i in ia[n:]]
    pairs += [(None, j) for j in jb[n:]]
    return pairs


def compare_values_unordered(
    a: list[Token], b: list[Token], ia: range | None = None, jb: range | None = None
) -> list[Finding] | None:
    """The values of both readings (or of the stretches ``ia`` and ``jb``) compared as two
    bags, for an offline reading whose order is not the answer's (a table read column by
    column). None when not even half of the answer's values are in the offline reading: then
    they are not readings of the same text.

    Values only one side has are paired by likeness (``13.49`` with ``16.49``) for display;
    a pair that agrees (a dropped decimal point) or differs only in letters is not reported.
    """
    values_a = [i for i in (ia if ia is not None else range(len(a))) if a[i].significant]
    values_b = [j for j in (jb if jb is not None else range(len(b))) if b[j].significant]
    only_a = _multiset_difference(a, values_a, b, values_b)
    only_b = _multiset_difference(b, values_b, a, values_a)
    if not values_a or len(values_a) - len(only_a) < 0.5 * len(values_a):
        return None
    findings: list[Finding] = []
    unused = list(only_b)
    for i in only_a:
        best, best_score = None, _PAIR_RATIO
        if len(only_a) * len(only_b) <= _MAX_FUZZY_PAIRS:
            for j in unused:
                score = _similarity(a[i], b[j])
                if score >= best_score:
                    best, best_score = j, score
        if best is None:
            if a[i].substantial:
                findings.append(Finding(a[i].kind, (i, i), None))
            continue
        unused.remove(best)
        if agree(a[i], b[best]) or (a[i].kind != "email" and a[i].digits == b[best].digits):
            continue
        findings.append(Finding(a[i].kind, (i, i), (best, best)))
    findings += [Finding(b[j].kind, None, (j, j)) for j in unused if b[j].substantial]
    return findings


def _multiset_difference(
    a: list[Token], values_a: list[int], b: list[Token], values_b: list[int]
) -> list[int]:
    """Values of ``a`` (indices) left over once each value of ``b`` has taken one equal key."""
    remaining: dict[str, int] = defaultdict(int)
    for j in values_b:
        remaining[b[j].key] += 1
    left = []
    for i in values_a:
        if remaining[a[i].key]:
            remaining[a[i].key] -= 1
        else:
            left.append(i)
    return left
