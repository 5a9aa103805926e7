"""Row ids from the address bar: numbers the database can hold, or nothing.

Page cursors (``?before=``/``?after=``) and ``<int:...>`` path segments are typed by people and
tools. Flask's int parsing has no upper bound, and a 24-digit number reaching SQLite raised
``OverflowError`` — a 500 for a typo. Every id here is a 64-bit row id at most.
"""
from __future__ import annotations

from werkzeug.routing import IntegerConverter

MAX_ROW_ID = 2**63 - 1


def row_id(text: str) -> int:
    """For ``request.args.get(name, type=row_id)``: its ValueError makes the argument absent
    (the first page), as a cursor that is not a number already did."""
    if not (text.isascii() and text.isdecimal()):
        raise ValueError("not a row id")
    value = int(text)
    if not 0 < value <= MAX_ROW_ID:
        raise ValueError("not a row id")
    return value


class RowIdConverter(IntegerConverter):
    """Flask's ``int`` converter, bounded: a larger number matches no route (404)."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", MAX_ROW_ID)
        super().__init__(map, *args, **kwargs)
