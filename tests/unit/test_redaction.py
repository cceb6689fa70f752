"""Automatic redaction: what a screenshot shows that must be covered before it is sent, where
the boxes go, and what painting them does to the image.

OCR readings are built by hand: each line's words get boxes as a monospace font would place
them (``CHAR_W`` pixels per character, one space between words), so expected boxes can be
computed from character positions.
"""

from __future__ import annotations

import json
import random
import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import ImageFont

from desktop_vlm.core.ocr_types import OcrLine, OcrResult, OcrWord
from desktop_vlm.core.redaction import (
    Finding,
    Redaction,
    find_sensitive,
)
from desktop_vlm.core.redaction.checks import (
    luhn_ok,
)

CHAR_W, LINE_H, LEFT = 10, 18, 20
WIDTH, HEIGHT = 1600, 400


def fake_key(prefix: str, length: int, alphabet: str = string.ascii_letters + string.digits) -> str:
    """A key-shaped string made at run time (no real-looking key is written in the repo)."""
    rng = random.Random(prefix + str(length))
    return prefix + "".join(rng.choice(alphabet) for _ in range(length))


def line_of(text: str, top: int = 20, left: int = LEFT, words: bool = True) -> OcrLine:
    boxes = []
    x = left
    for word in text.split(" "):
        boxes.append(OcrWord(word, (x, top, x + CHAR_W * len(word), top + LINE_H)))
        x += CHAR_W * (len(word) + 1)
    box = (left, top, left + CHAR_W * len(text), top + LINE_H)
    return OcrLine(text, box, words=tuple(boxes) if words else ())


def reading(*texts: str, words: bool = True) -> OcrResult:
    lines = tuple(line_of(t, top=20 + 30 * i, words=words) for i, t in enumerate(texts))
    return OcrResult("\n".join(texts), lines, width=WIDTH, height=HEIGHT)


def found(text: str) -> list[tuple[str, str]]:
    return [(f.kind, f.text) for f in find_sensitive(reading(text))]


# --- the corpus: what is covered, and what looks close but is not ---------------------------

