"""Receipts as data: finding the JSON in an answer, its shape, its arithmetic, and its formats.

The answers are written the way models answer the receipt prompt: bare JSON, JSON in a fence
after a sentence, amounts as numbers or as printed strings, receipts that add tax and receipts
that include it (as European VAT receipts do).
"""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from desktop_vlm.core.checks import (
    RECEIPT_PROMPT,
    Receipt,
    ReceiptItem,
    follow_up_for,
    parse_amount,
    parse_receipt,
    receipt_to_csv,
    receipt_to_json,
    receipt_to_markdown,
)

GROCERY = {
    "merchant": "Greenleaf Market",
    "date": "2024-04-02",
    "currency": "USD",
    "items": [
        {"name": "Bananas 1kg", "quantity": 1, "unit_price": None, "price": 1.29},
        {"name": "Oat milk", "quantity": 2, "unit_price": 1.245, "price": 2.49},
        {"name": "Sourdough bread", "quantity": None, "unit_price": None, "price": 3.95},
        {"name": "Cheddar 200g", "quantity": 1, "unit_price": 3.10, "price": 3.10},
        {"name": "Free-range eggs x6", "quantity": 1, "unit_price": None, "price": 2.75},
    ],
    "subtotal": 13.58,
    "tax": 0.95,
    "total": 14.53,
}
# A German café receipt: prices include 19% VAT, the total equals the sum, the tax is what the
# total includes; the model wrote the amounts as printed, with decimal commas.
VAT_INCLUDED = """```json
{
  "merchant": "Northwind Café",
  "date": "2024-03-15",
  "currency": "EUR",
  "items": [
    {"name": "Flat white", "quantity": 2, "unit_price": "3,80", "price": "7,60"},
    {"name": "Croissant", "quantity": 1, "unit_price": null, "price": "2,90"},
    {"name": "Orange juice 0,3 l", "quantity": 1, "unit_price": null, "price": "3,40"}
  ],
  "subtotal": "13,90",
  "tax": "2,22",
  "total": "13,90"
}
```"""


def answer(data: dict, before: str = "", after: str = "") -> str:
    return before + json.dumps(data, ensure_ascii=False) + after


def changed(**fields) -> dict:
    return {**GROCERY, **fields}


def test_the_prompt_asks_for_one_json_object_with_every_key() -> None:
    for key in ("merchant", "date", "currency", "items", "quantity", "unit_price", "price"):
        assert f'"{key}"' in RECEIPT_PROMPT
    for key in ("subtotal", "tax", "total"):
        assert f'"{key}"' in RECEIPT_PROMPT
    assert "JSON object only" in RECEIPT_PROMPT and "ISO 4217" in RECEIPT_PROMPT
    assert "null" in RECEIPT_PROMPT and "YYYY-MM-DD" in RECEIPT_PROMPT


@pytest.mark.parametrize(
    "text",
    [
        answer(GROCERY),
        "```json\n" + json.dumps(GROCERY, indent=2) + "\n```",
        "Here is the receipt as JSON:\n\n```\n" + json.dumps(GROCERY) + "\n```\nAnything else?",
        answer(GROCERY, "Sure! The receipt reads: ", " I hope this helps."),
        answer(GROCERY, "{not json} and then ", ""),  # a brace in the prose before it
    ],
    ids=["bare", "json fence", "plain fence in prose", "amid prose", "after a stray brace"],
)
def test_the_json_is_found_wherever_the_model_put_it(text: str) -> None:
    check = parse_receipt(text)
    assert check.problem is None and check.ok
    receipt = check.receipt
    assert receipt is not None
    assert receipt.merchant == "Greenleaf Market" and receipt.currency == "USD"
    assert [item.price for item in receipt.items] == [
        Decimal("1.29"),
        Decimal("2.49"),
        Decimal("3.95"),
        Decimal("3.10"),
        Decimal("2.75"),
    ]
    assert receipt.total == Decimal("14.53") and check.tax_mode == "added"


