"""The authorization endpoint's logic, for the consent screen in ``web.oauth_consent``.

The page itself belongs to the portal (it needs the login, templates and CSRF); everything it
decides lives here: validating the request through Authlib, describing what is asked (with a
preview of the customer's own values), and turning Approve/Deny into a grant, a receipt, a
ledger entry, a code and the redirect.

Scopes the customer already shares with the app (in a live grant) are not asked again; the
code then carries the already-shared scopes plus whatever is newly approved. The consent screen's
choices, including refusals, are kept as an :class:`AuthorizationDecision`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

from authlib.oauth2 import OAuth2Error
from flask import Response
from sqlalchemy.orm import Session

from consent import grants as consent_grants
from consent import terms as terms_service
from consent.context import ConsentContext
from consent.models import VendorApp
from consent.policy import is_live
from consent.scopes import PSEUDO_FIELDS, SCOPES, Scope
from vault import clock, records
from vault.keys.service import KeyService
from vault.models import Account

from .models import AuthorizationDecision, OAuthClient
from .oauth import authorization_error_response, finish_authorization_response, server

TERM_CHOICES = {"30": 30, "90": 90, "365": 365, "never": None}
DEFAULT_TERM = "90"


@dataclass
class ScopeRequest:
    scope: Scope
    already_shared: bool
    #: (field name, value or None when empty) for each field the scope would share
    preview: list[tuple[str, object]] = field(default_factory=list)


@dataclass
class ConsentRequest:
    """Everything the consent page shows, decided here and only rendered there."""

    client: OAuthClient
    app: VendorApp
    redirect_uri: str
    scopes: list[ScopeRequest]
    #: The customer's proffered terms and whether this app accepts them (consent.terms.Match).
    terms: "terms_service.Match | None" = None

    @property
    def new(self) -> list[ScopeRequest]:
        return [s for s in self.scopes if not s.already_shared]

    @property
    def already(self) -> list[ScopeRequest]:
        return [s for s in self.scopes if s.already_shared]


def validate(end_user: Account | None):
    """Authlib's validation of the request on this URL; raises ``OAuth2Error``."""
    return server.get_consent_grant(end_user=end_user)


def error_response(error: OAuth2Error) -> Response | None:
    """A redirect carrying ``error``, or None: the page must then show the error itself."""
    return authorization_error_response(error)


def requested_scopes(oauth_grant) -> list[str]:
    return [s for s in (oauth_grant.request.scope or "").split(" ") if s]


def _shared_now(db: Session, app: VendorApp, customer: Account) -> set[str]:
    """Scopes the customer shares with ``app`` in a live grant right now."""
    existing = consent_grants.find(db, customer.id, app.id)
    return set(existing.scopes) if existing is not None and is_live(existing, clock.utcnow()) else set()


def describe(db: Session, keys: KeyService, oauth_grant, customer: Account) -> ConsentRequest:
    client: OAuthClient = oauth_grant.request.client
    app = client.app
    shared = _shared_now(db, app, customer)
    wanted = requested_scopes(oauth_grant)
    preview_fields = {f for s in wanted for f in SCOPES[s].fields} - PSEUDO_FIELDS
    values = records.read_fields(db, keys, customer.id, preview_fields) if preview_fields else {}
    items = [ScopeRequest(SCOPES[s], s in shared, [(f, values.get(f)) for f in SCOPES[s].fields])
             for s in wanted]
    return ConsentRequest(client, app, oauth_grant.redirect_uri, items, terms_service.match(db, customer, app))


def _decision(db: Session, app: VendorApp, customer: Account, outcome: str, requested, approved,
              refused) -> None:
    db.add(AuthorizationDecision(app_id=app.id, account_id=customer.id, outcome=outcome,
                                 requested_json=json.dumps(list(requested)),
                                 approved_json=json.dumps(list(approved)),
                                 refused_json=json.dumps(list(refused)), created_at=clock.utcnow()))
    db.flush()


def deny(db: Session, oauth_grant, customer: Account) -> Response:
    """The customer said no: ``error=access_denied`` back to the client (with state and iss)."""
    state = _split(db, oauth_grant, customer)
    _decision(db, state["app"], customer, "denied", state["requested"], [], state["new"])
    return _redirect(oauth_grant, None)


def _split(db: Session, oauth_grant, customer: Account) -> dict:
    app = oauth_grant.request.client.app
    shared = _shared_now(db, app, customer)
    wanted = requested_scopes(oauth_grant)
    return {"app": app, "requested": wanted, "shared": [s for s in wanted if s in shared],
            "new": [s for s in wanted if s not in shared]}


def approve(db: Session, ctx: ConsentContext, oauth_grant, customer: Account, *, ticked, term: str) -> Response:
    """Share the ticked new scopes (plus what is already shared) and send a code to the client.

    Unticking every new scope when nothing is shared yet is a denial. ``term`` is one of
    :data:`TERM_CHOICES`; consent rules (``consent.grants.grant``) validate the rest.
    """
    state = _split(db, oauth_grant, customer)
    app = state["app"]
    ticked = set(ticked)
    newly = [s for s in state["new"] if s in ticked]
    refused = [s for s in state["new"] if s not in ticked]
    approved = [s for s in state["requested"] if s in set(state["shared"]) or s in set(newly)]
    if not approved:
        _decision(db, app, customer, "denied", state["requested"], [], refused)
        return _redirect(oauth_grant, None)
    now = clock.utcnow()
    if newly:
        change = consent_grants.grant(db, ctx, customer=customer, app=app, scopes=newly,
                                      term_days=TERM_CHOICES[term], now=now)
        grant_row = change.grant
    else:
        grant_row = consent_grants.find(db, customer.id, app.id)
    _decision(db, app, customer, "approved", state["requested"], approved, refused)
    oauth_grant.request.vault_approval = (grant_row.id, " ".join(approved))
    return _redirect(oauth_grant, customer)


def _redirect(oauth_grant, customer: Account | None) -> Response:
    """Authlib builds the redirect (code or access_denied, with state); we add iss and 303."""
    response = server.create_authorization_response(grant_user=customer, grant=oauth_grant)
    return finish_authorization_response(response)
