"""Purchases written back by vendors: recorded sealed in the customer's vault, moved on by status,
read back by their own vendor only, annotated by the customer and shown to a vendor with
purchases.context on its own purchases only; every read and write on the ledger, names only."""
from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text

from consent import grants, ledger, purchases
from consent.outbox import AppEvent
from tests.vendor_api.conftest import ctx_for, direct_token, make_vendor, recorded_statements, touched_before_the_chain
from vault import records
from vault.accounts import delete_account, sign_up

SCOPES = ["profile.name", "purchases.read", "purchases.write", "purchases.context"]
ORDER = {"order_id": "ORD-1001", "date": "2026-03-14", "currency": "EUR", "status": "paid",
         "items": [{"name": "The Left Hand of Darkness", "sku": "978-0441478125", "quantity": 2,
                    "unit_price": "9.50"},
                   {"name": "Bookmark", "quantity": 1, "unit_price": "1.25"}],
         "shipping": "3.90", "tax": "0", "discount": "1.00", "total": "23.15"}


@pytest.fixture
def shop(db):
    return make_vendor(db, name="Corner Books", scopes=SCOPES)


@pytest.fixture
def rival(db):
    return make_vendor(db, name="Rival Books", scopes=SCOPES)


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def shop_token(app, db, customer, shop):
    return direct_token(db, app, customer, shop, SCOPES)


@pytest.fixture
def rival_token(app, db, customer, rival):
    return direct_token(db, app, customer, rival, SCOPES)


def post(client, token, body=None, **changes):
    return client.post("/api/v1/me/purchases", json={**(body or ORDER), **changes}, headers=bearer(token))


def listing(client, token, **query):
    return client.get("/api/v1/me/purchases", query_string=query, headers=bearer(token))


def patch(client, token, order_id, status):
    return client.patch(f"/api/v1/me/purchases/{order_id}", json={"status": status}, headers=bearer(token))


# --- writing and reading back ---------------------------------------------------------------------

def test_a_vendor_records_an_order_and_reads_it_back(client, shop_token):
    created = post(client, shop_token)
    assert created.status_code == 201, created.get_data(as_text=True)
    body = created.get_json()
    assert body["order_id"] == "ORD-1001" and body["status"] == "paid" and body["total"] == "23.15"
    assert body["items"][0] == ORDER["items"][0] and body["items"][1]["sku"] is None
    assert "context" not in body
    page = listing(client, shop_token).get_json()
    assert [p["order_id"] for p in page["purchases"]] == ["ORD-1001"] and page["next_cursor"] is None
    assert client.get("/api/v1/me/purchases/ORD-1001", headers=bearer(shop_token)).get_json()["date"] == "2026-03-14"
    assert created.headers["Cache-Control"] == "no-store"


def test_the_order_is_sealed_with_the_customers_data_key(client, db, keys, customer, shop_token):
    post(client, shop_token)
    raw = db.execute(text("SELECT body, order_id, status FROM purchases")).one()
    assert b"Left Hand" not in bytes(raw.body) and b"23.15" not in bytes(raw.body)
    assert (raw.order_id, raw.status) == ("ORD-1001", "paid")
    history = purchases.history(db, keys, customer.id)
    assert history[0].items[0]["name"] == "The Left Hand of Darkness"
    # a sealed body moved to another purchase row does not open there
    post(client, shop_token, order_id="ORD-1002")
    first, second = db.scalars(select(purchases.Purchase).order_by(purchases.Purchase.id)).all()
    second.body = first.body
    db.flush()
    with pytest.raises(Exception):
        purchases.history(db, keys, customer.id)
    db.rollback()