def test_json_numbers_are_exact_decimals_never_floats() -> None:
    check = parse_receipt(
        '{"items": [{"name": "a", "price": 0.1}, {"name": "b", "price": 0.2}],'
        ' "subtotal": 0.3, "total": 0.3}'
    )
    # 0.1 + 0.2 != 0.3 in floats; the check must not warn about float noise
    assert check.ok and check.receipt.items[0].price == Decimal("0.1")


def test_a_vat_inclusive_receipt_adds_up() -> None:
    check = parse_receipt(VAT_INCLUDED)
    assert check.problem is None and check.warnings == ()
    assert check.tax_mode == "included"
    assert check.receipt.items[0] == ReceiptItem(
        "Flat white", Decimal("7.60"), Decimal("2"), Decimal("3.80")
    )


def test_items_priced_with_tax_over_a_net_subtotal_add_up() -> None:
    # GIVEN gross item prices, a net subtotal, the VAT, and the total
    data = changed(
        subtotal=11.68,
        tax=2.22,
        total=13.90,
        items=[
            {"name": "Coffee", "quantity": 1, "price": 7.60},
            {"name": "Cake", "quantity": 1, "price": 6.30},
        ],
    )
    check = parse_receipt(answer(data))
    assert check.warnings == () and check.tax_mode == "added"


@pytest.mark.parametrize(
    ("fields", "warning"),
    [
        (
            {"subtotal": 13.68, "total": 14.63},
            "the items add up to 13.58, but the subtotal says 13.68",
        ),
        (
            {"total": 14.58},
            "the subtotal 13.58 + tax 0.95 = 14.53, but the total says 14.58 "
            "(nor is the total the subtotal with the tax included)",
        ),
        (
            {"subtotal": None, "tax": None, "total": 14.53},
            "the items add up to 13.58, but the total says 14.53",
        ),
        (
            {"tax": None, "total": 14.53},
            "the subtotal says 13.58, but the total says 14.53",
        ),
        (
            {
                "items": [
                    {"name": "Oat milk", "quantity": 2, "unit_price": 1.29, "price": 2.49},
                    *GROCERY["items"][2:],
                ],
                "subtotal": 12.29,
                "total": 13.24,
            },
            'item 1 ("Oat milk"): 2 × 1.29 = 2.58, but its price says 2.49',
        ),
    ],
    ids=["items vs subtotal", "subtotal + tax vs total", "items vs total", "no tax", "line"],
)
def test_figures_that_do_not_add_up_are_named(fields: dict, warning: str) -> None:
    check = parse_receipt(answer(changed(**fields)))
    assert check.receipt is not None and check.problem is None
    assert check.warnings == (warning,)
    assert not check.ok


def test_a_misread_cent_is_caught() -> None:
    # GIVEN the model read 2.75 as 2.76: one cent off, exactly what the check is for
    items = [*GROCERY["items"][:4], {"name": "Free-range eggs x6", "price": 2.76}]
    check = parse_receipt(answer(changed(items=items)))
    assert check.warnings == ("the items add up to 13.59, but the subtotal says 13.58",)


def test_a_unit_price_in_tenths_of_a_cent_rounds_within_a_cent() -> None:
    # GIVEN fuel: 41.52 l at 1.799 a litre is 74.69448, printed as 74.69
    data = {
        "items": [{"name": "Diesel", "quantity": "41.52", "unit_price": "1.799", "price": "74.69"}],
        "subtotal": None,
        "tax": None,
        "total": "74.69",
    }
    assert parse_receipt(answer(data)).warnings == ()


