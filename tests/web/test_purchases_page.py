"""The customer's purchase history in the portal: every vendor's orders and their own in one list,
adding a purchase from any shop, annotating any purchase, and whether a vendor may read the notes."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select, text

from consent import purchases
from tests.vendor_api.conftest import direct_token, make_vendor
from tests.web.test_accessibility import problems
from vault.accounts import sign_up

SCOPES = ["profile.name", "purchases.read", "purchases.write", "purchases.context"]


def order(order_id: str, name: str, price: str, total: str) -> dict:
    return {"order_id": order_id, "date": "2026-03-14", "currency": "EUR", "status": "shipped",
            "items": [{"name": name, "quantity": 2, "unit_price": price}], "total": total}


@pytest.fixture
def books(db):
    return make_vendor(db, name="Corner Books", scopes=SCOPES)


@pytest.fixture
def teas(db):
    return make_vendor(db, name="Tea House", scopes=["profile.name", "purchases.read", "purchases.write"])


@pytest.fixture
def bought(app, client, db, customer, books, teas):
    """Two vendors wrote an order each into the customer's vault."""
    for vendor, body in ((books, order("B-1", "Dune", "9.50", "19.00")),
                         (teas, order("T-1", "Sencha", "6.00", "12.00"))):
        token = direct_token(db, app, customer, vendor, vendor.app.requested_scopes)
        response = client.post("/api/v1/me/purchases", json=body, headers={"Authorization": f"Bearer {token}"})
        assert response.status_code == 201, response.get_data(as_text=True)
    return customer


@pytest.fixture
def logged_in(portal, bought):
    portal.login(bought.email)
    return portal


def page(portal, path: str) -> str:
    response = portal.client.get(path)
    assert response.status_code == 200, (path, response.status_code)
    return response.get_data(as_text=True)


def detail_path(html: str, shop: str) -> str:
    rows = re.findall(r'<tr>(.*?)</tr>', html, re.S)
    row = next(r for r in rows if shop in r)
    return re.search(r'href="(/me/purchases/p_[^"]+)"', row).group(1)


def test_one_history_across_every_vendor(logged_in, books, teas):
    html = page(logged_in, "/me/purchases")
    for expected in ("Corner Books", "Tea House", "Dune", "Sencha", "Shipped", "19.00", "12.00"):
        assert expected in html, expected
    assert 'href="/me/purchases"' in page(logged_in, "/me/")  # the nav entry


def test_adding_a_purchase_from_a_shop_that_is_not_connected(logged_in, db, keys, bought):
    form = {"merchant": "Souq stall", "date": "2026-02-01", "currency": "sar", "status": "delivered",
            "items-0-name": "Saffron", "items-0-quantity": "2", "items-0-unit_price": "15.25",
            "items-1-name": "Cardamom", "items-1-quantity": "", "items-1-unit_price": "4"}
    response = logged_in.post("/me/purchases/new", form)
    assert response.status_code == 303, response.get_data(as_text=True)[:2000]
    html = page(logged_in, response.headers["Location"])
    assert "Souq stall" in html and "Saffron" in html and "Only you see these notes." in html
    mine = [p for p in purchases.history(db, keys, bought.id) if p.source == "customer"]
    assert mine[0].total == "34.50" and mine[0].currency == "SAR" and mine[0].app_id is None
    assert "Souq stall" in page(logged_in, "/me/purchases")


def test_the_add_form_shows_errors_next_to_their_fields(logged_in, db):
    response = logged_in.post("/me/purchases/new", {"merchant": "", "date": "2999-01-01", "currency": "XX",
                                                     "items-0-name": "Thing", "items-0-quantity": "0",
                                                     "items-0-unit_price": "abc"}, form_path="/me/purchases/new")
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    for field in ("merchant", "date", "currency", "items-0-quantity", "items-0-unit_price"):
        assert f'id="{field}-error"' in html and f'aria-describedby="{field}-error"' in html, field
    assert "Name the shop." in html and "Use an ISO 4217 currency code" in html
    assert db.execute(text("SELECT count(*) FROM purchases WHERE source = 'customer'")).scalar() == 0