@pytest.mark.parametrize("call", ["create", "list", "read", "move"])
def test_every_call_notes_the_grants_last_access_before_the_ledger(app, client, db, customer, shop, shop_token,
                                                                   call):
    from consent.models import Grant
    if call in ("read", "move"):
        assert post(client, shop_token).status_code == 201
    grant = db.scalar(select(Grant).where(Grant.account_id == customer.id, Grant.app_id == shop.app.id))
    db.execute(text("UPDATE grants SET last_access_at = NULL WHERE id = :g"), {"g": grant.id})
    db.commit()
    requests = {"create": lambda: post(client, shop_token),
                "list": lambda: listing(client, shop_token),
                "read": lambda: client.get("/api/v1/me/purchases/ORD-1001", headers=bearer(shop_token)),
                "move": lambda: patch(client, shop_token, "ORD-1001", "shipped")}
    with recorded_statements(app) as seen:
        assert requests[call]().status_code in (200, 201)
    assert touched_before_the_chain(seen)  # the grant row, then the chain head: no deadlock with a renewal
    db.expire_all()
    assert db.get(Grant, grant.id).last_access_at is not None


def test_the_same_order_id_twice_is_a_conflict(client, shop_token):
    assert post(client, shop_token).status_code == 201
    again = post(client, shop_token, status="ordered")
    assert again.status_code == 409 and again.mimetype == "application/problem+json"


def test_the_total_is_what_was_charged_and_the_breakdown_is_optional(client, shop_token):
    # rounding, gift cards and fees: the vendor's receipt is the record, not our arithmetic
    charged = post(client, shop_token, total="22.99")
    assert charged.status_code == 201 and charged.get_json()["total"] == "22.99"
    plain = {"order_id": "ORD-9", "date": "2026-01-02", "currency": "JPY",
             "items": [{"name": "Tea", "quantity": 3, "unit_price": "400"}], "total": "1200"}
    ok = post(client, shop_token, plain)
    assert ok.status_code == 201 and ok.get_json()["status"] == "ordered" and ok.get_json()["shipping"] == "0"


@pytest.mark.parametrize("change, field", [
    ({"currency": "EURO"}, "currency"), ({"currency": "XYZ"}, "currency"),
    ({"order_id": "has space"}, "order_id"), ({"order_id": "a/b"}, "order_id"),
    ({"status": "lost"}, "status"), ({"total": "-1"}, "total"), ({"total": "1,00"}, "total"),
    ({"date": "not-a-date"}, "date"), ({"items": []}, "items"),
    ({"items": [{"name": "x", "quantity": 0, "unit_price": "1"}]}, "items"),
    ({"items": [{"name": "x", "quantity": 1, "unit_price": "-1"}]}, "items"),
])
def test_invalid_orders_are_refused_field_by_field(client, db, shop_token, change, field):
    response = post(client, shop_token, **change)
    assert response.status_code == 422, (change, response.get_data(as_text=True))
    assert field in response.get_json()["errors"].get("json", response.get_json()["errors"])
    assert db.execute(text("SELECT count(*) FROM purchases")).scalar() == 0


def test_a_blank_item_name_is_refused(client, shop_token):
    response = post(client, shop_token, items=[{"name": "   ", "quantity": 1, "unit_price": "1"}])
    assert response.status_code == 422


@pytest.mark.parametrize("content_type, body", [
    ("application/x-www-form-urlencoded", "order_id=ORD-1&total=1"),
    ("text/plain", json.dumps(ORDER)),
    (None, json.dumps(ORDER)),
])
def test_a_body_that_is_not_json_is_refused_as_such(client, db, shop_token, content_type, body):
    """Not a 422 listing every field as missing (the body was sent, just not as JSON)."""
    headers = bearer(shop_token) | ({"Content-Type": content_type} if content_type else {})
    response = client.post("/api/v1/me/purchases", data=body, headers=headers)
    assert response.status_code == 415, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert "application/json" in response.get_json()["detail"]
    assert db.execute(text("SELECT count(*) FROM purchases")).scalar() == 0
    assert client.patch("/api/v1/me/purchases/ORD-1", data="status=shipped", headers=bearer(shop_token),
                        content_type="application/x-www-form-urlencoded").status_code == 415


