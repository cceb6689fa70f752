"""The ``table`` preset's answer as cells: find the Markdown table, check it is rectangular, and
write it as TSV or CSV that a spreadsheet pastes or opens as cells.

What counts as a table (GitHub-flavoured Markdown, as models write it): a header row with at
least one pipe, then a separator row (``|---|:--:|``, leading and trailing pipes optional) with
as many cells as the header, then rows until a blank line or a line without a pipe. A pipe does
not split a cell when it is escaped (``\\|``) or, unlike strict GFM, when it is inside a
backtick code span: a model that writes ```a|b``` means one cell. Cell text is what a person
sees: escapes resolved, code-span backticks and whole-cell emphasis (``**Total**``) removed,
``<br>`` as a line break.

TSV is what LibreOffice Calc and Google Sheets read from the clipboard: cells split by tabs,
rows by LF; a cell containing a tab, a line break or a double quote is put in double quotes,
its quotes doubled (Python's ``excel-tab`` dialect reads it back exactly). A cell a spreadsheet
would run as a formula gets a leading apostrophe (see ``cells``).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from desktop_vlm.core.checks.cells import guard_formula

log = logging.getLogger(__name__)

MAX_ANSWER_CHARS = 500_000
MAX_ROWS = 10_000
MAX_COLUMNS = 500

_SEPARATOR_CELL = re.compile(r"^:?-+:?$")
_FENCE = re.compile(r"^\s*(```|~~~)\s*([A-Za-z0-9_+-]*)")
_MARKDOWN_FENCES = ("", "markdown", "md", "gfm")
_BREAK = re.compile(r"<br\s*/?>", re.IGNORECASE)
_ESCAPE = re.compile(r"\\([!-/:-@\[-`{-~])")
_EMPHASIS = re.compile(r"^(\*\*|__|\*|_|~~)(.+)\1$", re.DOTALL)
_QUOTE_NEEDED = re.compile(r'[\t\n\r"]')


@dataclass(frozen=True)
class TableCheck:
    """``rows`` is header first; empty with ``problem`` saying why when there is no table."""

    rows: tuple[tuple[str, ...], ...]
    problem: str | None = None
    warnings: tuple[str, ...] = ()
    #: Indices into ``rows`` (the header is 0) of rows whose cell count is not the header's.
    ragged_rows: tuple[int, ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.rows) and self.problem is None


def parse_table(answer: str) -> TableCheck:
    """The first Markdown table of ``answer``, as cells, with what is wrong with it."""
    if len(answer) > MAX_ANSWER_CHARS:
        return TableCheck((), f"the answer is longer than {MAX_ANSWER_CHARS:,} characters")
    tables = _tables(re.split(r"\r\n|\r|\n", answer))
    if not tables:
        return TableCheck(
            (),
            "the answer contains no Markdown table (a header row, a separator row such as "
            "| --- | --- |, then one row per line)",
        )
    warnings = []
    if len(tables) > 1:
        warnings.append(f"the answer has {len(tables)} tables; only the first is used")
    rows, cut = tables[0]
    if cut:
        warnings.append(f"the table has more than {MAX_ROWS:,} rows; only the first are used")
    width = len(rows[0])
    ragged = tuple(index for index, row in enumerate(rows) if len(row) != width)
    problem = _ragged_problem(rows, ragged) if ragged else None
    log.debug("table of %s rows, %s ragged, %s tables", len(rows), len(ragged), len(tables))
    return TableCheck(tuple(rows), problem, tuple(warnings), ragged)


def to_tsv(rows: Iterable[Sequence[str]], *, guard_formulas: bool = True) -> str:
    """Tab-separated cells, rows joined by LF (no final line break), quoted where needed."""
    lines = []
    for row in rows:
        cells = [guard_formula(cell) if guard_formulas else cell for cell in row]
        if cells == [""]:
            lines.append('""')  # else the row would read back as no row at all
            continue
        lines.append("\t".join(_tsv_cell(cell) for cell in cells))
    return "\n".join(lines)


def to_csv(rows: Iterable[Sequence[str]], *, guard_formulas: bool = True) -> str:
    """RFC 4180 CSV: commas, CRLF after every row, quotes where needed."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([guard_formula(cell) if guard_formulas else cell for cell in row])
    return out.getvalue()


def _tsv_cell(cell: str) -> str:
    if _QUOTE_NEEDED.search(cell):
        return '"' + cell.replace('"', '""') + '"'
    return cell


# --- finding the tables ----------------------------------------------------------------------


