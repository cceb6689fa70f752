"""The request body over real screenshots, and whether the text in it still reads.

The set (tests/benchmarks/real_screens.py, rendered at run time): this repository's README as
GitHub shows it, a changelog, source code in a light and a dark editor, a table, an article
with a photograph, and a real photograph, all 4K. Each goes through the API page's helper (the
reference: thumbnail to 2048 with LANCZOS, default PNG, base64, its JSON body) and through
``prepare_image`` as the app sends it, in the same run.

- Size: the bytes of the two JSON bodies, summed over the set (and over the screens alone).
- Legibility: Tesseract (``tesseract IMG - --psm 3``) reads each decoded image, and its words
  are scored against the words we rendered (Chromium lists every word wholly on screen): word
  recall, the share of those words Tesseract returned, counted as a multiset, so the order in
  which it walks the columns does not matter.

Tesseract on text of 10-12 px (what a 4K screen's text becomes at 2048) is chaotic: the same
screenshot shifted by half a pixel moves its reading of one page by up to 28 points, for the
reference as much as for us (its layout analysis flips: a column read as lines, or not). So
every text image is read at three sub-pixel phases (the 4K screenshot shifted by 0, (8, 5) and
(5, 8) px, 0.27-0.67 px after the downscale), the same three for both encoders, and compared in
pairs: an image's difference is the median of its three paired differences, which one flip of
the layout does not move. Target: those differences, weighted by each image's words, average at
least -1 point, and no image is below -5 points. A real loss of legibility (every phase read
worse) shows in the median; the reference's own phase-to-phase spread is printed beside it.

    python tests/benchmarks/bench_payload.py [--quick]   # --quick: one phase, no 4K reading
"""

from __future__ import annotations

import base64
import collections
import io
import os
import statistics
import subprocess
import sys
import tempfile
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image, ImageChops

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.bench_encode import (  # noqa: E402
    interleaved,
    our_body,
    psnr,
    reference_body,
    reference_encode_image,
)
from benchmarks.common import Figure, emit, median, ms, quick_flag  # noqa: E402
from benchmarks.real_screens import RealScreen, make_real_screens  # noqa: E402
from desktop_vlm.core.imageprep import prepare_image  # noqa: E402

#: Offsets of the 4K screenshot (px) for the three readings of each text image.
PHASES = ((0, 0), (8, 5), (5, 8))
TESSERACT_TIMEOUT = 300
POOLED_TOLERANCE = 1.0  # points of word recall
IMAGE_TOLERANCE = 5.0
SIZE_TARGET = 0.40
#: What Tesseract writes for typographic characters that the pages spell otherwise.
_PLAIN = str.maketrans({"‘": "'", "’": "'", "“": '"', "”": '"', "–": "-", "—": "-", "…": "..."})


@dataclass
class Result:
    """One image of the set: sizes, how ours was encoded, and the recalls per phase."""

    screen: RealScreen
    ours_bytes: int = 0
    ref_bytes: int = 0
    method: str = ""
    fidelity: float = 0.0  # PSNR of our decoded image against the reference's, dB
    ours_recall: list[float] = field(default_factory=list)
    ref_recall: list[float] = field(default_factory=list)
    original_recall: float | None = None


# --- reading ------------------------------------------------------------------------------------


def _words(text: str) -> list[str]:
    return [unicodedata.normalize("NFKC", w).translate(_PLAIN) for w in text.split()]


def read_text(img: Image.Image, folder: Path) -> list[str]:
    """The words Tesseract reads in ``img`` (saved losslessly for it)."""
    with tempfile.NamedTemporaryFile(suffix=".png", dir=folder) as file:
        img.convert("RGB").save(file.name, format="PNG", compress_level=1)
        # One thread per Tesseract: two of them in parallel use two cores better than one
        # Tesseract with OpenMP threads, which mostly wait for each other here.
        env = dict(os.environ, OMP_THREAD_LIMIT="1")
        proc = subprocess.run(
            ["tesseract", file.name, "-", "--psm", "3"],
            capture_output=True,
            text=True,
            timeout=TESSERACT_TIMEOUT,
            env=env,
        )
    if proc.returncode != 0:
        raise RuntimeError(f"tesseract failed: {proc.stderr.strip()[-300:]}")
    return _words(proc.stdout)


