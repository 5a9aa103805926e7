"""An intent's and an offer's codes are real ISO codes and its text printable, whoever sends it."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from consent import intents
from tests.conftest import Portal
from tests.vendor_api.conftest import make_vendor
from tests.vendor_api.test_intents import BIDDER_SCOPES, app_token, bearer, offer_body, publish
from vault.errors import ValidationFailed
from vault.schemas import UNPRINTABLE_MESSAGE


@pytest.fixture
def shop(db):
    return make_vendor(db, name="Appliance Alley", scopes=BIDDER_SCOPES)


def _refused(db, keys, customer, **values) -> dict:
    with pytest.raises(ValidationFailed) as caught:
        publish(db, keys, customer, **values)
    return caught.value.errors


@pytest.mark.parametrize("values, field", [
    ({"currency": "ZZZ"}, "currency"), ({"currency": "xts"}, "currency"), ({"currency": "ABC"}, "currency"),
    ({"country": "zz"}, "country"), ({"country": "xk"}, "country"), ({"country": "AA"}, "country"),
])
def test_made_up_currency_and_country_codes_are_refused(db, keys, customer, values, field):
    assert field in _refused(db, keys, customer, **values)


def test_real_codes_are_kept_upper_case(db, keys, customer):
    intent = publish(db, keys, customer, currency="sar", country="sa")
    assert (intent.currency, intent.country) == ("SAR", "SA")


@pytest.mark.parametrize("field", ["title", "city", "description"])
@pytest.mark.parametrize("text", ["\x00\x01", "Kettle\x00", "\u202egpj.exe", "lone \ud800", "esc \x1b[2J"])
def test_control_characters_are_refused_in_the_intents_text(db, keys, customer, field, text):
    assert _refused(db, keys, customer, **{field: text}) == {field: [UNPRINTABLE_MESSAGE]}


def test_line_breaks_are_for_the_description_only(db, keys, customer):
    intent = publish(db, keys, customer, description="Quiet.\r\nA-rated.\tPlease.")
    assert intents.intent_text(db, keys, intent).description == "Quiet.\nA-rated.\tPlease."
    assert _refused(db, keys, customer, title="Two\nlines") == {"title": [UNPRINTABLE_MESSAGE]}


def test_an_offer_needs_a_real_currency_and_printable_text(db, keys, customer, shop, client):
    intent = publish(db, keys, customer)
    url, headers = f"/api/v1/intents/{intent.public_id}/offers", bearer(app_token(db, shop))
    for bad, field in [({"currency": "ZZZ"}, "currency"), ({"description": "bell \x07 escape \x1b"}, "description"),
                       ({"terms": "\u202eevil"}, "terms")]:
        response = client.post(url, headers=headers, json=offer_body(**bad))
        assert response.status_code == 422, (bad, response.get_json())
        problem = response.get_json()
        assert field in str(problem), (bad, problem)
        assert field == "currency" or UNPRINTABLE_MESSAGE in str(problem), problem
    kept = client.post(url, headers=headers, json=offer_body(description="Model X8.\nDelivery included."))
    assert kept.status_code == 201, kept.get_json()


def test_the_portal_refuses_them_with_field_messages(app, db, customer):
    portal = Portal(app.test_client())
    portal.login(customer.email)
    response = portal.post("/me/intents/new", {
        "category": "home_appliances", "title": "\x00\x01", "description": "Quiet.", "budget_min": "300",
        "budget_max": "550", "currency": "ZZZ", "needed_by": "", "city": "Leeds", "country": "xk",
        "expires_in_days": "14", "visibility": "all"}, form_path="/me/intents/new")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert 'id="title-error"' in page and UNPRINTABLE_MESSAGE in page
    assert 'id="currency-error"' in page and 'id="country-error"' in page
    assert db.scalar(select(intents.Intent.id)) is None
