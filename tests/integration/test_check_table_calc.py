"""The TSV the table check writes, read by a real spreadsheet: LibreOffice Calc's text import
(the filter a paste of several lines goes through), headless, converting to CSV.

Needs ``soffice`` (Debian: libreoffice-calc-nogui); skipped with that reason where it is absent.
"""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
from pathlib import Path

import pytest

from desktop_vlm.core.checks import parse_table, to_tsv

SOFFICE = shutil.which("soffice")
pytestmark = pytest.mark.skipif(SOFFICE is None, reason="needs soffice (libreoffice-calc-nogui)")

ANSWER = """| Item | Note | Price |
|---|---|---|
| Flat white | two<br>lines | 3.80 |
| Croissant "butter" | tab\there | 2.90 |
| `a|b` | Straße ✓ | 1,234.50 |
| =SUM(1;2) | +44 20 7946 0958 | -5.3% |
"""


def calc_cells(tsv: str, tmp_path: Path, evaluate_formulas: bool) -> list[list[str]]:
    """What Calc makes of ``tsv``: its cells as shown, written back out as CSV."""
    source = tmp_path / "table.tsv"
    source.write_text(tsv, encoding="utf-8", newline="")
    # Import: tab-separated, " quotes, UTF-8 (76), en-US, formulas evaluated or not (token 13).
    import_options = (
        f"CSV:9,34,76,1,,1033,false,false,false,false,false,-1,{str(evaluate_formulas).lower()}"
    )
    out = tmp_path / "out"
    subprocess.run(
        [
            SOFFICE,
            f"-env:UserInstallation=file://{tmp_path / 'profile'}",
            "--headless",
            f"--infilter={import_options}",
            "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76,1,,1033,true,true",
            "--outdir",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    text = (out / "table.csv").read_text(encoding="utf-8")
    return list(csv.reader(io.StringIO(text, newline="")))


def test_calc_reads_the_tsv_as_the_tables_cells(tmp_path: Path) -> None:
    # GIVEN a table with a line break, a tab, quotes, a code-span pipe and non-ASCII cells
    check = parse_table(ANSWER)
    assert check.ok
    # WHEN Calc imports its TSV
    cells = calc_cells(to_tsv(check.rows), tmp_path, evaluate_formulas=True)
    # THEN every cell arrives whole, in its place; numbers become numbers (Calc's own doing);
    # the formula and the phone number stay text (with the apostrophe guard showing)
    assert cells == [
        ["Item", "Note", "Price"],
        ["Flat white", "two\nlines", "3.8"],
        ['Croissant "butter"', "tab\there", "2.9"],
        ["a|b", "Straße ✓", "1234.5"],
        ["'=SUM(1;2)", "'+44 20 7946 0958", "-5.3%"],
    ]


def test_without_the_guard_calc_would_run_the_formula(tmp_path: Path) -> None:
    # GIVEN the same TSV written without the formula guard
    cells = calc_cells(to_tsv(parse_table(ANSWER).rows, guard_formulas=False), tmp_path, True)
    # THEN Calc evaluates the cell the model read from the screen: why the guard is on
    assert cells[4][0] == "3"
