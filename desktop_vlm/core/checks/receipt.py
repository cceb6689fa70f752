"""Receipts as data: the prompt that asks for one JSON object, its validation, and its arithmetic.

A vision model reads a receipt well and still misreads a digit now and then. Asked for the
receipt as JSON, its answer becomes figures a program can add up: items' prices against the
subtotal, quantity times unit price against the line's price, subtotal plus tax against the
total. A receipt whose figures do not add up is shown with a warning naming the figures; an
answer that is not the JSON asked for gets one automatic follow-up quoting what was wrong.

Numbers are ``decimal.Decimal`` throughout (JSON numbers are parsed as Decimal, never float).
A numeric string is accepted too, with this decimal rule: with both ``.`` and ``,`` the last of
them is the decimal separator (``1,234.50`` and ``1.234,50`` are 1234.50); with one of them in
a single place it is the decimal separator (``12,50`` is 12.50, ``1.799`` is 1.799: fuel is sold
in tenths of a cent); repeated (``1,234,567``), it groups. Spaces and apostrophes group. A minus
before or after the number (``-2.00``, ``2.00-``, as receipts print discounts) or parentheses
make it negative; currency signs and ISO codes around it are ignored.

Tolerances, exactly:
- a line: quantity × unit price may differ from the price by at most 0.01 (the price is the
  product rounded to the cent; a unit price in tenths of a cent rounds within that);
- sums: the items' prices against the subtotal (or the total), and subtotal + tax against the
  total, must agree to the cent, plus 0.005 for each summand printed with more than two decimal
  places. A misread cent is exactly what this check is for, so no cent is forgiven per line.
- Tax: ``subtotal + tax = total`` (tax added), or ``subtotal = total`` (the VAT-inclusive
  receipt, where tax is what the total includes). Items priced with tax while the subtotal is
  net are accepted when the items add up to the total.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from desktop_vlm.core.checks.jsonfind import find_json_object
from desktop_vlm.core.checks.receipt_format import (
    receipt_as_dict,
    receipt_to_csv,
    receipt_to_json,
    receipt_to_markdown,
)
from desktop_vlm.core.checks.receipt_types import Receipt, ReceiptItem, parse_amount

log = logging.getLogger(__name__)

__all__ = [
    "RECEIPT_PROMPT",
    "Receipt",
    "ReceiptCheck",
    "ReceiptItem",
    "follow_up_for",
    "parse_amount",
    "parse_receipt",
    "receipt_as_dict",
    "receipt_to_csv",
    "receipt_to_json",
    "receipt_to_markdown",
]

RECEIPT_PROMPT = (
    "Read the receipt in this image. Answer with one JSON object only: no introduction, no "
    "explanation, no Markdown, no code fence. Use exactly these keys:\n"
    '{"merchant": string or null, "date": string or null, "currency": string or null, '
    '"items": [{"name": string, "quantity": number or null, "unit_price": number or null, '
    '"price": number}], "subtotal": number or null, "tax": number or null, '
    '"total": number or null}\n'
    "Rules: date as YYYY-MM-DD if you can read it, else as printed. currency as its ISO 4217 "
    "code (EUR, USD, GBP, ...) if you know it, else null. One item per line item on the "
    "receipt; price is the line's amount as printed (quantity times unit price), unit_price "
    "only if it is printed. A discount is an item with a negative price. tax is the total tax "
    "as printed, also when it is included in the total. Write amounts as printed numbers "
    "without currency symbols, e.g. 12.50. Use null for anything that is not on the receipt; "
    "do not compute or guess values."
)

MAX_ANSWER_CHARS = 200_000
MAX_ITEMS = 1_000
MAX_TEXT = 500
MAX_AMOUNT = Decimal(10) ** 12
LINE_TOLERANCE = Decimal("0.01")
_FRACTION_TOLERANCE = Decimal("0.005")
_CENT = Decimal("0.01")
_REQUIRED = ("items", "total")
_CURRENCY_SIGNS = {"€": "EUR", "£": "GBP", "₹": "INR", "₩": "KRW", "₺": "TRY", "₽": "RUB"}


@dataclass(frozen=True)
class ReceiptCheck:
    """``receipt`` is None exactly when ``problem`` says why the answer is not usable."""

    receipt: Receipt | None
    problem: str | None = None
    #: Figures that do not add up, and fields kept as given but not as asked.
    warnings: tuple[str, ...] = ()
    #: "added" (subtotal + tax = total), "included" (the total includes the tax) or None.
    tax_mode: str | None = None

    @property
    def ok(self) -> bool:
        return self.receipt is not None and not self.warnings


class _ShapeError(ValueError):
    """The answer's JSON is not the receipt's shape; the message names the field."""


def parse_receipt(answer: str) -> ReceiptCheck:
    """The receipt in a model's answer, validated, with its arithmetic checked."""
    if len(answer) > MAX_ANSWER_CHARS:
        return ReceiptCheck(None, f"the answer is longer than {MAX_ANSWER_CHARS:,} characters")
    found = find_json_object(answer, prefer=("items", "total"))
    if isinstance(found, str):
        return ReceiptCheck(None, found)
    warnings: list[str] = []
    try:
        receipt = _receipt(found, warnings)
    except _ShapeError as error:
        return ReceiptCheck(None, str(error))
    tax_mode = _check_arithmetic(receipt, warnings)
    log.debug("receipt with %s items, %s warnings", len(receipt.items), len(warnings))
    return ReceiptCheck(receipt, None, tuple(warnings), tax_mode)


