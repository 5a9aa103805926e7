"""Scope catalogue: complete, bilingual, only known fields, notes never shared, strict parsing."""
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from consent import scopes
from consent.scopes import (
    DPV_PURPOSES, LAWFUL_BASES, PSEUDO_FIELDS, SCOPES, VAULT_FIELDS, UnknownScope, fields_for,
    get_scope, max_sensitivity, parse_scope_string,
)

ARABIC = re.compile(r"[\u0600-\u06FF]")

EXPECTED = {
    "profile.name": (("given_name", "family_name", "display_name"), "read", "low"),
    "profile.email": (("emails",), "read", "medium"),
    "profile.phone": (("phones",), "read", "medium"),
    "profile.birthdate": (("birth_date",), "read", "high"),
    "profile.language": (("language",), "read", "low"),
    "address.home": (("address_home",), "read", "high"),
    "address.shipping": (("address_shipping",), "read", "medium"),
    "address.billing": (("address_billing",), "read", "medium"),
    "preferences.communication": (("channels", "preferred_channel", "quiet_hours", "max_contacts_per_week"),
                                  "read", "low"),
    "preferences.interests": (("interests",), "read", "low"),
    "preferences.sizes": (("sizes",), "read", "low"),
    "purchases.read": (("purchases",), "read", None),
    "purchases.write": (("purchases",), "write", None),
    "purchases.context": (("purchase_context",), "read", None),
    "cases.read": (("cases",), "read", None),
    "cases.write": (("cases",), "write", None),
    "intents.read": (("intents",), "read", None),
    "offers.write": (("offers",), "write", None),
}


@pytest.mark.parametrize("scope_id", sorted(EXPECTED))
def test_required_scopes_exist_as_specified(scope_id):
    fields, access, sensitivity = EXPECTED[scope_id]
    scope = get_scope(scope_id)
    assert scope.id == scope_id
    assert scope.fields == fields
    assert scope.access == access
    if sensitivity:
        assert scope.sensitivity == sensitivity
    assert scope.sensitivity in ("low", "medium", "high")


def test_catalogue_ids_match_keys_and_order_is_stable():
    assert all(key == scope.id for key, scope in SCOPES.items())
    assert list(SCOPES)[:3] == ["profile.name", "profile.email", "profile.phone"]


@pytest.mark.parametrize("scope", list(SCOPES.values()), ids=list(SCOPES))
def test_every_scope_has_english_and_arabic_text(scope):
    for lang in ("en", "ar"):
        assert scope.label(lang).strip()
        assert scope.explain(lang).strip()
        assert scope.labels[lang] == scope.label(lang)
    assert ARABIC.search(scope.label("ar")) and ARABIC.search(scope.explain("ar"))
    assert not ARABIC.search(scope.label("en")) and not ARABIC.search(scope.explain("en"))
    assert scope.explain("ar") != scope.explain("en")


def test_label_falls_back_to_english():
    scope = get_scope("profile.email")
    assert scope.label("fr") == scope.label("en")
    assert scope.explain("de") == scope.explain("en")


@pytest.mark.parametrize("scope", list(SCOPES.values()), ids=list(SCOPES))
def test_scopes_name_only_known_fields(scope):
    assert scope.fields
    assert set(scope.fields) <= VAULT_FIELDS | PSEUDO_FIELDS


def test_notes_is_in_no_scope():
    assert "notes" in VAULT_FIELDS
    everything = list(SCOPES)
    assert "notes" not in fields_for(everything, "read")
    assert "notes" not in fields_for(everything, "write")
    assert all("notes" not in s.fields for s in SCOPES.values())


def test_every_vault_field_except_notes_is_reachable():
    shared = fields_for(list(SCOPES), "read")
    assert VAULT_FIELDS - shared == {"notes"}


def test_catalogue_is_read_only():
    scope = get_scope("profile.name")
    with pytest.raises(TypeError):
        scope.labels["en"] = "changed"
    with pytest.raises(TypeError):
        SCOPES["x"] = scope
    with pytest.raises(AttributeError):
        scope.fields = ("notes",)