JWT = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9"
    + ".eyJzdWIiOiIxMjM0NTY3ODkwIiwibmFtZSI6IkFubmEifQ"
    + "."
    + fake_key("", 43, string.ascii_letters + string.digits + "-_")
)
POSITIVES = [
    # (kind, the line as read, what must be covered: the text, None for the whole line, -N for
    # its last N characters)
    ("email", "Contact: anna.berg@example.com", "anna.berg@example.com"),
    ("email", "write to anna @ example.com today", "anna @ example.com"),
    ("email", "cc first.last+tag@mail.example.co.uk.", "first.last+tag@mail.example.co.uk"),
    ("phone", "Tel: +49 30 12345678", "+49 30 12345678"),
    ("phone", "US office +1 (555) 123-4567", "+1 (555) 123-4567"),
    ("phone", "call 0049 30 1234567 now", "0049 30 1234567"),
    ("phone", "+447700900123", "+447700900123"),
    ("phone", "(555) 123-4567", "(555) 123-4567"),
    ("phone", "desk 555-123-4567", "555-123-4567"),
    ("phone", "555.123.4567", "555.123.4567"),
    ("phone", "Berlin 030 1234567", "030 1234567"),
    ("phone", "London 07700 900123", "07700 900123"),
    ("phone", "Paris 01 23 45 67 89", "01 23 45 67 89"),
    ("phone", "Mobile: 612 345 678", "612 345 678"),
    ("phone", "on 31.01.2024 030 1234567", "030 1234567"),
    ("card", "Card 4111 1111 1111 1111 exp 12/27", "4111 1111 1111 1111"),
    ("card", "5555-5555-5555-4444", "5555-5555-5555-4444"),
    ("card", "Amex 378282246310005", "378282246310005"),
    ("card", "Amex 3782 822463 10005", "3782 822463 10005"),
    ("card", "Discover 6011111111111117", "6011111111111117"),
    ("card", "Visa 4l11 1111 1111 1111 (read by OCR)", "4l11 1111 1111 1111"),
    ("card", "Visa 4111 1111 1111 1111 CVV 123", "4111 1111 1111 1111"),
    ("card", "Card 5555 5555 55554444 (OCR lost a space)", "5555 5555 55554444"),
    ("iban", "IBAN DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX", "DE89 3704 0044 0532 0130 00"),
    ("iban", "GB82WEST12345698765432", "GB82WEST12345698765432"),
    ("iban", "FR14 2004 1010 0505 0001 3M02 606", "FR14 2004 1010 0505 0001 3M02 606"),
    ("iban", "IE29 AIBK 9311 5212 3456 78", "IE29 AIBK 9311 5212 3456 78"),
    ("iban", "DE89 37O4 0044 0532 0130 00 (read by OCR)", "DE89 37O4 0044 0532 0130 00"),
    ("secret", "OPENAI_API_KEY=" + fake_key("sk-proj-", 40), fake_key("sk-proj-", 40)),
    ("secret", fake_key("sk-", 48), fake_key("sk-", 48)),
    ("secret", "key " + fake_key("sk-ant-api03-", 60), fake_key("sk-ant-api03-", 60)),
    ("secret", fake_key("ghp_", 36), fake_key("ghp_", 36)),
    ("secret", fake_key("gho_", 36), fake_key("gho_", 36)),
    ("secret", fake_key("ghs_", 36), fake_key("ghs_", 36)),
    ("secret", fake_key("github_pat_", 82), fake_key("github_pat_", 82)),
    ("secret", fake_key("AKIA", 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), None),
    ("secret", fake_key("ASIA", 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"), None),
    ("secret", fake_key("xoxb-", 40, "0123456789abcdef-"), None),
    ("secret", fake_key("xoxp-", 40, "0123456789abcdef-"), None),
    ("secret", "google " + fake_key("AIza", 35), fake_key("AIza", 35)),
    ("secret", fake_key("glpat-", 20), fake_key("glpat-", 20)),
    ("secret", "token: " + JWT, JWT),
    ("secret", "-----BEGIN OPENSSH PRIVATE KEY-----", "-----BEGIN OPENSSH PRIVATE KEY-----"),
    ("secret", "Authorization: Bearer a1b2c3d4e5f6g7h8i9", "a1b2c3d4e5f6g7h8i9"),
    ("secret", "aws_secret " + fake_key("", 40, string.ascii_letters + string.digits + "/+"), -40),
    ("secret", "session " + fake_key("", 40, string.ascii_letters + string.digits), -40),
    ("secret", "postgres://admin:hunter22@db.example.com/prod", "admin:hunter22"),
    ("secret", "DB_PASSWORD=hunter22", "hunter22"),
]

NEGATIVES = [
    "Meeting on 2024-01-31 at 10:30",
    "due 31.01.2024, 01/02/2024 or 2/3/24",
    "uptime 10:30:15 since 09:00",
    "Release v1.2.3 (build 10.0.19045.3803)",
    "Total: 1,234.56 EUR and $1,234,567.89",
    "population 1 234 567 in 2024",
    "Invoice INV-2024-001234 for order 123456",
    "Order #12345678 shipped",
    "ISBN 978-3-16-148410-0 and 9783161484100",
    "Card 4111 1111 1111 1112",  # fails Luhn
    "DE89 3704 0044 0532 0130 01",  # wrong check digits
    "id 550e8400-e29b-41d4-a716-446655440000",
    "commit 2fd4e1c67a2d28fced849ee1bb76e7391b93eb12",
    "sha256 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
    "color: #ff00aa; background: #1e1e1e",
    "Pneumonoultramicroscopicsilicovolcanoconiosis internationalization",
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/home/anna/projects/desktop-vlm/tests/unit/test_redaction.py",
    "C:\\Users\\Anna\\AppData\\Local\\Programs\\Python311\\python.exe",
    "https://github.com/openai/whisper/blob/main/README.md",
    "https://docs.python.org/3/library/re.html#re.finditer",
    "server 192.168.100.200 port 8080",
    "x = a @ self.weight",
    "icon@2x.png and logo@3x.png",
    "the bearer authentication scheme",
    "max_tokens = 4096000",
    "XMLHttpRequestEventTarget test_all_1d_norm_preserving",
    "password: ********",
    "pip install sk-learn-model-selection-notes",
    "graph: 1234567 nodes, recall 7654321",
    "Year 2024, page 12 of 345",
]


@pytest.mark.parametrize(("kind", "text", "covered"), POSITIVES, ids=[p[1][:40] for p in POSITIVES])
def test_sensitive_text_is_found(kind: str, text: str, covered: str | int | None) -> None:
    # GIVEN a line of a screenshot that shows something sensitive
    # WHEN it is searched
    findings = found(text)
    # THEN exactly that is reported, as its kind (None: the whole line; -N: its last N chars)
    if covered is None:
        covered = text
    elif isinstance(covered, int):
        covered = text[covered:]
    assert findings == [(kind, covered)]


@pytest.mark.parametrize("text", NEGATIVES)
def test_harmless_text_that_looks_close_is_left_alone(text: str) -> None:
    assert found(text) == []


def test_a_full_screen_reports_each_kind_once() -> None:
    # GIVEN a mail client showing prose, an address, a card, an IBAN and a key
    result = reading(
        "Hi Anna, the invoice for March is attached.",
        "From: billing@shop.example.org",
        "Paid with 4111 1111 1111 1111",
        "Refunds to DE89 3704 0044 0532 0130 00",
        "deploy key " + fake_key("ghp_", 36),
        "Kind regards, the shop",
    )
    # WHEN it is searched
    redaction = Redaction(tuple(find_sensitive(result)))
    # THEN each is covered once, in reading order, and the prose is not
    assert redaction.counts == {"email": 1, "card": 1, "iban": 1, "secret": 1}
    assert [f.box[1] for f in redaction.findings] == sorted(f.box[1] for f in redaction.findings)
    assert redaction.describe() == (
        "4 areas covered: 1 e-mail address, 1 card number, 1 IBAN, 1 key"
    )


# --- boxes -----------------------------------------------------------------------------------


def test_a_card_in_four_words_is_covered_by_one_box_over_exactly_those_words() -> None:
    # GIVEN "Card 4111 1111 1111 1111 exp" with a box per word
    line = line_of("Card 4111 1111 1111 1111 exp", top=40)
    result = OcrResult(line.text, (line,), width=WIDTH, height=HEIGHT)
    # WHEN it is searched (2 px padding, no extra at the sides)
    (finding,) = find_sensitive(result, pad=2, side_slack=0)
    # THEN the box runs from the first group's left edge to the last group's right edge
    first, last = line.words[1].box, line.words[4].box
    assert finding.box == (first[0] - 2, 38, last[2] + 2, 40 + LINE_H + 2)
    # and neither "Card" nor "exp" is under it
    assert finding.box[0] > line.words[0].box[2]
    assert finding.box[2] < line.words[5].box[0]


def test_the_sides_get_extra_padding_in_proportion_to_the_text_height() -> None:
    # GIVEN an 18-px line with an address; OCR word boxes often stop short of the glyphs
    result = reading("mail anna@example.com now")
    word = result.lines[0].words[1].box
    # WHEN it is searched with 2 px padding and half the height more at the sides
    (finding,) = find_sensitive(result, pad=2, side_slack=0.5)
    # THEN the box is 2 + 9 px wider on the left and right, 2 px taller at top and bottom
    assert finding.box == (word[0] - 11, word[1] - 2, word[2] + 11, word[3] + 2)


def _key_line(prefix: str, key: str, font: str) -> tuple[OcrLine, float, int]:
    """One OCR word ``prefix + key`` as a monospace font or a real proportional one (Pillow's
    own 16-px font) lays it out: the line, and the x where the key's glyphs begin and end."""
    text = prefix + key
    if font == "mono":
        key_left, width = LEFT + CHAR_W * len(prefix), CHAR_W * len(text)
    else:
        sans = ImageFont.load_default(size=16)
        key_left, width = LEFT + sans.getlength(prefix), round(sans.getlength(text))
    box = (LEFT, 40, LEFT + width, 58)
    return OcrLine(text, box, words=(OcrWord(text, box),)), key_left, LEFT + width


@pytest.mark.parametrize("font", ["mono", "sans"])
@pytest.mark.parametrize("prefix", ["key=", "OPENAI_API_KEY=", "illicit_token_file:"])
def test_a_key_inside_a_word_is_covered_from_its_first_character(prefix: str, font: str) -> None:
    # GIVEN one OCR word "PREFIX=sk-proj-..." (no space after the "="), in either kind of font
    key = fake_key("sk-proj-", 40)
    line, key_left, word_right = _key_line(prefix, key, font)
    result = OcrResult(line.text, (line,), width=WIDTH, height=HEIGHT)
    # WHEN it is searched, without padding
    (finding,) = find_sensitive(result, pad=0, side_slack=0)
    # THEN the box starts before the key's first glyph and ends with the word
    assert finding.text == key
    assert finding.box[0] <= key_left and finding.box[2] == word_right
    # AND most of the prefix stays readable
    assert finding.box[0] - LEFT >= 0.5 * (key_left - LEFT)


def test_a_match_in_the_middle_of_a_word_is_cut_on_both_sides_with_room() -> None:
    # GIVEN "token=ghp_...;" as one monospace word
    key = fake_key("ghp_", 36)
    line = line_of(f"token={key};", top=0)
    result = OcrResult(line.text, (line,), width=WIDTH, height=HEIGHT)
    # WHEN it is searched, without padding
    (finding,) = find_sensitive(result, pad=0, side_slack=0)
    # THEN the key's characters (6 .. 6+len) are inside the box, with a character to spare
    left = line.words[0].box[0]
    key_left, key_right = left + 6 * CHAR_W, left + (6 + len(key)) * CHAR_W
    assert finding.box[0] <= key_left - CHAR_W and finding.box[2] >= key_right + CHAR_W
    # and "tok" stays visible
    assert finding.box[0] >= left + 3 * CHAR_W


def test_without_word_boxes_the_line_box_is_cut_by_character_position() -> None:
    # GIVEN an engine that gives only line boxes
    result = reading("Card 4111 1111 1111 1111 exp", words=False)
    # WHEN it is searched
    (finding,) = find_sensitive(result, pad=0, side_slack=0)
    # THEN the box covers characters 5..24 of the line with room, and "Ca" and "xp" stay out
    assert LEFT + 2 * CHAR_W <= finding.box[0] <= LEFT + 4 * CHAR_W
    assert LEFT + 25 * CHAR_W <= finding.box[2] <= LEFT + 27 * CHAR_W
    assert finding.box[1::2] == (20, 20 + LINE_H)


def test_the_first_and_last_words_reach_out_to_the_line_box() -> None:
    # GIVEN word boxes that stop 4 px inside the line box, as rapidocr's do
    email = "anna@example.com"
    word = OcrWord(email, (104, 10, 264, 28))
    line = OcrLine(email, (100, 9, 268, 29), words=(word,))
    # WHEN it is searched
    (finding,) = find_sensitive(
        OcrResult(email, (line,), width=WIDTH, height=HEIGHT), pad=0, side_slack=0
    )
    # THEN the box spans the line box's width (the glyphs reach that far)
    assert finding.box == (100, 10, 268, 28)
    # BUT a bogus line box far away is not trusted
    bogus = OcrLine(email, (0, 0, 0, 0), words=(word,))
    (finding,) = find_sensitive(
        OcrResult(email, (bogus,), width=WIDTH, height=HEIGHT), pad=0, side_slack=0
    )
    assert finding.box == word.box


def test_a_key_the_engine_split_into_words_without_spaces_is_covered_whole() -> None:
    # GIVEN a line whose text has the key in one piece, but whose word boxes cut it in three
    # (rapidocr did this to "sk-bGfKFI6mAezmOWfSLjI8MU9cdrJRM2jVrVKch3Tz")
    key = fake_key("sk-", 40)
    parts = ["api_key:", key[:11], key[11:15], key[15:]]
    words, x = [], LEFT
    for index, part in enumerate(parts):
        words.append(OcrWord(part, (x, 20, x + CHAR_W * len(part), 38)))
        x += CHAR_W * (len(part) + (1 if index == 0 else 0))
    line = OcrLine("api_key: " + key, (LEFT, 20, x, 38), words=tuple(words))
    # WHEN it is searched
    findings = find_sensitive(OcrResult(line.text, (line,), width=WIDTH, height=HEIGHT), pad=0)
    # THEN the whole key is one finding, from its first piece to its last
    assert [(f.kind, f.text) for f in findings] == [("secret", key)]
    assert findings[0].box[0] <= words[1].box[0] and findings[0].box[2] >= words[3].box[2]


def test_padding_is_clamped_to_the_image() -> None:
    # GIVEN an address in the top-left corner and a key touching the right and bottom edges
    email = OcrLine(
        "a@example.com", (0, 0, 130, 16), words=(OcrWord("a@example.com", (0, 0, 130, 16)),)
    )
    key = fake_key("ghp_", 36)
    key_line = OcrLine(key, (200, 84, 600, 100), words=(OcrWord(key, (200, 84, 600, 100)),))
    result = OcrResult("", (email, key_line), width=600, height=100)
    # WHEN it is searched with 3 px padding and the default extra at the sides
    boxes = [f.box for f in find_sensitive(result, pad=3)]
    # THEN the padding stops at the image's edges
    assert boxes[0][:2] == (0, 0) and boxes[0][2] > 133 and boxes[0][3] == 19
    assert boxes[1][0] < 197 and boxes[1][1] == 81 and boxes[1][2:] == (600, 100)


def test_a_pem_private_key_is_covered_with_the_block_under_it() -> None:
    # GIVEN a terminal showing a private key between two lines of prose
    body = [fake_key("", 64, string.ascii_letters + string.digits + "+/") for _ in range(3)]
    result = reading(
        "$ cat ~/.ssh/id_ed25519",
        "-----BEGIN OPENSSH PRIVATE KEY-----",
        *body,
        "Qm9hcmQ=",
        "-----END OPENSSH PRIVATE KEY-----",
        "Thanks for checking the deployment",
    )
    # WHEN it is searched
    findings = find_sensitive(result, pad=0)
    # THEN one key is reported; its box runs from the BEGIN line through the END line
    assert [f.kind for f in findings] == ["secret"]
    top_of_begin, bottom_of_end = result.lines[1].box[1], result.lines[6].box[3]
    assert findings[0].box[1] == top_of_begin and findings[0].box[3] == bottom_of_end
    # and the lines around it stay visible
    assert findings[0].box[1] > result.lines[0].box[3]
    assert findings[0].box[3] < result.lines[7].box[1]


def test_a_bearer_jwt_is_one_finding_not_two() -> None:
    assert found("Authorization: Bearer " + JWT) == [("secret", JWT)]


def test_a_finding_never_shows_its_text_in_logs_or_json() -> None:
    key = fake_key("ghp_", 36)
    (finding,) = find_sensitive(reading("token " + key))
    redaction = Redaction((finding,))
    assert key not in repr(finding)
    assert key not in redaction.to_json()


def test_an_overlong_line_is_searched_up_to_the_bound_and_says_so(caplog) -> None:
    # GIVEN a line of 10,000 characters (no real screen has one) with a card number at its start
    text = "Card 4111 1111 1111 1111 " + "x" * 9975
    line = OcrLine(text, (0, 0, 10 * len(text), 18))
    # WHEN it is searched
    findings = find_sensitive(OcrResult(text, (line,), width=WIDTH, height=HEIGHT))
    # THEN the card is still found, and the log says the rest was not read
    assert [f.kind for f in findings] == ["card"]
    assert "only the first" in caplog.text


# --- the summary -----------------------------------------------------------------------------


def test_the_summary_counts_per_kind_and_reads_as_a_sentence() -> None:
    findings = (
        Finding("secret", "x", (0, 0, 1, 1)),
        Finding("email", "x", (0, 0, 1, 1)),
        Finding("secret", "x", (0, 0, 1, 1)),
        Finding("phone", "x", (0, 0, 1, 1)),
    )
    redaction = Redaction(findings, manual=((5, 5, 9, 9),))
    assert redaction.counts == {"email": 1, "phone": 1, "secret": 2, "manual": 1}
    assert redaction.describe() == (
        "5 areas covered: 1 e-mail address, 1 phone number, 2 keys, 1 area drawn by hand"
    )
    data = json.loads(redaction.to_json())
    assert data["areas"] == 5 and data["counts"] == redaction.counts
    assert data["boxes"][-1] == {"kind": "manual", "box": [5, 5, 9, 9]}
    assert data["summary"] == redaction.describe()


def test_the_summary_of_nothing_says_so() -> None:
    assert Redaction().describe() == "nothing covered"
    assert Redaction().counts == {}
    single = Redaction((Finding("card", "x", (0, 0, 1, 1)),))
    assert single.describe() == "1 area covered: 1 card number"


# --- properties ------------------------------------------------------------------------------


def _with_luhn_digit(body: str) -> str:
    for check in "0123456789":
        if luhn_ok(body + check):
            return body + check
    raise AssertionError


@settings(max_examples=200, deadline=None)
@given(st.text("0123456789", min_size=15, max_size=15))
def test_every_valid_16_digit_card_in_groups_of_four_is_found(body: str) -> None:
    number = _with_luhn_digit(body)
    if len(set(number)) == 1:
        return  # 0000 0000 0000 0000 is a placeholder, not a card
    grouped = " ".join(number[i : i + 4] for i in range(0, 16, 4))
    assert found(f"Paid with {grouped} on Monday") == [("card", grouped)]


WORDS = (
    "the", "report", "shows", "revenue", "for", "march", "and", "april", "with", "notes", "from",
    "anna", "on", "page",
)  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(WORDS), min_size=1, max_size=14), st.integers(0, 9999))
def test_prose_with_small_numbers_is_never_covered(words: list[str], number: int) -> None:
    assert found(" ".join(words) + f" {number}") == []
