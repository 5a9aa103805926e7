"""Every route of the app x every kind of caller -> the outcome it must get.

The routes come from the app's own URL map, so a new route without an entry in ``ROUTES`` fails
``test_every_route_has_an_entry`` until someone decides who may call it. Each entry names an
access class; the class says, for each caller, whether the request must be let through ("ok":
it reached the view, whatever the view then made of an empty body) or refused, and how:

- ``login``: a redirect to the login page (the portal, for someone not signed in);
- ``401`` / ``403`` / ``404``: an API caller without a valid token, a signed-in person of the
  wrong role, and someone asking for another person's object (which must look like no object).

Objects in URLs belong to customer A, vendor app "with" (which A granted) and its organisation.
Customer B, vendor app "without" (no live grant from A) and a member of another organisation must
never reach them. CSRF and rate limits are switched off here: their own tests cover them; this
test is about who may do what. Callers run in an order that keeps the owners' state-changing
calls (A revoking, the member rotating a secret, logging out) after everyone else's.
"""
from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import timedelta

import pyotp
import pytest
from sqlalchemy import select

from consent import cases, grants, intents, ledger
from consent.models import VendorMember
from consent.notifications import Notification
from consent.purchases import Purchase
from tests.conftest import STRONG_PASSWORD, Portal, make_test_app
from tests.vendor_api.conftest import ctx_for, make_vendor
from vault import totp
from vault.accounts import create_officer, sign_up
from vault.clock import utcnow
from vendor_api import console, tokens, webhooks
from vendor_api import initial_tokens

CALLERS = ("anonymous", "customer_b", "vendor_without", "officer", "other_member", "vendor_with", "member",
           "customer_a")

OK, LOGIN, ANY = "ok", "login", "any"

#: access class -> caller -> expected outcome
CLASSES = {
    # anyone, signed in or not: no access rule to break (sign-in forms answer 401 to bad credentials)
    "public": {c: ANY for c in CALLERS},
    # any signed-in person (their own account pages)
    "signed_in": {"anonymous": LOGIN, "customer_a": OK, "customer_b": OK, "vendor_with": LOGIN,
                  "vendor_without": LOGIN, "officer": OK, "member": OK, "other_member": OK},
    # a customer's own pages without an object in the URL
    "customer": {"anonymous": LOGIN, "customer_a": OK, "customer_b": OK, "vendor_with": LOGIN,
                 "vendor_without": LOGIN, "officer": 403, "member": 403, "other_member": 403},
    # a customer's pages about one of customer A's objects
    "customer_object": {"anonymous": LOGIN, "customer_a": OK, "customer_b": 404, "vendor_with": LOGIN,
                        "vendor_without": LOGIN, "officer": 403, "member": 403, "other_member": 403},
    "officer": {"anonymous": LOGIN, "customer_a": 403, "customer_b": 403, "vendor_with": LOGIN,
                "vendor_without": LOGIN, "officer": OK, "member": 403, "other_member": 403},
    # vendor console pages of one's own
    "console": {"anonymous": LOGIN, "customer_a": 403, "customer_b": 403, "vendor_with": LOGIN,
                "vendor_without": LOGIN, "officer": 403, "member": OK, "other_member": OK},
    # vendor console pages about the "with" organisation or its app
    "console_object": {"anonymous": LOGIN, "customer_a": 403, "customer_b": 403, "vendor_with": LOGIN,
                       "vendor_without": LOGIN, "officer": 403, "member": OK, "other_member": 404},
    # the vendor API about one customer, with a token of that customer's grant
    "api_customer": {c: 401 for c in CALLERS} | {"vendor_with": OK},
    # the vendor API about the app itself (client credentials); lists are the app's own
    "api_app": {c: 401 for c in CALLERS} | {"vendor_with": OK, "vendor_without": OK},
    # ... about one of customer A's objects, which only "with" may see
    "api_app_object": {c: 401 for c in CALLERS} | {"vendor_with": OK, "vendor_without": 404},
    # the intent market: only apps that declared intents.read / offers.write
    "api_intents": {c: 401 for c in CALLERS} | {"vendor_with": OK, "vendor_without": 403},
    # OAuth endpoints that authenticate the client (HTTP Basic with the app's secret)
    "oauth_client": {c: 401 for c in CALLERS} | {"vendor_with": OK, "vendor_without": OK},
    # dynamic registration and client management: only with an initial (or registration) access
    # token, which no caller here holds
    "registration": {c: 401 for c in CALLERS},
}