def follow_up_for(problem: str) -> str:
    """The one automatic follow-up question when an answer was not the receipt JSON."""
    quoted = problem if len(problem) <= 300 else problem[:297] + "..."
    return (
        f"Your answer could not be used as the receipt data: {quoted}. Please answer again "
        "with only the corrected JSON object, with the same keys as asked and nothing else."
    )


# --- shape ----------------------------------------------------------------------------------


def _receipt(data: dict[str, Any], warnings: list[str]) -> Receipt:
    for key in _REQUIRED:
        if key not in data:
            raise _ShapeError(f'the key "{key}" is missing (use null if it is not on the receipt)')
    items = data["items"]
    if not isinstance(items, list):
        raise _ShapeError(f'"items" must be a list of objects, not {_type_name(items)}')
    if len(items) > MAX_ITEMS:
        raise _ShapeError(f'"items" has {len(items):,} entries, more than {MAX_ITEMS:,}')
    currency = _text(data, "currency", "currency")
    if currency is not None:
        currency = _CURRENCY_SIGNS.get(currency.strip(), currency.strip())
        if not (len(currency) == 3 and currency.isascii() and currency.isalpha()):
            warnings.append(f'the currency "{currency}" is not an ISO 4217 code')
        currency = currency.upper()
    date = _text(data, "date", "date")
    if date is not None and not _is_iso_date(date):
        warnings.append(f'the date "{date}" is not written as YYYY-MM-DD')
    return Receipt(
        merchant=_text(data, "merchant", "merchant"),
        date=date,
        currency=currency,
        items=tuple(_item(item, index) for index, item in enumerate(items, 1)),
        subtotal=_amount(data, "subtotal", "subtotal"),
        tax=_amount(data, "tax", "tax"),
        total=_amount(data, "total", "total"),
    )


def _item(item: Any, index: int) -> ReceiptItem:
    where = f"item {index}"
    if not isinstance(item, dict):
        raise _ShapeError(f"{where} must be an object, not {_type_name(item)}")
    if "name" not in item or "price" not in item:
        missing = "name" if "name" not in item else "price"
        raise _ShapeError(f'{where} has no "{missing}"')
    name = _text(item, "name", f"{where}'s name")
    if not name:
        raise _ShapeError(f"{where}'s name is empty")
    where = f'item {index} ("{name[:40]}")'
    price = _amount(item, "price", f"{where}'s price")
    if price is None:
        raise _ShapeError(f"{where}'s price is null; every item needs the price printed for it")
    return ReceiptItem(
        name=name,
        price=price,
        quantity=_amount(item, "quantity", f"{where}'s quantity"),
        unit_price=_amount(item, "unit_price", f"{where}'s unit_price"),
    )


