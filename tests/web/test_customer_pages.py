"""The customer's pages: dashboard, connection detail, receipts, activity, export, erase, security.

Every test drives the portal through HTTP as a browser would and checks what the customer sees
and what is stored or recorded, including the unhappy paths (another customer's ids, wrong
confirmation, stale login).
"""
from __future__ import annotations

import io
import json
import re
import zipfile
from datetime import timedelta

import pytest

from consent import cases, contact, grants, intents, ledger, purchases
from consent.models import Grant
from tests.conftest import STRONG_PASSWORD, Portal
from tests.consent.conftest import make_app
from vault import records
from vault.accounts import find_by_email, sign_up
from vault.clock import utcnow
from vault.models import Account


@pytest.fixture
def ctx(app):
    from vendor_api.context import consent_context
    with app.test_request_context():
        return consent_context()


@pytest.fixture
def shop(db):
    return make_app(db, name="Corner Books")


@pytest.fixture
def connected(db, keys, ctx, customer, shop):
    """The customer shares name and interests with the shop; the vault also holds a private note."""
    records.write_fields(db, keys, customer, {"given_name": "Amira", "family_name": "Haddad",
                                              "interests": ["books"], "notes": "private-note-xyz"})
    change = grants.grant(db, ctx, customer=customer, app=shop,
                          scopes=["profile.name", "preferences.interests"])
    db.commit()
    return change.grant


@pytest.fixture
def logged_in(portal, customer):
    portal.login(customer.email)
    return portal


def page(portal, path: str) -> str:
    response = portal.client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


# --- dashboard -----------------------------------------------------------------------------

def test_dashboard_lists_connected_vendors_with_scopes_fields_and_revoke(logged_in, connected):
    html = page(logged_in, "/me/")
    assert "Corner Books" in html
    assert "Interests" in html and "Given name" in html  # scope labels and the field names they cover
    assert "Amira" not in html  # the overview names fields; values stay on the detail page
    assert f"/me/connections/{connected.public_id}/revoke" in html
    assert "data-confirm=" in html  # one click, then a confirmation


def test_dashboard_leaves_out_withdrawn_vendors(logged_in, connected, db, ctx, customer):
    grants.revoke(db, ctx, connected, customer)
    db.commit()
    html = page(logged_in, "/me/")
    assert "Corner Books" not in html
    assert "Corner Books" in page(logged_in, "/me/connections")  # still listed with all connections


def test_revoking_from_the_dashboard_ends_the_grant_and_is_recorded(logged_in, connected, db, customer):
    response = logged_in.post(f"/me/connections/{connected.public_id}/revoke", {}, form_path="/me/")
    assert response.status_code == 303
    db.expire_all()
    assert db.get(Grant, connected.id).status == "revoked"
    kinds = [e.type for e in ledger.entries_for(db, customer.public_id)]
    assert kinds[0] == "revoke"
    assert "withdrawn" in page(logged_in, "/me/connections")


# --- another customer's ids ------------------------------------------------------------------

@pytest.fixture
def intruder(app, db):
    sign_up(db, "intruder@example.com", STRONG_PASSWORD)
    db.commit()
    other = Portal(app.test_client())
    other.login("intruder@example.com")
    return other


def test_another_customers_connection_is_not_found(intruder, connected, db):
    assert intruder.client.get(f"/me/connections/{connected.public_id}").status_code == 404
    response = intruder.post(f"/me/connections/{connected.public_id}/revoke", {}, form_path="/me/")
    assert response.status_code == 404
    db.expire_all()
    assert db.get(Grant, connected.id).status == "active"


def test_another_customers_receipt_is_not_found(intruder, connected, db):
    from consent import issuing
    receipt = issuing.receipts_for_grant(db, connected.id)[0]
    for fmt in ("html", "kantara.json", "kantara.jws"):
        assert intruder.client.get(f"/me/receipts/{receipt.id}/{fmt}").status_code == 404


# --- connection detail -------------------------------------------------------------------------

def test_connection_shows_shared_values_and_never_the_unshared_ones(logged_in, connected):
    html = page(logged_in, f"/me/connections/{connected.public_id}")
    assert "Amira" in html and "books" in html.lower()
    assert "private-note-xyz" not in html
    assert connected.purpose in html


