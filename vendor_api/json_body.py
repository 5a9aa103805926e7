"""One strict reading of a JSON request body, before any view or argument parser sees it.

The json module raises more than ``JSONDecodeError`` on hostile input, and what flask-smorest's
parser (webargs) and ``request.get_json`` catch is only that: nesting deeper than the
interpreter's recursion limit raises ``RecursionError``, an integer longer than 4,300 digits a
plain ``ValueError`` — both were 500s. And it accepts, as the JSON grammar does, escapes that
decode to text nothing downstream can hold: an unpaired surrogate (``"\\ud800"``) cannot be
encoded as UTF-8, so it failed at the database or, once stored, on every page that showed it.
Such a body is refused here as a whole, with the reason, and nothing is stored.

NUL (``"\\u0000"``) cannot be stored in PostgreSQL text. Client registration, whose metadata
lands in plain columns, refuses it here too (``refuse_nul``); the vendor API leaves it to each
field, because its OpenAPI document promises that any string its schema allows is accepted
(the fuzz test holds it to that) and its text is sealed before it is stored.
"""
from __future__ import annotations

import json
import re

#: A body without an escape of a surrogate or of NUL cannot decode to either: raw UTF-8 input
#: carries no surrogates (the decoder refuses them) and a raw NUL byte is a decode error.
_SUSPECT_ESCAPE = re.compile(rb"\\u(?:[dD][89a-fA-F]|0000)")


class UnreadableJSON(ValueError):
    """The body is not JSON we can read; ``str()`` says why, in words fit for the client."""


def loads(data: bytes | str, *, refuse_nul: bool = False):
    """The decoded body, or :class:`UnreadableJSON`."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    try:
        value = json.loads(raw)
    except RecursionError:
        raise UnreadableJSON("The JSON body is nested too deeply.") from None
    except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError, the integer digit limit
        raise UnreadableJSON(f"The body is not valid JSON: {_reason(exc)}") from None
    if _SUSPECT_ESCAPE.search(raw):
        _refuse_unstorable_text(value, refuse_nul)
    return value


def _reason(exc: ValueError) -> str:
    if isinstance(exc, json.JSONDecodeError):
        return f"{exc.msg} (line {exc.lineno}, column {exc.colno})."
    if isinstance(exc, UnicodeDecodeError):
        return "it is not UTF-8."
    if "digits" in str(exc):
        return "a number has too many digits."
    return "it cannot be decoded."


def _refuse_unstorable_text(value, refuse_nul: bool) -> None:
    """Walks the decoded value without recursion (it may be as deep as the parser allowed)."""
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, dict):
            pending.extend(item.keys())
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
        elif isinstance(item, str):
            if refuse_nul and "\x00" in item:
                raise UnreadableJSON("Text in the JSON body must not contain NUL (\\u0000).")
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise UnreadableJSON("Text in the JSON body holds an unpaired surrogate (\\ud800-\\udfff): "
                                     "send each character outside the Basic Multilingual Plane as a pair, "
                                     "or as UTF-8.") from None