#: endpoint -> (access class, path values specific to it). Methods share an entry.
ROUTES = {
    "static": ("public", {"filename": "vault.css"}),
    "health.healthz": ("public", {}),
    "health.readyz": ("public", {}),
    "main.index": ("public", {}),
    "main.jwks": ("public", {}),
    "main.vrm_terms": ("public", {}),
    "main.set_language": ("public", {"code": "ar"}),
    "oauth.server_metadata": ("public", {}),
    "api-docs.openapi_json": ("public", {}),
    "vendor_api_docs": ("public", {}),
    "vendor_api_docs_init": ("public", {}),
    "vendor_api_docs_asset": ("public", {"name": "swagger-ui.css"}),
    "auth.login": ("public", {}),
    "auth.signup": ("public", {}),
    "auth.second_factor": ("public", {}),
    "auth.logout": ("public", {}),
    "vendor_console.signup": ("public", {}),
    "vendor_console.accept_invite": ("public", {}),
    "oauth_consent.authorize_view": ("public", {}),

    "main.account": ("signed_in", {}),
    "auth.two_factor": ("signed_in", {}),
    "customer.security": ("signed_in", {}),  # password and sessions: every account has them
    "customer.reauthenticate": ("signed_in", {}),

    "customer.dashboard": ("customer", {}),
    "customer.activity": ("customer", {}),
    "customer.cases_list": ("customer", {}),
    "customer.case_new": ("customer", {}),
    "customer.connections": ("customer", {}),
    "customer.delete_account": ("customer", {}),
    "customer.export_page": ("customer", {}),
    "customer.export": ("customer", {"fmt": "json"}),
    "customer.intents_list": ("customer", {}),
    "customer.intent_new": ("customer", {}),
    "customer.notifications_list": ("customer", {}),
    "customer.notifications_read_all": ("customer", {}),
    "customer.notification_settings": ("customer", {}),
    "customer.preferences": ("customer", {}),
    "customer.profile": ("customer", {}),
    "customer.purchases_list": ("customer", {}),
    "customer.purchase_new": ("customer", {}),
    "customer.terms": ("customer", {}),

    "customer.connection": ("customer_object", {}),
    "customer.narrow": ("customer_object", {}),
    "customer.renew": ("customer_object", {}),
    "customer.revoke": ("customer_object", {}),
    "customer.notification_renew": ("customer_object", {}),
    "customer.receipt": ("customer_object", {"fmt": "html"}),
    "customer.case_detail": ("customer_object", {}),
    "customer.intent_detail": ("customer_object", {}),
    "customer.intent_close": ("customer_object", {}),
    "customer.intent_accept": ("customer_object", {}),
    "customer.intent_decline_offer": ("customer_object", {}),
    "customer.intent_share": ("customer_object", {}),
    "customer.notification_read": ("customer_object", {}),
    "customer.purchase_detail": ("customer_object", {}),

    "privacy.log": ("officer", {}),
    "privacy.entry": ("officer", {}),
    "privacy.export": ("officer", {"fmt": "csv"}),
    "privacy.integrity": ("officer", {}),
    "privacy.sign_checkpoint": ("officer", {}),
    "privacy.reports_page": ("officer", {}),

    "vendor_console.home": ("console", {}),
    "vendor_console.guide": ("console", {}),
    "vendor_console.org": ("console_object", {}),
    "vendor_console.new_app": ("console_object", {}),
    "vendor_console.members": ("console_object", {}),
    "vendor_console.invite": ("console_object", {}),
    "vendor_console.cancel_invite": ("console_object", {}),
    "vendor_console.remove_member": ("console_object", {}),
    "vendor_console.tokens": ("console_object", {}),
    "vendor_console.revoke_token": ("console_object", {}),
    "vendor_console.app": ("console_object", {}),
    "vendor_console.edit_app": ("console_object", {}),
    "vendor_console.rotate_secret": ("console_object", {}),
    "vendor_console.webhooks_page": ("console_object", {}),
    "vendor_console.resend": ("console_object", {}),
    "vendor_console.rotate_webhook_secret": ("console_object", {}),
    "vendor_console.send_test_event": ("console_object", {}),
    "vendor_console.intent_categories": ("console_object", {}),
    "vendor_console.registration_token": ("console_object", {}),
    "vendor_console.retire_app": ("console_object", {}),

    "vendor_api_v1.me": ("api_customer", {}),
    "vendor_api_v1.me_consent": ("api_customer", {}),
    "vendor_api_v1.me_terms": ("api_customer", {}),
    "vendor_api_contact.permission": ("api_customer", {}),
    "vendor_api_contact.report_contact": ("api_customer", {}),
    "vendor_api_purchases.list_purchases": ("api_customer", {}),
    "vendor_api_purchases.create": ("api_customer", {}),
    "vendor_api_purchases.get_purchase": ("api_customer", {}),
    "vendor_api_purchases.update_status": ("api_customer", {}),

    "vendor_api_v1.app_info": ("api_app", {}),
    "vendor_api_cases.list_cases": ("api_app", {}),
    "vendor_api_integration.changes": ("api_app", {}),
    "vendor_api_integration.confirm_deletion": ("api_app", {}),
    "vendor_api_cases.get_case": ("api_app_object", {}),
    "vendor_api_cases.set_status": ("api_app_object", {}),
    "vendor_api_cases.reply": ("api_app_object", {}),
    "vendor_api_intents.list_intents": ("api_intents", {}),
    "vendor_api_intents.get_intent": ("api_intents", {}),
    "vendor_api_intents.list_offers": ("api_intents", {}),
    "vendor_api_intents.make_offer": ("api_intents", {}),
    "vendor_api_intents.get_categories": ("api_intents", {}),
    "vendor_api_intents.set_categories": ("api_intents", {}),

    "oauth.token": ("oauth_client", {}),
    "oauth.introspect": ("oauth_client", {}),
    "oauth.revoke": ("oauth_client", {}),
    "oauth_registration.register_client": ("registration", {}),
    "oauth_registration.manage_client": ("registration", {}),
}

