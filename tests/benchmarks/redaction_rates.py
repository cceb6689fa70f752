"""How often the shape rule for keys (``looks_random``) misses a random key, and how often it
calls something a key that is not one; and how long ``find_sensitive`` takes on a full screen.

    python tests/benchmarks/redaction_rates.py [--quick]

Random keys: 3,000 per alphabet and length (1,000 with --quick), seeded. Harmless strings: every
identifier of 20+ characters in the standard library's sources, every path under /usr, and
every URL in the standard library's sources, cut into candidate tokens the way the rule sees
them. Prints Markdown tables; nothing is asserted (the unit tests hold the floors).
"""

from __future__ import annotations

import argparse
import io
import random
import re
import string
import sys
import sysconfig
import time
import tokenize
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from desktop_vlm.core.ocr_types import OcrLine, OcrResult, OcrWord  # noqa: E402
from desktop_vlm.core.redaction import find_sensitive  # noqa: E402
from desktop_vlm.core.redaction.checks import looks_random  # noqa: E402
from desktop_vlm.core.redaction.patterns import find_random_tokens  # noqa: E402

ALPHABETS = {
    "base62": string.ascii_letters + string.digits,
    "base64": string.ascii_letters + string.digits + "+/",
    "base64url": string.ascii_letters + string.digits + "-_",
    "lower+digits": string.ascii_lowercase + string.digits,
    "upper base32": string.ascii_uppercase + "234567",
}
LENGTHS = (24, 32, 40, 64)
URL = re.compile(r"https?://[^\s'\"<>)\]]+")


def miss_rates(count: int) -> None:
    rng = random.Random(1)
    print("| alphabet | " + " | ".join(f"{n} chars" for n in LENGTHS) + " |")
    print("| --- |" + " --- |" * len(LENGTHS))
    for name, alphabet in ALPHABETS.items():
        cells = []
        for length in LENGTHS:
            keys = ["".join(rng.choice(alphabet) for _ in range(length)) for _ in range(count)]
            missed = sum(not looks_random(k) for k in keys)
            cells.append(f"{100 * missed / count:.1f} % missed")
        print(f"| {name} | " + " | ".join(cells) + " |")


def harmless_corpora(limit_files: int, limit_paths: int) -> dict[str, list[str]]:
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    names: set[str] = set()
    urls: set[str] = set()
    for path in sorted(stdlib.rglob("*.py"))[:limit_files]:
        try:
            source = path.read_text(encoding="utf-8", errors="ignore")[:300_000]
            urls.update(URL.findall(source))
            for token in tokenize.generate_tokens(io.StringIO(source).readline):
                if token.type == tokenize.NAME and len(token.string) >= 20:
                    names.add(token.string)
        except (SyntaxError, tokenize.TokenError, OSError):
            continue
    paths = []
    for index, path in enumerate(Path("/usr").rglob("*")):
        if index >= limit_paths:
            break
        paths.append(str(path))
    return {"identifiers (stdlib)": sorted(names), "paths (/usr)": paths, "URLs": sorted(urls)}


def false_positives(corpora: dict[str, list[str]]) -> None:
    print("\n| harmless strings | checked | called a key | examples |")
    print("| --- | --- | --- | --- |")
    for name, items in corpora.items():
        flagged = [item for item in items if find_random_tokens(item)]
        examples = ", ".join(f"`{f[:48]}`" for f in flagged[:3]) or "-"
        share = 100 * len(flagged) / max(1, len(items))
        print(f"| {name} | {len(items)} | {len(flagged)} ({share:.3f} %) | {examples} |")


def screen_time(rounds: int) -> None:
    rng = random.Random(2)
    words = [
        "the",
        "quick",
        "brown",
        "fox",
        "jumps",
        "over",
        "lazy",
        "dog",
        "invoice",
        "total",
        "page",
        "12",
        "of",
        "345",
    ]
    lines = []
    for row in range(100):
        text = " ".join(rng.choice(words) for _ in range(12))
        if row % 10 == 0:
            text += " anna@example.com 4111 1111 1111 1111 +49 30 1234567"
        x, boxes = 10, []
        for word in text.split(" "):
            boxes.append(OcrWord(word, (x, row * 20, x + 8 * len(word), row * 20 + 16)))
            x += 8 * (len(word) + 1)
        lines.append(OcrLine(text, (10, row * 20, x, row * 20 + 16), words=tuple(boxes)))
    result = OcrResult("", tuple(lines), width=2048, height=2048)
    timings = []
    for _ in range(rounds):
        started = time.perf_counter()
        find_sensitive(result)
        timings.append(time.perf_counter() - started)
    timings.sort()
    print(
        f"\nfind_sensitive on 100 lines x ~70 chars: median {1000 * timings[len(timings) // 2]:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    quick = parser.parse_args().quick
    miss_rates(1000 if quick else 3000)
    false_positives(harmless_corpora(*((300, 20_000) if quick else (100_000, 200_000))))
    screen_time(5 if quick else 20)


if __name__ == "__main__":
    main()
