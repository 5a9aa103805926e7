"""Numbers from the address bar that no row can have: page cursors past 64 bits (or not ASCII
digits) mean the first page, and an ``<int:...>`` path segment past 64 bits matches no route.
Both were 500s (SQLite: "Python int too large to convert to SQLite INTEGER")."""
from __future__ import annotations

import re

import pytest

from tests.web.test_customer_pages import connected, ctx, logged_in, shop  # noqa: F401 (fixtures)
from web.paging import MAX_ROW_ID, RowIdConverter, row_id

HUGE = "9" * 23


@pytest.mark.parametrize("text", [HUGE, str(MAX_ROW_ID + 1), "-1", "0", "\u00b2", "\u0661\u0662", " 7", "abc", ""])
def test_what_no_row_can_have_is_no_cursor(text):
    with pytest.raises(ValueError):
        row_id(text)


def test_a_row_id_is_a_cursor():
    assert row_id("1") == 1 and row_id(str(MAX_ROW_ID)) == MAX_ROW_ID


@pytest.mark.parametrize("cursor", [HUGE, "-" + HUGE, str(MAX_ROW_ID + 1)])
def test_customer_pages_take_an_impossible_cursor_as_the_first_page(logged_in, connected, cursor):
    for path in ("/me/activity", "/me/notifications", f"/me/connections/{connected.public_id}"):
        first = logged_in.client.get(path)
        response = logged_in.client.get(path, query_string={"before": cursor})
        assert response.status_code == 200, path
        assert _main(response) == _main(first), path


def _main(response) -> str:
    """The page without its per-request parts (CSRF tokens, nonces)."""
    html = response.get_data(as_text=True)
    return re.sub(r'(value|nonce)="[^"]*"', "", html)


def test_every_int_segment_refuses_a_number_past_64_bits(app):
    """Generated from the route map, so a new route with an id in its path is covered too."""
    client = app.test_client()
    checked = 0
    for rule in app.url_map.iter_rules():
        converters = rule._converters  # werkzeug keeps them per argument here only
        if not any(isinstance(c, RowIdConverter) for c in converters.values()):
            continue
        path = rule.rule
        for name, conv in converters.items():
            value = 10**23 if isinstance(conv, RowIdConverter) else "x"
            path = re.sub(r"<(?:[^:<>]+:)?" + name + r">", str(value), path)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method)
            assert response.status_code == 404, (method, path, response.status_code)
        checked += 1
    assert checked >= 5
