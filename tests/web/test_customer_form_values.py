"""Odd values in the customer portal's forms get the page's own message, never a 500 or a change.

A tester's findings: digits like "²" pass ``str.isdigit()`` but break ``int()``; a refused
renewal was still written (term 0 broke every later one-click renewal, a huge term the commit);
after re-entering the password an export landed on a POST-only address (405); and a case closed
with an unreadable rating was closed unrated while thanking the customer for rating it.
"""
from __future__ import annotations

import pytest

from consent import cases, grants
from consent.models import Grant
from tests.conftest import Portal
from tests.consent.conftest import make_app
from tests.vendor_api.conftest import make_vendor
from vendor_api.context import consent_context

CASE_SCOPES = ["profile.name", "cases.read", "cases.write"]
INTENT_FORM = {"category": "home_appliances", "title": "Washing machine, 8 kg", "description": "Quiet and A-rated.",
               "budget_min": "300", "budget_max": "550", "currency": "eur", "needed_by": "", "city": "Leeds",
               "country": "gb", "expires_in_days": "14", "visibility": "all"}


@pytest.fixture
def ctx(app):
    with app.test_request_context():
        return consent_context()


@pytest.fixture
def logged_in(app, customer) -> Portal:
    portal = Portal(app.test_client())
    assert portal.login(customer.email).status_code == 303
    return portal


@pytest.fixture
def connected(db, ctx, customer):
    grant = grants.grant(db, ctx, customer=customer, app=make_app(db, name="Corner Books"),
                         scopes=["profile.name"], term_days=30).grant
    db.commit()
    return grant


@pytest.fixture
def case(db, keys, ctx, customer):
    fixer = make_vendor(db, name="Fix-It", scopes=CASE_SCOPES)
    grants.grant(db, ctx, customer=customer, app=fixer.app, scopes=CASE_SCOPES)
    opened = cases.open_case(db, keys, customer, fixer.app, category="repair", description="The kettle leaks.")
    db.commit()
    return opened


def stale(portal: Portal) -> None:
    """Make the login older than the five minutes export and erasure accept."""
    with portal.client.session_transaction() as state:
        for key in list(state):
            if "auth_at" in key or key.endswith("_at"):
                state[key] = 0


def text(response) -> str:
    return response.get_data(as_text=True)


# --- renewing a connection ------------------------------------------------------------------------

def renew(portal: Portal, grant, term: str):
    path = f"/me/connections/{grant.public_id}"
    return portal.post(f"{path}/renew", {"term": term}, form_path=path, follow_redirects=True)


@pytest.mark.parametrize("term", ["0", "²", "٣٠", "999999999999999999999999999999", "-30", ""])
def test_a_refused_renewal_says_why_and_leaves_the_grant_as_it_was(logged_in, connected, db, term):
    before = (connected.term_days, connected.status, connected.expires_at)
    response = renew(logged_in, connected, term)
    assert response.status_code == 200
    assert "Choose an expiry of 30, 90 or 365 days" in text(response)
    db.expire_all()
    row = db.get(Grant, connected.id)
    assert (row.term_days, row.status, row.expires_at) == before


def test_the_one_click_renewal_still_works_after_a_refused_one(logged_in, connected, db):
    renew(logged_in, connected, "0")
    link = f"/me/notifications/renew/{connected.public_id}"
    page = logged_in.client.get(link)
    assert page.status_code == 200 and 'name="term" value="30"' in text(page)
    response = logged_in.post(f"/me/connections/{connected.public_id}/renew", {"term": "30"},
                              form_path=link, follow_redirects=True)
    assert "Consent renewed." in text(response)


# --- closing a case -------------------------------------------------------------------------------

def close(portal: Portal, case, rating: str):
    return portal.post(f"/me/cases/{case.reference}", {"action": "close", "rating": rating})


@pytest.mark.parametrize("rating", ["abc", "²", "0", "6", "99999999999999999999"])
def test_an_unreadable_rating_is_refused_and_the_case_stays_open(logged_in, case, db, rating):
    response = close(logged_in, case, rating)
    assert response.status_code == 422
    assert "From 1 to 5 stars." in text(response) and "Thank you for rating" not in text(response)
    db.expire_all()
    assert db.get(cases.ServiceCase, case.id).status != "closed"


def test_closing_without_a_rating_does_not_thank_for_one(logged_in, case, db):
    response = close(logged_in, case, "")
    assert response.status_code == 303
    page = text(logged_in.client.get(response.headers["Location"]))
    assert "Thank you for rating" not in page and "Closed" in page
    db.expire_all()
    closed = db.get(cases.ServiceCase, case.id)
    assert closed.status == "closed" and closed.rating is None


def test_closing_with_a_rating_stores_it_and_thanks(logged_in, case, db):
    response = close(logged_in, case, "4")
    assert response.status_code == 303
    assert "Thank you for rating it." in text(logged_in.client.get(response.headers["Location"]))
    db.expire_all()
    assert db.get(cases.ServiceCase, case.id).rating == 4


# --- publishing a request -------------------------------------------------------------------------

@pytest.mark.parametrize("days", ["²", "abc", "99999999999999999999"])
def test_an_unreadable_expiry_gets_the_forms_message(logged_in, days):
    response = logged_in.post("/me/intents/new", {**INTENT_FORM, "expires_in_days": days})
    assert response.status_code == 422
    assert "Choose how long the request stays open." in text(response)


# --- asking for the password again ----------------------------------------------------------------

def test_export_after_the_password_returns_to_the_export_page(logged_in, connected, customer):
    stale(logged_in)
    asked = logged_in.post("/me/export.json", {}, form_path="/me/export")
    assert asked.status_code == 303
    back = logged_in.post(asked.headers["Location"], {"password": "correct horse battery staple"})
    assert back.status_code == 303 and back.headers["Location"] == "/me/export"
    assert logged_in.client.get("/me/export").status_code == 200
    again = logged_in.post("/me/export.json", {}, form_path="/me/export")
    assert again.status_code == 200 and again.get_json()["account"]["email"] == customer.email


def test_a_page_asked_for_with_get_is_where_the_password_returns_to(logged_in):
    stale(logged_in)
    asked = logged_in.client.get("/me/delete")
    assert asked.status_code == 303
    back = logged_in.post(asked.headers["Location"], {"password": "correct horse battery staple"})
    assert back.headers["Location"].startswith("/me/delete")
    assert logged_in.client.get(back.headers["Location"]).status_code == 200

