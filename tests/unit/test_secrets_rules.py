"""The key as text: a pasted key is checked without ever being repeated, a key a server echoes
back in any disguise is redacted, and a base URL that would carry or leak a secret is refused."""

from __future__ import annotations

import base64
import json
import string
from urllib.parse import quote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from desktop_vlm.core.errors import UsageError
from desktop_vlm.core.secrets_rules import (
    MAX_KEY_CHARS,
    REDACTED,
    base_url_problem,
    redact_text,
    validate_api_key,
)

KEY = "sk-Ab3dEf6hIj9kLm2nOp5qRs8tUv1wXyz4"  # 35 characters, as a real key looks
KEY_CHARS = string.ascii_letters + string.digits + "-_"


def _windows(secret: str, size: int) -> set[str]:
    return {secret[i : i + size] for i in range(len(secret) - size + 1)}


# --- validate_api_key ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "pasted",
    [KEY, f"  {KEY}\n", f"\t{KEY}\r\n", f"\ufeff{KEY}\u200b", f"\u00a0{KEY} \u200b\n"],
)
def test_a_good_key_comes_back_without_what_surrounded_it(pasted: str) -> None:
    assert validate_api_key(pasted) == KEY


@pytest.mark.parametrize(
    ("pasted", "message"),
    [
        ("", "The key is empty"),
        (" \n\t ", "The key is empty"),
        (f"{KEY[:20]}\n{KEY[20:]}", "The key contains a line break (at position 21)"),
        (f"{KEY[:20]}\r\n{KEY[20:]}", "line break (at position 21)"),
        (f"{KEY[:9]} {KEY[9:]}", "The key contains a space at position 10"),
        (f"{KEY[:9]}\u00a0{KEY[9:]}", "a blank character (U+00A0) at position 10"),
        ("sk-abcé123456", "outside printable ASCII (é at position 7)"),
        (f"{KEY[:5]}\x07{KEY[5:]}", "outside printable ASCII (U+0007 at position 6)"),
        (f"{KEY[:5]}\u200b{KEY[5:]}", "(U+200B at position 6)"),
        ("sk-abc\u2026wxyz", "It looks shortened"),
        (f"Bearer {KEY}", 'starts with "Bearer "'),
        (f"OPENAI_API_KEY={KEY}", '("OPENAI_API_KEY=...")'),
        (f"export HYPERBOLIC_API_KEY = {KEY}", '("HYPERBOLIC_API_KEY=...")'),
        (f'"{KEY}"', "wrapped in quotes"),
        (f"\u201c{KEY}\u201d", "wrapped in quotes"),
        ("k" * (MAX_KEY_CHARS + 1), "The key is 4,097 characters long; API keys are at most 4,096"),
    ],
)
def test_a_bad_paste_is_refused_with_what_is_wrong_and_never_the_key(
    pasted: str, message: str
) -> None:
    # WHEN a person pastes something that cannot be a key
    with pytest.raises(UsageError) as caught:
        validate_api_key(pasted)
    # THEN the message says what is wrong, with a hint, and the key itself is not in it
    assert message in str(caught.value)
    assert caught.value.hint
    assert not _windows(KEY, 6) & _windows(str(caught.value), 6)


def test_the_longest_allowed_key_is_accepted() -> None:
    assert validate_api_key("k" * MAX_KEY_CHARS) == "k" * MAX_KEY_CHARS


_DEFECTS = st.sampled_from([" ", "\n", "\r\n", "\t", "é", "\x00", "\x1b", "\u200b", "€", "\u2028"])


@settings(max_examples=300, deadline=None)
@given(
    secret=st.text(alphabet=KEY_CHARS, min_size=12, max_size=80),
    defect=_DEFECTS,
    where=st.integers(1, 79),
)
def test_a_key_with_a_defect_inside_is_refused_without_repeating_any_of_it(
    secret: str, defect: str, where: int
) -> None:
    # GIVEN a key with a bad character somewhere inside it (not at its ends, which are trimmed)
    where = 1 + where % (len(secret) - 1)
    pasted = secret[:where] + defect + secret[where:]
    # THEN it is refused, and no six characters of the key appear in what the person is told
    with pytest.raises(UsageError) as caught:
        validate_api_key(pasted)
    assert not _windows(secret, 6) & _windows(str(caught.value), 6)


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=60))
def test_whatever_is_pasted_the_result_is_a_clean_key_or_a_usage_error(text: str) -> None:
    try:
        key = validate_api_key(text)
    except UsageError:
        return
    assert 1 <= len(key) <= MAX_KEY_CHARS
    assert all("!" <= char <= "~" for char in key)


