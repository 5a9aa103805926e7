"""The authorization endpoint and the consent screen (SECURITY.md 1-4, 6, 8, 12)."""
from __future__ import annotations

import json
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import func, select

from consent.models import Grant
from tests.conftest import csrf_from
from vendor_api.models import AuthorizationDecision, Token

from .conftest import ALL_SCOPES, REDIRECT_URI, make_vendor, query_of


def _no_redirect(response):
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"
    assert "cannot be used" in response.get_data(as_text=True)


def _grants(db, customer) -> int:
    return db.scalar(select(func.count()).select_from(Grant).where(Grant.account_id == customer.id))


# --- SECURITY.md 1: redirect URIs are matched exactly; a mismatch never redirects ------------------

@pytest.mark.parametrize("redirect_uri", [
    "https://evil.example/callback",                 # unregistered
    REDIRECT_URI + "?next=https://evil.example",      # query added
    REDIRECT_URI + "/",                               # path changed
    REDIRECT_URI + "#frag",                           # fragment added
    REDIRECT_URI.replace("https", "http"),            # scheme changed
    REDIRECT_URI.upper(),                             # case changed
])
def test_sec01_redirect_uri_mismatch_shows_an_error_page_and_never_redirects(flow, logged_in, redirect_uri):
    _no_redirect(flow.client.get(flow.raw_authorize_path(redirect_uri=redirect_uri)))


def test_sec01_missing_redirect_uri_is_refused_without_redirect(flow, logged_in):
    _no_redirect(flow.client.get(flow.raw_authorize_path(redirect_uri=None)))


@pytest.mark.parametrize("client_id", [None, "vv_app_unknown", ""])
def test_sec01_unknown_client_shows_an_error_page(flow, logged_in, client_id):
    _no_redirect(flow.client.get(flow.raw_authorize_path(client_id=client_id)))


def test_sec01_bad_redirect_is_refused_before_login_too(flow):
    _no_redirect(flow.client.get(flow.raw_authorize_path(redirect_uri="https://evil.example/cb")))


def test_sec01_redirect_uri_mismatch_on_consent_post_issues_nothing(flow, logged_in, db):
    page = flow.client.get(flow.raw_authorize_path())
    token = csrf_from(page.get_data(as_text=True))
    response = flow.client.post(flow.raw_authorize_path(redirect_uri="https://evil.example/cb"),
                                data={"csrf_token": token, "decision": "approve", "share": list(ALL_SCOPES)})
    _no_redirect(response)
    assert _grants(db, logged_in) == 0


def test_sec02_login_next_is_never_an_open_redirect(flow, filled_customer):
    response = flow.portal.post("/login?next=//evil.example/x", {"email": filled_customer.email,
                                                                  "password": "correct horse battery staple"},
                                form_path="/login")
    assert response.status_code == 303 and "evil.example" not in response.headers["Location"]


# --- SECURITY.md 3-4: PKCE S256 on every request -------------------------------------------------

def _error_redirect(response, error: str, state: str | None = None):
    assert response.status_code == 303, response.get_data(as_text=True)[:300]
    assert response.headers["Location"].startswith(REDIRECT_URI + "?")
    params = query_of(response.headers["Location"])
    assert params["error"] == error
    assert params["iss"] == "http://localhost"
    if state is not None:
        assert params["state"] == state
    return params


def test_sec03_request_without_code_challenge_is_refused(flow, logged_in, db):
    _error_redirect(flow.client.get(flow.raw_authorize_path(code_challenge=None, code_challenge_method=None,
                                                            state="s1")), "invalid_request", "s1")
    assert _grants(db, logged_in) == 0


def test_sec03_plain_code_challenge_is_refused(flow, logged_in):
    _error_redirect(flow.client.get(flow.raw_authorize_path(code_challenge="a" * 43, code_challenge_method="plain")),
                    "invalid_request")


def test_sec03_challenge_without_method_is_refused_not_taken_as_plain(flow, logged_in):
    _error_redirect(flow.client.get(flow.raw_authorize_path(code_challenge_method=None)), "invalid_request")


def test_sec03_malformed_challenge_is_refused(flow, logged_in):
    _error_redirect(flow.client.get(flow.raw_authorize_path(code_challenge="short")), "invalid_request")


def test_sec03_confidential_client_must_send_the_verifier(flow, logged_in):
    location, _verifier, _state = flow.code()
    response = flow.token_request({"grant_type": "authorization_code", "code": query_of(location)["code"],
                                   "redirect_uri": REDIRECT_URI})
    assert response.status_code == 400 and response.json["error"] == "invalid_request"