def test_catalogue_check_rejects_a_scope_exposing_notes(monkeypatch):
    bad = scopes.Scope("profile.notes", ("notes",), "read", "low",
                       labels={"en": "Notes", "ar": "ملاحظات"}, explanations={"en": "x", "ar": "س"})
    monkeypatch.setattr(scopes, "SCOPES", {**SCOPES, bad.id: bad})
    with pytest.raises(RuntimeError, match="profile.notes"):
        scopes._check_catalogue()


def test_catalogue_check_rejects_missing_arabic(monkeypatch):
    bad = scopes.Scope("profile.x", ("emails",), "read", "low",
                       labels={"en": "X"}, explanations={"en": "x"})
    monkeypatch.setattr(scopes, "SCOPES", {bad.id: bad})
    with pytest.raises(RuntimeError, match="ar"):
        scopes._check_catalogue()


def test_parse_scope_string_splits_dedupes_and_keeps_order():
    assert parse_scope_string("profile.email profile.name profile.email") == ("profile.email", "profile.name")
    assert parse_scope_string("  profile.name   address.home ") == ("profile.name", "address.home")
    assert parse_scope_string("") == ()


@pytest.mark.parametrize("value, culprit", [
    ("profile.name profile.nmae", "profile.nmae"),
    ("notes", "notes"),
    ("profile.name\tprofile.email", "profile.name\tprofile.email"),
    ("PROFILE.NAME", "PROFILE.NAME"),
])
def test_parse_scope_string_rejects_unknown_and_names_it(value, culprit):
    with pytest.raises(UnknownScope) as err:
        parse_scope_string(value)
    assert err.value.scope_id == culprit
    assert repr(culprit) in str(err.value)
    assert isinstance(err.value, ValueError)


def test_parse_scope_string_needs_a_string():
    with pytest.raises(TypeError):
        parse_scope_string(["profile.name"])


def test_get_scope_unknown():
    with pytest.raises(UnknownScope):
        get_scope("profile.everything")


def test_fields_for_separates_read_and_write():
    ids = ["profile.name", "purchases.write", "cases.read"]
    assert fields_for(ids) == {"given_name", "family_name", "display_name", "cases"}
    assert fields_for(ids, access="write") == {"purchases"}
    assert fields_for([], "read") == frozenset()
    assert isinstance(fields_for(ids), frozenset)


def test_fields_for_accepts_an_oauth_scope_string():
    assert fields_for("profile.email address.home") == {"emails", "address_home"}


def test_fields_for_rejects_unknown_scope_and_bad_access():
    with pytest.raises(UnknownScope):
        fields_for(["profile.name", "profile.secret"])
    with pytest.raises(ValueError):
        fields_for(["profile.name"], access="delete")


def test_max_sensitivity():
    assert max_sensitivity([]) is None
    assert max_sensitivity(["profile.name"]) == "low"
    assert max_sensitivity(["profile.name", "profile.birthdate", "profile.email"]) == "high"


def test_dpv_tables_have_real_ids_and_both_languages():
    for needed in ("dpv:ServiceProvision", "dpv:CustomerManagement", "dpv:Personalisation", "dpv:Marketing",
                   "dpv:CustomerOrderManagement", "dpv:DeliveryOfGoods"):
        assert needed in DPV_PURPOSES
    assert set(LAWFUL_BASES) == {"dpv:Consent", "dpv:Contract", "dpv:LegitimateInterest"}
    for table in (DPV_PURPOSES, LAWFUL_BASES):
        for concept, labels in table.items():
            assert re.fullmatch(r"dpv:[A-Z][A-Za-z]+", concept)
            assert labels["en"].strip() and ARABIC.search(labels["ar"])


scope_lists = st.lists(st.sampled_from(sorted(SCOPES)), max_size=30)


@given(scope_lists)
def test_parse_roundtrip_property(ids):
    assert parse_scope_string(" ".join(ids)) == tuple(dict.fromkeys(ids))


@given(scope_lists, st.sampled_from(["read", "write"]))
def test_fields_for_is_union_of_matching_scopes(ids, access):
    got = fields_for(ids, access)
    assert "notes" not in got
    assert got == {f for i in ids if SCOPES[i].access == access for f in SCOPES[i].fields}