def test_narrowing_drops_a_scope(logged_in, connected, db):
    response = logged_in.post(f"/me/connections/{connected.public_id}/narrow", {"scopes": ["profile.name"]},
                              form_path=f"/me/connections/{connected.public_id}")
    assert response.status_code == 303
    db.expire_all()
    assert db.get(Grant, connected.id).scopes == ["profile.name"]


def test_renewing_moves_the_expiry(logged_in, connected, db):
    response = logged_in.post(f"/me/connections/{connected.public_id}/renew", {"term": "365"},
                              form_path=f"/me/connections/{connected.public_id}")
    assert response.status_code == 303
    db.expire_all()
    expires = db.get(Grant, connected.id).expires_at
    assert expires - utcnow() > timedelta(days=360)


def test_renewing_with_a_made_up_term_changes_nothing(logged_in, connected, db):
    before = connected.expires_at
    response = logged_in.post(f"/me/connections/{connected.public_id}/renew", {"term": "7000"},
                              form_path=f"/me/connections/{connected.public_id}", follow_redirects=True)
    assert response.status_code == 200 and 'class="flash error"' in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(Grant, connected.id).expires_at == before


def test_receipts_download_in_every_format(logged_in, connected, db):
    from consent import issuing
    receipt = issuing.receipts_for_grant(db, connected.id)[0]
    readable = page(logged_in, f"/me/receipts/{receipt.id}/html")
    assert "Corner Books" in readable
    body = logged_in.client.get(f"/me/receipts/{receipt.id}/kantara.json")
    assert body.status_code == 200 and "attachment" in body.headers["Content-Disposition"]
    assert isinstance(json.loads(body.get_data(as_text=True)), dict)
    jws = logged_in.client.get(f"/me/receipts/{receipt.id}/kantara.jws").get_data(as_text=True)
    assert jws.count(".") == 2
    assert logged_in.client.get(f"/me/receipts/{receipt.id}/pdf").status_code == 404


def test_access_history_shows_the_vendors_reads_paged(logged_in, connected, db, customer, shop):
    for _ in range(30):
        ledger.append(db, type="read", actor=shop.client_id, actor_role="vendor", chain=customer.public_id,
                      vendor_app=shop.client_id, fields=["given_name"], scopes=["profile.name"])
    db.commit()
    first = page(logged_in, f"/me/connections/{connected.public_id}")
    more = re.search(r'href="([^"]*before=\d+[^"]*)"', first)
    assert more, "the first page links to older entries"
    second = page(logged_in, more.group(1).replace("&amp;", "&"))
    reads_first = first.count("Given name")
    reads_second = second.count("Given name")
    assert reads_first >= 24 and reads_second >= 5


def test_connection_lists_the_contacts_this_vendor_reported_newest_first(logged_in, connected, db, customer, shop):
    other = make_app(db, name="Other Grocer")
    start = utcnow() - timedelta(days=3)
    db.add_all([contact.Contact(account_id=customer.id, app_id=shop.id, channel="sms", at=start, recorded_at=start),
                contact.Contact(account_id=customer.id, app_id=shop.id, channel="post", at=start + timedelta(days=1),
                                recorded_at=start),
                contact.Contact(account_id=customer.id, app_id=other.id, channel="phone", at=start, recorded_at=start)])
    db.commit()
    html = page(logged_in, f"/me/connections/{connected.public_id}")
    section = html[html.index('id="contacts"'):html.index('id="history"')]
    assert section.index("Post") < section.index("Text message (SMS)")
    assert "Phone call" not in section  # another vendor's contacts are not this vendor's
    assert "most recent" not in section


def test_connection_shows_only_the_latest_contacts(logged_in, connected, db, customer, shop):
    from web.customer.connections import CONTACTS_SHOWN
    start = utcnow() - timedelta(days=10)
    db.add_all([contact.Contact(account_id=customer.id, app_id=shop.id, channel="email",
                                at=start + timedelta(minutes=i), recorded_at=start)
                for i in range(CONTACTS_SHOWN + 1)])
    db.commit()
    html = page(logged_in, f"/me/connections/{connected.public_id}")
    section = html[html.index('id="contacts"'):html.index('id="history"')]
    assert section.count("<tr><td>") == CONTACTS_SHOWN and "most recent" in section


def test_a_connection_without_reported_contacts_says_so(logged_in, connected):
    html = page(logged_in, f"/me/connections/{connected.public_id}")
    assert "None reported." in html


# --- activity ------------------------------------------------------------------------------------