#: Answers that mean "let through" on a route whose view says no to an empty form: the
#: re-authentication step answers a wrong (here: missing) password with 401.
LET_THROUGH = {"customer.reauthenticate": {401}}

#: Well-formed bodies for the API calls whose body is checked before the object is looked up,
#: so that what is tested is who may act, not what a valid body is.
BODIES = {
    ("vendor_api_cases.reply", "POST"): {"text": "We are on it."},
    ("vendor_api_cases.set_status", "PATCH"): {"status": "in_progress"},
    ("vendor_api_intents.set_categories", "PUT"): {"categories": []},
    ("vendor_api_intents.make_offer", "POST"): {"price": "40.00", "currency": "EUR", "description": "Ours.",
                                                "valid_until": "2099-01-01T00:00:00+00:00", "terms": ""},
}

#: Run last of each caller's calls: logging out ends the session; retiring ends the "with" app (for
#: the member, whose calls come after every vendor's; later console calls about it still reach
#: their views, which then send the person back to the app's page).
LAST = ("auth.logout", "vendor_console.retire_app")

MARKET_SCOPES = ["profile.name", "profile.email", "address.shipping", "preferences.communication",
                 "purchases.read", "purchases.write", "purchases.context", "cases.read", "cases.write",
                 "intents.read", "offers.write"]


@dataclass
class Caller:
    name: str
    client: object
    #: for the vendor API: a token of a customer's grant, and a client-credentials token
    user_token: str | None = None
    app_token: str | None = None
    basic: tuple[str, str] | None = None


@dataclass
class World:
    values: dict = field(default_factory=dict)
    callers: dict = field(default_factory=dict)


@pytest.fixture
def matrix_app(database_url, instance_path):
    """The app without CSRF and rate limits, every session inside one rolled-back transaction."""
    application = make_test_app(database_url, instance_path, WTF_CSRF_ENABLED=False, RATELIMIT_ENABLED=False)
    inst = application.extensions["vrm"]
    conn = inst.engine.connect()
    outer = conn.begin()
    inst.sessions = inst.sessions_on(conn, join_transaction_mode="create_savepoint")
    yield application
    outer.rollback()
    conn.close()
    inst.dispose()


def _signed_in(app, email: str, *, totp_secret: str | None = None):
    client = app.test_client()
    portal = Portal(client)
    response = portal.login(email)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    if totp_secret:
        second = portal.post("/login/code", {"code": pyotp.TOTP(totp_secret).now()})
        assert second.status_code == 303
    return client


