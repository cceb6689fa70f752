"""The table preset's answer as cells, and the TSV/CSV a spreadsheet pastes as cells."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_vlm.core.checks import parse_table, to_csv, to_tsv

# A model's answer as models write them: prose around, a Markdown fence, alignment colons,
# an escaped pipe, pipes inside code spans, whole-cell emphasis, <br> inside a cell.
ANSWER = """Here is the table from the screenshot:

```markdown
| Command | Pattern | Meaning |
|:--------|:-------:|--------:|
| grep | `a|b` | a or b, escaped \\| too |
| **awk** | `` x`|`y `` | two lines<br>in one cell |
| sed | `s/\\|/,/` | \\*not\\* emphasis |
```

Let me know if you need anything else."""


def test_a_table_as_models_write_it_becomes_the_cells_a_person_sees() -> None:
    # WHEN the answer is parsed
    check = parse_table(ANSWER)
    # THEN the cells are the text as rendered, header first, and nothing is wrong
    assert check.rows == (
        ("Command", "Pattern", "Meaning"),
        ("grep", "a|b", "a or b, escaped | too"),
        ("awk", "x`|`y", "two lines\nin one cell"),
        ("sed", "s/|/,/", "*not* emphasis"),
    )
    assert check.problem is None and check.warnings == () and check.ok


@pytest.mark.parametrize(
    "answer",
    [
        "a | b\n--- | ---\n1 | 2",  # no outer pipes
        "| a | b |\n| --- | --- |\n| 1 | 2 |",
        "|a|b|\n|:-|-:|\n|1|2|",
        "  | a | b |\n  |---|---|\n  | 1 | 2 |  ",  # indented, trailing spaces
        "| a | b |\r\n|---|---|\r\n| 1 | 2 |\r\n",  # CRLF
    ],
)
def test_pipe_styles_all_read_the_same(answer: str) -> None:
    assert parse_table(answer).rows == (("a", "b"), ("1", "2"))


def test_an_empty_last_cell_is_kept_when_it_has_its_border() -> None:
    check = parse_table("| a | b | c |\n|---|---|---|\n| 1 | 2 | |\n")
    assert check.rows == (("a", "b", "c"), ("1", "2", "")) and check.ok


def test_rows_of_another_width_are_named() -> None:
    # GIVEN a table whose second and fourth body rows have a cell too many, the fifth too few
    answer = (
        "| a | b | c |\n|---|---|---|\n| 1 | 2 | 3 |\n| 1 | 2 | 3 | 4 |\n| 1 | 2 | 3 |\n"
        "| 1 | 2 | 3 | 4 |\n| 1 | 2 |\n"
    )
    check = parse_table(answer)
    # THEN the rows are still returned, and the problem names which rows differ and how
    assert check.ragged_rows == (2, 4, 5)
    assert check.problem == (
        "the table is not rectangular: the header has 3 cells, but row 5 has 2 cells; "
        "rows 2, 4 have 4 cells (rows counted from 1 after the header)"
    )
    assert len(check.rows) == 6 and not check.ok


def test_of_several_tables_the_first_is_used_with_a_warning() -> None:
    answer = "| a |\n|---|\n| 1 |\n\ntext\n\n| b |\n|---|\n| 2 |\n"
    check = parse_table(answer)
    assert check.rows == (("a",), ("1",))
    assert check.warnings == ("the answer has 2 tables; only the first is used",)


def test_a_table_shown_as_code_of_another_language_is_not_the_answer() -> None:
    answer = "```text\n| a | b |\n|---|---|\n| 1 | 2 |\n```\n"
    assert parse_table(answer).problem is not None


@pytest.mark.parametrize(
    "answer",
    [
        "There is no table in this image.",
        "| a | b |\nno separator row",
        "| a | b |\n|---|\n| 1 | 2 |",  # the separator has fewer cells than the header
        "",
    ],
)
def test_no_table_is_a_problem_the_follow_up_can_quote(answer: str) -> None:
    check = parse_table(answer)
    assert check.rows == () and not check.ok
    assert check.problem is not None and check.problem.startswith(
        "the answer contains no Markdown table"
    )


def test_tsv_bytes_are_what_spreadsheets_read_as_cells() -> None:
    rows = [
        ("plain", "tab\there", "two\nlines"),
        ('say "hi"', "", "carriage\rreturn"),
        ("=SUM(A1:A2)", "-5.3%", "+44 20 7946 0958"),
    ]
    # THEN tabs, line breaks and quotes are quoted with doubled quotes; formulas become text;
    # numbers stay numbers; rows end in LF with no final line break
    assert to_tsv(rows).encode() == (
        b'plain\t"tab\there"\t"two\nlines"\n'
        b'"say ""hi"""\t\t"carriage\rreturn"\n'
        b"'=SUM(A1:A2)\t-5.3%\t'+44 20 7946 0958"
    )


def test_csv_bytes_follow_rfc_4180() -> None:
    rows = [("name", "price"), ("Flat white, large", "3.80"), ('The "best"', "=1+1")]
    assert to_csv(rows).encode() == (
        b'name,price\r\n"Flat white, large",3.80\r\n"The ""best""",\'=1+1\r\n'
    )


def test_a_row_of_one_empty_cell_survives_the_round_trip() -> None:
    rows = [["a"], [""], ["b"]]
    tsv = to_tsv(rows)
    assert list(csv.reader(io.StringIO(tsv, newline=""), dialect="excel-tab")) == rows


CELLS = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
    max_size=12,
)
ROWS = st.lists(st.lists(CELLS, min_size=1, max_size=5), min_size=1, max_size=8)


@settings(max_examples=300, deadline=None)
@given(ROWS)
def test_any_rows_read_back_as_the_same_cells_with_the_excel_tab_dialect(rows) -> None:
    tsv = to_tsv(rows, guard_formulas=False)
    assert list(csv.reader(io.StringIO(tsv, newline=""), dialect="excel-tab")) == rows


@settings(max_examples=300, deadline=None)
@given(ROWS)
def test_guarded_rows_read_back_with_only_formulas_marked_as_text(rows) -> None:
    back = list(csv.reader(io.StringIO(to_tsv(rows), newline=""), dialect="excel-tab"))
    for row, read in zip(rows, back, strict=True):
        for cell, got in zip(row, read, strict=True):
            assert got == cell or (got == "'" + cell and cell[:1] in "=+-@\t\r")


@settings(max_examples=200, deadline=None)
@given(ROWS)
def test_any_rows_read_back_from_csv(rows) -> None:
    text = to_csv(rows, guard_formulas=False)
    assert list(csv.reader(io.StringIO(text, newline=""))) == rows


SAFE_CELLS = (
    st.text(
        alphabet=st.characters(whitelist_categories=("L", "N"), whitelist_characters=" .,-"),
        min_size=1,
        max_size=10,
    )
    .map(str.strip)
    .filter(bool)
)


@settings(max_examples=200, deadline=None)
@given(
    st.integers(1, 5).flatmap(
        lambda n: st.lists(st.lists(SAFE_CELLS, min_size=n, max_size=n), min_size=1, max_size=6)
    )
)
def test_a_table_written_as_markdown_parses_back_to_its_cells(rows) -> None:
    # GIVEN any rectangular rows written as a Markdown table (cells with | escaped)
    lines = ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows]
    lines.insert(1, "|" + "---|" * len(rows[0]))
    # THEN parsing gives the same cells back
    check = parse_table("\n".join(lines))
    assert check.rows == tuple(tuple(row) for row in rows) and check.ok
