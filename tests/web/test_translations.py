"""Every string of the portal has its Arabic, the shipped .mo matches the .po, and pages use it.

When a test here fails because of new strings: run ``scripts/i18n.sh`` (extract, update, compile),
fill the empty ``msgstr`` entries in ``web/translations/ar/LC_MESSAGES/messages.po``, and run
``scripts/i18n.sh compile``.
"""
from __future__ import annotations

import re
from configparser import ConfigParser
from datetime import datetime, timezone
from pathlib import Path

import pytest
from babel.messages import frontend
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.mofile import read_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
TRANSLATIONS = ROOT / "web" / "translations"
PO = TRANSLATIONS / "ar" / "LC_MESSAGES" / "messages.po"
MO = PO.with_suffix(".mo")
SOURCES = ("web", "vendor_api")  # what scripts/i18n.sh extracts from
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None}
PLACEHOLDER = re.compile(r"%\((\w+)\)s|\{(\w+)\}")
FIX = "run scripts/i18n.sh, fill the Arabic in messages.po, then scripts/i18n.sh compile"


def _catalog():
    with PO.open("rb") as f:
        return read_po(f)


def _forms(value) -> list[str]:
    """A message's id or string as a list: one item, or each plural form (ngettext entries)."""
    return list(value) if isinstance(value, (tuple, list)) else [value]


def _key(value):
    return tuple(value) if isinstance(value, (tuple, list)) else value


def _extracted() -> set[str]:
    parse = getattr(frontend, "parse_mapping_cfg", None) or frontend.parse_mapping
    with (ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse(f)
    found = set()
    for source in SOURCES:
        for _file, _line, message, _comments, _context in extract_from_dir(
                ROOT / source, method_map, options_map, keywords=KEYWORDS):
            found.add(message if isinstance(message, str) else message[0])
    return found


def test_every_string_in_the_sources_has_an_arabic_translation():
    catalog = _catalog()
    missing = sorted(m for m in _extracted() if not (catalog.get(m) and all(_forms(catalog.get(m).string))))
    assert not missing, f"{len(missing)} string(s) without Arabic ({FIX}): {missing}"


def test_translations_keep_every_placeholder():
    wrong = [m.id for m in _catalog() if m.id and
             any(sorted(PLACEHOLDER.findall(_forms(m.id)[-1])) != sorted(PLACEHOLDER.findall(s))
                 for s in _forms(m.string))]
    assert not wrong, f"placeholders differ between English and Arabic: {wrong}"


def test_the_compiled_catalog_matches_the_po_file():
    with MO.open("rb") as f:
        compiled = {_key(m.id): _key(m.string) for m in read_mo(f) if m.id}
    source = {_key(m.id): _key(m.string) for m in _catalog() if m.id and all(_forms(m.string)) and not m.fuzzy}
    assert compiled == source, f"messages.mo is out of date ({FIX})"


def test_the_package_ships_the_compiled_catalogs():
    config = ConfigParser()
    config.read(ROOT / "setup.cfg")
    patterns = config["options.package_data"]["web.translations"].split(",")
    assert any(MO.relative_to(TRANSLATIONS).match(p.strip()) for p in patterns)


def test_arabic_pages_are_translated_and_right_to_left(client):
    html = client.get("/login", headers={"Accept-Language": "ar"}).get_data(as_text=True)
    assert '<html lang="ar" dir="rtl">' in html
    assert "تسجيل الدخول" in html and "Log in" not in html


def test_the_language_follows_accept_language_else_english(client):
    assert '<html lang="en" dir="ltr">' in client.get("/login").get_data(as_text=True)
    html = client.get("/login", headers={"Accept-Language": "fr, ar;q=0.5"}).get_data(as_text=True)
    assert 'lang="ar"' in html


def test_the_accounts_preference_beats_accept_language(app, db, portal):
    from vault.accounts import sign_up
    from tests.conftest import STRONG_PASSWORD
    sign_up(db, "arabic-reader@example.com", STRONG_PASSWORD, locale="ar")
    db.commit()
    portal.login("arabic-reader@example.com")
    html = portal.client.get("/me/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert 'lang="ar"' in html and "خزنتك" in html


def test_switching_language_updates_a_logged_in_account(app, db, portal, customer):
    portal.login(customer.email)
    response = portal.post("/lang/ar", {"next": "/me/"}, form_path="/me/")
    assert response.status_code == 303 and response.headers["Location"].endswith("/me/")
    db.refresh(customer)
    assert customer.locale == "ar"


@pytest.mark.parametrize("message, arabic", [
    ("Use 100 characters or fewer.", "استخدم ما لا يزيد على 100 من الأحرف."),
    ("That email and password do not match an account.", "لا يطابق هذا البريد الإلكتروني وكلمة المرور أي حساب."),
    ("Enter a shoe size between 1 and 60.", "أدخل مقاس حذاء بين 1 و60."),
    ("Something nobody listed.", "Something nobody listed."),
])
def test_the_cores_sentences_are_shown_in_arabic(app, message, arabic):
    from web.domain_messages import translate
    with app.test_request_context(headers={"Accept-Language": "ar"}):
        assert translate(message) == arabic
    with app.test_request_context():
        assert translate(message) == message


def test_validation_errors_from_the_core_reach_the_page_in_arabic(portal):
    response = portal.post("/signup", {"email": "not-an-email", "password": "short", "password_confirm": "short"},
                           headers={"Accept-Language": "ar"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "أدخل عنوان بريد إلكتروني مثل name@example.com." in html


def test_dates_are_formatted_in_the_locale(app):
    from web.templating import _datetime
    when = datetime(2026, 3, 14, 9, 30, tzinfo=timezone.utc)
    with app.test_request_context(headers={"Accept-Language": "ar"}):
        arabic = _datetime(when)
    with app.test_request_context():
        english = _datetime(when)
    assert english.startswith("Mar 14, 2026")
    assert arabic.startswith("14\u200f/03\u200f/2026") and "ص" in arabic  # ص: Arabic for a.m.


def test_numbers_are_formatted_in_the_locale(app):
    from web.templating import _number
    with app.test_request_context(headers={"Accept-Language": "ar"}):
        assert _number(1234567) == "1,234,567" or _number(1234567) == "1٬234٬567"
    with app.test_request_context():
        assert _number(1234567) == "1,234,567"


def test_iso_strings_are_formatted_like_datetimes(app):
    from web.templating import _datetime
    with app.test_request_context():
        assert _datetime("2026-03-14T09:30:00Z") == _datetime(datetime(2026, 3, 14, 9, 30, tzinfo=timezone.utc))
        assert _datetime("not a date") == "not a date"


def test_lists_use_the_locales_own_pattern(app):
    from web.templating import _listing
    with app.test_request_context(headers={"Accept-Language": "ar"}):
        assert _listing(["أ", "ب", "ج"]) == "أ وب وج"
    with app.test_request_context():
        assert _listing(["a", "b"]) == "a and b"
