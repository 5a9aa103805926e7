"""Customers edit their vault in the portal; bad input gets field messages and stores nothing."""
import pytest
from sqlalchemy import select

from vault import records
from vault.models import VaultRecord


@pytest.fixture
def logged_in(portal, customer):
    portal.login(customer.email)
    return portal


def test_profile_form_saves_encrypted_values(logged_in, customer, db, keys):
    response = logged_in.post("/me/profile", {
        "given_name": "Layla", "family_name": "Nasser",
        "emails-0-address": "layla@example.org", "emails-primary": "0",
        "phones-0-number": "+971 50 123 4567", "phones-0-label": "mobile",
        "address_shipping-line1": "Villa 3, Al Wasl Road", "address_shipping-city": "Dubai",
        "address_shipping-country": "ae", "birth_date": "1990-05-01", "language": "ar",
    })
    assert response.status_code == 303
    values = records.read_fields(db, keys, customer.id)
    assert values["given_name"] == "Layla"
    assert values["phones"] == [{"number": "+971501234567", "label": "mobile"}]
    assert values["address_shipping"]["country"] == "AE"
    assert values["emails"] == [{"address": "layla@example.org", "primary": True, "verified": False}]
    page = logged_in.client.get("/me/profile").get_data(as_text=True)
    assert 'value="Layla"' in page and 'value="+971501234567"' in page


def test_bad_profile_input_shows_field_errors_and_stores_nothing(logged_in, customer, db):
    response = logged_in.post("/me/profile", {
        "given_name": "Layla", "phones-0-number": "call me maybe",
        "address_home-line1": "1 Road", "address_home-country": "ZZ", "birth_date": "2999-01-01",
    })
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="phones-0-number-error"' in page and "international format" in page
    assert 'id="address_home-city-error"' in page and 'id="address_home-country-error"' in page
    assert 'id="birth_date-error"' in page
    assert 'value="Layla"' in page  # what the person typed is kept
    assert db.scalars(select(VaultRecord).where(VaultRecord.account_id == customer.id)).all() == []


def test_a_customer_cannot_mark_an_email_verified_from_the_form(logged_in, customer, db, keys):
    logged_in.post("/me/profile", {"emails-0-address": "x@example.org", "emails-0-verified": "1"})
    assert records.read_fields(db, keys, customer.id)["emails"][0]["verified"] is False


def test_preferences_form(logged_in, customer, db, keys):
    response = logged_in.post("/me/preferences", {
        "channels": ["email", "sms"], "preferred_channel": "sms", "max_contacts_per_week": "2",
        "quiet_hours-start": "22:00", "quiet_hours-end": "07:00", "quiet_hours-timezone": "Asia/Dubai",
        "interests": ["books", "travel"], "sizes-clothing": "M", "sizes-shoe-system": "EU",
        "sizes-shoe-value": "41.5"})
    assert response.status_code == 303
    values = records.read_fields(db, keys, customer.id)
    assert values["quiet_hours"] == {"start": "22:00", "end": "07:00", "timezone": "Asia/Dubai"}
    assert values["max_contacts_per_week"] == 2
    assert values["sizes"]["shoe"] == {"system": "EU", "value": 41.5}
    page = logged_in.client.get("/me/preferences").get_data(as_text=True)
    assert 'value="41.5"' in page and 'value="Asia/Dubai"' in page


def test_bad_preferences(logged_in, customer, db):
    response = logged_in.post("/me/preferences", {
        "channels": ["email"], "preferred_channel": "sms", "quiet_hours-start": "22:00",
        "quiet_hours-end": "07:00", "quiet_hours-timezone": "Mars/Olympus", "max_contacts_per_week": "500"})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    for name in ("quiet_hours-timezone", "max_contacts_per_week"):
        assert f'id="{name}-error"' in page, name
    response = logged_in.post("/me/preferences", {"channels": ["email"], "preferred_channel": "sms"})
    assert response.status_code == 422 and 'id="preferred_channel-error"' in response.get_data(as_text=True)
    assert db.scalars(select(VaultRecord).where(VaultRecord.account_id == customer.id)).all() == []


def test_the_profile_page_renders_in_arabic_right_to_left(logged_in):
    logged_in.client.set_cookie("vv_lang", "ar")
    page = logged_in.client.get("/me/profile").get_data(as_text=True)
    assert 'dir="rtl"' in page and 'lang="ar"' in page
