"""With Arabic chosen, the case layer's sentences and the vault's new field messages reach the page in Arabic;
profile text with control characters and a phone number typed twice are refused with field messages."""
from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from consent import cases, grants
from tests.conftest import Portal
from tests.vendor_api.conftest import ctx_for, make_vendor
from vault import records
from vault.models import VaultRecord

CASE_SCOPES = ["profile.name", "cases.read", "cases.write"]
WRITE_SOMETHING = "اكتب شيئًا."
CHOOSE_KIND = "اختر نوع الطلب."
CHOOSE_PRIORITY = "اختر الأولوية."
STARS = "من نجمة واحدة إلى 5 نجوم."
ALREADY_CLOSED = "هذا الطلب مغلق من قبل."
CLOSED = "هذا الطلب مغلق."
UNPRINTABLE = "أزل أحرف التحكم غير المرئية من هذا النص."
PHONE_TWICE = "سبق أن أضفت رقم الهاتف هذا."


@pytest.fixture
def shop(db):
    return make_vendor(db, name="Fix-It", scopes=CASE_SCOPES)


@pytest.fixture
def connected(app, db, customer, shop):
    change = grants.grant(db, ctx_for(app), customer=customer, app=shop.app, scopes=CASE_SCOPES)
    db.commit()
    return change.grant


@pytest.fixture
def arabic(app, customer) -> Portal:
    portal = Portal(app.test_client())
    portal.login(customer.email)
    assert portal.post("/lang/ar", {"next": "/me/"}, form_path="/me/").status_code == 303
    return portal


@pytest.fixture
def case(db, keys, customer, shop, connected):
    opened = cases.open_case(db, keys, customer, shop.app, category="repair", description="The kettle leaks.")
    db.commit()
    return opened


def _page(response) -> str:
    return html.unescape(response.get_data(as_text=True))


def test_an_empty_reply_is_refused_in_arabic(arabic, case):
    response = arabic.post(f"/me/cases/{case.reference}", {"action": "reply", "message": "  "})
    assert response.status_code == 422
    page = _page(response)
    assert WRITE_SOMETHING in page and "Write something." not in page


def test_a_bad_kind_and_priority_are_refused_in_arabic(arabic, shop, connected):
    response = arabic.post("/me/cases/new", {"app": shop.client_id, "category": "spaceship", "priority": "asap",
                                             "description": "Help."})
    assert response.status_code == 422
    page = _page(response)
    assert CHOOSE_KIND in page and CHOOSE_PRIORITY in page
    assert "Choose a kind of request." not in page and "Choose a priority." not in page


def test_a_rating_out_of_range_is_refused_in_arabic(arabic, case):
    response = arabic.post(f"/me/cases/{case.reference}", {"action": "close", "rating": "6"})
    assert response.status_code == 422
    page = _page(response)
    assert STARS in page and "From 1 to 5 stars." not in page


def test_closing_or_answering_a_closed_case_is_explained_in_arabic(arabic, case):
    path = f"/me/cases/{case.reference}"
    assert arabic.post(path, {"action": "close", "rating": "4"}).status_code == 303
    again = arabic.post(path, {"action": "close", "rating": "4"})
    assert again.status_code == 303
    page = _page(arabic.client.get(path))
    assert ALREADY_CLOSED in page and "This case is already closed." not in page
    reply = arabic.post(path, {"action": "reply", "message": "Hello?"})
    assert reply.status_code == 303
    page = _page(arabic.client.get(path))
    assert CLOSED in page and "This case is closed." not in page


def test_a_case_message_with_control_characters_is_refused(arabic, case):
    response = arabic.post(f"/me/cases/{case.reference}", {"action": "reply", "message": "bell\x07\u202e"})
    assert response.status_code == 422 and UNPRINTABLE in _page(response)


def test_profile_text_with_control_characters_is_refused_and_not_stored(arabic, db, customer):
    response = arabic.post("/me/profile", {"given_name": "\u202eevil\x00\x01x", "family_name": "a\x1bb"})
    assert response.status_code == 422
    page = _page(response)
    assert 'id="given_name-error"' in page and 'id="family_name-error"' in page
    assert page.count(UNPRINTABLE) == 2
    assert db.scalars(select(VaultRecord).where(VaultRecord.account_id == customer.id)).all() == []


def test_notes_keep_their_line_breaks(arabic, db, keys, customer):
    response = arabic.post("/me/profile", {"given_name": "Layla", "notes": "Ring twice.\r\nLeave it\twith No. 3."})
    assert response.status_code == 303
    assert records.read_fields(db, keys, customer.id)["notes"] == "Ring twice.\nLeave it\twith No. 3."


def test_a_phone_number_typed_twice_is_refused(arabic, db, customer):
    response = arabic.post("/me/profile", {"phones-0-number": "+447700900123", "phones-0-label": "mobile",
                                           "phones-1-number": "+44 7700 900123", "phones-1-label": "work"})
    assert response.status_code == 422
    page = _page(response)
    assert 'id="phones-1-number-error"' in page and PHONE_TWICE in page
    assert 'id="phones-0-number-error"' not in page
    assert db.scalars(select(VaultRecord).where(VaultRecord.account_id == customer.id)).all() == []