def recall(truth: tuple[str, ...], read: list[str]) -> float:
    """Share of the true words (as a multiset) that were read, in percent."""
    wanted = collections.Counter(_words(" ".join(truth)))
    got = collections.Counter(read)
    total = sum(wanted.values())
    return 100.0 * sum(min(n, got[w]) for w, n in wanted.items()) / total if total else 0.0


# --- the two encoders ----------------------------------------------------------------------------


def _decode(data: bytes) -> Image.Image:
    img = Image.open(io.BytesIO(data))
    img.load()
    return img.convert("RGB")


def encode_both(path: Path) -> tuple[bytes, bytes, Image.Image, Image.Image]:
    """(our body, the reference's body, our decoded image, the reference's decoded image)."""
    ref_b64 = reference_encode_image(str(path))
    body, _, data = our_body(str(path))
    return body, reference_body(ref_b64), _decode(data), _decode(base64.b64decode(ref_b64))


def shifted(path: Path, offset: tuple[int, int], folder: Path) -> Path:
    """The screenshot moved left and up by ``offset`` (the strip wraps round to the far edge)."""
    if offset == (0, 0):
        return path
    out = folder / f"{path.stem}-{offset[0]}-{offset[1]}.png"
    with Image.open(path) as img:
        ImageChops.offset(img.convert("RGB"), -offset[0], -offset[1]).save(out, compress_level=1)
    return out


# --- the run ----------------------------------------------------------------------------------------


def measure(screens: list[RealScreen], folder: Path, quick: bool) -> list[Result]:
    phases = PHASES[:1] if quick else PHASES
    results = [Result(screen) for screen in screens]
    jobs: list[tuple[list[float], RealScreen, Image.Image]] = []
    for result in results:
        screen = result.screen
        body, ref_body, ours, ref = encode_both(screen.path)
        result.ours_bytes, result.ref_bytes = len(body), len(ref_body)
        result.method = prepare_image(str(screen.path)).encoding
        result.fidelity = psnr(ours, ref)
        if not screen.words:
            continue
        jobs += [(result.ours_recall, screen, ours), (result.ref_recall, screen, ref)]
        for offset in phases[1:]:
            _, _, ours_p, ref_p = encode_both(shifted(screen.path, offset, folder))
            jobs += [(result.ours_recall, screen, ours_p), (result.ref_recall, screen, ref_p)]
    originals: list[tuple[Result, Image.Image]] = []
    if not quick:
        for result in results:
            if result.screen.words:
                originals.append((result, Image.open(result.screen.path)))
    with ThreadPoolExecutor(max_workers=min(2, os.cpu_count() or 1)) as pool:
        readings = pool.map(lambda job: recall(job[1].words, read_text(job[2], folder)), jobs)
        for (target, _, _), value in zip(jobs, list(readings), strict=True):
            target.append(value)
        full = pool.map(lambda o: recall(o[0].screen.words, read_text(o[1], folder)), originals)
        for (result, _), value in zip(originals, list(full), strict=True):
            result.original_recall = value
    return results


def pooled(results: list[Result], which: str, phase: int | None = None) -> float:
    """Recall over every word of the set (each image weighted by its words), in percent."""
    read = total = 0.0
    for result in results:
        values = getattr(result, which)
        if not values:
            continue
        chosen = values if phase is None else [values[phase]]
        read += len(result.screen.words) * sum(chosen) / len(chosen)
        total += len(result.screen.words)
    return read / total if total else 0.0


def difference(result: Result) -> float:
    """Ours minus the reference, in points: the median of the paired phases."""
    return statistics.median(
        o - r for o, r in zip(result.ours_recall, result.ref_recall, strict=True)
    )


def timing(screens: list[RealScreen], runs: int) -> tuple[float, float]:
    """Summed medians of file → body, reference and ours, interleaved per image."""
    ref_total = ours_total = 0.0
    for screen in screens:
        path = str(screen.path)
        ref_times, our_times = interleaved(
            runs,
            lambda p=path: reference_body(reference_encode_image(p)),
            lambda p=path: our_body(p),
        )
        ref_total += median(ref_times)
        ours_total += median(our_times)
    return ref_total, ours_total


