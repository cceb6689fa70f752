"""Cells for spreadsheets: the text a model read, pasted or opened as data, never as a formula.

A spreadsheet treats a cell that starts with ``=``, ``+``, ``-`` or ``@`` as a formula, so a
table or receipt read from a screen could run ``=HYPERLINK(...)`` or ``=IMPORTXML(...)`` where
it is pasted (CSV/formula injection). Such a cell gets a leading apostrophe, the spreadsheets'
own mark for "this is text" (OWASP's advice); a cell that is only a number (``-5.3%``,
``+44``, ``-12.50``) is left alone, because a spreadsheet reads it as the number it is.
"""

from __future__ import annotations

import re

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_NUMBER = re.compile(r"^[+-]?(?:\d[\d,.']*)?\d(?:[.,]\d+)?%?$")


def guard_formula(cell: str) -> str:
    """``cell``, with an apostrophe in front when a spreadsheet would run it as a formula."""
    if cell.startswith(_FORMULA_START) and not _NUMBER.match(cell):
        return "'" + cell
    return cell