# --- redact_text -----------------------------------------------------------------------------


def _percent(text: str) -> str:
    return "".join(f"%{ord(char):02X}" for char in text)


ECHOES = {
    "as sent": f"Invalid API key: {KEY}.",
    "percent-encoded, one character": f"key={KEY.replace('-', '%2D')}",
    "percent-encoded, lower-case hex": f"key={KEY.replace('-', '%2d')}",
    "percent-encoded, every character": f"key={_percent(KEY)}",
    "percent-encoded twice": f"key={KEY.replace('-', '%252D')}",
    "JSON-escaped in a JSON body": '{"error": "' + KEY.replace("-", "\\u002d") + '"}',
    "JSON-escaped, every character": "".join(f"\\u{ord(c):04x}" for c in KEY),
    "HTML character references": "".join(f"&#{ord(c)};" for c in KEY[:10]) + KEY[10:],
    "split by a line break": f"key {KEY[:14]}\n{KEY[14:]} end",
    "split by CRLF and indentation": f"key {KEY[:14]}\r\n        {KEY[14:]} end",
    "split by an escaped line break": json.dumps({"m": f"{KEY[:20]}\n{KEY[20:]}"}),
    "split by an invisible zero-width space": f"key {KEY[:14]}\u200b{KEY[14:]}",
    "split by soft hyphens": "\u00ad".join(KEY),
    "split by a colour code": f"key \x1b[1m{KEY[:14]}\x1b[0m{KEY[14:]}\x1b[0m",
    "in a URL query": f"GET /v1/chat?api_key={quote(KEY)}&model=x failed",
    "in URL userinfo": f"could not reach https://user:{KEY}@api.example/v1",
    "in a Location header": f"Location: https://login.example/?next=%2Fv1%3Fkey%3D{quote(KEY)}",
    "first 12 characters": f"key {KEY[:12]}... was revoked",
    "last 12 characters": f"key ending in {KEY[-12:]} was revoked",
    "shortened with dots": f"key {KEY[:6]}...{KEY[-4:]} is invalid",
    "shortened with an ellipsis": f"key {KEY[:4]}\u2026{KEY[-4:]} is invalid",
    "shortened with asterisks": f"key {KEY[:5]}*****{KEY[-5:]} is invalid",
    "16 characters from the middle": f"token fragment {KEY[10:26]} rejected",
}


@pytest.mark.parametrize("name", ECHOES)
def test_an_echoed_key_is_redacted_in_every_disguise(name: str) -> None:
    # GIVEN a server that echoes the key back in some form
    echoed = ECHOES[name]
    # WHEN the text is redacted before anyone sees it
    shown = redact_text(echoed, KEY)
    # THEN the key is replaced, and no 12 characters of it survive in any form
    assert REDACTED in shown
    for form in (shown, json.loads(shown) if shown.startswith("{") else shown):
        assert not _windows(KEY, 12) & _windows(str(form), 12)
    assert KEY[3:9] not in shown  # not even the start of its secret part


@pytest.mark.parametrize("before", ["user:", "", "ab:", "x", "apikey:"])
@pytest.mark.parametrize("after", ["", ":", ":password"])
def test_a_basic_auth_header_that_carries_the_key_is_redacted(before: str, after: str) -> None:
    # GIVEN a server (or a proxy) that echoes the Authorization header it got
    credentials = f"{before}{KEY}{after}".encode()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        header = f"Authorization: Basic {encode(credentials).decode()} rejected"
        # WHEN it is redacted
        shown = redact_text(header, KEY)
        # THEN what is left of the base64 on either side decodes to the bytes before and after
        # the key (whole groups only), never to any of the key's
        left, right = shown.removeprefix("Authorization: Basic ").split(REDACTED)
        right = right.removesuffix(" rejected")
        for residue, around in ((left, before), (right, after)):
            assert len(residue) % 4 == 0, shown
            decoded = base64.urlsafe_b64decode(residue.replace("+", "-").replace("/", "_"))
            assert len(decoded) <= len(around)
        assert credentials.startswith(base64.urlsafe_b64decode(left.replace("+", "-")))


