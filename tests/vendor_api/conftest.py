"""Factories and drivers for the OAuth server and vendor API tests.

``Flow`` drives the authorization code flow the way a browser and a vendor's backend would:
the browser part through the portal (login, consent form with its CSRF token), the backend part
with Authlib's own OAuth2 client, whose HTTP calls a small ``requests`` adapter hands to the Flask
test client (so the test's savepoint transaction still applies).
"""
from __future__ import annotations

import secrets
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
import requests
from authlib.integrations.requests_client import OAuth2Session
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from requests.structures import CaseInsensitiveDict

from tests.conftest import STRONG_PASSWORD, csrf_from
from vault import clock as vault_clock

REDIRECT_URI = "https://app.acme.example/callback"
BASE = "http://localhost"
TOKEN_URL = BASE + "/oauth/token"
AUTHORIZE_URL = BASE + "/oauth/authorize"
ALL_SCOPES = ("profile.name", "profile.email", "profile.phone", "address.shipping",
              "preferences.communication", "preferences.interests")
PROFILE = {
    "given_name": "Amira", "family_name": "Haddad", "display_name": "Amira H.",
    "emails": [{"address": "amira@example.org", "primary": True, "verified": True}],
    "phones": [{"number": "+447700900123", "label": "mobile"}],
    "address_shipping": {"line1": "12 Rosemary Lane", "city": "Leeds", "postal_code": "LS1 4AB", "country": "GB"},
    "birth_date": "1988-04-17", "notes": "Private: never shared.",
    "channels": ["email", "sms"], "preferred_channel": "email", "interests": ["books", "travel"],
}


@dataclass
class Vendor:
    app: object
    client: object
    secret: str

    @property
    def client_id(self) -> str:
        return self.app.client_id

    @property
    def basic(self) -> tuple[str, str]:
        return (self.client_id, self.secret)


def make_vendor(db, *, name: str = "Acme Books", scopes=ALL_SCOPES, redirect_uris=(REDIRECT_URI,),
                grant_types=None) -> Vendor:
    from vendor_api import clients
    org = clients.create_org(db, name=f"{name} Ltd", website="https://acme.example",
                             contact_email="privacy@acme.example")
    kwargs = {"grant_types": grant_types} if grant_types else {}
    app, client, secret = clients.register_app(
        db, org=org, name=f"{name} {secrets.token_hex(2)}", website="https://acme.example",
        purpose="Send your orders and recommend books.", scopes=scopes, redirect_uris=redirect_uris, **kwargs)
    db.commit()
    return Vendor(app, client, secret)


@pytest.fixture
def vendor(db) -> Vendor:
    return make_vendor(db)


@pytest.fixture
def other_vendor(db) -> Vendor:
    return make_vendor(db, name="Other Shop")


@pytest.fixture
def filled_customer(db, keys, customer):
    from vault import records
    records.write_fields(db, keys, customer, PROFILE)
    db.commit()
    return customer


class Clock:
    """Real time plus an offset that a test can move forward."""

    def __init__(self):
        self.offset = timedelta()
        self._real = vault_clock.utcnow

    def now(self):
        return self._real() + self.offset

    def advance(self, **kwargs) -> None:
        self.offset += timedelta(**kwargs)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    """Moves the clock of every module that asks ``vault.clock.utcnow()`` at call time (all of
    vendor_api does; consent operations get ``now`` passed explicitly)."""
    fake = Clock()
    monkeypatch.setattr(vault_clock, "utcnow", fake.now)
    return fake


class FlaskAdapter(requests.adapters.BaseAdapter):
    """Lets ``requests`` (and so Authlib's OAuth2Session) talk to a Flask test client."""

    def __init__(self, client):
        super().__init__()
        self.client = client

    def send(self, request, **kwargs):
        parts = urlsplit(request.url)
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("content-length", "host")}
        body = request.body.encode() if isinstance(request.body, str) else request.body
        resp = self.client.open(parts.path, query_string=parts.query, method=request.method,
                                headers=headers, data=body)
        out = requests.Response()
        out.status_code = resp.status_code
        out.headers = CaseInsensitiveDict(resp.headers)
        out._content = resp.get_data()
        out.encoding = "utf-8"
        out.url = request.url
        out.request = request
        return out

    def close(self):
        pass


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


def new_verifier() -> str:
    return secrets.token_urlsafe(48)