@pytest.fixture
def world(matrix_app) -> World:
    app = matrix_app
    inst = app.extensions["vrm"]
    db = inst.sessions()
    keys = inst.keys
    ctx = ctx_for(app)
    now = utcnow()
    alice = sign_up(db, "alice@example.com", STRONG_PASSWORD)
    bob = sign_up(db, "bob@example.com", STRONG_PASSWORD)

    # The "with" app belongs to an organisation run from the console by ``member``.
    owner, org = console.sign_up(db, org_name="With Ltd", website="https://with.example",
                                 contact_email="privacy@with.example", email="member@with.example",
                                 password=STRONG_PASSWORD)
    app_with, client_with, secret_with = console.create_app(db, org, console.AppSettings(
        name="With Shop", website="https://with.example", purpose="Sell you things you asked for.",
        purpose_category="dpv:ServiceProvision", scopes=MARKET_SCOPES,
        redirect_uris=["https://with.example/callback"]))
    console.sign_up(db, org_name="Other Ltd", website="https://other.example",
                                   contact_email="privacy@other.example", email="member@other.example",
                                   password=STRONG_PASSWORD)
    without = make_vendor(db, name="Without Shop")

    change = grants.grant(db, ctx, customer=alice, app=app_with, scopes=MARKET_SCOPES, term_days=90, now=now)
    user_with = tokens.issue(db, app_id=app_with.id, scope=" ".join(MARKET_SCOPES),
                             grant_type="authorization_code", grant=change.grant).access_token
    app_with_token = tokens.issue(db, app_id=app_with.id, scope="vendor:read",
                                  grant_type="client_credentials").access_token
    # "without" once had a grant from A; A withdrew it, so its token for A is dead.
    gone = grants.grant(db, ctx, customer=alice, app=without.app, scopes=["profile.name"], now=now)
    user_without = tokens.issue(db, app_id=without.app.id, scope="profile.name", grant_type="authorization_code",
                                grant=gone.grant).access_token
    grants.revoke(db, ctx, gone.grant, alice, now=now)
    app_without_token = tokens.issue(db, app_id=without.app.id, scope="vendor:read",
                                     grant_type="client_credentials").access_token

    case = cases.open_case(db, keys, alice, app_with, category="repair", description="It broke.", now=now)
    intent = intents.publish(db, keys, alice, category=next(iter(intents.CATEGORIES)), title="A kettle",
                             description="Quiet, 1.5 litres.", budget_min="20", budget_max="60", currency="EUR",
                             now=now)
    offer = intents.place_offer(db, keys, app_with, intent, price="45.00", currency="EUR",
                                description="The Quiet One.", valid_until=now + timedelta(days=3), terms="",
                                now=now)
    notification = db.scalar(select(Notification).where(Notification.account_id == alice.id))
    entry = db.scalar(select(ledger.LedgerEntry).order_by(ledger.LedgerEntry.id.desc()))
    membership = db.scalar(select(VendorMember).where(VendorMember.org_id == org.id))
    invite_row, invite_token = console.invite(db, org, email="new@with.example", role="member",
                                              invited_by=owner.id, now=now)
    initial_row, _initial = initial_tokens.issue(db, org, label="CI", hours=initial_tokens.LIFETIMES_HOURS[0],
                                                 created_by=owner.id, now=now)
    webhooks.set_webhook_url(db, keys, app_with, "http://127.0.0.1:9/hook", now=now)
    webhooks.send_test_event(db, app_with.id, now=now)
    delivery = webhooks.list_deliveries(db, app_with.id)[0]

    officer = create_officer(db, "officer@example.com", STRONG_PASSWORD)
    secret = totp.new_secret()
    earlier = now - timedelta(seconds=90)
    assert totp.enable(db, keys, officer, secret, pyotp.TOTP(secret).at(earlier), now=earlier)
    db.commit()

    # A purchase recorded by "with" through the API (the path a vendor takes).
    api = app.test_client()
    created = api.post("/api/v1/me/purchases", headers={"Authorization": f"Bearer {user_with}"},
                       json={"order_id": "ORD-1", "date": "2026-03-14", "currency": "EUR", "status": "paid",
                             "items": [{"name": "Kettle", "quantity": 1, "unit_price": "45.00"}], "total": "45.00"})
    assert created.status_code == 201, created.get_json()
    purchase_public_id = db.scalar(select(Purchase.public_id))

    world = World()
    world.values = {"grant_id": change.grant.public_id, "receipt_id": change.receipt.id,
                    "reference": case.reference, "intent_id": intent.public_id, "offer_id": offer.offer.public_id,
                    "notification_id": notification.public_id, "public_id": purchase_public_id,
                    "order_id": "ORD-1", "entry_id": entry.id, "org_id": org.id, "member_id": membership.id,
                    "invite_id": invite_row.id, "token": invite_token, "token_id": initial_row.id,
                    "client_id": app_with.client_id, "delivery_id": delivery.id}
    db.commit()
    db.close()  # before anyone signs in: closing rolls back to this session's savepoint
    world.callers = {
        "anonymous": Caller("anonymous", app.test_client()),
        "customer_a": Caller("customer_a", _signed_in(app, "alice@example.com")),
        "customer_b": Caller("customer_b", _signed_in(app, "bob@example.com")),
        "officer": Caller("officer", _signed_in(app, "officer@example.com", totp_secret=secret)),
        "member": Caller("member", _signed_in(app, "member@with.example")),
        "other_member": Caller("other_member", _signed_in(app, "member@other.example")),
        "vendor_with": Caller("vendor_with", app.test_client(), user_with, app_with_token,
                              (app_with.client_id, secret_with)),
        "vendor_without": Caller("vendor_without", app.test_client(), user_without, app_without_token,
                                 (without.client_id, without.secret)),
    }
    return world