def test_activity_verifies_and_filters_by_kind(logged_in, connected, db, ctx, customer):
    grants.revoke(db, ctx, connected, customer)
    db.commit()
    html = page(logged_in, "/me/activity")
    assert "Your history verifies" in html
    only_revokes = page(logged_in, "/me/activity?type=revoke")
    assert only_revokes.count("<li><time") == 1


def test_activity_ignores_unknown_kinds_instead_of_failing(logged_in, connected):
    assert logged_in.client.get("/me/activity?type=bogus&before=notanumber").status_code == 200


# --- export --------------------------------------------------------------------------------------

def test_export_json_holds_values_connections_receipts_and_ledger(logged_in, connected, db, customer):
    response = logged_in.post("/me/export.json", {}, form_path="/me/export")
    assert response.status_code == 200
    document = json.loads(response.get_data(as_text=True))
    assert document["vault"]["given_name"] == "Amira"
    assert document["connections"][0]["client_id"] == connected.app.client_id
    assert document["connections"][0]["receipts"]
    assert any(e["type"] == "grant" for e in document["ledger"])
    kinds = [e.type for e in ledger.entries_for(db, customer.public_id)]
    assert "export" in kinds


@pytest.fixture
def everything(db, keys, customer, shop, connected):
    """Beyond the vault and the grant: a purchase with notes, a service case with a thread, an intent
    with a vendor's offer (and the notification it brought), and a contact the shop reported."""
    today = utcnow().date().isoformat()
    bought = purchases.add_manual(db, keys, customer, {
        "merchant": "Market Stall", "date": today, "currency": "EUR", "total": "12.00",
        "items": [{"name": "=Jam jar", "quantity": 2, "unit_price": "6.00"}]})
    purchases.annotate(db, keys, customer, bought.public_id, {"gift": True, "rating": 4})
    case = cases.open_case(db, keys, customer, shop, category="question", description="Where is order-xyz?")
    cases.customer_reply(db, keys, customer, case, "Still waiting-abc.")
    bidder = make_app(db, name="Desk Makers", scopes=["profile.name", "intents.read", "offers.write"])
    intent = intents.publish(db, keys, customer, category="furniture", title="Oak desk", description="Solid oak.",
                             city="Leeds")
    intents.place_offer(db, keys, bidder, intent, price="250", currency="EUR", description="Desk D1, delivered.",
                        terms="Two-year warranty.", valid_until=utcnow() + timedelta(days=3))
    db.add(contact.Contact(account_id=customer.id, app_id=shop.id, channel="sms", at=utcnow(), recorded_at=utcnow()))
    db.commit()
    return {"purchase": bought, "case": case, "intent": intent, "bidder": bidder}


def test_export_json_holds_purchases_cases_intents_offers_notifications_and_contacts(logged_in, everything, shop):
    document = json.loads(logged_in.post("/me/export.json", {}, form_path="/me/export").get_data(as_text=True))
    [bought] = document["purchases"]
    assert bought["merchant"] == "Market Stall" and bought["source"] == "customer"
    assert bought["items"] == [{"name": "=Jam jar", "sku": None, "quantity": 2, "unit_price": "6.00"}]
    assert bought["annotations"]["gift"] is True and bought["annotations"]["rating"] == 4
    [case] = document["service_cases"]
    assert case["reference"] == everything["case"].reference and case["client_id"] == shop.client_id
    assert [m["text"] for m in case["messages"]] == ["Where is order-xyz?", "Still waiting-abc."]
    [intent] = document["intents"]
    assert (intent["title"], intent["description"], intent["city"], intent["status"]) == \
        ("Oak desk", "Solid oak.", "Leeds", "open")
    [offer] = intent["offers"]
    assert offer["vendor"] == "Desk Makers" and offer["price"] == "250.00"
    assert (offer["description"], offer["terms"]) == ("Desk D1, delivered.", "Two-year warranty.")
    told = {n["event"]: n for n in document["notifications"]}
    assert "vendor_connected" in told and "Desk Makers" in told["offer_received"]["subject"]
    assert document["contacts_reported"][0]["channel"] == "sms"
    assert document["contacts_reported"][0]["client_id"] == shop.client_id


