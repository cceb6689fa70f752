"""A receipt as data, and the one rule that turns printed amounts into numbers.

Kept apart from the parser so the formats (CSV, JSON, Markdown) and the parser share the types
without importing each other.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation


@dataclass(frozen=True)
class ReceiptItem:
    name: str
    #: The line's amount as printed (quantity × unit price); negative for a discount.
    price: Decimal
    quantity: Decimal | None = None
    unit_price: Decimal | None = None


@dataclass(frozen=True)
class Receipt:
    merchant: str | None
    #: ISO (YYYY-MM-DD) when the model could read it, else as printed.
    date: str | None
    #: ISO 4217 when known (EUR, USD); as given otherwise (the check warns).
    currency: str | None
    items: tuple[ReceiptItem, ...]
    subtotal: Decimal | None
    tax: Decimal | None
    total: Decimal | None


_AROUND = re.compile(r"^(?:[A-Za-z]{3}|[$€£¥₹₩₺₽])?\s*(.*?)\s*(?:[A-Za-z]{3}|[$€£¥₹₩₺₽])?$")
_PLAIN = re.compile(r"^\d*\.?\d+$|^\d+\.$")
_GROUPED = re.compile(r"^\d{1,3}(?:,\d{3})+$")


def parse_amount(text: str) -> Decimal | None:
    """A printed amount as a Decimal, or None if it is not one.

    ``"12,50"`` → 12.50; ``"1.799"`` → 1.799; ``"1,234.50"`` and ``"1.234,50"`` → 1234.50;
    ``"1,234,567"`` → 1234567; ``"-2.00"``, ``"2.00-"`` and ``"(2.00)"`` → -2.00; ``"€ 3.10"``
    and ``"3.10 EUR"`` → 3.10. See the module docstring of ``receipt`` for the rule.
    """
    text = text.strip().replace("\u2212", "-")
    if len(text) > 40:
        return None
    negative = False
    if text.startswith("(") and text.endswith(")"):
        negative, text = True, text[1:-1].strip()
    if text.startswith(("-", "+")):
        negative, text = negative or text[0] == "-", text[1:].strip()
    elif text.endswith("-"):
        negative, text = True, text[:-1].strip()
    match = _AROUND.match(text)
    text = match.group(1) if match else text
    if text.startswith(("-", "+")) and not negative:  # "EUR -2.00"
        negative, text = text[0] == "-", text[1:]
    text = re.sub(r"[ \u00a0\u202f']", "", text)
    if "." in text and "," in text:
        decimal_sign = "." if text.rfind(".") > text.rfind(",") else ","
        group_sign = "," if decimal_sign == "." else "."
        whole, _, fraction = text.rpartition(decimal_sign)
        if not re.fullmatch(rf"\d{{1,3}}(?:{re.escape(group_sign)}\d{{3}})*", whole):
            return None
        text = whole.replace(group_sign, "") + "." + fraction
    elif text.count(",") > 1 or text.count(".") > 1:
        if not _GROUPED.match(text.replace(".", ",")):
            return None
        text = text.replace(",", "").replace(".", "")
    else:
        text = text.replace(",", ".")
    if not _PLAIN.match(text):
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    return -value if negative else value