def test_json_with_a_charset_is_json_and_strangers_still_hear_401_first(client, shop_token):
    created = client.post("/api/v1/me/purchases", data=json.dumps(ORDER).encode(),
                          headers=bearer(shop_token), content_type="application/json; charset=utf-8")
    assert created.status_code == 201, created.get_data(as_text=True)
    stranger = client.post("/api/v1/me/purchases", data="a=b", content_type="application/x-www-form-urlencoded")
    assert stranger.status_code == 401


def test_the_specification_promises_415_exactly_where_a_body_is_read(client):
    spec = client.get("/api/v1/openapi.json").get_json()
    operations = [(method, op) for item in spec["paths"].values() for method, op in item.items()
                  if isinstance(op, dict) and "responses" in op]
    with_body = [op for _method, op in operations if "requestBody" in op]
    assert with_body and all("415" in op["responses"] for op in with_body)
    assert not any("415" in op["responses"] for _method, op in operations if "requestBody" not in op)


# --- scopes ---------------------------------------------------------------------------------------

def test_each_operation_needs_its_scope(app, client, db, customer, shop):
    read_only = direct_token(db, app, customer, shop, SCOPES, token_scopes=["purchases.read"])
    write_only = direct_token(db, app, customer, shop, SCOPES, token_scopes=["purchases.write"])
    refused = post(client, read_only)
    assert refused.status_code == 403 and refused.mimetype == "application/problem+json"
    assert 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]
    assert "purchases.write" in refused.get_json()["detail"]
    assert post(client, write_only).status_code == 201
    assert listing(client, write_only).status_code == 403
    assert client.get("/api/v1/me/purchases/ORD-1001", headers=bearer(write_only)).status_code == 403
    assert patch(client, read_only, "ORD-1001", "shipped").status_code == 403
    assert listing(client, read_only).status_code == 200


def test_a_grant_without_purchase_scopes_can_do_nothing_with_purchases(app, client, db, customer):
    plain = make_vendor(db, name="Name Only", scopes=["profile.name"])
    token = direct_token(db, app, customer, plain, ["profile.name"])
    assert post(client, token).status_code == 403
    assert listing(client, token).status_code == 403


def test_a_revoked_grant_stops_writes_at_once(app, client, db, customer, shop, shop_token):
    grant = grants.find(db, customer.id, shop.app.id)
    grants.revoke(db, ctx_for(app), grant, customer)
    db.commit()
    assert post(client, shop_token).status_code == 401
    assert listing(client, shop_token).status_code == 401


# --- isolation between vendors ---------------------------------------------------------------------

def test_a_purchase_from_vendor_a_is_invisible_to_vendor_b(client, shop_token, rival_token):
    assert post(client, shop_token).status_code == 201
    assert listing(client, rival_token).get_json()["purchases"] == []
    assert client.get("/api/v1/me/purchases/ORD-1001", headers=bearer(rival_token)).status_code == 404
    assert patch(client, rival_token, "ORD-1001", "shipped").status_code == 404
    # the rival's own order ids live apart: the same id is a different order
    assert post(client, rival_token, status="ordered").status_code == 201
    assert patch(client, rival_token, "ORD-1001", "cancelled").status_code == 200
    assert listing(client, shop_token).get_json()["purchases"][0]["status"] == "paid"


def test_another_customers_orders_are_not_reachable(app, client, db, shop, shop_token):
    other = sign_up(db, "other-buyer@example.com", "correct horse battery staple")
    db.commit()
    other_token = direct_token(db, app, other, shop, SCOPES)
    assert post(client, shop_token).status_code == 201
    assert listing(client, other_token).get_json()["purchases"] == []
    assert client.get("/api/v1/me/purchases/ORD-1001", headers=bearer(other_token)).status_code == 404