def test_export_zip_has_one_csv_per_part(logged_in, connected, everything):
    response = logged_in.post("/me/export.zip", {}, form_path="/me/export")
    archive = zipfile.ZipFile(io.BytesIO(response.data))
    names = set(archive.namelist())
    assert {"vault.csv", "connections.csv", "receipts.csv", "ledger.csv", "export.json", "purchases.csv",
            "purchase_items.csv", "service_cases.csv", "case_messages.csv", "intents.csv", "offers.csv",
            "notifications.csv", "contacts_reported.csv"} <= names
    read = {name: archive.read(name).decode() for name in names}
    assert "'=Jam jar" in read["purchase_items.csv"]  # a spreadsheet shows it, never runs it
    assert "Market Stall" in read["purchases.csv"] and "True" in read["purchases.csv"]
    assert "Still waiting-abc." in read["case_messages.csv"]
    assert "Oak desk" in read["intents.csv"] and "Desk D1, delivered." in read["offers.csv"]
    assert "offer_received" in read["notifications.csv"] and "sms" in read["contacts_reported.csv"]


def test_export_after_a_stale_login_asks_for_the_password_again(logged_in, connected):
    with logged_in.client.session_transaction() as state:
        for key in list(state):
            if "auth_at" in key or key.endswith("_at"):
                state[key] = 0
    response = logged_in.post("/me/export.json", {}, form_path="/me/export")
    assert response.status_code == 303 and "/reauthenticate" in response.headers["Location"]


@pytest.mark.parametrize("fmt", ["pdf", "csv", "json.exe"])
def test_a_format_we_do_not_make_is_not_found_and_records_no_export(logged_in, connected, db, customer, fmt):
    """An export is an entry in the customer's ledger, which nothing can take back: a format we
    do not make must not leave one (it did, and redirected as if nothing had happened)."""
    exports = [e for e in ledger.iter_chain(db, customer.public_id) if e.type == "export"]
    response = logged_in.post(f"/me/export.{fmt}", {}, form_path="/me/export")
    assert response.status_code == 404
    db.expire_all()
    assert [e for e in ledger.iter_chain(db, customer.public_id) if e.type == "export"] == exports


# --- erase -----------------------------------------------------------------------------------------

def test_delete_needs_the_typed_confirmation(logged_in, connected, db, customer):
    response = logged_in.post("/me/delete", {"confirm": "yes please"})
    assert response.status_code == 422 and "Type DELETE" in response.get_data(as_text=True)
    db.expire_all()
    assert db.get(Account, customer.id) is not None


def test_delete_erases_the_vault_revokes_grants_and_ends_the_session(logged_in, connected, db, customer, app):
    email, chain, grant_id = customer.email, customer.public_id, connected.id
    response = logged_in.post("/me/delete", {"confirm": "DELETE"})
    assert response.status_code == 303
    db.expire_all()
    assert find_by_email(db, email) is None
    assert db.get(Grant, grant_id) is None or db.get(Grant, grant_id).status == "revoked"
    assert logged_in.client.get("/me/").status_code == 302
    fresh = Portal(app.test_client())
    assert fresh.login(email).status_code != 303
    kinds = [e.type for e in ledger.entries_for(db, chain)]
    assert kinds[:2] == ["erase", "revoke"]  # the proof outlives the data


# --- security ------------------------------------------------------------------------------------

def test_changing_the_password_checks_the_current_one(logged_in):
    response = logged_in.post("/me/security", {"action": "password", "current_password": "wrong wrong wrong",
                                                "new_password": "a brand new passphrase",
                                                "new_password_confirm": "a brand new passphrase"})
    assert response.status_code == 422


def test_changing_the_password_signs_out_other_sessions(logged_in, app, customer):
    other = Portal(app.test_client())
    other.login(customer.email)
    assert other.client.get("/me/").status_code == 200
    response = logged_in.post("/me/security", {"action": "password", "current_password": STRONG_PASSWORD,
                                                "new_password": "a brand new passphrase",
                                                "new_password_confirm": "a brand new passphrase"})
    assert response.status_code == 303
    assert other.client.get("/me/").status_code == 302
    assert logged_in.client.get("/me/").status_code == 200
    fresh = Portal(app.test_client())
    assert fresh.login(customer.email, "a brand new passphrase").status_code == 303


def test_sign_out_other_sessions(logged_in, app, customer):
    other = Portal(app.test_client())
    other.login(customer.email)
    response = logged_in.post("/me/security", {"action": "sign_out_others"})
    assert response.status_code == 303
    assert other.client.get("/me/").status_code == 302
    assert logged_in.client.get("/me/").status_code == 200
