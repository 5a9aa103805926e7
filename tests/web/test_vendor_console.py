"""The vendor console, driven like a browser: sign-up, who may see what, apps and their secrets,
the numbers, webhooks against a real receiver, members and invitations, registration tokens, the
API guide, and the accessibility basics of every page in both languages.

Every secret the console shows once is checked two ways: what the person sees works (at the real
token endpoint, or by an independent HMAC over what a real webhook receiver got), and what is
stored is a digest or a sealed value, never the secret itself.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import timedelta
from html import unescape
from html.parser import HTMLParser

import pytest
from sqlalchemy import func, select

from consent import grants
from consent.models import VendorApp, VendorMember, VendorOrg
from consent.outbox import WebhookDelivery, WebhookEndpoint
from tests.conftest import STRONG_PASSWORD, Portal, lookup
from tests.vendor_api.conftest import ctx_for, make_vendor
from tests.vendor_api.integration_helpers import receiver
from tests.web.test_accessibility import problems
from vault.accounts import create_officer, sign_up
from vault.clock import utcnow
from vault.models import Account
from vendor_api import console, webhooks
from vendor_api.console_models import InitialAccessToken, VendorInvite
from vendor_api.credentials import digest
from vendor_api.models import OAuthClient

CALLBACK = "https://shop.example/callback"


# --- helpers ------------------------------------------------------------------------------------

def text(response) -> str:
    return response.get_data(as_text=True)


def shown_secret(response) -> str:
    """The value of the page's one-time secret field."""
    match = re.search(r'id="secret" type="text" readonly value="([^"]+)"', text(response))
    assert match, text(response)[:2000]
    return unescape(match.group(1))


def error_texts(response) -> list[str]:
    return [unescape(m) for m in re.findall(r'<span class="error" id="[^"]+">([^<]*)</span>', text(response))]


