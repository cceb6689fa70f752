"""Reading order from line boxes alone: columns of text are read one after the other, but the
prices beside a receipt's items stay on their rows."""

from __future__ import annotations

from desktop_vlm.services.ocr.layout import Piece, arrange, to_text


def test_prices_beside_items_are_read_with_their_rows() -> None:
    # GIVEN a receipt: items on the left, prices in a narrow column far to the right
    pieces = []
    for n, (item, price) in enumerate(
        [("1 x Flat white", "4.50"), ("1 x Club sandwich", "8.99"), ("2 x Oat cookie", "2.40")]
    ):
        top = 100 + n * 28
        pieces.append(Piece(item, (28, top, 28 + 12 * len(item), top + 22)))
        pieces.append(Piece(price, (300, top, 348, top + 22)))
    # WHEN arranged
    text = to_text(arrange(pieces))
    # THEN each price follows its item
    assert text.splitlines() == [
        "1 x Flat white 4.50",
        "1 x Club sandwich 8.99",
        "2 x Oat cookie 2.40",
    ]


def test_two_wide_columns_are_read_one_after_the_other() -> None:
    left = ["The left column tells", "one story from the top", "to the bottom here."]
    right = ["The right column is a", "second story, read only", "after the left one."]
    pieces = []
    for n, (a, b) in enumerate(zip(left, right, strict=True)):
        top = 40 + n * 24
        pieces.append(Piece(a, (20, top, 20 + 8 * len(a), top + 18)))
        pieces.append(Piece(b, (320, top, 320 + 8 * len(b), top + 18)))
    lines = [line for line in to_text(arrange(pieces)).splitlines() if line]
    assert lines == left + right