def _routes(app) -> list[tuple[str, str, str]]:
    """(endpoint, method, rule) for every route the app serves."""
    return sorted((rule.endpoint, method, rule.rule) for rule in app.url_map.iter_rules()
                  for method in rule.methods - {"HEAD", "OPTIONS"})


def _url(app, endpoint: str, rule: str, values: dict) -> str:
    from flask import url_for
    own = ROUTES[endpoint][1]
    wanted = {arg: own.get(arg, values.get(arg)) for arg in app.url_map._rules_by_endpoint[endpoint][0].arguments}
    missing = [arg for arg, value in wanted.items() if value is None]
    assert not missing, f"{endpoint}: no value for {missing}"
    with app.test_request_context():
        return url_for(endpoint, **wanted)


def _outcome(response) -> object:
    status = response.status_code
    if status in (301, 302, 303, 307) and "/login" in response.headers.get("Location", ""):
        return LOGIN
    if status in (401, 403, 404):
        return status
    return OK


def _headers(caller: Caller, access: str) -> dict:
    if access == "api_customer" and caller.user_token:
        return {"Authorization": f"Bearer {caller.user_token}"}
    if access == "oauth_client" and caller.basic:
        raw = f"{caller.basic[0]}:{caller.basic[1]}".encode()
        return {"Authorization": "Basic " + base64.b64encode(raw).decode()}
    if caller.app_token:  # everywhere else a vendor shows its app token (the portal ignores it)
        return {"Authorization": f"Bearer {caller.app_token}"}
    return {}


def test_every_route_has_an_entry(matrix_app):
    served = {endpoint for endpoint, _m, _r in _routes(matrix_app)}
    assert sorted(served - set(ROUTES)) == [], "new routes: say who may call them in ROUTES"
    assert sorted(set(ROUTES) - served) == [], "entries for routes that no longer exist"
    assert all(access in CLASSES for access, _ in ROUTES.values())


def test_every_caller_gets_the_expected_outcome_on_every_route(matrix_app, world):
    routes = _routes(matrix_app)
    # owners' own state-changing calls last, logging out last of all
    routes.sort(key=lambda r: (r[0] in LAST, r[1] != "GET"))
    wrong = []
    seen = 0
    for caller_name in CALLERS:
        caller = world.callers[caller_name]
        for endpoint, method, rule in routes:
            access = ROUTES[endpoint][0]
            expected = CLASSES[access][caller_name]
            url = _url(matrix_app, endpoint, rule, world.values)
            kwargs = {"headers": _headers(caller, access)}
            if method in ("POST", "PUT", "PATCH") and access.startswith("api"):
                kwargs["json"] = BODIES.get((endpoint, method), {})
            if access == "oauth_client":  # a well-formed request, so that only the client is in question
                kwargs["data"] = {"grant_type": "client_credentials", "token": "vv_at_unknown"}
            # Public routes may end a session (a stray visit to the second login step does):
            # they get a fresh browser so the caller stays signed in for the rest.
            client = matrix_app.test_client() if access == "public" else caller.client
            response = client.open(url, method=method, **kwargs)
            response.close()  # file downloads (docs assets, exports) hold their file open until closed
            seen += 1
            assert response.status_code < 500, f"{caller_name} {method} {url}: {response.status_code}"
            got = _outcome(response)
            if response.status_code in LET_THROUGH.get(endpoint, ()):
                got = OK
            if expected != ANY and got != expected:
                wrong.append(f"{caller_name:14} {method:5} {url}: expected {expected}, got {got} "
                             f"({response.status_code})")
    assert not wrong, f"{len(wrong)} of {seen} calls were not what their class says:\n" + "\n".join(wrong)

