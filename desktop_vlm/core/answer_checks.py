"""What a structured preset's answer becomes once checked: a validated receipt or table, the
warnings to show, what goes on the clipboard, and the one follow-up question to ask when the
answer is not usable. Pure; the command line and the tray app both call it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from desktop_vlm.core.checks import (
    follow_up_for,
    parse_receipt,
    parse_table,
    receipt_as_dict,
    receipt_to_csv,
    receipt_to_json,
    receipt_to_markdown,
    to_tsv,
)

RECEIPT, TABLE = "receipt", "table"
KINDS = ("", RECEIPT, TABLE)


@dataclass(frozen=True)
class Structured:
    kind: str
    #: The validated data for ``ask --json``'s "structured" (None when there is none).
    data: dict[str, Any] | None = None
    warnings: tuple[str, ...] = ()
    #: Why the answer cannot be used; the follow-up question asks the model to fix exactly that.
    problem: str | None = None
    #: What the clipboard gets instead of the answer's text (a table as tab-separated cells).
    clipboard: str | None = None
    #: How the window shows it (Markdown), and the exports it offers.
    markdown: str | None = None
    exports: dict[str, str] = field(default_factory=dict)

    @property
    def follow_up(self) -> str | None:
        return follow_up_for(self.problem) if self.problem and self.kind == RECEIPT else None

    def meta(self) -> dict[str, Any]:
        """What the answer's turn keeps (history, the window)."""
        out: dict[str, Any] = {"kind": self.kind, "warnings": list(self.warnings)}
        if self.data is not None:
            out["data"] = self.data
        if self.problem:
            out["problem"] = self.problem
        if self.markdown:
            out["markdown"] = self.markdown
        if self.exports:
            out["exports"] = dict(self.exports)
        return out


def check_structured(kind: str, answer: str) -> Structured | None:
    """The check of a receipt or table answer; None for a preset with no structure."""
    if kind == RECEIPT:
        check = parse_receipt(answer)
        if check.receipt is None:
            return Structured(RECEIPT, problem=check.problem, warnings=check.warnings)
        return Structured(
            RECEIPT,
            data={"receipt": receipt_as_dict(check.receipt)},
            warnings=check.warnings,
            markdown=receipt_to_markdown(check.receipt),
            exports={"csv": receipt_to_csv(check.receipt), "json": receipt_to_json(check.receipt)},
        )
    if kind == TABLE:
        check = parse_table(answer)
        if not check.rows:
            return Structured(TABLE, problem=check.problem, warnings=check.warnings)
        rows = [list(row) for row in check.rows]
        warnings = check.warnings + ((check.problem,) if check.problem else ())
        tsv = to_tsv(check.rows)
        return Structured(
            TABLE, data={"rows": rows}, warnings=warnings, clipboard=tsv, exports={"tsv": tsv}
        )
    return None