def test_base64_wrapped_over_lines_is_redacted() -> None:
    blob = base64.b64encode(f"user:{KEY}".encode()).decode()
    shown = redact_text(f"Basic {blob[:16]}\r\n {blob[16:]}", KEY)
    assert blob[8:24] not in shown.replace("\r\n ", "")
    assert REDACTED in shown


def test_ordinary_text_and_short_displays_are_left_alone() -> None:
    # GIVEN text with escapes, ellipses and line breaks but no key material
    text = "Error... the model %2F was not found\\n(see &#x41;pi docs)\nRetry *** later"
    assert redact_text(text, KEY) == text
    # AND the provider's own safe display, three public characters and four of the end, stays
    assert (
        redact_text(f"key sk-...{KEY[-4:]} is invalid", KEY) == f"key sk-...{KEY[-4:]} is invalid"
    )
    # AND 15 characters of the key from its middle are not enough to count
    assert redact_text(f"x {KEY[10:25]} x", KEY) == f"x {KEY[10:25]} x"


def test_keys_are_case_sensitive() -> None:
    # A copy with its case changed is not the key (API keys are case-sensitive), so it stays.
    assert redact_text(KEY.upper(), KEY) == KEY.upper()


def test_several_secrets_and_no_secret() -> None:
    other = "hf_" + "Q" * 5 + "w9e8r7t6y5u4i3o2"
    shown = redact_text(f"a {KEY} b {other} c", KEY, None, "", other, "abc")
    assert shown == f"a {REDACTED} b {REDACTED} c"
    assert redact_text(f"a {KEY}", None, "") == f"a {KEY}"
    assert redact_text("", KEY) == ""
    # A secret shorter than 4 characters would blank out ordinary words; it is skipped.
    assert redact_text("abc abc", "abc") == "abc abc"


def test_a_long_text_full_of_echoes_is_redacted_everywhere() -> None:
    # GIVEN half a megabyte of a hostile server repeating the key in mixed disguises
    parts = [KEY, KEY.replace("-", "%2D"), f"{KEY[:6]}...{KEY[-4:]}", KEY[5:25], "word " * 4]
    text = "\n".join(parts * 5_000)
    # WHEN it is redacted
    shown = redact_text(text, KEY)
    # THEN nothing of the key is left anywhere
    assert not _windows(KEY, 12) & _windows(shown, 12)
    assert shown.count("word") == 4 * 5_000


# Text that cannot join a key's characters: no letters, digits, "-", "_", "%", "\", "&", and
# no "..", which after a key's start marks it shortened (and is redacted with it).
_AROUND = st.text(alphabet=" ,;:!?()[]{}<>=/äöüß日本\t", max_size=20)


def _disguise(draw: st.DrawFn, secret: str) -> str:
    out = []
    for char in secret:
        form = draw(st.sampled_from(["plain"] * 6 + ["pct", "pct2", "json", "hex", "html"]))
        out.append(
            {
                "plain": char,
                "pct": f"%{ord(char):02x}",
                "pct2": f"%25{ord(char):02X}",
                "json": f"\\u{ord(char):04X}",
                "hex": f"\\x{ord(char):02x}",
                "html": f"&#{ord(char)};",
            }[form]
        )
    if draw(st.booleans()):
        cut = draw(st.integers(1, len(out) - 1))
        splitter = st.sampled_from(["\n", "\r\n  ", "\\n", "\\r\\n", "\u200b", "\x1b[0m"])
        out.insert(cut, draw(splitter))
    return "".join(out)


@settings(max_examples=300, deadline=None)
@given(
    secret=st.text(alphabet=KEY_CHARS, min_size=20, max_size=90),
    before=_AROUND,
    after=_AROUND,
    data=st.data(),
)
def test_any_key_in_any_mix_of_disguises_becomes_exactly_one_redaction(
    secret: str, before: str, after: str, data: st.DataObject
) -> None:
    # GIVEN a key written with any mix of encodings, maybe split by a line break
    echoed = _disguise(data.draw, secret)
    # WHEN it is redacted inside ordinary text
    shown = redact_text(before + echoed + after, secret)
    # THEN exactly the key's text is replaced, and the text around it is untouched
    assert shown == before + REDACTED + after


