"""Accessibility basics of every main page, read from the HTML a person's browser gets.

For each page, as the role that uses it, in English and Arabic: every visible form control has a
label, there is one ``h1`` and headings never skip a level, ``<html>`` says its language and
direction, and every image has ``alt``. (WCAG 2.2: 1.1.1, 1.3.1, 2.4.6, 3.1.1, 3.3.2.)
"""
from __future__ import annotations

import base64
import hashlib
from html.parser import HTMLParser
from urllib.parse import urlencode

import pytest

from tests.vendor_api.conftest import PROFILE, make_vendor

UNLABELLED_TYPES = {"hidden", "submit", "button", "reset", "image"}


class PageAudit(HTMLParser):
    """Collects what the checks need in one pass."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.html_attrs: dict = {}
        self.controls: list[dict] = []
        self.label_for: set[str] = set()
        self.headings: list[int] = []
        self.images: list[dict] = []
        self._label_depth = 0

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "html":
            self.html_attrs = a
        elif tag == "label":
            self._label_depth += 1
            if a.get("for"):
                self.label_for.add(a["for"])
        elif tag in ("input", "select", "textarea"):
            if tag != "input" or a.get("type", "text") not in UNLABELLED_TYPES:
                self.controls.append({**a, "_tag": tag, "_wrapped": self._label_depth > 0})
        elif len(tag) == 2 and tag[0] == "h" and tag[1] in "123456":
            self.headings.append(int(tag[1]))
        elif tag == "img":
            self.images.append(a)

    def handle_endtag(self, tag):
        if tag == "label" and self._label_depth:
            self._label_depth -= 1


def problems(html: str) -> list[str]:
    audit = PageAudit()
    audit.feed(html)
    found = []
    if audit.html_attrs.get("lang") not in ("en", "ar"):
        found.append(f"<html> lang is {audit.html_attrs.get('lang')!r}")
    expected_dir = "rtl" if audit.html_attrs.get("lang") == "ar" else "ltr"
    if audit.html_attrs.get("dir") != expected_dir:
        found.append(f"<html> dir is {audit.html_attrs.get('dir')!r}, not {expected_dir}")
    for control in audit.controls:
        labelled = (control.get("id") in audit.label_for or control.get("aria-label")
                    or control.get("aria-labelledby") or control["_wrapped"])
        if not labelled:
            found.append(f"<{control['_tag']} name={control.get('name')!r}> has no label")
    if audit.headings.count(1) != 1:
        found.append(f"{audit.headings.count(1)} h1 elements")
    for before, after in zip(audit.headings, audit.headings[1:]):
        if after > before + 1:
            found.append(f"heading jumps from h{before} to h{after}")
    found += [f"<img src={img.get('src', '')[:40]!r}> has no alt" for img in audit.images if "alt" not in img]
    return found


def test_the_audit_notices_what_it_checks():
    bad = ('<html lang="en"><body><h1>A</h1><h3>B</h3><h1>C</h1>'
           '<input name="q"><select id="s"></select><img src="x.png"></body></html>')
    assert problems(bad) == ["<html> dir is None, not ltr", "<input name='q'> has no label",
                             "<select name=None> has no label", "2 h1 elements",
                             "heading jumps from h1 to h3", "<img src='x.png'> has no alt"]


@pytest.fixture
def connected(db, keys, customer, app):
    """The customer with a filled vault, a live connection to a vendor, and a case."""
    from consent import grants
    from vault import records
    from vendor_api.cli import demo_context
    records.write_fields(db, keys, customer, PROFILE)
    vendor = make_vendor(db)
    grant = grants.grant(db, demo_context(app.extensions["vrm"]), customer=customer, app=vendor.app,
                         scopes=("profile.name", "profile.email"), term_days=90).grant
    db.commit()
    return vendor, grant


def consent_url(vendor) -> str:
    challenge = base64.urlsafe_b64encode(hashlib.sha256(b"v" * 50).digest()).rstrip(b"=").decode()
    return "/oauth/authorize?" + urlencode({
        "response_type": "code", "client_id": vendor.client_id, "redirect_uri": vendor.client.redirect_uris[0],
        "scope": "profile.name profile.email address.shipping", "state": "s",
        "code_challenge": challenge, "code_challenge_method": "S256"})


PUBLIC_PAGES = ("/", "/login", "/signup")
CUSTOMER_PAGES = ("/me/", "/me/connections", "/me/profile", "/me/preferences", "/me/activity", "/me/export",
                  "/me/security", "/me/terms", "/me/cases", "/me/cases/new", "/security/two-factor",
                  "/me/reauthenticate")


@pytest.mark.parametrize("language", ["en", "ar"])
def test_public_pages(client, language):
    for path in PUBLIC_PAGES:
        response = client.get(path, headers={"Accept-Language": language})
        assert response.status_code == 200, path
        assert problems(response.get_data(as_text=True)) == [], path


@pytest.mark.parametrize("language", ["en", "ar"])
def test_customer_pages(portal, customer, connected, language):
    vendor, grant = connected
    portal.login(customer.email)
    paths = CUSTOMER_PAGES + (f"/me/connections/{grant.public_id}", consent_url(vendor))
    for path in paths:
        response = portal.client.get(path, headers={"Accept-Language": language})
        assert response.status_code == 200, path
        assert problems(response.get_data(as_text=True)) == [], path


def test_form_errors_are_tied_to_their_fields(portal):
    response = portal.post("/signup", {"email": "nope", "password": "a", "password_confirm": "a"})
    html = response.get_data(as_text=True)
    assert 'id="email" name="email"' in html
    assert 'aria-invalid="true" aria-describedby="email-error"' in html
    assert 'id="email-error"' in html
    assert problems(html) == []
