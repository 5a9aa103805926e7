"""Stored text is printable: no control characters, bidi overrides or lone surrogates; phones once each."""
import pytest
from marshmallow import ValidationError

from vault.schemas import UNPRINTABLE_MESSAGE, ProfileSchema, UnprintableText, printable

REFUSED = ["nul\x00", "\x01start", "esc\x1b[31m", "del\x7f", "c1\x85", "c1\x9b", "\u202eevil", "\u202a",
           "iso\u2066late\u2069", "\u2068", "lone\ud800", "\udfff", "tab\there", "line\nbreak", "cr\rhere"]


@pytest.mark.parametrize("text", REFUSED)
def test_one_line_text_refuses_controls_overrides_and_surrogates(text):
    with pytest.raises(UnprintableText) as caught:
        printable(text)
    assert str(caught.value) == UNPRINTABLE_MESSAGE


@pytest.mark.parametrize("text", ["Layla", "ليلى\u200f", "José Ñúñez", "Zoë O'Brien-Smith", "李小龙", "😀 ok",
                                  "\u200eleft-to-right mark", "a\u061cb"])
def test_ordinary_text_in_any_script_is_kept(text):
    assert printable(text) == text


def test_multi_line_text_keeps_line_feeds_and_tabs_and_plain_line_breaks():
    assert printable("one\r\ntwo\rthree\n\tfour", multiline=True) == "one\ntwo\nthree\n\tfour"
    for text in ("a\x00b", "a\x0bb", "a\x0cb", "a\x85b", "a\u202eb", "a\u2069b", "a\ud83db"):
        with pytest.raises(UnprintableText):
            printable(text, multiline=True)


def _errors(values: dict) -> dict:
    with pytest.raises(ValidationError) as caught:
        ProfileSchema().load(values)
    return caught.value.messages


def test_the_profile_refuses_controls_in_names_with_a_field_message():
    errors = _errors({"given_name": "\u202eevil\x00\x01x", "family_name": "a\x1bb", "display_name": "ok"})
    assert errors == {"given_name": [UNPRINTABLE_MESSAGE], "family_name": [UNPRINTABLE_MESSAGE]}


def test_every_text_field_of_the_vault_is_checked():
    errors = _errors({"address_home": {"line1": "1 Road\x00", "city": "Leeds\u2066", "country": "GB"},
                      "emails": [{"address": "a\x00@example.com"}], "phones": [{"number": "+447700900123\x00"}]})
    assert errors["address_home"] == {"line1": [UNPRINTABLE_MESSAGE], "city": [UNPRINTABLE_MESSAGE]}
    assert errors["emails"] == {0: {"address": [UNPRINTABLE_MESSAGE]}}
    assert errors["phones"] == {0: {"number": [UNPRINTABLE_MESSAGE]}}


def test_notes_may_run_over_several_lines_but_hold_no_controls():
    assert ProfileSchema().load({"notes": "Leave parcels\r\nwith\tthe neighbour"}) == {
        "notes": "Leave parcels\nwith\tthe neighbour"}
    assert _errors({"notes": "line\n\x00"}) == {"notes": [UNPRINTABLE_MESSAGE]}
    assert _errors({"given_name": "two\nlines"}) == {"given_name": [UNPRINTABLE_MESSAGE]}


def test_a_phone_number_is_added_once_however_it_is_typed():
    errors = _errors({"phones": [{"number": "+447700900123"}, {"number": "+44 7700 900123", "label": "work"},
                                 {"number": "+971 50 123 4567"}, {"number": "+44 (0)7700-900123"}]})
    assert errors == {"phones": {1: {"number": ["You've already added this phone number."]},
                                 3: {"number": ["You've already added this phone number."]}}}
    loaded = ProfileSchema().load({"phones": [{"number": "+447700900123"}, {"number": "+447700900124"}]})
    assert [p["number"] for p in loaded["phones"]] == ["+447700900123", "+447700900124"]
