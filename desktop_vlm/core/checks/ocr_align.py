"""Align two long token sequences in bounded time: ``difflib.SequenceMatcher``, anchored.

SequenceMatcher alone is quadratic-ish on long texts whose tokens repeat (a long table of
prices, the same words on every line): 30,000 tokens took seconds. So, as patience diff does,
tokens that occur exactly once on each side and in the same order anchor the alignment, and
SequenceMatcher only aligns the stretches between anchors, which are short. A stretch that is
still long and has no anchor of its own is left unaligned and counted, so the caller can say
that part was not compared rather than flag what it could not align.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Sequence
from difflib import SequenceMatcher
from typing import NamedTuple

#: Stretches up to this many tokens on either side go straight to SequenceMatcher.
DIRECT_TOKENS = 2_000
#: An anchorless stretch longer than this on both sides is not aligned.
MAX_STRETCH = 6_000
_MAX_DEPTH = 24


class Opcode(NamedTuple):
    tag: str  # "equal", "replace", "delete" (only in a), "insert" (only in b), "skipped"
    i1: int
    i2: int
    j1: int
    j2: int


def align(a: Sequence[str], b: Sequence[str]) -> list[Opcode]:
    """Opcodes like SequenceMatcher.get_opcodes(), plus "skipped" for stretches not aligned."""
    blocks: list[tuple[int, int, int]] = []
    skipped: list[tuple[int, int, int, int]] = []
    _align(a, b, 0, len(a), 0, len(b), blocks, skipped, 0)
    blocks.sort()
    return _opcodes(blocks, skipped, len(a), len(b))


def _align(
    a: Sequence[str],
    b: Sequence[str],
    alo: int,
    ahi: int,
    blo: int,
    bhi: int,
    blocks: list[tuple[int, int, int]],
    skipped: list[tuple[int, int, int, int]],
    depth: int,
) -> None:
    n = 0  # common prefix and suffix cost nothing to match and shrink the stretch
    while alo + n < ahi and blo + n < bhi and a[alo + n] == b[blo + n]:
        n += 1
    if n:
        blocks.append((alo, blo, n))
        alo, blo = alo + n, blo + n
    m = 0
    while ahi - m > alo and bhi - m > blo and a[ahi - 1 - m] == b[bhi - 1 - m]:
        m += 1
    if m:
        blocks.append((ahi - m, bhi - m, m))
        ahi, bhi = ahi - m, bhi - m
    if alo >= ahi or blo >= bhi:
        return
    if min(ahi - alo, bhi - blo) <= DIRECT_TOKENS or (
        ahi - alo <= DIRECT_TOKENS * 2 and bhi - blo <= DIRECT_TOKENS * 2
    ):
        _direct(a, b, alo, ahi, blo, bhi, blocks)
        return
    anchors = _anchors(a, b, alo, ahi, blo, bhi) if depth < _MAX_DEPTH else []
    if not anchors:
        if ahi - alo > MAX_STRETCH and bhi - blo > MAX_STRETCH:
            skipped.append((alo, ahi, blo, bhi))
        else:
            _direct(a, b, alo, ahi, blo, bhi, blocks)
        return
    prev_a, prev_b = alo, blo
    for i, j in anchors:
        _align(a, b, prev_a, i, prev_b, j, blocks, skipped, depth + 1)
        blocks.append((i, j, 1))
        prev_a, prev_b = i + 1, j + 1
    _align(a, b, prev_a, ahi, prev_b, bhi, blocks, skipped, depth + 1)


def _direct(
    a: Sequence[str],
    b: Sequence[str],
    alo: int,
    ahi: int,
    blo: int,
    bhi: int,
    blocks: list[tuple[int, int, int]],
) -> None:
    matcher = SequenceMatcher(None, a[alo:ahi], b[blo:bhi])
    for i, j, size in matcher.get_matching_blocks():
        if size:
            blocks.append((alo + i, blo + j, size))


def _anchors(
    a: Sequence[str], b: Sequence[str], alo: int, ahi: int, blo: int, bhi: int
) -> list[tuple[int, int]]:
    """Tokens unique on both sides of the stretch, the longest run of them in the same order."""
    count_a = Counter(a[alo:ahi])
    count_b = Counter(b[blo:bhi])
    where_b = {b[j]: j for j in range(blo, bhi) if count_b[b[j]] == 1}
    pairs = [(i, where_b[a[i]]) for i in range(alo, ahi) if count_a[a[i]] == 1 and a[i] in where_b]
    # Longest increasing subsequence of the b positions (patience sorting, with back links).
    tails: list[int] = []
    tail_index: list[int] = []
    back: list[int] = [-1] * len(pairs)
    for k, (_, j) in enumerate(pairs):
        pos = bisect_left(tails, j)
        if pos == len(tails):
            tails.append(j)
            tail_index.append(k)
        else:
            tails[pos] = j
            tail_index[pos] = k
        back[k] = tail_index[pos - 1] if pos else -1
    chain: list[tuple[int, int]] = []
    k = tail_index[-1] if tail_index else -1
    while k != -1:
        chain.append(pairs[k])
        k = back[k]
    return chain[::-1]


def _opcodes(
    blocks: list[tuple[int, int, int]],
    skipped: list[tuple[int, int, int, int]],
    len_a: int,
    len_b: int,
) -> list[Opcode]:
    skipped_at = {(alo, blo): (ahi, bhi) for alo, ahi, blo, bhi in skipped}
    codes: list[Opcode] = []
    i = j = 0
    for bi, bj, size in [*blocks, (len_a, len_b, 0)]:
        if bi < i or bj < j:
            continue  # defensive: never produce overlapping or backward opcodes
        if (i, j) in skipped_at and skipped_at[(i, j)] == (bi, bj):
            codes.append(Opcode("skipped", i, bi, j, bj))
        elif i < bi and j < bj:
            codes.append(Opcode("replace", i, bi, j, bj))
        elif i < bi:
            codes.append(Opcode("delete", i, bi, j, bj))
        elif j < bj:
            codes.append(Opcode("insert", i, bi, j, bj))
        if size:
            codes.append(Opcode("equal", bi, bi + size, bj, bj + size))
        i, j = bi + size, bj + size
    return codes