def _text(data: dict[str, Any], key: str, what: str) -> str | None:
    value = data.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise _ShapeError(f"the {what} must be text or null, not {_type_name(value)}")
    if len(value) > MAX_TEXT:
        raise _ShapeError(f"the {what} is longer than {MAX_TEXT} characters")
    return value


def _amount(data: dict[str, Any], key: str, what: str) -> Decimal | None:
    value = data.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, Decimal, str)):
        raise _ShapeError(f"the {what} must be a number or null, not {_type_name(value)}")
    number = parse_amount(value) if isinstance(value, str) else Decimal(value)
    if number is None:
        raise _ShapeError(f'the {what} "{value}" is not a number')
    if not number.is_finite() or abs(number) >= MAX_AMOUNT:
        raise _ShapeError(f"the {what} {value} is out of range")
    return number


def _type_name(value: Any) -> str:
    names = {dict: "an object", list: "a list", str: "text", bool: "true/false"}
    if value is None:
        return "null"
    return names.get(type(value), "a number")


def _is_iso_date(text: str) -> bool:
    try:
        datetime.date.fromisoformat(text)
    except ValueError:
        return False
    return len(text) == 10


# --- arithmetic -----------------------------------------------------------------------------


def _check_arithmetic(receipt: Receipt, warnings: list[str]) -> str | None:
    """Warnings for figures that do not add up; the tax mode the figures show."""
    for index, item in enumerate(receipt.items, 1):
        if item.quantity is not None and item.unit_price is not None:
            product = item.quantity * item.unit_price
            if abs(product - item.price) > LINE_TOLERANCE:
                warnings.append(
                    f'item {index} ("{item.name[:40]}"): {_show_quantity(item.quantity)} × '
                    f"{_show(item.unit_price)} = {_show(_cents(product))}, but its price says "
                    f"{_show(item.price)}"
                )
    prices = [item.price for item in receipt.items]
    items_sum = sum(prices, Decimal(0)) if prices else None
    subtotal, tax, total = receipt.subtotal, receipt.tax, receipt.total

    items_match_total = (
        items_sum is not None and total is not None and _agree(items_sum, total, prices)
    )
    # Items priced with tax and a net subtotal: the items then add up to the total.
    if (
        items_sum is not None
        and subtotal is not None
        and not _agree(items_sum, subtotal, prices)
        and not items_match_total
    ):
        warnings.append(
            f"the items add up to {_show(items_sum)}, but the subtotal says {_show(subtotal)}"
        )
    if total is None:
        return None
    if subtotal is not None:
        base, base_name, base_parts = subtotal, "the subtotal", [subtotal]
    elif items_sum is not None:
        base, base_name, base_parts = items_sum, "the items", prices
    else:
        return None
    if tax is not None and _agree(base + tax, total, [*base_parts, tax]):
        return "added"
    if _agree(base, total, base_parts):
        return "included" if tax is not None else None
    if tax is None:
        verb = "add up to" if subtotal is None else "says"
        warnings.append(f"{base_name} {verb} {_show(base)}, but the total says {_show(total)}")
    else:
        warnings.append(
            f"{base_name} {_show(base)} + tax {_show(tax)} = {_show(base + tax)}, but the total "
            f"says {_show(total)} (nor is the total {base_name} with the tax included)"
        )
    return None


def _agree(a: Decimal, b: Decimal, parts: list[Decimal | None]) -> bool:
    fractional = sum(1 for p in parts if p is not None and _places(p) > 2)
    return abs(a - b) <= _FRACTION_TOLERANCE * fractional


def _places(number: Decimal) -> int:
    exponent = number.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0


def _cents(number: Decimal) -> Decimal:
    try:
        return number.quantize(_CENT) if _places(number) > 2 else number
    except InvalidOperation:
        return number


def _show(number: Decimal) -> str:
    """An amount as a person reads it: 23.40, not 23.4 or 2.34E+1."""
    if _places(number) < 2:
        number = number.quantize(_CENT)
    return f"{number:f}"


def _show_quantity(number: Decimal) -> str:
    """A quantity as printed: 2, 0.5, 1.25 (no forced decimals)."""
    text = f"{number.normalize():f}" if number != number.to_integral_value() else f"{number:.0f}"
    return text
