"""JSON that parses badly in ways the json module does not call a decode error — nesting deeper
than the interpreter's recursion limit, integers longer than its 4,300-digit limit — or that
parses into text no page can show (an unpaired surrogate): a 400 naming the problem, before any
view or field validator runs, and nothing stored. NUL, which PostgreSQL text cannot hold, is
refused the same way at client registration; the API leaves it to its fields."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.vendor_api.test_client_management import manage, registered  # noqa: F401 (a fixture)
from tests.vendor_api.test_purchases import ORDER, bearer, shop, shop_token  # noqa: F401 (fixtures)
from tests.vendor_api.test_registration import apps_of, org, register, token, uses  # noqa: F401 (fixtures)

HOSTILE = {
    "nested too deep": b"[" * 100_000 + b"]" * 100_000,
    "integer too long": b'{"order_id": "ORD-1", "quantity": ' + b"9" * 5000 + b"}",
    "unpaired surrogate": b'{"order_id": "ORD-\\ud800"}',
    "unpaired low surrogate in a key": b'{"\\udc00": 1}',
    "broken": b"{broken",
    "not UTF-8": b'{"order_id": "\xff\xfe"}',
}


@pytest.mark.parametrize("body", HOSTILE.values(), ids=HOSTILE.keys())
def test_hostile_json_is_a_400_problem_and_stores_nothing(client, db, shop_token, body):
    response = client.post("/api/v1/me/purchases", data=body, headers=bearer(shop_token),
                           content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.mimetype == "application/problem+json"
    assert "Traceback" not in response.get_data(as_text=True)
    assert db.execute(text("SELECT count(*) FROM purchases")).scalar() == 0


def test_a_surrogate_pair_is_a_character_not_a_fault(client, db, shop_token):
    order = {**ORDER, "items": [{"name": "Cake \\ud83c\\udf82", "quantity": 1, "unit_price": "23.15"}]}
    import json
    body = json.dumps(order).replace("\\\\ud83c\\\\udf82", "\\ud83c\\udf82").encode()
    response = client.post("/api/v1/me/purchases", data=body, headers=bearer(shop_token),
                           content_type="application/json")
    assert response.status_code == 201, response.get_data(as_text=True)
    listed = client.get("/api/v1/me/purchases", headers=bearer(shop_token)).get_json()
    assert listed["purchases"][0]["items"][0]["name"] == "Cake \U0001F382"


METADATA_HOSTILE = {
    "nested too deep": HOSTILE["nested too deep"],
    "integer too long": HOSTILE["integer too long"],
    "unpaired surrogate": b'{"client_name": "\\ud800", "redirect_uris": ["https://acme.example/cb"]}',
    "NUL": b'{"client_name": "A\\u0000B", "redirect_uris": ["https://acme.example/cb"]}',
}


@pytest.mark.parametrize("body", METADATA_HOSTILE.values(), ids=METADATA_HOSTILE.keys())
def test_hostile_json_at_registration_is_invalid_client_metadata(client, db, org, token, body):
    response = register(client, body, token, content_type="application/json")
    assert response.status_code == 400, response.get_data(as_text=True)[:300]
    assert response.json["error"] == "invalid_client_metadata" and response.json["error_description"]
    assert apps_of(db, org) == 0 and uses(db, token) == 0


@pytest.mark.parametrize("body", METADATA_HOSTILE.values(), ids=METADATA_HOSTILE.keys())
def test_hostile_json_in_a_client_update_changes_nothing(client, registered, body):
    response = manage(client, "PUT", registered["client_id"], registered["registration_access_token"],
                      data=body, content_type="application/json")
    assert response.status_code == 400 and response.json["error"] == "invalid_client_metadata"
    again = manage(client, "GET", registered["client_id"], registered["registration_access_token"])
    assert again.status_code == 200 and again.json["client_name"] == registered["client_name"]


def test_nul_in_api_text_is_the_fields_business_never_a_fault(client, db, shop_token):
    order = {**ORDER, "order_id": "ORD-\u00001"}
    refused = client.post("/api/v1/me/purchases", json=order, headers=bearer(shop_token))
    assert refused.status_code == 422 and "order_id" in str(refused.get_json()["errors"])
    item = {**ORDER, "items": [{"name": "Tea\u0000pot", "quantity": 1, "unit_price": "23.15"}]}
    assert client.post("/api/v1/me/purchases", json=item, headers=bearer(shop_token)).status_code in (201, 422)
