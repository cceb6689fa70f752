"""Checks of a model's answer: against the offline OCR reading of the same image, and of
structured answers (receipts, tables) against their own shape and arithmetic.

Pure (standard library only) and bounded: every input is capped in size, and the work on the
longest accepted input stays well under a second (tests/benchmarks/bench_checks.py).
"""

from desktop_vlm.core.checks.ocr_compare import (
    Comparison,
    Disagreement,
    UnmatchedLine,
    compare_readings,
    compare_with_offline,
)
from desktop_vlm.core.checks.receipt import (
    RECEIPT_PROMPT,
    Receipt,
    ReceiptCheck,
    ReceiptItem,
    follow_up_for,
    parse_amount,
    parse_receipt,
    receipt_as_dict,
    receipt_to_csv,
    receipt_to_json,
    receipt_to_markdown,
)
from desktop_vlm.core.checks.table import TableCheck, parse_table, to_csv, to_tsv

__all__ = [
    "RECEIPT_PROMPT",
    "Comparison",
    "Disagreement",
    "Receipt",
    "ReceiptCheck",
    "ReceiptItem",
    "TableCheck",
    "UnmatchedLine",
    "compare_readings",
    "compare_with_offline",
    "follow_up_for",
    "parse_amount",
    "parse_receipt",
    "parse_table",
    "receipt_as_dict",
    "receipt_to_csv",
    "receipt_to_json",
    "receipt_to_markdown",
    "to_csv",
    "to_tsv",
]