def figures(
    results: list[Result], times: tuple[float, float], quick: bool
) -> tuple[list[Figure], list[str]]:
    ours = sum(r.ours_bytes for r in results)
    ref = sum(r.ref_bytes for r in results)
    screens = [r for r in results if r.screen.kind != "photo"]
    ours_s = sum(r.ours_bytes for r in screens)
    ref_s = sum(r.ref_bytes for r in screens)
    texts = [r for r in results if r.ours_recall]
    ours_read, ref_read = pooled(results, "ours_recall"), pooled(results, "ref_recall")
    deltas = {r.screen.name: difference(r) for r in texts}
    words = sum(len(r.screen.words) for r in texts)
    overall = sum(len(r.screen.words) * deltas[r.screen.name] for r in texts) / max(1, words)
    worst = min(deltas, key=deltas.get) if deltas else "-"
    legible = overall >= -POOLED_TOLERANCE and all(d >= -IMAGE_TOLERANCE for d in deltas.values())
    phases = "1 phase" if quick else f"{len(PHASES)} sub-pixel phases"
    out = [
        Figure(
            "Payload: request bodies over the real set",
            f"{ours / 1e6:.2f} MB",
            f"{ref / 1e6:.2f} MB",
            ours / ref,
            f"≤ {SIZE_TARGET:.2f}",
            ours / ref <= SIZE_TARGET,
            f"JSON bodies summed over {len(results)} real images ({_kinds(results)}); reference: "
            "the API page's helper and body",
        ),
        Figure(
            "Payload: request bodies, screens only",
            f"{ours_s / 1e6:.2f} MB",
            f"{ref_s / 1e6:.2f} MB",
            ours_s / ref_s,
            f"≤ {SIZE_TARGET:.2f}",
            ours_s / ref_s <= SIZE_TARGET,
            "the same without the photograph, whose reference PNG is half the set's bytes",
        ),
        Figure(
            "Payload: legibility (Tesseract word recall)",
            f"{ours_read:.1f} %; {overall:+.1f} points (worst image {deltas.get(worst, 0):+.1f}, "
            f"{worst})",
            f"{ref_read:.1f} %",
            ours_read / ref_read if ref_read else None,
            f"≥ −{POOLED_TOLERANCE:g} point over the set, ≥ −{IMAGE_TOLERANCE:g} per image",
            legible,
            f"tesseract --psm 3 on each decoded image, scored against the rendered words; "
            f"{len(texts)} text images, {phases}, {words} words; points: median of the paired "
            "phases, weighted by words",
        ),
        Figure(
            "Payload: encode time over the set (file → body)",
            ms(times[1]),
            ms(times[0]),
            times[1] / times[0] if times[0] else None,
            "-",
            None,
            "summed medians of interleaved runs per image (see the Encode figures for targets)",
        ),
    ]
    notes = [_note(r) for r in results]
    if not quick and texts:
        spread = [pooled(results, "ref_recall", i) for i in range(len(PHASES))]
        ours_by_phase = [pooled(results, "ours_recall", i) for i in range(len(PHASES))]
        notes.append(
            "payload: pooled recall per phase: reference "
            + ", ".join(f"{v:.1f}" for v in spread)
            + " %; ours "
            + ", ".join(f"{v:.1f}" for v in ours_by_phase)
            + f" % (the reference's own spread: {max(spread) - min(spread):.1f} points)"
        )
    return out, notes


def _kinds(results: list[Result]) -> str:
    counts = collections.Counter(r.screen.kind for r in results)
    return ", ".join(f"{n} {kind}" for kind, n in counts.items())


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _note(r: Result) -> str:
    text = (
        f"payload {r.screen.name}: ours {r.ours_bytes / 1e3:.0f} KB ({r.method}), reference "
        f"{r.ref_bytes / 1e3:.0f} KB, {r.ours_bytes / r.ref_bytes:.2f}x; PSNR against the "
        f"reference's image {r.fidelity:.1f} dB"
    )
    if r.ours_recall:
        each = "/".join(f"{v:.1f}" for v in r.ours_recall)
        ref_each = "/".join(f"{v:.1f}" for v in r.ref_recall)
        text += (
            f"; recall ours {_mean(r.ours_recall):.1f} % ({each}), reference "
            f"{_mean(r.ref_recall):.1f} % ({ref_each}), {difference(r):+.1f} points, "
            f"{len(r.screen.words)} words"
        )
        if r.original_recall is not None:
            text += f"; the 4K original {r.original_recall:.1f} %"
    return text


def main() -> None:
    quick = quick_flag()
    with tempfile.TemporaryDirectory(prefix="bench-payload-") as tmp:
        folder = Path(tmp)
        screens = make_real_screens(folder)
        results = measure(screens, folder, quick)
        times = timing(screens, 1 if quick else 3)
    out, notes = figures(results, times, quick)
    emit(out, notes)


if __name__ == "__main__":
    main()
