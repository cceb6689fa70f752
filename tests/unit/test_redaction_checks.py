"""The arithmetic behind the redaction rules: check digits, OCR digit repair, and the shape
rule that tells a generated key from a name."""

from __future__ import annotations

import random
import string

import pytest

from desktop_vlm.core.redaction.checks import iban_ok, looks_random, luhn_ok, repair_digits


def test_luhn_and_mod97_decide() -> None:
    assert luhn_ok("4111111111111111") and not luhn_ok("4111111111111112")
    assert luhn_ok("79927398713") and not luhn_ok("7992739871x")
    assert iban_ok("DE89370400440532013000") and not iban_ok("DE88370400440532013000")
    assert iban_ok("NO9386011117947") and not iban_ok("NO938601111794")  # length per country
    assert not iban_ok("XX89370400440532013000")  # no such country


@pytest.mark.parametrize(
    ("text", "repaired"),
    [
        ("4l11 1111", "4111 1111"),
        ("2O24-O1-31", "2024-O1-31"),  # "O1": one digit is too little to call it a number
        ("IE29 AIBK", "IE29 AIBK"),  # "IE29" holds an E: a word, not a number
        ("lol I0 l0l0 Oil", "lol I0 l0l0 Oil"),  # too few real digits
        ("||| 10|1", "||| 1011"),
    ],
)
def test_ocr_look_alikes_are_repaired_only_inside_plain_numbers(text: str, repaired: str) -> None:
    assert repair_digits(text) == repaired


def test_random_keys_look_random_and_names_do_not() -> None:
    # GIVEN 500 random keys per alphabet and length, and names people and programs write
    rng = random.Random(11)
    alphabets = {
        "base62": string.ascii_letters + string.digits,
        "base64url": string.ascii_letters + string.digits + "-_",
        "lower36": string.ascii_lowercase + string.digits,
        "upper32": string.ascii_uppercase + "234567",
    }
    for name, alphabet in alphabets.items():
        for length, floor in ((24, 0.90), (40, 0.97)):
            keys = ["".join(rng.choice(alphabet) for _ in range(length)) for _ in range(500)]
            # THEN nearly every key is caught (the rest are the unlucky ones with no digit or a
            # word in them)
            share = sum(map(looks_random, keys)) / len(keys)
            assert share >= floor, (name, length, share)
    names = [
        "getUserAccountSettingsForTenant2",
        "test_redaction_handles_ocr_spacing_v2",
        "x86_64-linux-gnu-python3.11-config",
        "site-packages/desktop_vlm/core/redaction",
        "ThisIsALongCamelCaseName1234",
        "README_FIRST_then_INSTALL_v10",
    ]
    assert [n for n in names if looks_random(n)] == []
    # AND no commit id, checksum or UUID-like hex string, however random, is called a key
    hexes = [
        "".join(rng.choice("0123456789abcdef") for _ in range(length))
        for length in (32, 40, 64)
        for _ in range(100)
    ]
    assert [h for h in hexes + [h.upper() for h in hexes] if looks_random(h)] == []