def test_a_form_without_its_csrf_token_is_refused(logged_in):
    response = logged_in.client.post("/me/purchases/new", data={"merchant": "X"})
    assert response.status_code == 400


def test_annotating_a_purchase_and_who_can_read_it(app, logged_in, client, db, books, teas, bought):
    html = page(logged_in, "/me/purchases")
    path = detail_path(html, "Corner Books")
    detail = page(logged_in, path)
    assert f"{books.app.name} can read these notes" in detail
    saved = logged_in.post(path, {"action": "annotate", "gift": "yes", "return_reason": "wrong_size", "rating": "5"},
                           form_path=path)
    assert saved.status_code == 303
    listing = page(logged_in, "/me/purchases")
    assert "It was a gift" in listing and "Wrong size" in listing and "5 of 5" in listing
    # the vendor with purchases.context reads it through the API
    token = direct_token(db, app, bought, books, SCOPES)
    seen = client.get("/api/v1/me/purchases/B-1", headers={"Authorization": f"Bearer {token}"}).get_json()
    assert seen["context"]["gift"] is True and seen["context"]["rating"] == 5
    # the tea house holds no purchases.context: the page says only the customer sees its notes
    assert f"Only you see these notes: {teas.app.name} may" in page(logged_in, detail_path(listing, "Tea House"))


def test_bad_annotations_are_refused_with_messages(logged_in):
    path = detail_path(page(logged_in, "/me/purchases"), "Tea House")
    response = logged_in.post(path, {"action": "annotate", "rating": "9", "return_reason": "bored"}, form_path=path)
    assert response.status_code == 422
    html = response.get_data(as_text=True)
    assert 'id="rating-error"' in html and 'id="return_reason-error"' in html


def test_only_purchases_the_customer_added_can_be_removed(logged_in, db, keys, bought):
    vendor_path = detail_path(page(logged_in, "/me/purchases"), "Tea House")
    assert logged_in.post(vendor_path, {"action": "remove"}, form_path=vendor_path).status_code == 303
    assert "Tea House" in page(logged_in, "/me/purchases")
    manual = purchases.add_manual(db, keys, bought, {"merchant": "Kiosk", "date": "2026-01-01", "currency": "EUR",
                                                     "total": "2", "items": [{"name": "Paper", "quantity": 1,
                                                                              "unit_price": "2"}]})
    db.commit()
    path = f"/me/purchases/{manual.public_id}"
    assert logged_in.post(path, {"action": "remove"}, form_path=path).status_code == 303
    assert "Kiosk" not in page(logged_in, "/me/purchases")


def test_another_customers_purchase_is_not_found(app, db, bought):
    from tests.conftest import Portal
    row = db.scalar(select(purchases.Purchase))
    sign_up(db, "someone-else@example.com", "correct horse battery staple")
    db.commit()
    other = Portal(app.test_client())
    other.login("someone-else@example.com")
    assert other.client.get(f"/me/purchases/{row.public_id}").status_code == 404
    assert "Dune" not in other.client.get("/me/purchases").get_data(as_text=True)


@pytest.mark.parametrize("language", ["en", "ar"])
def test_the_pages_are_accessible(logged_in, language):
    listing = page(logged_in, "/me/purchases")
    for path in ("/me/purchases", "/me/purchases/new", detail_path(listing, "Corner Books")):
        response = logged_in.client.get(path, headers={"Accept-Language": language})
        assert response.status_code == 200, path
        assert problems(response.get_data(as_text=True)) == [], path


def test_an_empty_history_invites_adding_one(portal, customer):
    portal.login(customer.email)
    html = page(portal, "/me/purchases")
    assert "No purchases yet." in html and 'href="/me/purchases/new"' in html