def test_fields_kept_but_not_as_asked_are_warned_about() -> None:
    check = parse_receipt(answer(changed(date="02/04/2024", currency="€")))
    assert check.receipt.currency == "EUR"  # a sign with one meaning becomes its code
    assert check.warnings == ('the date "02/04/2024" is not written as YYYY-MM-DD',)
    check = parse_receipt(answer(changed(currency="$")))
    assert check.warnings == ('the currency "$" is not an ISO 4217 code',)


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("I cannot read this receipt.", "the answer contains no JSON object"),
        (
            '{"items": [{"name": "Tea", "price": 2.10}, ], "total": 2.10}',
            "the JSON is not valid: Expecting value (line 1, column 44)",
        ),
        ('[{"name": "Tea", "price": 2.10}]', "the answer is a JSON list, not one JSON object"),
        ('{"total": 2.10}', 'the key "items" is missing (use null if it is not on the receipt)'),
        (
            '{"items": [], "tax": null}',
            'the key "total" is missing (use null if it is not on the receipt)',
        ),
        (
            '{"items": {"Tea": 2.10}, "total": 2.10}',
            '"items" must be a list of objects, not an object',
        ),
        ('{"items": ["Tea 2.10"], "total": 2.10}', "item 1 must be an object, not text"),
        ('{"items": [{"name": "Tea"}], "total": 2.10}', 'item 1 has no "price"'),
        (
            '{"items": [{"name": "Tea", "price": null}], "total": 2.10}',
            'item 1 ("Tea")\'s price is null; every item needs the price printed for it',
        ),
        (
            '{"items": [{"name": "Tea", "price": "two"}], "total": 2.10}',
            'the item 1 ("Tea")\'s price "two" is not a number',
        ),
        (
            '{"items": [{"name": "Tea", "price": true}], "total": 2.10}',
            'the item 1 ("Tea")\'s price must be a number or null, not true/false',
        ),
        (
            '{"items": [{"name": 7, "price": 2.10}], "total": 2.10}',
            "the item 1's name must be text or null, not a number",
        ),
        ('{"items": [], "total": NaN}', "the JSON is not usable: NaN is not a JSON number"),
        (
            '{"items": [], "total": 1, "total": 2}',
            'the JSON is not usable: the key "total" appears twice',
        ),
        ('{"items": [], "total": 1e30}', "the total 1E+30 is out of range"),
    ],
)
def test_an_unusable_answer_says_which_field_is_wrong(text: str, problem: str) -> None:
    check = parse_receipt(text)
    assert check.receipt is None and not check.ok
    assert check.problem == problem


def test_the_follow_up_quotes_the_problem() -> None:
    problem = parse_receipt('{"items": [{"name": "Tea"}], "total": 2.10}').problem
    question = follow_up_for(problem)
    assert 'item 1 has no "price"' in question
    assert question.startswith("Your answer could not be used as the receipt data")
    assert "only the corrected JSON object" in question
    assert len(follow_up_for("x" * 10_000)) < 600  # a runaway problem text is cut


def test_an_oversized_answer_is_refused_before_parsing() -> None:
    check = parse_receipt("{" + " " * 300_000 + "}")
    assert check.problem == "the answer is longer than 200,000 characters"


@pytest.mark.parametrize(
    ("printed", "value"),
    [
        ("12,50", "12.50"),
        ("12.50", "12.50"),
        ("1.799", "1.799"),
        ("1,234.50", "1234.50"),
        ("1.234,50", "1234.50"),
        ("1 234,50", "1234.50"),
        ("1,234,567", "1234567"),
        ("-2.00", "-2.00"),
        ("2.00-", "-2.00"),
        ("(2.00)", "-2.00"),
        ("€ 3.10", "3.10"),
        ("3.10 EUR", "3.10"),
        ("$16.49", "16.49"),
    ],
)
def test_printed_amounts_follow_the_documented_decimal_rule(printed: str, value: str) -> None:
    assert parse_amount(printed) == Decimal(value)


@pytest.mark.parametrize("printed", ["", "abc", "1.2.3", "12,34,5", "1,2.3,4", "--3", "1e5"])
def test_what_is_not_an_amount_is_refused(printed: str) -> None:
    assert parse_amount(printed) is None


