"""Tests for vault.schemas: what a customer may store, and what they are told
when a value is refused."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from marshmallow import ValidationError

from vault.schemas import (
    CHANNELS,
    COUNTRY_CODES,
    INTEREST_CATEGORIES,
    PREFERENCE_FIELDS,
    PROFILE_FIELDS,
    SUPPORTED_LANGUAGES,
    VAULT_FIELDS,
    PhoneSchema,
    PreferencesSchema,
    ProfileSchema,
    VaultValuesSchema,
    validate_values,
)

# Phrases from marshmallow's built-in messages; none should reach a customer.
DEVELOPER_PHRASES = ("Not a valid", "Invalid", "Missing data", "Unknown field", "may not be null")


def years_ago(years: int, today: dt.date | None = None) -> dt.date:
    """The same calendar day ``years`` ago (28 Feb standing in for 29 Feb)."""
    today = today or dt.date.today()
    try:
        return today.replace(year=today.year - years)
    except ValueError:
        return today.replace(year=today.year - years, day=28)


def messages_at(errors: dict, path: tuple) -> list[str]:
    node = errors
    for key in path:
        assert key in node, f"expected an error at {path}, got {errors}"
        node = node[key]
    return node


PROFILE = {
    "given_name": "Amira",
    "family_name": "Haddad",
    "display_name": "Amira H.",
    "emails": [
        {"address": "amira@example.com", "primary": True, "verified": True},
        {"address": "a.haddad@work.example.org"},
    ],
    "phones": [{"number": "+447700900123", "label": "mobile"}, {"number": "+33142685300", "label": "work"}],
    "address_home": {
        "line1": "1 High Street",
        "line2": "Flat 2",
        "city": "London",
        "region": "Greater London",
        "postal_code": "SW1A 1AA",
        "country": "GB",
    },
    "address_shipping": {"line1": "5 Rue de Rivoli", "city": "Paris", "country": "FR"},
    "address_billing": None,
    "birth_date": "1988-07-14",
    "language": "ar",
    "notes": "Prefers morning deliveries.",
}
PREFERENCES = {
    "channels": ["email", "sms"],
    "preferred_channel": "email",
    "quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Europe/London"},
    "max_contacts_per_week": 3,
    "interests": ["books", "travel", "food_drink"],
    "sizes": {"clothing": "M", "shoe": {"system": "EU", "value": 39.5}},
}
VALUES = {**PROFILE, **PREFERENCES}


# --- constants and field sets ------------------------------------------------


def test_field_tuples_match_the_schemas():
    assert VAULT_FIELDS == PROFILE_FIELDS + PREFERENCE_FIELDS
    assert tuple(ProfileSchema().fields) == PROFILE_FIELDS
    assert tuple(PreferencesSchema().fields) == PREFERENCE_FIELDS
    assert tuple(VaultValuesSchema().fields) == VAULT_FIELDS
    assert CHANNELS == ("email", "sms", "phone", "post", "chat")
    assert len(set(INTEREST_CATEGORIES)) == len(INTEREST_CATEGORIES) == 20
    assert {"en", "ar", "fr", "de", "es", "it", "nl", "pt", "tr", "ur", "hi", "zh", "ja"} <= set(SUPPORTED_LANGUAGES)


def test_country_codes_are_the_249_iso_codes():
    assert len(COUNTRY_CODES) == 249
    assert all(len(code) == 2 and code.isascii() and code.isupper() for code in COUNTRY_CODES)
    assert {"GB", "FR", "US", "AX", "SS", "CW"} <= COUNTRY_CODES
    assert not {"UK", "XK", "EU"} & COUNTRY_CODES


def test_country_codes_agree_with_tzdata_list():
    tab = Path("/usr/share/zoneinfo/iso3166.tab")
    if not tab.exists():
        pytest.skip("system tzdata iso3166.tab not available")
    codes = {line.split("\t")[0] for line in tab.read_text().splitlines() if line and not line.startswith("#")}
    assert codes == COUNTRY_CODES


# --- good values --------------------------------------------------------------


@pytest.mark.parametrize(
    ("schema", "values"),
    [(ProfileSchema(), PROFILE), (PreferencesSchema(), PREFERENCES), (VaultValuesSchema(), VALUES)],
    ids=["profile", "preferences", "vault"],
)
def test_good_values_load_to_json_and_round_trip(schema, values):
    loaded = schema.load(values)
    assert json.loads(json.dumps(loaded)) == loaded
    assert schema.load(schema.dump(loaded)) == loaded


def test_good_values_are_kept():
    clean, errors = validate_values(VALUES)
    assert errors == {}
    assert clean["birth_date"] == "1988-07-14"
    assert clean["emails"][1] == {"address": "a.haddad@work.example.org", "primary": False, "verified": False}
    assert clean["address_billing"] is None
    assert clean["sizes"] == {"clothing": "M", "shoe": {"system": "EU", "value": 39.5}}


def test_values_are_normalised():
    clean, errors = validate_values(
        {
            "given_name": "  Amira ",
            "emails": [{"address": " Amira.H@Example.COM "}, {"address": "b@example.com"}],
            "phones": [{"number": "+44 (0)7700 900-123"}, {"number": "+1 (212) 555-0100", "label": "Work"}],
            "address_home": {"line1": " 1 High St ", "city": "London", "country": "gb"},
            "language": "EN",
            "channels": ["Email"],
            "preferred_channel": "EMAIL",
            "sizes": {"clothing": "xl", "shoe": {"system": "uk", "value": 8}},
            "birth_date": dt.date(1990, 4, 25),
            "max_contacts_per_week": "4",
        }
    )
    assert errors == {}
    assert clean["given_name"] == "Amira"
    assert clean["emails"][0] == {"address": "Amira.H@example.com", "primary": True, "verified": False}
    assert clean["emails"][1]["primary"] is False
    assert clean["phones"] == [
        {"number": "+447700900123", "label": "mobile"},
        {"number": "+12125550100", "label": "work"},
    ]
    assert clean["address_home"] == {"line1": "1 High St", "city": "London", "country": "GB"}
    assert clean["language"] == "en"
    assert clean["channels"] == ["email"]
    assert clean["preferred_channel"] == "email"
    assert clean["sizes"] == {"clothing": "XL", "shoe": {"system": "UK", "value": 8.0}}
    assert clean["birth_date"] == "1990-04-25"
    assert clean["max_contacts_per_week"] == 4


def test_eastern_arabic_digits_are_accepted_in_phone_numbers():
    clean, errors = validate_values({"phones": [{"number": "+٤٤ ٧٧٠٠ ٩٠٠١٢٣"}]})
    assert errors == {}
    assert clean["phones"][0]["number"] == "+447700900123"


@pytest.mark.parametrize("field", VAULT_FIELDS)
def test_none_clears_any_field(field):
    assert validate_values({field: None}) == ({field: None}, {})


@pytest.mark.parametrize("partial", [True, False])
def test_every_field_is_optional(partial):
    assert validate_values({}, partial=partial) == ({}, {})


def test_boundaries_that_are_allowed():
    clean, errors = validate_values(
        {
            "given_name": "x" * 100,
            "notes": "n" * 5000,
            "emails": [{"address": f"user{i}@example.com"} for i in range(10)],
            "phones": [{"number": "+12345678"}, {"number": "+123456789012345"}],
            "birth_date": years_ago(13).isoformat(),
            "max_contacts_per_week": 0,
            "interests": list(INTEREST_CATEGORIES),
            "channels": [],
            "quiet_hours": {"start": "00:00", "end": "23:59", "timezone": "UTC"},
            "sizes": {"shoe": {"system": "US", "value": 60}},
        }
    )
    assert errors == {}
    assert clean["max_contacts_per_week"] == 0


def test_birth_date_on_1900_01_01_is_allowed():
    assert validate_values({"birth_date": "1900-01-01"})[1] == {}


def test_preferred_channel_alone_is_accepted():
    """The channels may already be stored; the caller checks the merged result."""
    assert validate_values({"preferred_channel": "post"}) == ({"preferred_channel": "post"}, {})


# --- rejections ---------------------------------------------------------------

TODAY = dt.date.today()
ADDRESS = {"line1": "1 High Street", "city": "London", "country": "GB"}

REJECTED = [
    # unknown fields
    ("unknown top-level field", {"favourite_colour": "blue"}, ("favourite_colour",)),
    ("unknown address field", {"address_home": {**ADDRESS, "planet": "Earth"}}, ("address_home", "planet")),
    ("unknown email field", {"emails": [{"address": "a@example.com", "spam": True}]}, ("emails", 0, "spam")),
    # names and notes
    ("blank given name", {"given_name": "   "}, ("given_name",)),
    ("long family name", {"family_name": "x" * 101}, ("family_name",)),
    ("long display name", {"display_name": "x" * 101}, ("display_name",)),
    ("name not text", {"given_name": 42}, ("given_name",)),
    ("long notes", {"notes": "x" * 5001}, ("notes",)),
    # emails
    ("bad email", {"emails": [{"address": "not-an-email"}]}, ("emails", 0, "address")),
    ("email missing address", {"emails": [{"primary": True}]}, ("emails", 0, "address")),
    ("emails not a list", {"emails": "a@example.com"}, ("emails",)),
    ("too many emails", {"emails": [{"address": f"u{i}@example.com"} for i in range(11)]}, ("emails",)),
    (
        "duplicate email ignoring case",
        {"emails": [{"address": "a@example.com"}, {"address": "A@EXAMPLE.com"}]},
        ("emails", 1, "address"),
    ),
    (
        "two primary emails",
        {"emails": [{"address": "a@example.com", "primary": True}, {"address": "b@example.com", "primary": True}]},
        ("emails", 1, "primary"),
    ),
    ("primary not a boolean", {"emails": [{"address": "a@example.com", "primary": "maybe"}]}, ("emails", 0, "primary")),
    # phones
    ("phone without plus", {"phones": [{"number": "07700900123"}]}, ("phones", 0, "number")),
    ("phone country code 0", {"phones": [{"number": "+0447700900"}]}, ("phones", 0, "number")),
    ("phone too short", {"phones": [{"number": "+1234567"}]}, ("phones", 0, "number")),
    ("phone too long", {"phones": [{"number": "+1234567890123456"}]}, ("phones", 0, "number")),
    ("phone with letters", {"phones": [{"number": "+44 7700 CALL ME"}]}, ("phones", 0, "number")),
    ("phone bad label", {"phones": [{"number": "+447700900123", "label": "fax"}]}, ("phones", 0, "label")),
    (
        "second phone bad",
        {"phones": [{"number": "+447700900123"}, {"number": "12"}]},
        ("phones", 1, "number"),
    ),
    ("too many phones", {"phones": [{"number": f"+4477009001{i:02d}"} for i in range(11)]}, ("phones",)),
    # addresses
    ("address missing line1", {"address_home": {"city": "London", "country": "GB"}}, ("address_home", "line1")),
    ("address missing city", {"address_billing": {"line1": "1 High St", "country": "GB"}}, ("address_billing", "city")),
    ("address missing country", {"address_shipping": {"line1": "1", "city": "Paris"}}, ("address_shipping", "country")),
    ("country UK is not ISO", {"address_home": {**ADDRESS, "country": "UK"}}, ("address_home", "country")),
    ("unknown country", {"address_home": {**ADDRESS, "country": "ZZ"}}, ("address_home", "country")),
    ("country name", {"address_home": {**ADDRESS, "country": "France"}}, ("address_home", "country")),
    ("long line1", {"address_home": {**ADDRESS, "line1": "x" * 201}}, ("address_home", "line1")),
    ("long line2", {"address_home": {**ADDRESS, "line2": "x" * 201}}, ("address_home", "line2")),
    ("long city", {"address_home": {**ADDRESS, "city": "x" * 101}}, ("address_home", "city")),
    ("long region", {"address_home": {**ADDRESS, "region": "x" * 101}}, ("address_home", "region")),
    ("long postal code", {"address_home": {**ADDRESS, "postal_code": "x" * 21}}, ("address_home", "postal_code")),
    ("address not an object", {"address_home": "1 High St, London"}, ("address_home",)),
    # birth date
    ("future birth date", {"birth_date": (TODAY + dt.timedelta(days=1)).isoformat()}, ("birth_date",)),
    ("birth date before 1900", {"birth_date": "1899-12-31"}, ("birth_date",)),
    ("under 13", {"birth_date": (years_ago(13) + dt.timedelta(days=1)).isoformat()}, ("birth_date",)),
    ("born today", {"birth_date": TODAY.isoformat()}, ("birth_date",)),
    ("impossible date", {"birth_date": "1990-02-30"}, ("birth_date",)),
    ("non-ISO date", {"birth_date": "25/04/1990"}, ("birth_date",)),
    ("datetime birth date", {"birth_date": dt.datetime(1990, 4, 25, 12, 0)}, ("birth_date",)),
    # language
    ("unsupported language", {"language": "xx"}, ("language",)),
    ("language with region", {"language": "en-GB"}, ("language",)),
    # channels
    ("unknown channel", {"channels": ["email", "fax"]}, ("channels", 1)),
    ("duplicate channel", {"channels": ["sms", "email", "sms"]}, ("channels", 2)),
    ("unknown preferred channel", {"preferred_channel": "pigeon"}, ("preferred_channel",)),
    (
        "preferred channel not in channels",
        {"channels": ["email", "sms"], "preferred_channel": "post"},
        ("preferred_channel",),
    ),
    ("preferred channel with channels cleared", {"channels": None, "preferred_channel": "sms"}, ("preferred_channel",)),
    # quiet hours
    ("bad start time", {"quiet_hours": {"start": "25:00", "end": "07:00", "timezone": "UTC"}}, ("quiet_hours", "start")),
    ("unpadded end time", {"quiet_hours": {"start": "22:00", "end": "7:00", "timezone": "UTC"}}, ("quiet_hours", "end")),
    ("empty window", {"quiet_hours": {"start": "22:00", "end": "22:00", "timezone": "UTC"}}, ("quiet_hours", "end")),
    (
        "unknown timezone",
        {"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "Mars/Olympus_Mons"}},
        ("quiet_hours", "timezone"),
    ),
    (
        "timezone path trick",
        {"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "../../etc/passwd"}},
        ("quiet_hours", "timezone"),
    ),
    (
        "server local time is not a timezone",
        {"quiet_hours": {"start": "22:00", "end": "07:00", "timezone": "localtime"}},
        ("quiet_hours", "timezone"),
    ),
    ("quiet hours missing timezone", {"quiet_hours": {"start": "22:00", "end": "07:00"}}, ("quiet_hours", "timezone")),
    # contact frequency
    ("negative contacts", {"max_contacts_per_week": -1}, ("max_contacts_per_week",)),
    ("too many contacts", {"max_contacts_per_week": 101}, ("max_contacts_per_week",)),
    ("fractional contacts", {"max_contacts_per_week": 2.5}, ("max_contacts_per_week",)),
    ("boolean contacts", {"max_contacts_per_week": True}, ("max_contacts_per_week",)),
    ("word contacts", {"max_contacts_per_week": "lots"}, ("max_contacts_per_week",)),
    # interests
    ("unknown interest", {"interests": ["books", "astrology"]}, ("interests", 1)),
    ("duplicate interest", {"interests": ["books", "books"]}, ("interests", 1)),
    # sizes
    ("unknown clothing size", {"sizes": {"clothing": "XXXXL"}}, ("sizes", "clothing")),
    ("unknown shoe system", {"sizes": {"shoe": {"system": "JP", "value": 25}}}, ("sizes", "shoe", "system")),
    ("shoe size too small", {"sizes": {"shoe": {"system": "UK", "value": 0.5}}}, ("sizes", "shoe", "value")),
    ("shoe size too big", {"sizes": {"shoe": {"system": "EU", "value": 61}}}, ("sizes", "shoe", "value")),
    ("shoe size quarter step", {"sizes": {"shoe": {"system": "US", "value": 8.25}}}, ("sizes", "shoe", "value")),
    ("shoe size missing value", {"sizes": {"shoe": {"system": "US"}}}, ("sizes", "shoe", "value")),
    ("shoe size not a number", {"sizes": {"shoe": {"system": "US", "value": "nine"}}}, ("sizes", "shoe", "value")),
    ("shoe size NaN", {"sizes": {"shoe": {"system": "US", "value": float("nan")}}}, ("sizes", "shoe", "value")),
    ("unknown sizes field", {"sizes": {"hat": "M"}}, ("sizes", "hat")),
]


@pytest.mark.parametrize(("values", "path"), [case[1:] for case in REJECTED], ids=[case[0] for case in REJECTED])
def test_rejected_values_report_the_right_field(values, path):
    clean, errors = validate_values(values)
    assert clean == {}
    assert set(errors) == {path[0]}, errors
    messages = messages_at(errors, path)
    assert messages and all(isinstance(message, str) and message for message in messages)
    for message in messages:
        assert not any(phrase in message for phrase in DEVELOPER_PHRASES), message


def test_future_and_too_young_birth_dates_are_explained_differently():
    _, future = validate_values({"birth_date": (TODAY + dt.timedelta(days=1)).isoformat()})
    _, too_young = validate_values({"birth_date": years_ago(5).isoformat()})
    assert future["birth_date"] == ["Your date of birth can't be in the future."]
    assert too_young["birth_date"] == ["You must be at least 13 years old to add a date of birth."]


def test_schema_load_raises_for_unknown_field():
    with pytest.raises(ValidationError) as raised:
        ProfileSchema().load({"channels": ["email"]})
    assert "channels" in raised.value.messages


def test_phone_error_message_explains_the_format():
    _, errors = validate_values({"phones": [{"number": "07700 900123"}]})
    assert errors["phones"][0]["number"] == ["Enter a phone number in international format, like +447700900123."]


def test_one_bad_value_rejects_everything():
    clean, errors = validate_values({**VALUES, "address_home": {**ADDRESS, "country": "ZZ"}})
    assert clean == {}
    assert set(errors) == {"address_home"}


def test_errors_from_several_fields_are_all_reported():
    _, errors = validate_values({"given_name": "", "language": "xx", "sizes": {"clothing": "huge"}})
    assert set(errors) == {"given_name", "language", "sizes"}


@pytest.mark.parametrize("partial", [True, False])
def test_nested_objects_are_validated_whole_even_when_partial(partial):
    _, errors = validate_values({"address_home": {"line1": "1 High St"}}, partial=partial)
    assert set(errors["address_home"]) == {"city", "country"}


def test_rejects_non_object_input():
    clean, errors = validate_values(["given_name"])  # type: ignore[arg-type]
    assert clean == {}
    assert errors


# --- properties ---------------------------------------------------------------

SEPARATORS = st.sampled_from([" ", "-", " - ", "  ", "\t", "\u2013", ""])


@st.composite
def typed_phone_numbers(draw) -> tuple[str, str]:
    """A valid E.164 number and a way a person might have typed it."""
    digits = draw(st.sampled_from("123456789")) + draw(st.text("0123456789", min_size=7, max_size=14))
    cuts = sorted(draw(st.sets(st.integers(1, len(digits) - 1), max_size=4)))
    chunks = [digits[start:end] for start, end in zip([0, *cuts], [*cuts, len(digits)])]
    typed = []
    for chunk in chunks:
        # "(0)" alone is the optional trunk prefix, which is dropped on purpose.
        wrap = chunk != "0" and draw(st.booleans())
        typed.append(f"({chunk})" if wrap else chunk)
        typed.append(draw(SEPARATORS))
    leading = draw(st.sampled_from(["", " ", "\n"]))
    return leading + "+" + "".join(typed), "+" + digits


@given(typed_phone_numbers())
def test_any_typed_valid_phone_normalises_to_e164_and_round_trips(case):
    typed, e164 = case
    schema = PhoneSchema()
    loaded = schema.load({"number": typed})
    assert loaded == {"number": e164, "label": "mobile"}
    assert schema.load(schema.dump(loaded)) == loaded