def test_sec03_wrong_verifier_is_refused(flow, logged_in):
    location, _verifier, _state = flow.code()
    response = flow.token_request({"grant_type": "authorization_code", "code": query_of(location)["code"],
                                   "redirect_uri": REDIRECT_URI, "code_verifier": "x" * 50})
    assert response.status_code == 400 and response.json["error"] == "invalid_grant"


def test_sec04_verifier_for_a_code_without_challenge_is_refused(flow, logged_in, db):
    from vendor_api.models import AuthorizationCode
    location, verifier, _state = flow.code()
    code = query_of(location)["code"]
    # A code without a challenge is never issued; make one to prove the token endpoint refuses it.
    db.execute(AuthorizationCode.__table__.update().values(code_challenge=None, code_challenge_method=None))
    db.commit()
    response = flow.token_request({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI,
                                   "code_verifier": verifier})
    assert response.status_code == 400 and response.json["error"] == "invalid_request"
    again = flow.token_request({"grant_type": "authorization_code", "code": code, "redirect_uri": REDIRECT_URI})
    assert again.status_code == 400
    assert db.scalar(select(func.count()).select_from(Token)) == 0


# --- SECURITY.md 6: only response_type=code --------------------------------------------------------

@pytest.mark.parametrize("response_type", ["token", "id_token", "code token", "password"])
def test_sec06_only_the_code_response_type_exists(flow, logged_in, response_type):
    params = _error_redirect(flow.client.get(flow.raw_authorize_path(response_type=response_type, state="s6")),
                             "unsupported_response_type", "s6")
    assert "access_token" not in params


# --- SECURITY.md 8: iss on every authorization response --------------------------------------------

def test_sec08_iss_on_success(flow, logged_in):
    location, _v, state = flow.code()
    params = query_of(location)
    assert params["iss"] == "http://localhost" and params["state"] == state and "code" in params


def test_sec08_iss_on_denial(flow, logged_in):
    path, _v, state = flow.authorize_url()
    params = _error_redirect(flow.consent(path, decision="deny"), "access_denied", state)
    assert "code" not in params


@pytest.mark.parametrize("scope", ["profile.unknown", "purchases.read", "vendor:read"])
def test_sec08_iss_on_scope_errors(flow, logged_in, scope):
    _error_redirect(flow.client.get(flow.raw_authorize_path(scope=scope, state="s8")), "invalid_scope", "s8")


# --- SECURITY.md 12: 303, frame-ancestors 'none', CSRF --------------------------------------------

def test_sec12_not_logged_in_goes_to_login_with_303_and_comes_back(flow, filled_customer):
    path = flow.raw_authorize_path()
    response = flow.client.get(path)
    assert response.status_code == 303
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login" and parse_qs(location.query)["next"] == [path]
    login = flow.portal.post(response.headers["Location"], {"email": filled_customer.email,
                                                            "password": "correct horse battery staple"},
                             form_path="/login")
    assert login.status_code == 303 and login.headers["Location"] == path


def test_sec12_consent_page_cannot_be_framed_or_cached(flow, logged_in):
    response = flow.client.get(flow.raw_authorize_path())
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "form-action 'self' https://app.acme.example" in csp  # the redirect after the POST
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["Cache-Control"] == "no-store"


def test_sec12_consent_post_without_csrf_token_is_refused(flow, logged_in, db):
    response = flow.client.post(flow.raw_authorize_path(), data={"decision": "approve", "share": list(ALL_SCOPES)})
    assert response.status_code == 400 and "Location" not in response.headers
    assert _grants(db, logged_in) == 0


def test_sec12_approve_and_deny_answer_303(flow, logged_in):
    path, _v, _s = flow.authorize_url()
    assert flow.consent(path, decision="deny").status_code == 303
    path, _v, _s = flow.authorize_url()
    assert flow.consent(path).status_code == 303


# --- the consent screen ----------------------------------------------------------------------------

def test_consent_page_shows_vendor_purpose_scopes_and_a_preview_of_own_values(flow, logged_in, vendor):
    html = flow.client.get(flow.raw_authorize_path()).get_data(as_text=True)
    assert vendor.app.name in html and "https://acme.example" in html
    assert "Send your orders and recommend books." in html
    assert "Your name" in html and "Lets the vendor see your given name" in html
    assert "Amira" in html and "amira@example.org" in html and "12 Rosemary Lane" in html
    assert "Private: never shared." not in html
    for scope in ALL_SCOPES:
        assert f'name="share" value="{scope}" checked' in html
    assert '<option value="90" selected>' in html
    assert "(empty)" in html  # quiet hours / contacts per week are not filled