# --- formats --------------------------------------------------------------------------------

SMALL = Receipt(
    merchant="Café Nord",
    date="2024-03-15",
    currency="EUR",
    items=(
        ReceiptItem("Flat white, large", Decimal("7.60"), Decimal("2"), Decimal("3.80")),
        ReceiptItem('=HYPERLINK("http://x")', Decimal("2.90")),
        ReceiptItem("Discount *staff*", Decimal("-1.00"), Decimal("1")),
    ),
    subtotal=None,
    tax=Decimal("1.51"),
    total=Decimal("9.50"),
)


def test_csv_has_a_row_per_item_then_the_totals() -> None:
    assert receipt_to_csv(SMALL).encode() == (
        b"name,quantity,unit_price,price\r\n"
        b'"Flat white, large",2,3.80,7.60\r\n'
        b'"\'=HYPERLINK(""http://x"")",,,2.90\r\n'
        b"Discount *staff*,1,,-1.00\r\n"
        b"tax,,,1.51\r\n"
        b"total,,,9.50\r\n"
    )
    rows = list(csv.reader(io.StringIO(receipt_to_csv(SMALL), newline="")))
    assert rows[1] == ["Flat white, large", "2", "3.80", "7.60"]


def test_json_is_pretty_in_the_prompts_key_order() -> None:
    text = receipt_to_json(SMALL)
    data = json.loads(text)
    assert list(data) == ["merchant", "date", "currency", "items", "subtotal", "tax", "total"]
    assert list(data["items"][0]) == ["name", "quantity", "unit_price", "price"]
    assert data["items"][0] == {
        "name": "Flat white, large",
        "quantity": 2,
        "unit_price": 3.8,
        "price": 7.6,
    }
    assert data["total"] == 9.5 and data["subtotal"] is None
    assert text.startswith('{\n  "merchant": "Café Nord",')


def test_markdown_escapes_the_models_text() -> None:
    assert receipt_to_markdown(SMALL) == (
        "**Café Nord** · 2024-03-15 · EUR\n"
        "\n"
        "| Item | Qty | Unit price | Price |\n"
        "| --- | ---: | ---: | ---: |\n"
        "| Flat white, large | 2 | 3.80 | 7.60 |\n"
        '| =HYPERLINK\\("http://x"\\) |  |  | 2.90 |\n'
        "| Discount \\*staff\\* | 1 |  | -1.00 |\n"
        "| **Tax** | | | 1.51 |\n"
        "| **Total** | | | **9.50** |\n"
    )


AMOUNTS = st.decimals(min_value=-10_000, max_value=10_000, places=2, allow_nan=False)
NAMES = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30
).filter(str.strip)
RECEIPTS = st.builds(
    Receipt,
    merchant=st.none() | NAMES,
    date=st.none() | st.dates().map(str),
    currency=st.none() | st.sampled_from(["EUR", "USD", "GBP"]),
    items=st.lists(
        st.builds(
            ReceiptItem,
            name=NAMES,
            price=AMOUNTS,
            quantity=st.none() | st.integers(1, 50).map(Decimal),
            unit_price=st.none() | AMOUNTS,
        ),
        max_size=6,
    ).map(tuple),
    subtotal=st.none() | AMOUNTS,
    tax=st.none() | AMOUNTS,
    total=st.none() | AMOUNTS,
)


@settings(max_examples=200, deadline=None)
@given(RECEIPTS)
def test_the_json_a_receipt_is_written_as_parses_back_to_the_same_receipt(receipt) -> None:
    assert parse_receipt(receipt_to_json(receipt)).receipt == receipt


@settings(max_examples=100, deadline=None)
@given(AMOUNTS)
def test_an_amount_printed_in_either_convention_reads_back(value: Decimal) -> None:
    english = f"{value:,.2f}"
    german = english.replace(",", " ").replace(".", ",").replace(" ", ".")
    assert parse_amount(english) == value
    assert parse_amount(german) == value