def _tables(lines: list[str]) -> list[tuple[list[tuple[str, ...]], bool]]:
    """Every table: its rows (cells, header first) and whether it was cut at MAX_ROWS."""
    tables: list[tuple[list[tuple[str, ...]], bool]] = []
    index = 0
    in_fence = False
    while index < len(lines) - 1:
        line = lines[index]
        fence = _FENCE.match(line)
        if fence:
            # A table fenced as Markdown (or untagged) is the answer wrapped; in a fence of
            # another language (```text, ```python) it is an example, not the answer.
            in_fence = not in_fence and fence.group(2).lower() not in _MARKDOWN_FENCES
            index += 1
            continue
        if in_fence or "|" not in line:
            index += 1
            continue
        header = _split_row(line)
        separator = _split_row(lines[index + 1])
        if (
            header is None
            or separator is None
            or len(separator) != len(header)
            or not all(_SEPARATOR_CELL.match(cell.strip()) for cell in separator)
        ):
            index += 1
            continue
        rows = [tuple(_cell_text(cell) for cell in header)]
        index += 2
        cut = False
        while index < len(lines) and lines[index].strip() and not _FENCE.match(lines[index]):
            cells = _split_row(lines[index])
            if cells is None:
                break
            if len(rows) > MAX_ROWS:
                cut = True
            else:
                rows.append(tuple(_cell_text(cell) for cell in cells))
            index += 1
        tables.append((rows, cut))
    return tables


def _split_row(line: str) -> list[str] | None:
    """The raw cells of one table line, or None if it has no cell-splitting pipe.

    Pipes split cells except when escaped or inside a code span; one leading and one trailing
    pipe are the table's border.
    """
    if "\\" not in line and "`" not in line:
        cells = line.split("|", MAX_COLUMNS + 2)  # the common row: nothing escaped
        pipes = len(cells) - 1
    else:
        cells, pipes = _split_marked_up(line)
    if pipes == 0:
        return None
    if not cells[0].strip():
        cells = cells[1:]  # the leading border
    if cells and not cells[-1].strip():
        cells = cells[:-1]  # the trailing border
    return cells[:MAX_COLUMNS]


def _split_marked_up(line: str) -> tuple[list[str], int]:
    """Split at pipes that are neither escaped nor inside a code span."""
    cells: list[str] = []
    current: list[str] = []
    position = 0
    length = len(line)
    pipes = 0
    while position < length:
        char = line[position]
        if char == "\\" and position + 1 < length:
            current.append(line[position : position + 2])
            position += 2
            continue
        if char == "`":
            run_end = position
            while run_end < length and line[run_end] == "`":
                run_end += 1
            fence = line[position:run_end]
            close = line.find(fence, run_end)
            while close != -1 and close + len(fence) < length and line[close + len(fence)] == "`":
                close = line.find(fence, close + len(fence) + 1)
            if close != -1:
                current.append(line[position : close + len(fence)])
                position = close + len(fence)
                continue
            current.append(fence)
            position = run_end
            continue
        if char == "|":
            pipes += 1
            cells.append("".join(current))
            current = []
        else:
            current.append(char)
        position += 1
        if len(cells) > MAX_COLUMNS:
            break
    cells.append("".join(current))
    return cells, pipes


def _cell_text(raw: str) -> str:
    """What a person sees in the cell: code spans and escapes resolved, line breaks kept."""
    text = raw.strip()
    match = _EMPHASIS.match(text)
    if match and match.group(1)[0] not in match.group(2):
        text = match.group(2).strip()  # **Total**, not *a* and *b*
    parts: list[str] = []
    position = 0
    for code in re.finditer(r"(`+)(.+?)\1(?!`)", text, re.DOTALL):
        parts.append(_plain(text[position : code.start()]))
        content = code.group(2).replace("\\|", "|")
        if content.startswith(" ") and content.endswith(" ") and content.strip():
            content = content[1:-1]  # CommonMark strips one space each side of a code span
        parts.append(content)
        position = code.end()
    parts.append(_plain(text[position:]))
    return "".join(parts)


def _plain(text: str) -> str:
    return _ESCAPE.sub(r"\1", _BREAK.sub("\n", text))


def _ragged_problem(rows: list[tuple[str, ...]], ragged: tuple[int, ...]) -> str:
    width = len(rows[0])
    by_count: dict[int, list[int]] = {}
    for index in ragged:
        by_count.setdefault(len(rows[index]), []).append(index)
    parts = []
    for count, indices in sorted(by_count.items()):
        shown = ", ".join(str(i) for i in indices[:10]) + (" and more" if len(indices) > 10 else "")
        noun = "row" if len(indices) == 1 else "rows"
        verb = "has" if len(indices) == 1 else "have"
        parts.append(f"{noun} {shown} {verb} {count} {'cell' if count == 1 else 'cells'}")
    return (
        f"the table is not rectangular: the header has {width} "
        f"{'cell' if width == 1 else 'cells'}, but " + "; ".join(parts) + " (rows counted from "
        "1 after the header)"
    )