def test_consent_page_speaks_the_customers_language(flow, logged_in, db):
    logged_in.locale = "ar"
    db.commit()
    html = flow.client.get(flow.raw_authorize_path()).get_data(as_text=True)
    assert "اسمك" in html


def test_only_customers_can_approve(flow, db):
    from vault.accounts import sign_up
    vendor_person = sign_up(db, "member@acme.example", "correct horse battery staple", role="vendor")
    db.commit()
    flow.login(vendor_person.email)
    response = flow.client.get(flow.raw_authorize_path())
    assert response.status_code == 403 and "Location" not in response.headers


def test_unticked_scopes_are_not_granted_and_are_recorded_as_refused(flow, logged_in, db):
    location, _v, _s = flow.code(share=["profile.name", "profile.email"])
    assert "code" in query_of(location)
    grant = db.scalar(select(Grant).where(Grant.account_id == logged_in.id))
    assert sorted(grant.scopes) == ["profile.email", "profile.name"]
    decision = db.scalar(select(AuthorizationDecision).where(AuthorizationDecision.account_id == logged_in.id))
    assert decision.outcome == "approved"
    assert set(decision.refused) == set(ALL_SCOPES) - {"profile.name", "profile.email"}


def test_approving_with_everything_unticked_is_a_denial(flow, logged_in, db):
    path, _v, state = flow.authorize_url()
    _error_redirect(flow.consent(path, share=[]), "access_denied", state)
    assert _grants(db, logged_in) == 0
    decision = db.scalar(select(AuthorizationDecision).where(AuthorizationDecision.account_id == logged_in.id))
    assert decision.outcome == "denied" and set(decision.refused) == set(ALL_SCOPES)


def test_deny_creates_no_grant_and_records_every_scope_as_refused(flow, logged_in, db):
    path, _v, _s = flow.authorize_url()
    flow.consent(path, decision="deny")
    assert _grants(db, logged_in) == 0
    decision = db.scalar(select(AuthorizationDecision).where(AuthorizationDecision.account_id == logged_in.id))
    assert json.loads(decision.requested_json) == list(ALL_SCOPES) and decision.outcome == "denied"


def test_a_scope_sneaked_into_the_form_is_not_granted(flow, logged_in, db):
    path, _v, _s = flow.authorize_url(["profile.name"])
    flow.consent(path, share=["profile.name", "profile.phone"])
    grant = db.scalar(select(Grant).where(Grant.account_id == logged_in.id))
    assert grant.scopes == ["profile.name"]


def test_the_chosen_term_becomes_the_grant_expiry(flow, logged_in, db):
    flow.code(term="never")
    grant = db.scalar(select(Grant).where(Grant.account_id == logged_in.id))
    assert grant.expires_at is None and grant.term_days is None


def test_already_shared_scopes_are_shown_as_such_and_only_new_ones_asked(flow, logged_in, db):
    flow.code(["profile.name"])
    html = flow.client.get(flow.raw_authorize_path(scope="profile.name profile.email")).get_data(as_text=True)
    assert "already shared" in html
    assert 'name="share" value="profile.email" checked' in html
    assert 'name="share" value="profile.name"' not in html
    location, verifier, state = flow.code(["profile.name", "profile.email"], share=[])  # untick the new one
    token = flow.session(["profile.name", "profile.email"], state=state).fetch_token(
        "http://localhost/oauth/token", authorization_response=location, code_verifier=verifier)
    assert token["scope"] == "profile.name"


def test_nothing_new_to_ask_still_needs_the_customer_to_continue(flow, logged_in):
    flow.code(["profile.name"])
    path, _v, _s = flow.authorize_url(["profile.name"])
    html = flow.client.get(path).get_data(as_text=True)
    assert "asks for nothing new" in html and "Continue" in html
    assert "code" in query_of(flow.consent(path, share=[]).headers["Location"])


def test_a_second_app_cannot_reuse_the_first_apps_consent(flow, logged_in, db, client, portal):
    flow.code(["profile.name"])
    other = make_vendor(db, name="Other")
    from .conftest import Flow
    other_flow = Flow(client, portal, other)
    html = client.get(other_flow.raw_authorize_path(scope="profile.name")).get_data(as_text=True)
    assert "already shared" not in html
