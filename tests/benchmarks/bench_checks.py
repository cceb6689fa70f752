"""How long the answer checks take on the longest answers they accept (no display needed).

    python tests/benchmarks/bench_checks.py [--quick] [--print]

- OCR comparison: a 200,000-character answer against its offline reading. The texts are the
  harmless corpus pairs of tests/unit/data/ocr_pairs (real tesseract and RapidOCR readings)
  one after another under page headers, with one changed amount every 40 pages. Reference: plain ``difflib.SequenceMatcher`` over the two texts'
  whitespace-separated words, the naive alignment the check refines (in the same run).
- Worst cases, each against the 1 s target: a repetitive answer (one table row 5,000 times, a
  digit changed in 50 of them), the corpus answer against its own lines in reverse order, and
  against the same words shuffled into other lines.
- Table and receipt: parse a 2,000-row Markdown table and write it as TSV; parse a receipt of
  200 items and check its arithmetic.

CPU time of this process (time.process_time), median of several runs, so other load on the
machine counts less than in wall time.
"""

from __future__ import annotations

import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from difflib import SequenceMatcher
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from benchmarks.common import Figure, emit, quick_flag  # noqa: E402
from desktop_vlm.core.checks import (  # noqa: E402
    compare_readings,
    parse_receipt,
    parse_table,
    to_tsv,
)

PAIRS = Path(__file__).resolve().parents[1] / "unit" / "data" / "ocr_pairs"
TARGET_S = 1.0
CHARS = 200_000


def cpu_median(action: Callable[[], object], runs: int) -> float:
    times = []
    for _ in range(runs):
        started = time.process_time()
        action()
        times.append(time.process_time() - started)
    return statistics.median(times)


def corpus_texts() -> tuple[str, str, int]:
    """The harmless corpus pairs one after another, each under a page header both readings
    have, until 200,000 characters; every 40th page gets one changed amount. Also returns how
    many were changed (what the check should report)."""
    pairs = []
    for path in sorted(PAIRS.glob("harmless_*.txt")):
        _, rest = path.read_text(encoding="utf-8").split("=== model\n", 1)
        model, offline = rest.split("=== offline\n", 1)
        pairs.append((model, offline))
    model_parts, offline_parts = [], []
    page = changed = 0
    while sum(map(len, model_parts)) < CHARS:
        model, offline = pairs[page % len(pairs)]
        if page % 40 == 39 and re.search(r"\d\.\d\d\b", model):
            model = re.sub(r"\d\.\d\d\b", "9.99", model, count=1)
            changed += 1
        model_parts.append(f"Page {page + 1}\n{model}")
        offline_parts.append(f"Page {page + 1}\n{offline}")
        page += 1
    return "\n".join(model_parts), "\n".join(offline_parts), changed


def repetitive_texts() -> tuple[str, str]:
    row = "| Item | 2 | 1.99 | 3.98 | in stock |\n"
    model = row * (CHARS // len(row))
    offline = model.replace("| ", "").replace(" |", "")
    offline = offline.replace("3.98", "3.96", 50)
    return model, offline


def reversed_texts(model: str) -> tuple[str, str]:
    """The same lines in reverse order: the most alignment work for the most matches."""
    return model, "\n".join(reversed(model.splitlines()))


def unrelated_texts(model: str) -> tuple[str, str]:
    """An answer against an offline reading of something else entirely."""
    rng = random.Random(7)
    words = re.findall(r"\w+", model)
    rng.shuffle(words)
    lines = [" ".join(words[k : k + 9]) for k in range(0, len(words), 9)]
    return model, "\n".join(lines)


def main() -> None:
    quick = quick_flag()
    runs = 3 if quick else 7
    model, offline, changed = corpus_texts()
    comparison = compare_readings(model, offline)
    ours = cpu_median(lambda: compare_readings(model, offline), runs)
    naive = cpu_median(
        lambda: SequenceMatcher(None, model.split(), offline.split()).get_opcodes(), runs
    )
    figures = [
        Figure(
            name="OCR check, 200k-character answer",
            measured=f"{ours * 1000:.0f} ms",
            reference=f"{naive * 1000:.0f} ms (difflib on words)",
            ratio=ours / naive if naive else None,
            target=f"< {TARGET_S:.0f} s",
            met=ours < TARGET_S,
            how="CPU time, median; corpus pairs renumbered to 200,000 characters",
        )
    ]
    notes = [f"OCR check on the corpus text ({changed} amounts changed): {comparison.summary}"]
    for name, (m, o) in (
        ("OCR check, repetitive 200k answer", repetitive_texts()),
        ("OCR check, 200k answer, lines reversed offline", reversed_texts(model)),
        ("OCR check, 200k answer, unrelated offline text", unrelated_texts(model)),
    ):
        took = cpu_median(lambda m=m, o=o: compare_readings(m, o), runs)
        figures.append(
            Figure(name, f"{took * 1000:.0f} ms", target="< 1 s", met=took < TARGET_S, how="CPU")
        )
        notes.append(f"{name}: {compare_readings(m, o).summary}")

    table = "| a | b | c |\n|---|---|---|\n" + "".join(
        f"| row {k} | {k * 3.5:.2f} | `x\\|y` |\n" for k in range(2000)
    )
    took = cpu_median(lambda: to_tsv(parse_table(table).rows), runs)
    figures.append(Figure("table check, 2,000 rows + TSV", f"{took * 1000:.1f} ms", how="CPU"))
    items = ",".join(
        f'{{"name": "item {k}", "quantity": 1, "price": "{k}.10"}}' for k in range(200)
    )
    subtotal = sum(k + 0.10 for k in range(200))
    receipt = (
        f'{{"merchant": "M", "date": null, "currency": "EUR", "items": [{items}], '
        f'"subtotal": "{subtotal:.2f}", "tax": null, "total": "{subtotal:.2f}"}}'
    )
    took = cpu_median(lambda: parse_receipt(receipt), runs)
    figures.append(Figure("receipt check, 200 items", f"{took * 1000:.1f} ms", how="CPU"))
    if "--print" in sys.argv[1:]:
        for figure in figures:
            print(f"{figure.name}: {figure.measured} (reference {figure.reference})")
        for note in notes:
            print(f"  {note}")
    emit(figures, notes)


if __name__ == "__main__":
    main()