_ESCAPE_SOUP = st.text(
    alphabet=st.one_of(
        st.sampled_from("%25\\ux&#;0123456789abcdefABCDEF\n\r\x1b[m.…*"), st.characters()
    ),
    max_size=120,
)


@settings(max_examples=300, deadline=None)
@given(text=_ESCAPE_SOUP, secrets=st.lists(st.one_of(st.none(), _ESCAPE_SOUP), max_size=3))
def test_any_text_with_any_secrets_is_redacted_without_an_error(text: str, secrets: list) -> None:
    # GIVEN broken escapes (%4, \u12, &#99999999;), lone surrogates, and odd secrets
    shown = redact_text(text, *secrets)
    # THEN every secret long enough to count is gone from what is shown
    for secret in secrets:
        if secret and len(secret) >= 4:
            assert secret not in shown


@settings(max_examples=300, deadline=None)
@given(secret=st.text(alphabet=KEY_CHARS, min_size=20, max_size=60), text=st.text(max_size=200))
def test_text_without_the_key_is_unchanged(secret: str, text: str) -> None:
    assume(not _windows(secret, 8) & _windows(text, 8))
    assert redact_text(text, secret) == text


# --- base_url_problem ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://api.hyperbolic.xyz/v1",
        "https://api.openai.com/v1",
        "https://openrouter.ai/api/v1",
        "https://generativelanguage.googleapis.com/v1beta/openai/",
        "https://api.deepinfra.com/v1/openai",
        "http://127.0.0.1:11434/v1",
        "http://localhost:1234/v1",
        "http://[::1]:8000/v1",
        "HTTPS://API.EXAMPLE.COM/V1",
        "https://bücher.example/v1",
    ],
)
def test_good_base_urls_have_no_problem(url: str) -> None:
    assert base_url_problem(url) is None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://user:hunter2@api.example/v1", "contains a user name or password"),
        ("https://sk-secret@api.example/v1", "put the key in the keyring instead"),
        ("user:hunter2@api.example/v1", "contains a user name or password"),
        ("ftp://api.example/v1", "unsupported scheme; only https:// and http://"),
        ("file:///etc/passwd", "unsupported scheme"),
        ("javascript:alert(1)", "must begin with https://"),
        ("api.openai.com/v1", "must begin with https://"),
        ("localhost:8080/v1", "must begin with https://"),
        ("https:///v1", "has no host name"),
        ("https://:8080/v1", "has no host name"),
        ("https://api.example/v1#frag", 'contains a fragment ("#...")'),
        ("https://api.example/v1?key=hunter2", 'contains a query ("?...")'),
        ("https://api.example /v1", "contains a space at position 20"),
        (" https://api.example/v1", "contains a space at position 1"),
        ("https://api.example/v1\n", "control character (U+000A) at position 23"),
        ("https://api.example/\x00v1", "(U+0000)"),
        ("https://api.\u202eexample/v1", "(U+202E)"),
        ("https://good.example\\@evil.example/v1", "contains a backslash"),
        ("https://api.example:99999/v1", "malformed host or port"),
        ("https://api.example:port/v1", "malformed host or port"),
        ("https://[::1/v1", "malformed host or port"),
        ("https://api.example:0/v1", "port 0"),
        ("", "is empty"),
        ("https://" + "a" * 3000 + ".example/v1", "longer than 2,048 characters"),
    ],
)
def test_bad_base_urls_say_what_is_wrong(url: str, message: str) -> None:
    problem = base_url_problem(url)
    assert problem is not None and message in problem
    assert "hunter2" not in problem and "sk-secret" not in problem


@settings(max_examples=200, deadline=None)
@given(
    user=st.text(alphabet=KEY_CHARS, max_size=12),
    password=st.text(alphabet=KEY_CHARS + "%!$", min_size=12, max_size=40),
)
def test_a_password_in_the_base_url_is_refused_and_never_repeated(user: str, password: str):
    problem = base_url_problem(f"https://{user}:{password}@api.example.com/v1")
    assert problem is not None and "user name or password" in problem
    assert password not in problem