class Flow:
    """One vendor, one browser (the Flask test client logged in as a customer)."""

    def __init__(self, client, portal, vendor: Vendor):
        self.client, self.portal, self.vendor = client, portal, vendor

    def session(self, scope=ALL_SCOPES, **kwargs) -> OAuth2Session:
        sess = OAuth2Session(self.vendor.client_id, self.vendor.secret, scope=" ".join(scope),
                             redirect_uri=REDIRECT_URI, code_challenge_method="S256", **kwargs)
        sess.mount(BASE + "/", FlaskAdapter(self.client))
        return sess

    def authorize_url(self, scope=ALL_SCOPES, *, verifier: str | None = None, **params) -> tuple[str, str, str]:
        """(path with query, verifier, state) built by Authlib's client."""
        verifier = verifier or new_verifier()
        url, state = self.session(scope).create_authorization_url(AUTHORIZE_URL, code_verifier=verifier, **params)
        parts = urlsplit(url)
        return f"{parts.path}?{parts.query}", verifier, state

    def raw_authorize_path(self, **params) -> str:
        base = {"response_type": "code", "client_id": self.vendor.client_id, "redirect_uri": REDIRECT_URI,
                "scope": " ".join(ALL_SCOPES), "state": "st-" + secrets.token_hex(4),
                "code_challenge": create_s256_code_challenge(new_verifier()), "code_challenge_method": "S256"}
        base.update(params)
        return "/oauth/authorize?" + urlencode({k: v for k, v in base.items() if v is not None})

    def login(self, email: str):
        response = self.portal.login(email, STRONG_PASSWORD)
        assert response.status_code == 303, response.get_data(as_text=True)[:500]
        return response

    def consent(self, path: str, *, share=None, decision: str = "approve", term: str = "90"):
        page = self.client.get(path)
        assert page.status_code == 200, page.get_data(as_text=True)[:800]
        data = {"csrf_token": csrf_from(page.get_data(as_text=True)), "decision": decision, "term": term}
        if share is not None:
            data["share"] = list(share)
        else:
            data["share"] = [s for s in parse_qs(urlsplit(path).query).get("scope", [""])[0].split(" ") if s]
        return self.client.post(path, data=data)

    def code(self, scope=ALL_SCOPES, *, share=None, term="90"):
        """Authorize and approve; returns (redirect location, verifier, state)."""
        path, verifier, state = self.authorize_url(scope)
        response = self.consent(path, share=share, term=term)
        assert response.status_code == 303, response.get_data(as_text=True)[:800]
        return response.headers["Location"], verifier, state

    def tokens(self, scope=ALL_SCOPES, *, share=None, term="90") -> dict:
        location, verifier, state = self.code(scope, share=share, term=term)
        sess = self.session(scope, state=state)
        return sess.fetch_token(TOKEN_URL, authorization_response=location, code_verifier=verifier)

    def token_request(self, data: dict, *, auth=None):
        """A raw token endpoint call (for the negative cases Authlib's client would not make)."""
        import base64
        headers = {}
        if auth is not False:
            cid, secret = auth or self.vendor.basic
            headers["Authorization"] = "Basic " + base64.b64encode(f"{cid}:{secret}".encode()).decode()
        return self.client.post("/oauth/token", data=data, headers=headers)

    def api(self, path: str, token: str | None, **kwargs):
        headers = kwargs.pop("headers", {})
        if token:
            headers["Authorization"] = f"Bearer {token}"
        return self.client.get(path, headers=headers, **kwargs)


@pytest.fixture
def flow(client, portal, vendor) -> Flow:
    return Flow(client, portal, vendor)


@pytest.fixture
def logged_in(flow, filled_customer):
    flow.login(filled_customer.email)
    return filled_customer


def ctx_for(app):
    from consent.context import ConsentContext
    from consent.pairwise import derive_pairwise_secret
    inst = app.extensions["vrm"]
    return ConsentContext(signing=inst.signing, pairwise_secret=derive_pairwise_secret(inst.secret_key),
                          issuer_url="http://localhost")


def direct_token(db, app, customer, vendor: Vendor, scopes, *, fields=None, token_scopes=None, now=None) -> str:
    """A grant made through consent's own service and a token issued for it, no browser involved."""
    from consent import grants
    from vendor_api import tokens
    change = grants.grant(db, ctx_for(app), customer=customer, app=vendor.app, scopes=list(scopes),
                          fields=fields, term_days=90, now=now)
    issued = tokens.issue(db, app_id=vendor.app.id, scope=" ".join(token_scopes or scopes),
                          grant_type="authorization_code", grant=change.grant, with_refresh=True, now=now)
    db.commit()
    return issued.access_token


@contextmanager
def recorded_statements(app):
    """The SQL statements the app's engine runs inside the block, in order (to check lock order)."""
    from sqlalchemy import event
    seen: list[str] = []

    def _record(_conn, _cursor, statement, *_args):
        seen.append(statement)

    engine = app.extensions["vrm"].engine
    event.listen(engine, "before_cursor_execute", _record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", _record)


def touched_before_the_chain(seen: list[str]) -> bool:
    """Whether the grant's last access was written, and before the ledger's chain head was taken."""
    touched = [i for i, s in enumerate(seen) if s.lstrip().upper().startswith("UPDATE GRANTS")]
    chained = [i for i, s in enumerate(seen) if "ledger_heads" in s or "vv_ledger_append" in s]
    return bool(touched) and bool(chained) and touched[0] < chained[0]