class Tables(HTMLParser):
    """Every table row as its cells' text."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append(" ".join("".join(self._cell).split()))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def rows(response) -> list[list[str]]:
    parser = Tables()
    parser.feed(text(response))
    return parser.rows


@dataclass
class Member:
    portal: Portal
    account: Account
    org: VendorOrg


def vendor_signup(app, db, *, email: str, org_name: str) -> Member:
    portal = Portal(app.test_client())
    response = portal.post("/console/signup", {
        "org_name": org_name, "website": "https://shop.example", "contact_email": "privacy@shop.example",
        "email": email, "password": STRONG_PASSWORD, "password_confirm": STRONG_PASSWORD})
    assert response.status_code == 303, text(response)[:2000]
    db.expire_all()
    account = db.scalar(select(Account).where(Account.email_lookup == lookup(db, email)))
    org = db.scalar(select(VendorOrg).where(VendorOrg.name == org_name))
    assert response.headers["Location"] == f"/console/orgs/{org.id}"
    return Member(portal, account, org)


def app_form(**overrides) -> dict:
    data = {"name": "Corner Shop", "website": "https://shop.example",
            "purpose": "Deliver your orders and tell you when they ship.", "purpose_category": "dpv:DeliveryOfGoods",
            "scopes": ["profile.name", "profile.email", "address.shipping"],
            "redirect_uris": f"{CALLBACK}\r\nhttp://127.0.0.1:8000/callback\r\n"}
    data.update(overrides)
    return data


def create_app(member: Member, **overrides) -> tuple[str, str]:
    """Register an app through the console; (client id, the secret shown once)."""
    path = f"/console/orgs/{member.org.id}/apps/new"
    response = member.portal.post(path, app_form(**overrides))
    assert response.status_code == 200, text(response)[:2000]
    client_id = re.search(r"<code>(vv_app_[^<]+)</code>", text(response)).group(1)
    return client_id, shown_secret(response)


def app_row(db, client_id: str) -> tuple[VendorApp, OAuthClient]:
    db.expire_all()
    vendor_app = db.scalar(select(VendorApp).where(VendorApp.client_id == client_id))
    return vendor_app, db.scalar(select(OAuthClient).where(OAuthClient.app_id == vendor_app.id))


def client_credentials(client, client_id: str, secret: str):
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return client.post("/oauth/token", data={"grant_type": "client_credentials", "scope": "vendor:read"},
                       headers={"Authorization": f"Basic {basic}"})


@pytest.fixture
def owner(app, db) -> Member:
    return vendor_signup(app, db, email="owner@shop.example", org_name="Corner Shop Ltd")


@pytest.fixture
def rival(app, db) -> Member:
    return vendor_signup(app, db, email="owner@rival.example", org_name="Rival Traders")


# --- sign-up and landing ------------------------------------------------------------------------

def test_vendor_signup_creates_an_org_an_owner_and_a_vendor_account(app, db, owner):
    assert owner.account.role == "vendor"
    assert owner.account.password_hash.startswith("$argon2id$")
    assert STRONG_PASSWORD not in owner.account.password_hash
    membership = db.scalar(select(VendorMember).where(VendorMember.account_id == owner.account.id))
    assert (membership.org_id, membership.role) == (owner.org.id, "owner")
    assert (owner.org.website, owner.org.contact_email) == ("https://shop.example", "privacy@shop.example")
    page = owner.portal.client.get(f"/console/orgs/{owner.org.id}")
    assert page.status_code == 200 and "Corner Shop Ltd" in text(page) and "Register an app" in text(page)


@pytest.mark.parametrize("path", ["/", "/login"])
def test_the_home_and_login_pages_point_vendors_to_the_console_signup(client, path):
    page = client.get(path)
    assert page.status_code == 200
    assert "Are you a vendor?" in text(page) and 'href="/console/signup"' in page.get_data(as_text=True)
    assert client.get("/console/signup").status_code == 200


def test_login_lands_vendor_members_on_the_console(app, db, owner):
    portal = Portal(app.test_client())
    response = portal.login(owner.account.email)
    assert response.status_code == 303 and response.headers["Location"] == "/console/"
    assert portal.client.get("/console/").headers["Location"] == f"/console/orgs/{owner.org.id}"


@pytest.mark.parametrize("change, field, message", [
    ({"website": "shop.example"}, "website", "Enter a web address starting with https://"),
    ({"password_confirm": "something else entirely"}, "password_confirm", "The two passwords are not the same."),
    ({"password": "short", "password_confirm": "short"}, "password", "Use at least 12 characters."),
    ({"contact_email": "nobody"}, "contact_email", "Enter an email address like name@example.com."),
    ({"org_name": ""}, "org_name", "Please fill this in."),
])
def test_signup_problems_are_shown_at_their_fields_and_nothing_is_stored(app, db, change, field, message):
    portal = Portal(app.test_client())
    data = {"org_name": "Nope Ltd", "website": "https://nope.example", "contact_email": "privacy@nope.example",
            "email": "someone@nope.example", "password": STRONG_PASSWORD, "password_confirm": STRONG_PASSWORD}
    response = portal.post("/console/signup", {**data, **change})
    assert response.status_code == 422
    assert f'aria-invalid="true" aria-describedby="{field}-error"' in text(response)
    assert any(message in e for e in error_texts(response)), error_texts(response)
    assert db.scalar(select(func.count()).select_from(Account).where(Account.email_lookup == lookup(db, "someone@nope.example"))) == 0
    assert db.scalar(select(func.count()).select_from(VendorOrg).where(VendorOrg.name == "Nope Ltd")) == 0


def test_signup_with_an_email_in_use_is_refused_without_creating_an_org(app, db, owner):
    portal = Portal(app.test_client())
    response = portal.post("/console/signup", {
        "org_name": "Copycat Ltd", "website": "https://copy.example", "contact_email": "privacy@copy.example",
        "email": owner.account.email, "password": STRONG_PASSWORD, "password_confirm": STRONG_PASSWORD})
    assert response.status_code == 422 and "cannot be created" in " ".join(error_texts(response))
    assert db.scalar(select(func.count()).select_from(VendorOrg).where(VendorOrg.name == "Copycat Ltd")) == 0


# --- who may see what ---------------------------------------------------------------------------

def test_customers_and_officers_get_403_and_strangers_the_login_page(app, db, owner, customer):
    client_id, _secret = create_app(owner)
    paths = ["/console/", f"/console/orgs/{owner.org.id}", f"/console/apps/{client_id}",
             f"/console/apps/{client_id}/webhooks", f"/console/orgs/{owner.org.id}/registration", "/console/guide"]
    officer = create_officer(db, "officer@vault.example", STRONG_PASSWORD)
    db.commit()
    for email in (customer.email, officer.email):
        portal = Portal(app.test_client())
        assert portal.login(email).status_code == 303
        for path in paths:
            assert portal.client.get(path).status_code == 403, (email, path)
        post = portal.post(f"/console/apps/{client_id}/secret", {}, form_path="/console/")
        assert post.status_code == 403
    stranger = app.test_client()
    for path in paths:
        response = stranger.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_members_of_one_org_never_see_another_orgs_apps(app, db, owner, rival):
    client_id, _secret = create_app(owner)
    before = app_row(db, client_id)[1].client_secret_hash
    rival_portal, org_id = rival.portal, owner.org.id
    for path in (f"/console/orgs/{org_id}", f"/console/orgs/{org_id}/members", f"/console/orgs/{org_id}/registration",
                 f"/console/orgs/{org_id}/apps/new", f"/console/apps/{client_id}", f"/console/apps/{client_id}/edit",
                 f"/console/apps/{client_id}/webhooks", f"/console/guide?app={client_id}"):
        assert rival_portal.client.get(path).status_code == 404, path
    form_path = f"/console/orgs/{rival.org.id}"
    for path, data in ((f"/console/apps/{client_id}/secret", {}), (f"/console/apps/{client_id}/edit", app_form()),
                       (f"/console/apps/{client_id}/webhooks", {"url": "https://evil.example/hook"}),
                       (f"/console/apps/{client_id}/webhooks/test", {}),
                       (f"/console/apps/{client_id}/webhooks/secret", {}),
                       (f"/console/apps/{client_id}/webhooks/deliveries/1/resend", {}),
                       (f"/console/orgs/{org_id}/apps/new", app_form(name="Planted")),
                       (f"/console/orgs/{org_id}/members/invite", {"email": "spy@rival.example", "role": "owner"}),
                       (f"/console/orgs/{org_id}/registration", {"label": "x", "hours": "1", "max_uses": "1"})):
        assert rival_portal.post(path, data, form_path=form_path).status_code == 404, path
    vendor_app, client = app_row(db, client_id)
    assert client.client_secret_hash == before and vendor_app.name == "Corner Shop"
    assert db.get(WebhookEndpoint, vendor_app.id) is None
    assert db.scalar(select(func.count()).select_from(VendorApp).where(VendorApp.name == "Planted")) == 0
    # and the rival's own pages do not list the other org's app
    assert client_id not in text(rival_portal.client.get(f"/console/orgs/{rival.org.id}"))


def test_a_vendor_account_without_an_org_sees_how_to_join(app, db):
    account = sign_up(db, "loner@shop.example", STRONG_PASSWORD, role="vendor")
    db.commit()
    portal = Portal(app.test_client())
    portal.login(account.email)
    page = portal.client.get("/console/")
    assert page.status_code == 200 and "not a member of any organisation" in text(page)


# --- apps ---------------------------------------------------------------------------------------

def test_creating_an_app_shows_the_secret_once_and_stores_only_its_hash(app, db, owner):
    client_id, secret = create_app(owner)
    assert secret.startswith("vv_cs_")
    vendor_app, client = app_row(db, client_id)
    assert vendor_app.org_id == owner.org.id and vendor_app.name == "Corner Shop"
    assert vendor_app.purpose == "Deliver your orders and tell you when they ship."
    assert vendor_app.purpose_category == "dpv:DeliveryOfGoods"
    assert vendor_app.requested_scopes == ["address.shipping", "profile.email", "profile.name"]
    assert client.redirect_uris == [CALLBACK, "http://127.0.0.1:8000/callback"]
    assert client.client_secret_hash == hashlib.sha256(secret.encode()).hexdigest() != secret
    for column in (client.client_secret_hash, client.redirect_uris_json, vendor_app.requested_scopes_json):
        assert secret not in column
    page = owner.portal.client.get(f"/console/apps/{client_id}")
    assert page.status_code == 200 and secret not in text(page) and client_id in text(page)
    assert "Deliver your orders and tell you when they ship." in text(page)
    assert client_credentials(owner.portal.client, client_id, secret).status_code == 200


@pytest.mark.parametrize("uris, message", [
    ("http://shop.example/callback", "plain http is only allowed on 127.0.0.1"),
    ("https://shop.example/callback#frag", "must not contain a fragment"),
    ("https://*.shop.example/callback", "wildcards"),
    ("", "Enter at least one redirect URI."),
    ("/callback", "only https addresses are allowed"),
])
def test_redirect_uris_are_checked_by_the_registration_rules(app, db, owner, uris, message):
    response = owner.portal.post(f"/console/orgs/{owner.org.id}/apps/new", app_form(redirect_uris=uris))
    assert response.status_code == 422
    assert any(message in e for e in error_texts(response)), error_texts(response)
    assert 'aria-describedby="redirect_uris-error"' in text(response)
    assert db.scalar(select(func.count()).select_from(VendorApp).where(VendorApp.org_id == owner.org.id)) == 0


def test_an_app_needs_scopes_from_the_catalogue_and_a_purpose(app, db, owner):
    response = owner.portal.post(f"/console/orgs/{owner.org.id}/apps/new",
                                 app_form(scopes=[], purpose="", purpose_category="dpv:Nonsense"))
    assert response.status_code == 422
    html = text(response)
    for field in ("scopes", "purpose", "purpose_category"):
        assert f'id="{field}-error"' in html, field
    response = owner.portal.post(f"/console/orgs/{owner.org.id}/apps/new", app_form(scopes=["vendor:read"]))
    assert response.status_code == 422
    assert db.scalar(select(func.count()).select_from(VendorApp).where(VendorApp.org_id == owner.org.id)) == 0


def test_editing_an_app_changes_what_new_customers_see(app, db, owner):
    client_id, _secret = create_app(owner)
    form = owner.portal.client.get(f"/console/apps/{client_id}/edit")
    assert form.status_code == 200 and CALLBACK in text(form) and 'value="profile.email" checked' in text(form)
    response = owner.portal.post(f"/console/apps/{client_id}/edit", app_form(
        name="Corner Shop Express", purpose="Deliver your orders the same day.", purpose_category="dpv:ServiceProvision",
        scopes=["profile.name", "preferences.interests"], redirect_uris="https://shop.example/v2/callback"))
    assert response.status_code == 303 and response.headers["Location"] == f"/console/apps/{client_id}"
    vendor_app, client = app_row(db, client_id)
    assert (vendor_app.name, vendor_app.purpose) == ("Corner Shop Express", "Deliver your orders the same day.")
    assert vendor_app.requested_scopes == ["preferences.interests", "profile.name"]
    assert client.redirect_uris == ["https://shop.example/v2/callback"]
    refused = owner.portal.post(f"/console/apps/{client_id}/edit", app_form(redirect_uris="http://shop.example/cb"))
    assert refused.status_code == 422
    assert app_row(db, client_id)[1].redirect_uris == ["https://shop.example/v2/callback"]


def test_rotating_the_client_secret_shows_the_new_one_once_and_the_old_one_stops(app, db, owner):
    client_id, old = create_app(owner)
    response = owner.portal.post(f"/console/apps/{client_id}/secret", {}, form_path=f"/console/apps/{client_id}")
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    new = shown_secret(response)
    assert new != old and new.startswith("vv_cs_")
    _app, client = app_row(db, client_id)
    assert client.client_secret_hash == digest(new) and client.secret_rotated_at is not None
    assert client_credentials(owner.portal.client, client_id, old).status_code == 401
    assert client_credentials(owner.portal.client, client_id, new).status_code == 200
    assert new not in text(owner.portal.client.get(f"/console/apps/{client_id}"))


def test_posts_without_the_csrf_token_are_refused(app, db, owner):
    client_id, _secret = create_app(owner)
    before = app_row(db, client_id)[1].client_secret_hash
    assert owner.portal.client.post(f"/console/apps/{client_id}/secret").status_code == 400
    assert owner.portal.client.post(f"/console/orgs/{owner.org.id}/apps/new", data=app_form()).status_code == 400
    assert app_row(db, client_id)[1].client_secret_hash == before


def test_grant_counts_per_app_and_per_scope(app, db, owner):
    client_id, _secret = create_app(owner)
    vendor_app, _client = app_row(db, client_id)
    ctx, now = ctx_for(app), utcnow()
    people = [sign_up(db, f"c{i}@example.org", STRONG_PASSWORD) for i in range(5)]
    db.flush()
    grants.grant(db, ctx, customer=people[0], app=vendor_app, scopes=["profile.name", "profile.email"])
    grants.grant(db, ctx, customer=people[1], app=vendor_app, scopes=["profile.name"])
    revoked = grants.grant(db, ctx, customer=people[2], app=vendor_app, scopes=["profile.name", "profile.email"]).grant
    grants.revoke(db, ctx, revoked, people[2])
    # past its term but not yet swept by the worker: counted as expired all the same
    grants.grant(db, ctx, customer=people[3], app=vendor_app, scopes=["profile.email"], term_days=30,
                 now=now - timedelta(days=40))
    swept = grants.grant(db, ctx, customer=people[4], app=vendor_app, scopes=["address.shipping"], term_days=30,
                         now=now - timedelta(days=31)).grant
    grants.expire_due(db, ctx, now=now)
    assert swept.status == "expired"
    other = make_vendor(db, name="Elsewhere")  # another org's grants never count here
    grants.grant(db, ctx, customer=people[0], app=other.app, scopes=["profile.name"])
    db.commit()

    assert console.grant_counts(db, [vendor_app.id]) == {vendor_app.id: {"active": 2, "expired": 2, "revoked": 1}}
    assert console.scope_counts(db, vendor_app.id) == {
        "profile.name": {"active": 2, "expired": 0, "revoked": 1},
        "profile.email": {"active": 1, "expired": 1, "revoked": 1},
        "address.shipping": {"active": 0, "expired": 1, "revoked": 0}}

    listing = rows(owner.portal.client.get(f"/console/orgs/{owner.org.id}"))
    assert ["Corner Shop", client_id, "2", "2", "1"] in listing
    page = rows(owner.portal.client.get(f"/console/apps/{client_id}"))
    assert ["Active", "Expired", "Revoked"] in page and ["2", "2", "1"] in page
    assert ["Your name profile.name", "2", "0", "1"] in page
    assert ["Email addresses profile.email", "1", "1", "1"] in page
    assert ["Shipping address address.shipping", "0", "1", "0"] in page


# --- webhooks -----------------------------------------------------------------------------------

def independent_signature_ok(secret: str, header: str, body: bytes) -> bool:
    parts = dict(item.split("=", 1) for item in header.split(","))
    expected = hmac.new(secret.encode(), parts["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, parts["v1"])


def deliver(app) -> int:
    inst = app.extensions["vrm"]
    return webhooks.deliver_due(inst.sessions, inst.keys)


def test_webhooks_url_secret_test_event_deliveries_and_resend(app, db, owner):
    client_id, _secret = create_app(owner)
    vendor_app, _client = app_row(db, client_id)
    path = f"/console/apps/{client_id}/webhooks"
    refused = owner.portal.post(path, {"url": "http://hooks.shop.example/vrm"})
    assert refused.status_code == 422 and any("must use https" in e for e in error_texts(refused))
    refused = owner.portal.post(path, {"url": "https://10.0.0.7/vrm"})
    assert refused.status_code == 422 and any("private network" in e for e in error_texts(refused))
    assert db.get(WebhookEndpoint, vendor_app.id) is None

    with receiver(200) as hook:
        shown = owner.portal.post(path, {"url": hook.url})
        assert shown.status_code == 200
        secret = shown_secret(shown)
        db.expire_all()
        endpoint = db.get(WebhookEndpoint, vendor_app.id)
        assert endpoint.url == hook.url and secret.encode() not in endpoint.secret_sealed
        assert secret not in text(owner.portal.client.get(path))

        test_event = owner.portal.post(f"{path}/test", {}, form_path=path)
        assert test_event.status_code == 303
        assert "webhook.test event is queued" in text(owner.portal.client.get(path))
        assert deliver(app) == 1
        [got] = hook.received
        assert got.json["type"] == "webhook.test" and got.json["app"] == client_id
        assert independent_signature_ok(secret, got.headers["vrm-signature"], got.body)

        page = owner.portal.client.get(path)
        [delivered] = [r for r in rows(page) if r and r[0].startswith("webhook.test")]
        assert delivered[1:5] == ["Delivered", "1", "200", delivered[4]]
        delivery = db.scalar(select(WebhookDelivery).where(WebhookDelivery.app_id == vendor_app.id))
        resend = owner.portal.post(f"{path}/deliveries/{delivery.id}/resend", {}, form_path=path)
        assert resend.status_code == 303
        assert deliver(app) == 1
        assert len(hook.received) == 2 and hook.received[1].json["id"] == got.json["id"]

        rotated = owner.portal.post(f"{path}/secret", {}, form_path=path)
        new_secret = shown_secret(rotated)
        assert new_secret != secret
        owner.portal.post(f"{path}/test", {}, form_path=path)
        deliver(app)
        assert independent_signature_ok(new_secret, hook.received[2].headers["vrm-signature"], hook.received[2].body)
        assert not independent_signature_ok(secret, hook.received[2].headers["vrm-signature"], hook.received[2].body)

        assert owner.portal.post(f"{path}/deliveries/999999/resend", {}, form_path=path).status_code == 404
    assert len([r for r in rows(owner.portal.client.get(path)) if r and r[0].startswith("webhook.test")]) == 3


def test_a_failing_receiver_shows_its_response_code_and_the_next_attempt(app, db, owner):
    client_id, _secret = create_app(owner)
    path = f"/console/apps/{client_id}/webhooks"
    with receiver(503) as hook:
        owner.portal.post(path, {"url": hook.url})
        owner.portal.post(f"{path}/test", {}, form_path=path)
        deliver(app)
    [row] = [r for r in rows(owner.portal.client.get(path)) if r and r[0].startswith("webhook.test")]
    assert row[1:4] == ["Pending", "1", "503"] and row[5] != "—"


def test_deliveries_are_paged(app, db, owner):
    client_id, _secret = create_app(owner)
    vendor_app, _client = app_row(db, client_id)
    path = f"/console/apps/{client_id}/webhooks"
    owner.portal.post(path, {"url": "https://hooks.shop.example/vrm"})
    for _ in range(30):
        webhooks.send_test_event(db, vendor_app.id)
    db.commit()
    first = owner.portal.client.get(path)
    first_rows = [r for r in rows(first) if r and r[0].startswith("webhook.test")]
    assert len(first_rows) == 25
    older = re.search(r'href="([^"]+before=\d+)[^"]*"', text(first)).group(1)
    second = owner.portal.client.get(unescape(older))
    second_rows = [r for r in rows(second) if r and r[0].startswith("webhook.test")]
    assert len(second_rows) == 5 and "Newest deliveries" in text(second)
    assert {r[0] for r in first_rows}.isdisjoint({r[0] for r in second_rows})


def test_webhook_actions_without_an_endpoint_say_so(app, db, owner):
    client_id, _secret = create_app(owner)
    path = f"/console/apps/{client_id}/webhooks"
    response = owner.portal.post(f"{path}/test", {}, form_path=path)
    assert response.status_code == 303
    assert "Set a webhook URL first." in text(owner.portal.client.get(path))


# --- members and invitations --------------------------------------------------------------------

def invite(member: Member, email: str, role: str = "member") -> str:
    path = f"/console/orgs/{member.org.id}/members"
    response = member.portal.post(f"{path}/invite", {"email": email, "role": role}, form_path=path)
    assert response.status_code == 200, text(response)[:2000]
    return shown_secret(response)


def test_an_owner_invites_a_new_person_who_sets_their_own_password(app, db, owner):
    client_id, _secret = create_app(owner)
    link = invite(owner, "Colleague@Shop.example")
    token = link.rsplit("/", 1)[1]
    assert link.startswith("http://localhost/console/invite/vv_inv_")
    row = db.scalar(select(VendorInvite).where(VendorInvite.org_id == owner.org.id))
    assert row.email == "colleague@shop.example" and row.token_hash == digest(token) and token not in row.token_hash
    assert "colleague@shop.example" in text(owner.portal.client.get(f"/console/orgs/{owner.org.id}/members"))

    newcomer = Portal(app.test_client())
    page = newcomer.client.get(f"/console/invite/{token}")
    assert page.status_code == 200 and "Corner Shop Ltd" in text(page)
    mismatch = newcomer.post(f"/console/invite/{token}", {"password": STRONG_PASSWORD, "password_confirm": "other"})
    assert mismatch.status_code == 422
    joined = newcomer.post(f"/console/invite/{token}", {"password": STRONG_PASSWORD,
                                                       "password_confirm": STRONG_PASSWORD})
    assert joined.status_code == 303 and joined.headers["Location"] == f"/console/orgs/{owner.org.id}"
    db.expire_all()
    account = db.scalar(select(Account).where(Account.email_lookup == lookup(db, "colleague@shop.example")))
    assert account.role == "vendor" and account.password_hash.startswith("$argon2id$")
    membership = db.scalar(select(VendorMember).where(VendorMember.account_id == account.id))
    assert (membership.org_id, membership.role) == (owner.org.id, "member")
    assert client_id in text(newcomer.client.get(f"/console/orgs/{owner.org.id}"))
    # the link worked once
    assert Portal(app.test_client()).client.get(f"/console/invite/{token}").status_code == 404
    # members are not owners: no inviting, no removing
    members_page = newcomer.client.get(f"/console/orgs/{owner.org.id}/members")
    assert "Only owners can invite" in text(members_page)
    path = f"/console/orgs/{owner.org.id}/members"
    assert newcomer.post(f"{path}/invite", {"email": "x@shop.example", "role": "owner"},
                         form_path=path).status_code == 403
    owner_member = db.scalar(select(VendorMember).where(VendorMember.account_id == owner.account.id))
    assert newcomer.post(f"{path}/{owner_member.id}/remove", {}, form_path=path).status_code == 403


def test_an_existing_vendor_logs_in_to_accept_and_then_belongs_to_two_orgs(app, db, owner, rival):
    token = invite(owner, rival.account.email, role="owner").rsplit("/", 1)[1]
    anonymous = Portal(app.test_client())
    page = anonymous.client.get(f"/console/invite/{token}")
    assert page.status_code == 200 and "Log in with it to accept" in text(page)
    login_link = unescape(re.search(r'href="(/login\?next=[^"]+)"', text(page)).group(1))
    logged_in = anonymous.post(login_link, {"email": rival.account.email, "password": STRONG_PASSWORD},
                               form_path="/login")
    assert logged_in.status_code == 303 and logged_in.headers["Location"] == f"/console/invite/{token}"
    joined = anonymous.post(f"/console/invite/{token}", {})
    assert joined.status_code == 303
    assert {m.org.id for m in console.memberships(db, rival.account.id)} == {owner.org.id, rival.org.id}
    home = anonymous.client.get("/console/")
    assert home.status_code == 200 and "Corner Shop Ltd" in text(home) and "Rival Traders" in text(home)


def test_an_invitation_cannot_be_taken_by_another_account(app, db, owner, customer):
    token = invite(owner, "someone@shop.example").rsplit("/", 1)[1]
    portal = Portal(app.test_client())
    portal.login(customer.email)
    assert portal.client.get(f"/console/invite/{token}").status_code == 403
    assert portal.post(f"/console/invite/{token}", {}, form_path="/me/").status_code == 403
    assert db.scalar(select(func.count()).select_from(VendorMember).where(VendorMember.org_id == owner.org.id)) == 1
    assert Portal(app.test_client()).client.get("/console/invite/vv_inv_made-up").status_code == 404


def test_cancelled_invitations_stop_working_and_the_last_owner_stays(app, db, owner):
    token = invite(owner, "late@shop.example").rsplit("/", 1)[1]
    row = db.scalar(select(VendorInvite).where(VendorInvite.email_lookup == lookup(db, "late@shop.example")))
    path = f"/console/orgs/{owner.org.id}/members"
    assert owner.portal.post(f"/console/orgs/{owner.org.id}/invites/{row.id}/cancel", {},
                             form_path=path).status_code == 303
    assert app.test_client().get(f"/console/invite/{token}").status_code == 404
    me = db.scalar(select(VendorMember).where(VendorMember.account_id == owner.account.id))
    response = owner.portal.post(f"{path}/{me.id}/remove", {}, form_path=path)
    assert response.status_code == 303
    assert "at least one owner" in text(owner.portal.client.get(path))
    assert db.get(VendorMember, me.id) is not None


def test_an_owner_removes_a_member(app, db, owner):
    token = invite(owner, "temp@shop.example").rsplit("/", 1)[1]
    temp = Portal(app.test_client())
    temp.post(f"/console/invite/{token}", {"password": STRONG_PASSWORD, "password_confirm": STRONG_PASSWORD})
    member = db.scalar(select(VendorMember).join(Account, Account.id == VendorMember.account_id)
                       .where(Account.email_lookup == lookup(db, "temp@shop.example")))
    path = f"/console/orgs/{owner.org.id}/members"
    assert owner.portal.post(f"{path}/{member.id}/remove", {}, form_path=path).status_code == 303
    assert temp.client.get(f"/console/orgs/{owner.org.id}").status_code == 404


# --- initial access tokens ----------------------------------------------------------------------

def test_a_registration_token_from_the_console_registers_an_app(app, db, owner):
    path = f"/console/orgs/{owner.org.id}/registration"
    bad = owner.portal.post(path, {"label": "", "hours": "5", "max_uses": "99"})
    assert bad.status_code == 422 and {"label-error", "max_uses-error"} <= set(re.findall(r'id="(\w+-error)"', text(bad)))
    made = owner.portal.post(path, {"label": "CI pipeline", "hours": "24", "max_uses": "1"})
    assert made.status_code == 200 and made.headers["Cache-Control"] == "no-store"
    token = shown_secret(made)
    assert token.startswith("vv_iat_")
    row = db.scalar(select(InitialAccessToken).where(InitialAccessToken.org_id == owner.org.id))
    assert row.token_hash == digest(token) and row.max_uses == 1 and row.uses == 0
    assert row.expires_at - row.created_at == timedelta(hours=24)
    assert token not in text(owner.portal.client.get(path))

    registered = owner.portal.client.post("/oauth/register", json={
        "client_name": "Shop CLI", "redirect_uris": [CALLBACK], "scope": "profile.name",
        "purpose": "Deliver your orders."}, headers={"Authorization": f"Bearer {token}"})
    assert registered.status_code == 201, registered.json
    listing = text(owner.portal.client.get(f"/console/orgs/{owner.org.id}"))
    assert "Shop CLI" in listing and registered.json["client_id"] in listing
    [token_row] = [r for r in rows(owner.portal.client.get(path)) if r and r[0] == "CI pipeline"]
    assert token_row[3:5] == ["1 of 1", "Used up"]


def test_a_revoked_registration_token_registers_nothing(app, db, owner):
    path = f"/console/orgs/{owner.org.id}/registration"
    token = shown_secret(owner.portal.post(path, {"label": "Old", "hours": "1", "max_uses": "3"}))
    row = db.scalar(select(InitialAccessToken).where(InitialAccessToken.org_id == owner.org.id))
    assert owner.portal.post(f"{path}/{row.id}/revoke", {}, form_path=path).status_code == 303
    response = app.test_client().post("/oauth/register", json={
        "client_name": "Late", "redirect_uris": [CALLBACK], "scope": "profile.name", "purpose": "x"},
        headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    [token_row] = [r for r in rows(owner.portal.client.get(path)) if r and r[0] == "Old"]
    assert token_row[4] == "Revoked"


# --- the guide and page craft -------------------------------------------------------------------

def test_the_guide_explains_the_flow_with_this_vaults_urls(app, db, owner):
    client_id, _secret = create_app(owner)
    page = owner.portal.client.get(f"/console/guide?app={client_id}")
    html = unescape(text(page))
    assert page.status_code == 200
    for expected in ('href="http://localhost/api/v1/docs"', "http://localhost/api/v1/openapi.json",
                     "code_challenge_method=S256", "http://localhost/oauth/token", "grant_type=authorization_code",
                     'curl -H "Authorization: Bearer $ACCESS_TOKEN" http://localhost/api/v1/me',
                     "hmac.compare_digest", "VRM-Signature", "http://localhost/oauth/register",
                     f"client_id={client_id}", "http://localhost/.well-known/oauth-authorization-server"):
        assert expected in html, expected
    metadata = owner.portal.client.get("/.well-known/oauth-authorization-server").json
    assert metadata["service_documentation"] == "http://localhost/api/v1/docs"
    assert owner.portal.client.get("/api/v1/docs").status_code == 200


@pytest.mark.parametrize("language", ["en", "ar"])
def test_console_pages_are_labelled_and_in_order(app, db, owner, language):
    client_id, _secret = create_app(owner)
    token = invite(owner, "pending@shop.example").rsplit("/", 1)[1]
    owner.portal.post(f"/console/apps/{client_id}/webhooks", {"url": "https://hooks.shop.example/vrm"})
    vendor_app, _client = app_row(db, client_id)
    webhooks.send_test_event(db, vendor_app.id)
    db.commit()
    org = owner.org.id
    pages = ["/console/", f"/console/orgs/{org}", f"/console/orgs/{org}/apps/new", f"/console/apps/{client_id}",
             f"/console/apps/{client_id}/edit", f"/console/apps/{client_id}/webhooks", f"/console/orgs/{org}/members",
             f"/console/orgs/{org}/registration", "/console/guide", f"/console/guide?app={client_id}"]
    headers = {"Accept-Language": language}
    for path in pages:
        response = owner.portal.client.get(path, headers=headers, follow_redirects=True)
        assert response.status_code == 200, path
        assert problems(text(response)) == [], path
    anonymous = app.test_client()
    for path in ("/console/signup", f"/console/invite/{token}"):
        response = anonymous.get(path, headers=headers)
        assert response.status_code == 200 and problems(text(response)) == [], path
    shown = owner.portal.post(f"/console/apps/{client_id}/secret", {}, form_path=f"/console/apps/{client_id}")
    assert problems(text(shown)) == []
    invalid = owner.portal.post(f"/console/orgs/{org}/apps/new", app_form(redirect_uris="http://x.example/"))
    assert problems(text(invalid)) == []


def test_an_app_that_takes_intents_chooses_its_categories(app, db):
    from consent import intents
    member = vendor_signup(app, db, email="intents@shop.example", org_name="Intent Shop")
    client_id, _secret = create_app(member, scopes=["profile.name", "intents.read", "offers.write"])
    page = member.portal.client.get(f"/console/apps/{client_id}")
    assert 'id="category-' in text(page)
    first, second = list(intents.CATEGORIES)[:2]
    saved = member.portal.post(f"/console/apps/{client_id}/intent-categories", {"categories": [first, second]},
                               form_path=f"/console/apps/{client_id}")
    assert saved.status_code == 303
    vendor_app, _client = app_row(db, client_id)
    assert intents.app_categories(db, vendor_app.id) == sorted([first, second])
    forged = member.portal.post(f"/console/apps/{client_id}/intent-categories", {"categories": ["nonsense"]},
                                form_path=f"/console/apps/{client_id}")
    assert forged.status_code == 303 and intents.app_categories(db, vendor_app.id) == sorted([first, second])


def test_an_app_without_intents_has_no_category_form(app, db):
    member = vendor_signup(app, db, email="plain@shop.example", org_name="Plain Shop")
    client_id, _secret = create_app(member)
    assert 'id="category-' not in text(member.portal.client.get(f"/console/apps/{client_id}"))
