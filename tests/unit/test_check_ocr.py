"""The check of a model's reading against the offline OCR reading of the same image.

The corpus (tests/unit/data/ocr_pairs/) holds real offline readings: tesseract and RapidOCR run
on rendered screens, with their own misreads. Each ``real_*`` case changes what the model read in
one way a vision model does (a digit of an amount, a date, an invoice number, an e-mail address, a
dropped or invented line) and names what must be flagged; each ``harmless_*`` case differs from
the offline reading only in ways that are not errors (layout, Markdown, quotes, case, number
formatting, OCR's letter misreads) and nothing may be flagged.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_vlm.core.checks import Comparison, compare_readings, compare_with_offline
from desktop_vlm.core.checks.ocr_align import Opcode, align
from desktop_vlm.core.checks.ocr_regions import MAX_STRETCH_CELLS, RegionJudge
from desktop_vlm.core.checks.ocr_tokens import number_value, tokenize
from desktop_vlm.core.ocr_types import OcrResult

PAIRS = Path(__file__).parent / "data" / "ocr_pairs"


@dataclass(frozen=True)
class Pair:
    name: str
    model: str
    offline: str
    flags: tuple[tuple[str, str, str], ...]  # (kind, model, offline)
    added: tuple[str, ...]
    dropped: tuple[str, ...]


def load(path: Path) -> Pair:
    head, rest = path.read_text(encoding="utf-8").split("=== model\n", 1)
    model, offline = rest.split("=== offline\n", 1)
    flags, added, dropped = [], [], []
    for line in head.splitlines():
        field, _, value = line.partition(": ")
        if field == "flag":
            kind, model_value, offline_value = (part.strip() for part in value.split("|"))
            flags.append((kind, model_value, offline_value))
        elif field == "added":
            added.append(value)
        elif field == "dropped":
            dropped.append(value)
    return Pair(path.stem, model, offline, tuple(flags), tuple(added), tuple(dropped))


CORPUS = [load(path) for path in sorted(PAIRS.glob("*.txt"))]
REAL = [pair for pair in CORPUS if pair.name.startswith("real_")]
HARMLESS = [pair for pair in CORPUS if pair.name.startswith("harmless_")]


def reported(comparison: Comparison) -> dict[str, list]:
    return {
        "flags": [(d.kind, d.model, d.offline) for d in comparison.disagreements],
        "added": [line.text for line in comparison.added_lines],
        "dropped": [line.text for line in comparison.dropped_lines],
    }


def test_the_corpus_has_every_kind_of_case() -> None:
    # GIVEN the corpus  THEN it covers what the check is for, both ways
    kinds = {kind for pair in REAL for kind, _, _ in pair.flags}
    assert {"amount", "date", "code", "email", "number"} <= kinds
    assert any(pair.added for pair in REAL) and any(pair.dropped for pair in REAL)
    assert len(HARMLESS) >= 10


@pytest.mark.parametrize("pair", REAL, ids=lambda pair: pair.name)
def test_every_real_difference_is_flagged_and_nothing_else(pair: Pair) -> None:
    # GIVEN a model reading that differs from the offline reading in one real way
    # WHEN the two are compared
    comparison = compare_readings(pair.model, pair.offline, engine="tesseract 5.3")
    # THEN exactly that difference is reported, with the text each side has
    assert comparison.comparable
    assert reported(comparison) == {
        "flags": list(pair.flags),
        "added": list(pair.added),
        "dropped": list(pair.dropped),
    }
    assert not comparison.clean


@pytest.mark.parametrize("pair", HARMLESS, ids=lambda pair: pair.name)
def test_no_harmless_difference_is_flagged(pair: Pair) -> None:
    # GIVEN a model reading that differs from the offline reading only harmlessly
    # WHEN the two are compared
    comparison = compare_readings(pair.model, pair.offline, engine="tesseract 5.3")
    # THEN nothing is flagged, and the notice says so
    assert comparison.comparable
    assert reported(comparison) == {"flags": [], "added": [], "dropped": []}
    assert comparison.summary == "Agrees with the offline reading"


@pytest.mark.parametrize("pair", REAL, ids=lambda pair: pair.name)
def test_spans_point_at_the_values_in_both_texts(pair: Pair) -> None:
    comparison = compare_readings(pair.model, pair.offline)
    for d in comparison.disagreements:
        # THEN each span selects exactly the text reported (the window can highlight it)
        assert d.model_span is not None and d.offline_span is not None
        assert pair.model[slice(*d.model_span)] == d.model
        assert pair.offline[slice(*d.offline_span)] == d.offline
    for line in comparison.added_lines:
        assert pair.model[slice(*line.span)] == line.text
    for line in comparison.dropped_lines:
        assert pair.offline[slice(*line.span)] == line.text


def test_json_and_summary_say_what_differs() -> None:
    # GIVEN an answer with a wrong digit in an amount and an invented line
    model = "Coffee 16.49\nTea 2.10\nService charge 1.50\nTotal 18.59"
    offline = "Coffee 13.49\nTea 2.10\nTotal 18.59"
    # WHEN compared
    comparison = compare_readings(model, offline, engine="rapidocr PP-OCRv6")
    # THEN the summary and the JSON name both, in the documented shape
    assert comparison.summary == (
        "1 value differs from the offline reading; 1 line is not in the offline reading"
    )
    assert comparison.to_json() == {
        "engine": "rapidocr PP-OCRv6",
        "summary": comparison.summary,
        "comparable": True,
        "in_order": True,
        "disagreements": [
            {
                "kind": "amount",
                "model": "16.49",
                "offline": "13.49",
                "model_span": [7, 12],
                "offline_span": [7, 12],
            }
        ],
        "added_lines": ["Service charge 1.50"],
        "dropped_lines": [],
        "omitted": 0,
        "partial": False,
    }


def test_plural_summaries() -> None:
    model = "Total 11.00 and 12.00\nA line the model made up\nAnother invented one here"
    offline = "Total 17.00 and 19.00\nKept line with words only offline"
    comparison = compare_readings(model, offline)
    assert comparison.summary == (
        "2 values differ from the offline reading; 2 lines are not in the offline reading; "
        "1 line of the offline reading missing"
    )


@pytest.mark.parametrize(
    ("model", "offline"),
    [
        ("Total 12.50", "Total 12,50"),  # decimal comma
        ("Total 1,234.50", "Total 1.234,50"),  # grouping and decimal swapped by locale
        ("Total 1234.50", "Total 1 234,50"),
        ("Total 13.90", "Total 1390"),  # OCR dropped the point
        ("Total 10.50", "Total lO.5O"),  # letters for digits inside a number
        ("Total $16.49", "Total S16.49"),  # $ read as S is not a 5
        ("Total €16.49", "Total C16.49"),
        ("Total 16.49", "Total 16. 49"),  # OCR split the number
        ("Invoice INV-2024-0042", "lnvoice lNV-2O24-OO42"),
        ("Invoice INV-2024-0042", "Invoice NV-2024-0042"),  # a letter lost, digits the same
        ("Colour #FF8800", "Colour #FFB800"),
        ("Date 2024-03-15", "Date 2O24-03-15"),
        ("T0tal Emai1 5ubtotal", "Total Email Subtotal"),  # digits in words are words
    ],
)
def test_formatting_and_ocr_misreads_of_the_same_value_are_not_flagged(
    model: str, offline: str
) -> None:
    assert compare_readings(model, offline).clean


@pytest.mark.parametrize(
    ("model", "offline", "kind"),
    [
        ("Total 12.50", "Total 125.0", "amount"),  # decimal point in another place
        ("Total 16.49", "Total 18.49", "amount"),  # 6/8: a digit differing in a number
        ("Ref 4711", "Ref 4717", "number"),
        ("Due 15.03.2024", "Due 15.03.2025", "date"),
        ("Invoice INV-2024-0042", "Invoice INV-2024-0024", "code"),
        ("Mail anna.berg@example.com", "Mail anna.borg@example.com", "email"),
    ],
)
def test_a_differing_digit_or_address_is_flagged(model: str, offline: str, kind: str) -> None:
    comparison = compare_readings(model, offline)
    assert [d.kind for d in comparison.disagreements] == [kind]


def test_a_value_only_the_model_has_is_flagged_on_a_shared_line() -> None:
    # GIVEN a line both readings have, where only the model has an amount
    comparison = compare_readings("Tip included 3.00 thanks", "Tip included thanks")
    # THEN the amount is reported with nothing on the offline side
    assert [(d.model, d.offline, d.offline_span) for d in comparison.disagreements] == [
        ("3.00", "", None)
    ]


def test_a_lone_digit_against_a_bullet_is_not_flagged() -> None:
    # GIVEN a numbered list where the screen (and the offline reading) had bullets
    comparison = compare_readings("1. Milk 2.49\n2. Bread 3.95", "e Milk 2.49\n« Bread 3.95")
    assert comparison.clean


def test_nothing_to_compare_against_flags_nothing() -> None:
    comparison = compare_readings("Total 16.49", "   \n ")
    assert not comparison.comparable and comparison.clean


def test_an_answer_that_is_not_a_reading_is_not_compared() -> None:
    # GIVEN a description of the image rather than its text (the describe preset)
    model = (
        "The screenshot shows a receipt from a grocery store with several items, a subtotal "
        "and a total at the bottom. The background is white and the text is printed in a "
        "monospaced font. There is a logo at the top."
    )
    comparison = compare_readings(model, Path(PAIRS / "harmless_receipt_plain.txt").read_text())
    # THEN it is not compared line by line, and nothing is flagged
    assert not comparison.comparable and comparison.clean
    assert comparison.summary == "The offline reading is too different to compare"


def test_long_inputs_are_cut_and_say_so() -> None:
    line = "Item 1.00 and more words here\n"
    comparison = compare_readings(line * 20_000, line * 20_000)
    assert comparison.partial and comparison.clean


def test_number_values_follow_the_documented_decimal_rule() -> None:
    assert number_value("1,234.50") == ("1234.5", 2)
    assert number_value("1.234,50") == ("1234.5", 2)
    assert number_value("12,50") == ("12.5", 2)
    assert number_value("1,234") == ("1234", None)  # three digits after one separator group
    assert number_value("0,125") == ("0.125", 3)  # unless the whole part is 0
    assert number_value("1.234.56") is None


# --- properties ---------------------------------------------------------------------------

WORDS = st.sampled_from(
    ["Total", "invoice", "Milk", "12.50", "1,234.50", "INV-2024-0042", "2024-03-15", "a@b.de"]
    + ["due", "EUR", "7", "Qty", "**bold**", "12:30", "0x1F", "Straße", "naïve", "café"]
)
TEXTS = st.lists(st.lists(WORDS, min_size=1, max_size=8), min_size=1, max_size=12).map(
    lambda lines: "\n".join(" ".join(line) for line in lines)
)


@settings(max_examples=150, deadline=None)
@given(TEXTS)
def test_a_text_compared_with_itself_flags_nothing(text: str) -> None:
    assert compare_readings(text, text).clean


@settings(max_examples=150, deadline=None)
@given(TEXTS, st.randoms(use_true_random=False))
def test_reflowing_whitespace_and_line_breaks_flags_nothing(text: str, rng: random.Random) -> None:
    # GIVEN the same tokens with random spaces, tabs and line breaks between them (not a no-break
    # space: between digits it is a thousands separator, "1\u00a0234" is one number)
    reflowed = "".join(
        rng.choice([" ", "  ", "\n", " \n ", "\t"]) if char in " \n" else char for char in text
    )
    # THEN nothing is flagged either way round
    assert compare_readings(text, reflowed).clean
    assert compare_readings(reflowed, text).clean


def test_a_table_read_by_columns_inside_a_long_reading_is_compared_by_its_values() -> None:
    # GIVEN a long answer in which one table was read column by column offline, and one cell
    # of that table misread by the model
    prose = next(pair for pair in HARMLESS if pair.name == "harmless_prose_reflowed")
    email = next(pair for pair in HARMLESS if pair.name == "harmless_email_markdown")
    table = next(pair for pair in REAL if pair.name == "real_table_read_by_columns")
    model = "\n\n".join([prose.model, table.model, email.model])
    offline = "\n\n".join([prose.offline, table.offline, email.offline])
    # WHEN compared
    comparison = compare_readings(model, offline)
    # THEN only the misread cell is reported, and the comparison says order was not followed
    assert reported(comparison) == {"flags": list(table.flags), "added": [], "dropped": []}
    assert not comparison.in_order


def test_compare_with_offline_takes_the_engine_from_the_reading() -> None:
    reading = OcrResult(text="Total 13.49", engine="rapidocr PP-OCRv6 small")
    comparison = compare_with_offline("Total 16.49", reading)
    assert comparison.engine == "rapidocr PP-OCRv6 small"
    assert [(d.model, d.offline) for d in comparison.disagreements] == [("16.49", "13.49")]


def test_a_long_stretch_too_repetitive_to_align_is_skipped_and_said() -> None:
    # GIVEN two readings that agree around a long stretch of repeated digits in another order
    words = " ".join(f"word{k}" for k in range(8_000))
    model = f"{words}\n{'7 8 ' * 4_000}\n{words}"
    offline = f"{words}\n{'8 7 ' * 4_000}\n{words}"
    # WHEN compared
    comparison = compare_readings(model, offline)
    # THEN the stretch is not judged (nothing is flagged there) and the result says so
    assert comparison.partial and comparison.clean
    assert [op.tag for op in align(["x", "y"] * 4_000, ["y", "x"] * 4_000)] == ["skipped"]


def test_markdown_links_and_line_breaks_are_not_text_the_image_had() -> None:
    # GIVEN a model that linked a site name and broke a table cell with <br>
    model = (
        "Order at [shop.example](https://shop.example/orders/4711?ref=99) today\n"
        "| Item | Note |\n|---|---|\n| Tea | loose<br/>leaf 250g |"
    )
    offline = "Order at shop.example today\nItem Note\nTea loose\nleaf 250g"
    # THEN the link's address (with its numbers) and the tag are not compared
    assert compare_readings(model, offline).clean


def test_a_reading_in_another_order_compares_its_values_through_ocr_misreads() -> None:
    # GIVEN prices the offline engine read as a column after the names, with letters for digits
    model = "Milk 1.29\nBread 3.95\nEggs 2.75\nCheese 3.10\nCoffee 11.90\nTea 4.25"
    offline = "Milk\nBread\nEggs\nCheese\nCoffee\nTea\nl.29\n3.95\n2.7S\n3.l0\n1l.9O\n4.25"
    # THEN nothing is flagged
    assert compare_readings(model, offline).clean
    # AND a changed price is still found
    changed = compare_readings(model.replace("3.95", "3.96"), offline)
    assert [(d.model, d.offline) for d in changed.disagreements] == [("3.96", "3.95")]


def test_a_stretch_too_long_for_characters_has_its_values_paired_in_order() -> None:
    # GIVEN one stretch of 300 lines the alignment could not match (over a million character
    # cells), worded differently on each side, with the same amounts but one
    letters = "abcdefghij"
    model = "\n".join(f"item {letters[k % 10] * 3} costs {k}.25" for k in range(300))
    offline = "\n".join(f"thing {letters[k % 7] * 4} priced {k}.25" for k in range(300))
    model = model.replace("costs 123.25", "costs 128.25")
    a, _ = tokenize(model)
    b, _ = tokenize(offline)
    assert sum(len(t.chars) for t in a) * sum(len(t.chars) for t in b) > MAX_STRETCH_CELLS
    # WHEN that stretch is judged
    judge = RegionJudge(a, b)
    judge.judge([Opcode("replace", 0, len(a), 0, len(b))])
    # THEN the values are paired in order and only the changed one is found
    assert [
        (f.kind, model[slice(*a[f.model[0]].span)], offline[slice(*b[f.offline[0]].span)])
        for f in judge.findings
    ] == [("amount", "128.25", "123.25")]
