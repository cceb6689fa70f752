"""Run every benchmark and print one Markdown table (figure, measured, reference, ratio, target).

    python tests/benchmarks/run.py [--quick] [--write-readme] [--only NAME ...]

Each bench_*.py runs in its own process (each needs its own display, Qt instance and servers)
and hands back its figures as one marked JSON line. ``--write-readme`` puts the table between
the ``<!-- bench:start -->`` and ``<!-- bench:end -->`` markers of README.md and touches nothing
else. A full run takes about 5 minutes on a 2-core machine, ``--quick`` about 2.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.common import PYTHON, RESULT_MARK, ROOT, machine  # noqa: E402

HERE = Path(__file__).resolve().parent
BENCHES = ("encode", "overlay", "stream", "idle", "ocr", "payload")  # the order
START, END = "<!-- bench:start -->", "<!-- bench:end -->"


def run_bench(name: str, quick: bool) -> tuple[list[dict], list[str]]:
    argv = [PYTHON, str(HERE / f"bench_{name}.py")] + (["--quick"] if quick else [])
    started = time.monotonic()
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return [_failed(name, "timed out after 10 minutes")], []
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(RESULT_MARK):
            payload = json.loads(line[len(RESULT_MARK) :])
            took = time.monotonic() - started
            return payload["figures"], [f"({name}: {took:.0f} s)"] + payload["notes"]
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
    sys.stderr.write(proc.stderr[-4000:])
    return [_failed(name, tail[0])], []


def _failed(name: str, why: str) -> dict:
    return {
        "name": f"bench_{name}.py",
        "measured": f"failed: {why[:150]}",
        "reference": "-",
        "ratio": None,
        "target": "-",
        "met": False,
        "how": "",
    }


def render(figures: list[dict], notes: list[str], info: dict[str, str], quick: bool) -> str:
    when = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        f"Measured {when}{' (--quick: fewer runs)' if quick else ''} on: "
        + "; ".join(f"{k}: {v}" for k, v in info.items())
        + ".",
        "",
        "| figure | measured | reference | ratio | target | met? |",
        "| --- | --- | --- | ---: | --- | :---: |",
    ]
    for f in figures:
        ratio = f["ratio"]
        ratio_text = "-" if ratio is None or math.isnan(ratio) else f"{ratio:.2f}"
        met = {True: "yes", False: "**no**", None: "-"}[f["met"]]
        cells = [f["name"], f["measured"], f["reference"], ratio_text, f["target"], met]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    lines += ["", "How each figure is measured:", ""]
    lines += [f"- {f['name']}: {f['how']}" for f in figures if f["how"]]
    if notes:
        lines += ["", "Details (medians with interquartile ranges):", ""]
        lines += [f"- {n}" for n in notes if not n.startswith("(")]
    return "\n".join(lines)


def write_readme(path: Path, table: str) -> bool:
    text = path.read_text(encoding="utf-8")
    if START not in text or END not in text or text.index(START) > text.index(END):
        return False
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    path.write_text(f"{head}{START}\n{table}\n{END}{tail}", encoding="utf-8")
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer runs (about 2 minutes)")
    parser.add_argument("--write-readme", action="store_true", help="update README.md's table")
    parser.add_argument("--readme", type=Path, default=ROOT / "README.md", help=argparse.SUPPRESS)
    parser.add_argument("--only", nargs="+", choices=BENCHES, help="run only these")
    args = parser.parse_args(argv)

    info = machine()
    figures: list[dict] = []
    notes: list[str] = []
    for name in args.only or BENCHES:
        print(f"running bench_{name}.py …", file=sys.stderr, flush=True)
        more, more_notes = run_bench(name, args.quick)
        figures += more
        notes += more_notes
        for note in more_notes:
            if note.startswith("("):
                print(note, file=sys.stderr, flush=True)
    table = render(figures, notes, info, args.quick)
    print(table)
    if args.write_readme:
        if write_readme(args.readme, table):
            print(f"\nwrote the table into {args.readme}", file=sys.stderr)
        else:
            print(
                f"\n{args.readme} has no {START} … {END} markers: the table was only printed",
                file=sys.stderr,
            )
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