# --- status ---------------------------------------------------------------------------------------

def test_status_moves_along_the_allowed_transitions(client, shop_token):
    post(client, shop_token, status="ordered")
    for status in ("paid", "shipped", "delivered", "returned", "refunded"):
        response = patch(client, shop_token, "ORD-1001", status)
        assert response.status_code == 200 and response.get_json()["status"] == status
    refused = patch(client, shop_token, "ORD-1001", "shipped")
    assert refused.status_code == 409 and "refunded" in refused.get_json()["detail"]
    assert patch(client, shop_token, "ORD-1001", "refunded").status_code == 200  # the same again: no change
    assert patch(client, shop_token, "ORD-1001", "lost").status_code == 422
    assert patch(client, shop_token, "ORD-404", "paid").status_code == 404


@pytest.mark.parametrize("start, target", [("delivered", "shipped"), ("cancelled", "paid"), ("ordered", "returned"),
                                           ("shipped", "paid")])
def test_impossible_transitions_are_conflicts(client, shop_token, start, target):
    post(client, shop_token, status=start)
    assert patch(client, shop_token, "ORD-1001", target).status_code == 409


# --- paging ---------------------------------------------------------------------------------------

def test_pages_never_skip_or_repeat(client, shop_token, rival_token):
    for n in range(5):
        assert post(client, shop_token, order_id=f"A-{n}").status_code == 201
        post(client, rival_token, order_id=f"B-{n}")
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = listing(client, shop_token, **query).get_json()
        seen += [p["order_id"] for p in page["purchases"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"A-{n}" for n in range(5)] and pages == 3
    assert [p["order_id"] for p in listing(client, shop_token, status="paid", limit=200).get_json()["purchases"]] \
        == seen
    assert listing(client, shop_token, cursor="x").status_code == 422


# --- ledger ---------------------------------------------------------------------------------------

def test_every_read_and_write_is_on_the_ledger_by_name_only(client, db, customer, shop, shop_token):
    post(client, shop_token)
    patch(client, shop_token, "ORD-1001", "shipped")
    listing(client, shop_token)
    client.get("/api/v1/me/purchases/ORD-1001", headers=bearer(shop_token))
    entries = [e for e in ledger.iter_chain(db, customer.public_id)
               if e.vendor_app == shop.client_id and e.data["details"].get("endpoint") == "purchases"]
    assert [(e.type, e.data["details"]["action"]) for e in entries][-4:] == [
        ("write", "create"), ("write", "status_shipped"), ("read", "list"), ("read", "read")]
    for entry in entries:
        assert "purchases" in entry.data["fields"]
        # Everything but the timestamp, whose digits can spell "23.15" by chance (15:29:23.155 did).
        raw = json.dumps({k: v for k, v in json.loads(bytes(entry.canonical)).items() if k != "at"})
        assert "Left Hand" not in raw and "23.15" not in raw and "ORD-1001" not in raw
    assert ledger.verify(db, customer.public_id).ok


# --- purchase context (issue 7.3) ------------------------------------------------------------------

def _annotate(db, keys, customer, order_id, app_id, **context):
    row = db.scalar(select(purchases.Purchase).where(purchases.Purchase.order_id == order_id,
                                                     purchases.Purchase.app_id == app_id))
    purchases.annotate(db, keys, customer, row.public_id, context)
    db.commit()
    return row


def test_annotations_reach_a_vendor_with_purchases_context_on_its_own_purchases_only(
        app, client, db, keys, customer, shop, rival, shop_token, rival_token):
    post(client, shop_token)
    post(client, rival_token, order_id="R-1")
    manual = purchases.add_manual(db, keys, customer, {"merchant": "Market stall", "date": "2026-02-01",
                                                       "currency": "SAR", "total": "30",
                                                       "items": [{"name": "Dates", "quantity": 1, "unit_price": "30"}]})
    purchases.annotate(db, keys, customer, manual.public_id, {"gift": True})
    db.commit()
    _annotate(db, keys, customer, "ORD-1001", shop.app.id, gift=True, for_someone_else=True, rating=4)

    mine = listing(client, shop_token).get_json()["purchases"][0]
    assert mine["context"]["gift"] is True and mine["context"]["rating"] == 4
    assert mine["context"]["not_for_recommendations"] is False and mine["context"]["return_reason"] is None
    assert client.get("/api/v1/me/purchases/ORD-1001", headers=bearer(shop_token)).get_json()["context"]["gift"]
    # the rival holds purchases.context too, but sees its own (unannotated) purchase only
    theirs = listing(client, rival_token).get_json()["purchases"]
    assert [p["order_id"] for p in theirs] == ["R-1"] and theirs[0]["context"] is None
    # without purchases.context in the token: no context at all, not even null
    narrow = direct_token(db, app, customer, shop, SCOPES, token_scopes=["purchases.read", "purchases.write"])
    plain = listing(client, narrow).get_json()["purchases"][0]
    assert "context" not in plain
    assert "context" not in patch(client, narrow, "ORD-1001", "shipped").get_json()
    entries = [e for e in ledger.iter_chain(db, customer.public_id)
               if e.vendor_app == shop.client_id and e.data["details"].get("action") == "list"]
    assert entries[0].data["fields"] == ["purchase_context", "purchases"]
    assert entries[-1].data["fields"] == ["purchases"]


def test_the_vendor_hears_that_annotations_changed_only_when_it_may_read_them(
        app, client, db, keys, customer, shop, rival, shop_token, rival_token):
    post(client, shop_token)
    post(client, rival_token, order_id="R-1")
    grant = grants.find(db, customer.id, rival.app.id)
    grants.narrow(db, ctx_for(app), grant, customer, scopes=["purchases.read", "purchases.write"])
    db.commit()
    _annotate(db, keys, customer, "ORD-1001", shop.app.id, not_for_recommendations=True, return_reason="wrong_size")
    _annotate(db, keys, customer, "R-1", rival.app.id, gift=True)
    told = db.scalars(select(AppEvent).where(AppEvent.type == "purchase.context_updated")).all()
    assert [e.app_id for e in told] == [shop.app.id]
    data = json.loads(told[0].data_json)
    assert data == {"order_id": "ORD-1001", "fields": ["not_for_recommendations", "return_reason"]}
    # and the narrowed rival no longer reads context even with an old token
    assert "context" not in listing(client, rival_token).get_json()["purchases"][0]


def test_annotations_are_validated_and_can_be_cleared(db, keys, customer, client, shop, shop_token):
    post(client, shop_token)
    row = db.scalar(select(purchases.Purchase))
    with pytest.raises(Exception) as caught:
        purchases.annotate(db, keys, customer, row.public_id, {"rating": 6, "return_reason": "bored", "gift": "yes"})
    assert set(caught.value.errors) == {"rating", "return_reason", "gift"}
    purchases.annotate(db, keys, customer, row.public_id, {"gift": True})
    assert row.context is not None and b"gift" not in bytes(row.context)
    purchases.annotate(db, keys, customer, row.public_id, {})
    assert row.context is None


# --- erasure --------------------------------------------------------------------------------------

def test_erasing_the_customer_erases_their_purchases(client, db, customer, shop_token):
    post(client, shop_token)
    records.erase_vault(db, customer.id)
    delete_account(db, customer.id)
    db.commit()
    assert db.execute(text("SELECT count(*) FROM purchases")).scalar() == 0


def test_the_currency_list_is_iso_4217_as_cldr_knows_it():
    from babel.numbers import list_currencies
    assert purchases.CURRENCIES <= list_currencies()
    assert {"EUR", "USD", "SAR", "AED", "GBP", "JPY", "KWD"} <= purchases.CURRENCIES
