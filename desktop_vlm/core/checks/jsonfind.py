"""Find the one JSON object in a model's answer: plain, in a code fence, or amid prose.

Models asked for "JSON only" still wrap it in a ```json fence or say a sentence first. The
object is taken from wherever it is; what cannot be found or decoded is described in words a
follow-up question can quote. Numbers decode as ``Decimal`` (never float), NaN and Infinity are
refused (they are not JSON), and so is a key given twice (which one did the model mean?).
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from typing import Any

_FENCE = re.compile(r"```[ \t]*([A-Za-z0-9_+-]*)[^\n]*\n(.*?)```", re.DOTALL)
#: Positions of "{" tried as the start of the object, at most (bounds the work on long prose).
MAX_STARTS = 50


class _Refused(ValueError):
    pass


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise _Refused(f'the key "{key}" appears twice')
        result[key] = value
    return result


def _constant(name: str) -> Any:
    raise _Refused(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(
    parse_float=Decimal, parse_constant=_constant, object_pairs_hook=_pairs, strict=False
)


def find_json_object(answer: str, prefer: tuple[str, ...] = ()) -> dict[str, Any] | str:
    """The JSON object in ``answer``, or a sentence saying why there is none.

    Tried in order: the whole answer; each fenced code block (```json first); each "{" in the
    text. Of several objects amid prose, the first with one of the ``prefer`` keys wins, else
    the first (unless a "{" before it failed to decode: then that error is the answer).
    """
    fences = sorted(_FENCE.finditer(answer), key=lambda m: m.group(1).lower() != "json")
    first_error: str | None = None
    for text in [answer.strip(), *(m.group(2).strip() for m in fences)]:
        if not text.startswith(("{", "[")):
            continue
        value, end, error = _decode(text, 0)
        if error is None and text[end:].strip():
            error = "the JSON object is followed by other text"
        elif isinstance(value, list):
            return "the answer is a JSON list, not one JSON object"
        elif isinstance(value, dict):
            return value
        first_error = first_error or error
    objects: list[dict[str, Any]] = []
    start = answer.find("{")
    for _ in range(MAX_STARTS):
        if start == -1:
            break
        value, end, error = _decode(answer, start)
        if isinstance(value, dict):
            if any(key in value for key in prefer):
                return value
            objects.append(value)
            start = answer.find("{", end)
            continue
        first_error = first_error or error
        start = answer.find("{", start + 1)
    if objects and not (prefer and first_error):
        return objects[0]
    # An object without the expected keys after a "{" that failed to decode is most likely a
    # piece of the broken object: its error says more.
    return first_error or "the answer contains no JSON object"


def _decode(text: str, start: int) -> tuple[Any, int, str | None]:
    """The JSON value at ``start``, where it ends, or why it is not one."""
    try:
        value, end = _DECODER.raw_decode(text, start)
    except _Refused as refused:
        return None, start, f"the JSON is not usable: {refused}"
    except json.JSONDecodeError as error:
        where = f"line {error.lineno}, column {error.colno}"
        return None, start, f"the JSON is not valid: {error.msg} ({where})"
    except RecursionError:
        return None, start, "the JSON is nested too deeply"
    return value, end, None
