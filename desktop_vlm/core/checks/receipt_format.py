"""A checked receipt written out: CSV for a spreadsheet, JSON for programs (``ask --json``'s
``structured``), and a Markdown table for the chat window."""

from __future__ import annotations

import csv
import io
import json
import re
from decimal import Decimal
from typing import Any

from desktop_vlm.core.checks.cells import guard_formula
from desktop_vlm.core.checks.receipt_types import Receipt

CSV_HEADER = ("name", "quantity", "unit_price", "price")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]<>()#+!|~])")


def receipt_as_dict(receipt: Receipt) -> dict[str, Any]:
    """The receipt as JSON-ready data, keys in the prompt's order; amounts as JSON numbers."""
    return {
        "merchant": receipt.merchant,
        "date": receipt.date,
        "currency": receipt.currency,
        "items": [
            {
                "name": item.name,
                "quantity": _number(item.quantity),
                "unit_price": _number(item.unit_price),
                "price": _number(item.price),
            }
            for item in receipt.items
        ],
        "subtotal": _number(receipt.subtotal),
        "tax": _number(receipt.tax),
        "total": _number(receipt.total),
    }


def receipt_to_json(receipt: Receipt) -> str:
    """Pretty JSON with a stable key order (that of the prompt)."""
    return json.dumps(receipt_as_dict(receipt), indent=2, ensure_ascii=False)


def receipt_to_csv(receipt: Receipt) -> str:
    """One row per item under a header, then a row each for subtotal, tax and total (those the
    receipt has). RFC 4180: commas, CRLF line ends, quotes where needed; amounts with a dot."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for item in receipt.items:
        writer.writerow(
            [
                guard_formula(item.name),
                _text(item.quantity),
                _text(item.unit_price),
                _text(item.price),
            ]
        )
    for label, amount in (
        ("subtotal", receipt.subtotal),
        ("tax", receipt.tax),
        ("total", receipt.total),
    ):
        if amount is not None:
            writer.writerow([label, "", "", _text(amount)])
    return out.getvalue()


def receipt_to_markdown(receipt: Receipt) -> str:
    """A table for the chat window; the model's text is escaped so it renders as text."""
    title = [_escape(part) for part in (receipt.merchant, receipt.date, receipt.currency) if part]
    lines = [f"**{title[0]}**" + "".join(f" · {part}" for part in title[1:]), ""] if title else []
    lines += ["| Item | Qty | Unit price | Price |", "| --- | ---: | ---: | ---: |"]
    for item in receipt.items:
        cells = [
            _escape(item.name),
            _text(item.quantity),
            _text(item.unit_price),
            _text(item.price),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    for label, amount in (
        ("Subtotal", receipt.subtotal),
        ("Tax", receipt.tax),
        ("Total", receipt.total),
    ):
        if amount is not None:
            shown = f"**{_text(amount)}**" if label == "Total" else _text(amount)
            lines.append(f"| **{label}** | | | {shown} |")
    return "\n".join(lines) + "\n"


def _number(value: Decimal | None) -> int | float | None:
    """A Decimal as a JSON number. Amounts are below 10**12 with few decimals, so the float
    prints back as the same decimal value (json writes repr, the shortest exact form)."""
    if value is None:
        return None
    if value == value.to_integral_value():
        return int(value)
    return float(value)


def _text(value: Decimal | None) -> str:
    return "" if value is None else f"{value:f}"


def _escape(text: str) -> str:
    """Model text as Markdown that renders as exactly that text, on one line."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))
