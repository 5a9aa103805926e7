"""Intent-casting: a customer's request for proposals, vendors' offers, and accepting one through consent.

Two vendors compete on one intent: each sees it only under its own pseudonym, never the other's
offer; the customer compares, accepts one through the OAuth consent screen (the vendor redeems
the code with its own PKCE verifier and reads the shipping address), and every bidder hears
``intent.closed`` by a real webhook, ``accepted`` true only for the winner. Also: withdrawal,
expiry, audience and category rules, scope checks, validation, and the ledger.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select, text

from consent import grants, intents, ledger
from consent.intents import Intent, IntentOffer
from consent.notifications.models import Notification
from consent.outbox import AppEvent
from tests.conftest import Portal, csrf_from
from tests.vendor_api.conftest import REDIRECT_URI, ctx_for, make_vendor
from tests.vendor_api.integration_helpers import receiver
from vault.accounts import sign_up
from vault.clock import utcnow
from vendor_api import tokens, webhooks

BIDDER_SCOPES = ["profile.name", "address.shipping", "intents.read", "offers.write"]
FULFIL = ["profile.name", "address.shipping"]
VENDOR_FIELDS = {"id", "requester", "status", "category", "title", "description", "budget_min", "budget_max",
                 "currency", "needed_by", "city", "country", "created_at", "expires_at"}


@pytest.fixture
def ctx(app):
    return ctx_for(app)


@pytest.fixture
def shop_a(db):
    return make_vendor(db, name="Appliance Alley", scopes=BIDDER_SCOPES)


@pytest.fixture
def shop_b(db):
    return make_vendor(db, name="Brilliant Buys", scopes=BIDDER_SCOPES)


def app_token(db, vendor) -> str:
    issued = tokens.issue(db, app_id=vendor.app.id, scope="vendor:read", grant_type="client_credentials")
    db.commit()
    return issued.access_token


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    return verifier, base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def publish(db, keys, customer, **kwargs) -> Intent:
    values = dict(category="home_appliances", title="Washing machine, 8 kg",
                  description="Quiet, A-rated, delivered and installed.", budget_min="300", budget_max="550",
                  currency="EUR", city="Leeds", country="GB")
    values.update(kwargs)
    intent = intents.publish(db, keys, customer, **values)
    db.commit()
    return intent


def offer_body(**extra) -> dict:
    body = {"price": "499.00", "currency": "EUR", "description": "Model X8, delivery and installation included.",
            "valid_until": (utcnow() + timedelta(days=5)).isoformat(), "terms": "2-year warranty."}
    body.update(extra)
    return body


def events_for(db, vendor, type_="intent.closed") -> list[AppEvent]:
    db.expire_all()
    return list(db.scalars(select(AppEvent).where(AppEvent.app_id == vendor.app.id, AppEvent.type == type_)
                           .order_by(AppEvent.id)))


def actions(db, customer) -> list[tuple[str, str | None, str | None]]:
    return [(e.type, e.data.get("details", {}).get("action"), e.data.get("vendor_app"))
            for e in ledger.entries_for(db, customer.public_id)]


@pytest.fixture
def shopper(app, db, keys, customer):
    """The customer with a name and a shipping address in the vault, logged in to the portal."""
    from tests.vendor_api.conftest import PROFILE
    from vault import records
    records.write_fields(db, keys, customer, PROFILE)
    db.commit()
    portal = Portal(app.test_client())
    assert portal.login(customer.email).status_code == 303
    return portal


# --- the whole flow ------------------------------------------------------------------------------

def test_two_vendors_compete_and_only_the_accepted_one_gets_the_customer(app, client, db, keys, ctx, customer,
                                                                         shopper, shop_a, shop_b):
    # The customer publishes in the portal.
    published = shopper.post("/me/intents/new", {
        "category": "home_appliances", "title": "Washing machine, 8 kg", "description": "Quiet and A-rated.",
        "budget_min": "300", "budget_max": "550", "currency": "eur", "needed_by": "", "city": "Leeds",
        "country": "gb", "expires_in_days": "14", "visibility": "all"}, form_path="/me/intents/new")
    assert published.status_code == 303, published.get_data(as_text=True)[:600]
    intent_path = published.headers["Location"]
    intent_id = intent_path.rsplit("/", 1)[1]

    # Both vendors see it, each under a pseudonym of its own, with the intent's fields and nothing else.
    token_a, token_b = app_token(db, shop_a), app_token(db, shop_b)
    seen_a = client.get("/api/v1/intents", headers=bearer(token_a)).get_json()["intents"]
    seen_b = client.get("/api/v1/intents", headers=bearer(token_b)).get_json()["intents"]
    [mine_a], [mine_b] = [i for i in seen_a if i["id"] == intent_id], [i for i in seen_b if i["id"] == intent_id]
    assert set(mine_a) == VENDOR_FIELDS
    assert mine_a["title"] == "Washing machine, 8 kg" and mine_a["currency"] == "EUR" and mine_a["country"] == "GB"
    assert mine_a["requester"] != mine_b["requester"]
    assert customer.email not in str(mine_a) and customer.public_id not in str(mine_a)

    # Both offer; A prepares an authorization request with its own PKCE challenge.
    verifier, challenge = pkce()
    made_a = client.post(f"/api/v1/intents/{intent_id}/offers", headers=bearer(token_a), json=offer_body(
        scopes=FULFIL, authorization={"redirect_uri": REDIRECT_URI, "code_challenge": challenge,
                                      "state": "offer-state-a"}))
    assert made_a.status_code == 201, made_a.get_json()
    made_b = client.post(f"/api/v1/intents/{intent_id}/offers", headers=bearer(token_b),
                         json=offer_body(price="459.50", description="Model B7, delivery only.", scopes=FULFIL))
    assert made_b.status_code == 201, made_b.get_json()
    offer_a, offer_b = made_a.get_json()["id"], made_b.get_json()["id"]

    # A vendor never sees another's offer.
    own_a = client.get(f"/api/v1/intents/{intent_id}/offers", headers=bearer(token_a)).get_json()["offers"]
    own_b = client.get(f"/api/v1/intents/{intent_id}/offers", headers=bearer(token_b)).get_json()["offers"]
    assert [o["id"] for o in own_a] == [offer_a] and [o["id"] for o in own_b] == [offer_b]
    assert "Model B7" not in str(own_a) and "Model X8" not in str(own_b)

    # The customer was told twice and compares both offers side by side, cheapest first.
    told = db.scalars(select(Notification).where(Notification.account_id == customer.id,
                                                 Notification.event == "offer_received")).all()
    assert len(told) == 2 and {n.params["intent"] for n in told} == {intent_id}
    page = shopper.client.get(intent_path).get_data(as_text=True)
    assert page.index("Model B7") < page.index("Model X8")
    assert shop_a.app.name in page and shop_b.app.name in page

    with receiver() as hook:
        for vendor in (shop_a, shop_b):
            webhooks.set_webhook_url(db, keys, vendor.app, hook.url)
        db.commit()
        # Accepting A's offer opens the consent screen with A's own authorization request.
        accepted = shopper.post(f"{intent_path}/offers/{offer_a}/accept", {}, form_path=intent_path)
        assert accepted.status_code == 303
        consent_path = accepted.headers["Location"]
        asked = {k: v[0] for k, v in parse_qs(urlsplit(consent_path).query).items()}
        assert urlsplit(consent_path).path == "/oauth/authorize"
        assert asked["client_id"] == shop_a.client_id and asked["code_challenge"] == challenge
        assert asked["scope"].split() == FULFIL and asked["state"] == "offer-state-a"
        consent_page = shopper.client.get(consent_path)
        assert consent_page.status_code == 200
        approved = shopper.client.post(consent_path, data={
            "csrf_token": csrf_from(consent_page.get_data(as_text=True)), "decision": "approve", "term": "90",
            "share": FULFIL})
        assert approved.status_code == 303
        back = {k: v[0] for k, v in parse_qs(urlsplit(approved.headers["Location"]).query).items()}
        assert approved.headers["Location"].startswith(REDIRECT_URI) and back["state"] == "offer-state-a"
        summary = webhooks.run_once(app.extensions["vrm"].sessions, keys, ctx,
                                    now=lambda: utcnow() + timedelta(seconds=1))
        assert summary["attempted"] >= 2
    closed = {got.json["app"]: got.json for got in hook.received if got.json["type"] == "intent.closed"}
    assert closed[shop_a.client_id]["data"]["accepted"] is True
    assert closed[shop_a.client_id]["data"]["accepted_offer"] == offer_a
    assert closed[shop_b.client_id]["data"]["accepted"] is False
    assert closed[shop_b.client_id]["data"]["accepted_offer"] is None
    assert closed[shop_b.client_id]["sub"] is None  # the loser never learns who it was

    # Only A, with its verifier, turns the code into a token, and reads what it needs to deliver.
    redeemed = client.post("/oauth/token", auth=shop_a.basic, data={
        "grant_type": "authorization_code", "code": back["code"], "redirect_uri": REDIRECT_URI,
        "code_verifier": verifier})
    assert redeemed.status_code == 200, redeemed.get_json()
    me = client.get("/api/v1/me", headers=bearer(redeemed.get_json()["access_token"])).get_json()
    assert me["given_name"] == "Amira" and me["address_shipping"]["city"] == "Leeds"

    # The intent is closed: statuses everywhere, no more offers.
    assert [o["status"] for o in client.get(f"/api/v1/intents/{intent_id}/offers",
                                            headers=bearer(token_b)).get_json()["offers"]] == ["closed"]
    assert client.get(f"/api/v1/intents/{intent_id}", headers=bearer(token_a)).get_json()["status"] == "accepted"
    late = client.post(f"/api/v1/intents/{intent_id}/offers", headers=bearer(token_b), json=offer_body())
    assert late.status_code == 409 and late.mimetype == "application/problem+json"
    assert intent_id not in str(client.get("/api/v1/intents", headers=bearer(token_b)).get_json())

    # The ledger has it all, on the customer's own chain.
    kinds = actions(db, customer)
    assert ("write", "publish", None) in kinds
    assert ("read", "view", shop_a.client_id) in kinds and ("read", "view", shop_b.client_id) in kinds
    assert ("write", "offer", shop_a.client_id) in kinds and ("write", "offer", shop_b.client_id) in kinds
    assert ("write", "accept", shop_a.client_id) in kinds
    assert len([k for k in kinds if k[:2] == ("read", "view") and k[2] == shop_a.client_id]) == 1  # once per app


def test_the_intent_text_is_sealed_and_pseudonyms_are_pairwise(app, db, keys, customer, shop_a, shop_b, client):
    first = publish(db, keys, customer, title="distinctive-kettle-title", description="distinctive-words")
    second = publish(db, keys, customer)
    raw = db.execute(text("SELECT content FROM intents WHERE id = :i"), {"i": first.id}).scalar_one()
    assert b"distinctive" not in bytes(raw)
    got = {(i["id"], a): i["requester"] for a, vendor in (("a", shop_a), ("b", shop_b))
           for i in client.get("/api/v1/intents", headers=bearer(app_token(db, vendor))).get_json()["intents"]}
    pseudonyms = [got[(first.public_id, "a")], got[(second.public_id, "a")], got[(first.public_id, "b")]]
    assert len(set(pseudonyms)) == 3  # not across intents, not across apps
    assert all(p.startswith("req_") for p in pseudonyms)


# --- withdrawal, decline, expiry -----------------------------------------------------------------

def test_withdrawal_tells_bidders_and_stops_offers(db, keys, customer, shopper, shop_a, shop_b, client):
    intent = publish(db, keys, customer)
    token_a, token_b = app_token(db, shop_a), app_token(db, shop_b)
    assert client.post(f"/api/v1/intents/{intent.public_id}/offers", headers=bearer(token_a),
                       json=offer_body()).status_code == 201
    path = f"/me/intents/{intent.public_id}"
    assert shopper.post(f"{path}/close", {"action": "withdraw"}, form_path=path).status_code == 303
    [event] = events_for(db, shop_a)
    assert event.data["reason"] == "withdrawn" and event.data["accepted"] is False and event.subject is None
    assert events_for(db, shop_b) == []  # it never bid
    assert client.post(f"/api/v1/intents/{intent.public_id}/offers", headers=bearer(token_a),
                       json=offer_body()).status_code == 409
    assert client.get(f"/api/v1/intents/{intent.public_id}", headers=bearer(token_a)).get_json()["status"] == \
        "withdrawn"
    assert client.get(f"/api/v1/intents/{intent.public_id}", headers=bearer(token_b)).status_code == 404
    assert client.post(f"/api/v1/intents/{intent.public_id}/offers", headers=bearer(token_b),
                       json=offer_body()).status_code == 404
    assert ("write", "withdrawn", None) in actions(db, customer)
    again = shopper.post(f"{path}/close", {"action": "withdraw"}, form_path=path)
    assert again.status_code == 303  # a flash says it is closed; nothing changes


def test_declining_one_offer_and_then_all(db, keys, customer, shopper, shop_a, shop_b, client):
    intent = publish(db, keys, customer)
    token_a, token_b = app_token(db, shop_a), app_token(db, shop_b)
    offer_a = client.post(f"/api/v1/intents/{intent.public_id}/offers", headers=bearer(token_a),
                          json=offer_body()).get_json()["id"]
    client.post(f"/api/v1/intents/{intent.public_id}/offers", headers=bearer(token_b), json=offer_body())
    path = f"/me/intents/{intent.public_id}"
    assert shopper.post(f"{path}/offers/{offer_a}/decline", {}, form_path=path).status_code == 303
    assert client.get(f"/api/v1/intents/{intent.public_id}/offers",
                      headers=bearer(token_a)).get_json()["offers"][0]["status"] == "declined"
    refused = shopper.post(f"{path}/offers/{offer_a}/accept", {}, form_path=path)
    assert refused.status_code == 303 and refused.headers["Location"].endswith(path)
    assert shopper.post(f"{path}/close", {"action": "decline"}, form_path=path).status_code == 303
    for vendor in (shop_a, shop_b):
        [event] = events_for(db, vendor)
        assert event.data["reason"] == "declined" and event.data["accepted"] is False
    db.expire_all()
    assert db.get(Intent, intent.id).status == "declined"


def test_expired_intents_disappear_refuse_offers_and_tell_bidders(db, keys, customer, shop_a, shop_b, client):
    past = utcnow() - timedelta(days=2)
    intent = publish(db, keys, customer, expires_in_days=1, now=past)
    intents.place_offer(db, keys, shop_a.app, intent, price="10", currency="EUR", description="Old offer",
                        valid_until=past + timedelta(days=3), now=past + timedelta(hours=1))
    db.commit()
    token_a, token_b = app_token(db, shop_a), app_token(db, shop_b)
    assert intent.public_id not in str(client.get("/api/v1/intents", headers=bearer(token_a)).get_json())
    assert client.get(f"/api/v1/intents/{intent.public_id}", headers=bearer(token_a)).get_json()["status"] == "expired"
    expired = client.post(f"/api/v1/intents/{intent.public_id}/offers", headers=bearer(token_a), json=offer_body())
    assert expired.status_code == 409 and "expired" in expired.get_json()["detail"]
    assert client.post(f"/api/v1/intents/{intent.public_id}/offers", headers=bearer(token_b),
                       json=offer_body()).status_code == 404
    assert intents.expire_due(db) == 1
    db.commit()
    assert intents.expire_due(db) == 0  # once
    [event] = events_for(db, shop_a)
    assert event.data["reason"] == "expired" and event.data["accepted"] is False
    assert ("write", "expired", None) in actions(db, customer)


def test_erasing_the_account_closes_open_intents_and_tells_every_bidder_first(app, db, keys, ctx, customer,
                                                                              shop_a, shop_b, client):
    from consent import portability
    chain = customer.public_id
    past = utcnow() - timedelta(days=2)
    live = publish(db, keys, customer, title="erased-sofa-title", description="erased-sofa-words", city="Hull")
    lapsed = publish(db, keys, customer, title="erased-lamp-title", expires_in_days=1, now=past)
    intents.place_offer(db, keys, shop_b.app, lapsed, price="10", currency="EUR", description="erased-lamp-offer",
                        valid_until=past + timedelta(days=3), now=past + timedelta(hours=1))
    db.commit()
    token_a, token_b = app_token(db, shop_a), app_token(db, shop_b)
    for token in (token_a, token_b):
        made = client.post(f"/api/v1/intents/{live.public_id}/offers", headers=bearer(token),
                           json=offer_body(description="erased-offer-words", terms="erased-terms"))
        assert made.status_code == 201, made.get_json()
    ids = [live.id, lapsed.id]
    with receiver() as hook:
        for vendor in (shop_a, shop_b):
            webhooks.set_webhook_url(db, keys, vendor.app, hook.url)
        db.commit()
        portability.erase_all(db, ctx, customer)
        db.commit()
        webhooks.run_once(app.extensions["vrm"].sessions, keys, ctx, now=lambda: utcnow() + timedelta(seconds=1))
    got = sorted((h.json["app"], h.json["data"]["intent"], h.json["data"]["reason"]) for h in hook.received
                 if h.json["type"] == "intent.closed")
    assert got == sorted([(shop_a.client_id, live.public_id, "withdrawn"),
                          (shop_b.client_id, live.public_id, "withdrawn"),
                          (shop_b.client_id, lapsed.public_id, "expired")])
    for h in hook.received:
        assert h.json["type"] == "intent.closed" and h.json["sub"] is None
        assert h.json["data"]["accepted"] is False
        assert all(o["status"] == "closed" for o in h.json["data"]["offers"])
    # the bidders were told before the shredding: the ledger has the closings, then the erasure
    kinds = [(e.type, e.data.get("details", {}).get("action")) for e in ledger.entries_for(db, chain)]
    assert kinds[0][0] == "erase" and ("write", "withdrawn") in kinds and ("write", "expired") in kinds
    # nothing of the text survives: no rows, and no event, webhook body or ledger entry ever held it
    db.expire_all()
    assert db.scalar(select(Intent).where(Intent.id.in_(ids))) is None
    assert db.scalar(select(IntentOffer).where(IntentOffer.intent_id.in_(ids))) is None
    stored = " ".join(e.data_json for e in db.scalars(select(AppEvent)))
    stored += " ".join(str(h.json) for h in hook.received)
    stored += " ".join(bytes(row).decode() for row in db.execute(text("SELECT canonical FROM ledger_entries")).scalars())
    assert "erased-" not in stored and "Hull" not in stored


def test_expire_round_commits(app, db, keys, customer):
    publish(db, keys, customer, expires_in_days=1, now=utcnow() - timedelta(days=2))
    assert intents.expire_round(app.extensions["vrm"].sessions) == {"intents_expired": 1}


# --- who sees what -------------------------------------------------------------------------------

def test_an_intent_for_chosen_vendors_is_invisible_to_others(db, keys, customer, shop_a, shop_b, client):
    intent = publish(db, keys, customer, visibility="chosen", audience=[shop_a.client_id])
    token_a, token_b = app_token(db, shop_a), app_token(db, shop_b)
    assert intent.public_id in str(client.get("/api/v1/intents", headers=bearer(token_a)).get_json())
    assert intent.public_id not in str(client.get("/api/v1/intents", headers=bearer(token_b)).get_json())
    assert client.get(f"/api/v1/intents/{intent.public_id}", headers=bearer(token_b)).status_code == 404
    assert client.get(f"/api/v1/intents/{intent.public_id}/offers", headers=bearer(token_b)).status_code == 404
    assert client.post(f"/api/v1/intents/{intent.public_id}/offers", headers=bearer(token_b),
                       json=offer_body()).status_code == 404


def test_categories_narrow_public_intents_but_not_addressed_ones(db, keys, customer, shop_a, client):
    token = app_token(db, shop_a)
    public = publish(db, keys, customer, category="electronics")
    addressed = publish(db, keys, customer, category="electronics", visibility="chosen",
                        audience=[shop_a.client_id])
    chosen = client.put("/api/v1/intents/categories", headers=bearer(token), json={"categories": ["travel"]})
    assert chosen.status_code == 200 and chosen.get_json()["selected"] == ["travel"]
    assert {c["id"] for c in chosen.get_json()["catalogue"]} == set(intents.CATEGORIES)
    assert all(c["labels"]["ar"] for c in chosen.get_json()["catalogue"])
    listed = str(client.get("/api/v1/intents", headers=bearer(token)).get_json())
    assert public.public_id not in listed and addressed.public_id in listed
    assert client.put("/api/v1/intents/categories", headers=bearer(token),
                      json={"categories": ["teleporters"]}).status_code == 422
    client.put("/api/v1/intents/categories", headers=bearer(token), json={"categories": []})
    filtered = client.get("/api/v1/intents?category=travel", headers=bearer(token)).get_json()["intents"]
    assert filtered == []
    assert public.public_id in str(client.get("/api/v1/intents?category=electronics",
                                              headers=bearer(token)).get_json())


def test_paging_walks_every_open_intent_once(db, keys, customer, shop_a, client):
    made = [publish(db, keys, customer).public_id for _ in range(5)]
    token, seen, cursor = app_token(db, shop_a), [], None
    while True:
        page = client.get("/api/v1/intents", headers=bearer(token),
                          query_string={"limit": 2, **({"cursor": cursor} if cursor else {})}).get_json()
        seen += [i["id"] for i in page["intents"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert [i for i in seen if i in made] == made


def test_scopes_are_checked(db, keys, customer, ctx, shop_a, client):
    intent = publish(db, keys, customer)
    reader_only = make_vendor(db, name="Window Shopper", scopes=["profile.name", "intents.read"])
    outsider = make_vendor(db, name="Outsider", scopes=["profile.name"])
    assert client.get("/api/v1/intents").status_code == 401
    refused = client.get("/api/v1/intents", headers=bearer(app_token(db, outsider)))
    assert refused.status_code == 403 and refused.get_json()["scope"] == "intents.read"
    assert client.get("/api/v1/intents/categories", headers=bearer(app_token(db, outsider))).status_code == 403
    assert client.get(f"/api/v1/intents/{intent.public_id}", headers=bearer(app_token(db, outsider))).status_code == 403
    reader = app_token(db, reader_only)
    assert client.get("/api/v1/intents", headers=bearer(reader)).status_code == 200
    no_offers = client.post(f"/api/v1/intents/{intent.public_id}/offers", headers=bearer(reader), json=offer_body())
    assert no_offers.status_code == 403 and no_offers.get_json()["scope"] == "offers.write"
    # A customer's token is not a vendor-level token.
    grant = grants.grant(db, ctx, customer=customer, app=shop_a.app, scopes=["profile.name"]).grant
    customer_token = tokens.issue(db, app_id=shop_a.app.id, scope="profile.name",
                                  grant_type="authorization_code", grant=grant).access_token
    db.commit()
    assert client.get("/api/v1/intents", headers=bearer(customer_token)).status_code == 403


def test_offers_are_validated(db, keys, customer, shop_a, client):
    intent = publish(db, keys, customer)
    token = app_token(db, shop_a)
    url = f"/api/v1/intents/{intent.public_id}/offers"
    _, challenge = pkce()
    for bad, field in [({"price": "12.345"}, "price"), ({"price": "-3"}, "price"), ({"currency": "euro"}, "currency"),
                       ({"valid_until": (utcnow() - timedelta(hours=1)).isoformat()}, "valid_until"),
                       ({"valid_until": (utcnow() + timedelta(days=400)).isoformat()}, "valid_until"),
                       ({"valid_until": "0001-01-01T00:00:00+05:00"}, "valid_until"),  # was a 500
                       ({"scopes": ["profile.email"]}, "scopes"), ({"scopes": ["offers.write"]}, "scopes"),
                       ({"description": ""}, "description"),
                       ({"scopes": FULFIL, "authorization": {"redirect_uri": "https://evil.example/cb",
                                                             "code_challenge": challenge}}, "authorization"),
                       ({"scopes": FULFIL, "authorization": {"redirect_uri": REDIRECT_URI,
                                                             "code_challenge": "short"}}, "authorization"),
                       ({"authorization": {"redirect_uri": REDIRECT_URI, "code_challenge": challenge}},
                        "authorization")]:
        response = client.post(url, headers=bearer(token), json=offer_body(**bad))
        assert response.status_code == 422, (bad, response.get_json())
        assert response.mimetype == "application/problem+json"
        assert field in response.get_json()["errors"]["json"], (bad, response.get_json())
    for _ in range(intents.MAX_OFFERS_PER_APP):
        assert client.post(url, headers=bearer(token), json=offer_body()).status_code == 201
    assert client.post(url, headers=bearer(token), json=offer_body()).status_code == 409


# --- accepting without an authorization request --------------------------------------------------

def test_accepting_an_offer_without_authorization_request_shares_through_our_consent_page(
        db, keys, customer, shopper, shop_a, shop_b, client):
    intent = publish(db, keys, customer)
    offer = client.post(f"/api/v1/intents/{intent.public_id}/offers", headers=bearer(app_token(db, shop_a)),
                        json=offer_body(scopes=FULFIL)).get_json()["id"]
    client.post(f"/api/v1/intents/{intent.public_id}/offers", headers=bearer(app_token(db, shop_b)),
                json=offer_body())
    path = f"/me/intents/{intent.public_id}"
    accepted = shopper.post(f"{path}/offers/{offer}/accept", {}, form_path=path)
    assert accepted.status_code == 303 and accepted.headers["Location"].endswith(f"{path}/offers/{offer}/share")
    share_path = urlsplit(accepted.headers["Location"]).path
    page = shopper.client.get(share_path)
    assert page.status_code == 200 and "Rosemary Lane" in page.get_data(as_text=True)  # a preview of what goes
    db.expire_all()
    assert db.get(Intent, intent.id).status == "open"  # nothing happens before the customer decides
    done = shopper.post(share_path, {"decision": "approve", "term": "90", "share": ["address.shipping"]})
    assert done.status_code == 303
    grant = grants.find(db, customer.id, shop_a.app.id)
    assert grant.scopes == ["address.shipping"]
    [won] = events_for(db, shop_a)
    assert won.data["accepted"] is True and won.subject == grant.subject  # now it may know who
    [lost] = events_for(db, shop_b)
    assert lost.data["accepted"] is False and lost.subject is None
    assert grants.find(db, customer.id, shop_b.app.id) is None


def test_an_offer_needing_nothing_is_accepted_at_once(db, keys, customer, shopper, shop_a, client):
    intent = publish(db, keys, customer)
    offer = client.post(f"/api/v1/intents/{intent.public_id}/offers", headers=bearer(app_token(db, shop_a)),
                        json=offer_body()).get_json()["id"]
    path = f"/me/intents/{intent.public_id}"
    done = shopper.post(f"{path}/offers/{offer}/accept", {}, form_path=path)
    assert done.status_code == 303 and done.headers["Location"].endswith(path)
    db.expire_all()
    assert db.get(Intent, intent.id).status == "accepted"
    assert db.scalar(select(IntentOffer.status).where(IntentOffer.public_id == offer)) == "accepted"


# --- the portal ----------------------------------------------------------------------------------

def test_publishing_refuses_bad_input_with_messages(db, shopper, shop_a):
    response = shopper.post("/me/intents/new", {
        "category": "spaceships", "title": "", "description": "x", "budget_min": "900", "budget_max": "100",
        "currency": "", "needed_by": "tomorrow", "country": "Britain", "expires_in_days": "5",
        "visibility": "chosen"}, form_path="/me/intents/new")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    for message in ("Choose a category.", "Please fill this in.", "The highest budget must not be below the lowest.",
                    "Enter a date as year-month-day", "Enter the two-letter country code",
                    "Choose how long the request stays open.", "Choose at least one vendor from the list."):
        assert message in page, message
    assert db.scalar(select(Intent.id)) is None


def test_the_form_lists_only_vendors_that_take_requests(db, shopper, shop_a):
    outsider = make_vendor(db, name="Not Listening", scopes=["profile.name"])
    page = shopper.client.get("/me/intents/new").get_data(as_text=True)
    assert shop_a.app.name in page and outsider.app.name not in page


def test_another_customers_intent_is_not_found(app, db, keys, customer, shop_a):
    intent = publish(db, keys, customer)
    sign_up(db, "someone-else@example.com", "correct horse battery staple")
    db.commit()
    other = Portal(app.test_client())
    other.login("someone-else@example.com")
    assert other.client.get(f"/me/intents/{intent.public_id}").status_code == 404
    response = other.post(f"/me/intents/{intent.public_id}/close", {"action": "withdraw"}, form_path="/me/intents")
    assert response.status_code == 404
    db.expire_all()
    assert db.get(Intent, intent.id).status == "open"


def test_the_list_and_detail_pages_render(db, keys, customer, shopper, shop_a, client):
    intent = publish(db, keys, customer, title="Cargo bike")
    client.post(f"/api/v1/intents/{intent.public_id}/offers", headers=bearer(app_token(db, shop_a)),
                json=offer_body(scopes=FULFIL))
    listing = shopper.client.get("/me/intents").get_data(as_text=True)
    assert "Cargo bike" in listing
    detail = shopper.client.get(f"/me/intents/{intent.public_id}").get_data(as_text=True)
    assert "499.00 EUR" in detail and "Shipping address" in detail and "2-year warranty." in detail


def test_odd_input_is_refused_never_a_server_error(db, keys, customer, shop_a, client):
    intent = publish(db, keys, customer)
    token = app_token(db, shop_a)
    url = f"/api/v1/intents/{intent.public_id}/offers"
    for odd in ({"valid_until": "0001-01-01T00:00:00+14:00"}, {"valid_until": "9999-12-31T23:59:59-14:00"},
                {"description": "nul \x00 byte"}, {"terms": None}, {"authorization": None},
                {"price": 12}, {"scopes": "profile.name"}):
        response = client.post(url, headers=bearer(token), json=offer_body(**odd))
        assert response.status_code in (201, 422), (odd, response.get_json())
    assert client.get("/api/v1/intents?cursor=abc", headers=bearer(token)).status_code == 422
    assert client.get("/api/v1/intents?category=nope", headers=bearer(token)).status_code == 422
