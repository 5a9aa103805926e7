"""Register vendor organisations and apps as OAuth clients; rotate their secrets; retire them.

Redirect URIs are checked at registration (https only, except http on loopback for
development; no fragment; no wildcards) so that the authorization endpoint can do a plain exact
string match later (SECURITY.md 1-2). Client secrets are shown once and stored as digests.
"""
from __future__ import annotations

import hmac
import ipaddress
import re
from collections.abc import Iterable
from datetime import datetime
from urllib.parse import urlsplit

from sqlalchemy import select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from consent.models import VendorApp, VendorOrg
from consent.scopes import DPV_PURPOSES, SCOPES
from vault.clock import utcnow
from vault.errors import ValidationFailed

from . import tokens
from .credentials import REGISTRATION_PREFIX, SECRET_PREFIX, digest, new_credential
from .models import AUTH_METHODS, GRANT_TYPES, OAuthClient

DEFAULT_GRANT_TYPES = GRANT_TYPES
LOOPBACK_HOSTS = ("localhost",)
_HOST = re.compile(r"(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?")


def _is_loopback(host: str) -> bool:
    if host in LOOPBACK_HOSTS:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def redirect_uri_problem(uri: str) -> str | None:
    """Why ``uri`` cannot be registered, or None if it can."""
    if not isinstance(uri, str) or not uri or uri != uri.strip() or any(ord(c) < 33 for c in uri):
        return "a redirect URI must be an absolute URL without spaces"
    try:
        parts = urlsplit(uri)
        host = parts.hostname or ""
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return f"{uri} is not a valid URL"
    if "#" in uri:
        return f"{uri}: a redirect URI must not contain a fragment"
    if parts.scheme not in ("https", "http") or not host:
        return f"{uri}: only https URLs (or http on loopback) are allowed"
    if "*" in uri:
        return f"{uri}: wildcards are not allowed"
    if parts.username or parts.password:
        return f"{uri}: credentials in a redirect URI are not allowed"
    if not _HOST.fullmatch(parts.netloc):
        return f"{uri}: the host part may hold only letters, digits, dots, hyphens and a port"
    if parts.scheme == "http" and not _is_loopback(host):
        return f"{uri}: plain http is only allowed on loopback (127.0.0.1, [::1], localhost)"
    return None


def check_redirect_uris(uris: Iterable[str]) -> list[str]:
    uris = list(dict.fromkeys(uris))
    problems = [p for p in (redirect_uri_problem(u) for u in uris) if p]
    if not uris:
        problems.append("at least one redirect URI is required")
    if problems:
        raise ValidationFailed({"redirect_uris": problems})
    return uris


#: What the columns hold (consent.models) and every way in (console, registration, CLI) allows.
NAME_MAX = 120
WEBSITE_MAX = 300
PURPOSE_MAX = 2000
CONTACT_EMAIL_MAX = 254
JURISDICTION_MAX = 8


def _check_website(url: str, field: str) -> str:
    parts = urlsplit(url or "")
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValidationFailed({field: [f"{url!r} is not an http(s) URL"]})
    return url


def _too_long(errors: dict, **values: tuple[str, int]) -> None:
    """Adds a message for each value longer than its limit: the console's forms check the same
    limits, but the CLI reached the columns unchecked (PostgreSQL refused with a traceback)."""
    for field, (value, limit) in values.items():
        if len(value or "") > limit:
            errors[field] = [f"Use {limit} characters or fewer."]


def create_org(db: Session, *, name: str, website: str, contact_email: str,
               jurisdiction: str = "EU") -> VendorOrg:
    errors: dict[str, list[str]] = {}
    if not name.strip():
        errors["name"] = ["a name is required"]
    if "@" not in contact_email:
        errors["contact_email"] = ["a contact email address is required"]
    _too_long(errors, name=(name.strip(), NAME_MAX), website=(website, WEBSITE_MAX),
              contact_email=(contact_email.strip(), CONTACT_EMAIL_MAX), jurisdiction=(jurisdiction, JURISDICTION_MAX))
    if errors:
        raise ValidationFailed(errors)
    org = VendorOrg(name=name.strip(), website=_check_website(website, "website"),
                    contact_email=contact_email.strip(), jurisdiction=jurisdiction)
    db.add(org)
    db.flush()
    return org


def register_app(db: Session, *, org: VendorOrg, name: str, website: str, purpose: str,
                 purpose_category: str = "dpv:ServiceProvision", scopes: Iterable[str],
                 redirect_uris: Iterable[str], grant_types: Iterable[str] = DEFAULT_GRANT_TYPES,
                 auth_method: str = "client_secret_basic",
                 now: datetime | None = None) -> tuple[VendorApp, OAuthClient, str]:
    """Create an app and its confidential OAuth client. Returns the secret in plain text once."""
    errors: dict[str, list[str]] = {}
    scopes = list(dict.fromkeys(scopes))
    unknown = [s for s in scopes if s not in SCOPES]
    if unknown or not scopes:
        errors["scopes"] = [f"unknown scopes: {', '.join(unknown)}" if unknown else "at least one scope"]
    if purpose_category not in DPV_PURPOSES:
        errors["purpose_category"] = [f"one of {', '.join(DPV_PURPOSES)}"]
    if not name.strip():
        errors["name"] = ["a name is required"]
    if not purpose.strip():
        errors["purpose"] = ["say what the data is for"]
    _too_long(errors, name=(name.strip(), NAME_MAX), website=(website, WEBSITE_MAX),
              purpose=(purpose.strip(), PURPOSE_MAX))
    if auth_method not in AUTH_METHODS:
        errors["auth_method"] = [f"one of {', '.join(AUTH_METHODS)}"]
    try:
        uris = check_redirect_uris(redirect_uris)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    if errors:
        raise ValidationFailed(errors)
    app = VendorApp(org=org, name=name.strip(), website=_check_website(website, "website"),
                    purpose=purpose.strip(), purpose_category=purpose_category)
    app.requested_scopes = scopes
    db.add(app)
    db.flush()
    secret = new_credential(SECRET_PREFIX)
    client = OAuthClient(app_id=app.id, app=app, client_secret_hash=digest(secret),
                         token_endpoint_auth_method=auth_method, created_at=now or utcnow())
    client.redirect_uris = uris
    client.grant_types = list(grant_types)
    db.add(client)
    db.flush()
    return app, client, secret


def rotate_secret(db: Session, client: OAuthClient, *, now: datetime | None = None) -> str:
    """A new secret; the old one stops working at once. Returns the new one in plain text."""
    secret = new_credential(SECRET_PREFIX)
    client.client_secret_hash = digest(secret)
    client.secret_rotated_at = now or utcnow()
    db.flush()
    return secret


def issue_registration_token(db: Session, client: OAuthClient) -> str:
    """A new registration access token (RFC 7592) for ``client``; any earlier one stops working.
    Returned in plain text once; only its digest is kept."""
    token = new_credential(REGISTRATION_PREFIX)
    client.registration_token_hash = digest(token)
    db.flush()
    return token


def registration_token_matches(client: OAuthClient, presented: str) -> bool:
    """Whether ``presented`` is the client's current registration access token."""
    return client.registration_token_hash is not None \
        and hmac.compare_digest(digest(presented), client.registration_token_hash)


def replace_registration_token(db: Session, client: OAuthClient, presented: str) -> str | None:
    """Spend ``presented`` (already matched) for a new token, atomically: of two requests racing
    with the same token only one gets a successor; the other gets None."""
    token = new_credential(REGISTRATION_PREFIX)
    swapped = db.execute(update(OAuthClient).where(OAuthClient.id == client.id,
                                                   OAuthClient.registration_token_hash == digest(presented))
                         .values(registration_token_hash=digest(token))
                         .execution_options(synchronize_session=False)).rowcount
    if swapped != 1:
        return None
    set_committed_value(client, "registration_token_hash", digest(token))  # as stored; no re-read
    return token


def retire_app(db: Session, app: VendorApp, client: OAuthClient, *, now: datetime | None = None) -> int:
    """Take an app out of service for good; returns how many live tokens were revoked.

    At once: its client id, secret and registration token stop working at every OAuth endpoint
    (the client look-up skips retired apps), its tokens are revoked and its unused authorization
    codes spent, and no customer can grant it consent. Its customers' grants are then ended by the
    worker (:func:`consent.grants.end_for_retired_apps`), each with a ledger entry and a receipt.
    Retiring twice changes nothing more.
    """
    now = now or utcnow()
    if not app.is_active:
        return 0
    app.is_active, app.retired_at = False, now
    client.registration_token_hash = None
    revoked = tokens.revoke_for_app(db, app.id, now=now)
    tokens.spend_codes_for_client(db, client.id, now)
    db.flush()
    return revoked


def set_redirect_uris(db: Session, client: OAuthClient, uris: Iterable[str]) -> None:
    client.redirect_uris = check_redirect_uris(uris)
    db.flush()


def by_client_id(db: Session, client_id: str | None) -> OAuthClient | None:
    if not client_id or not isinstance(client_id, str):
        return None
    return db.scalar(select(OAuthClient).join(VendorApp, VendorApp.id == OAuthClient.app_id)
                     .where(VendorApp.client_id == client_id))


def active_by_client_id(db: Session, client_id: str | None) -> OAuthClient | None:
    """The client for OAuth purposes: a retired app's client is as good as unknown."""
    client = by_client_id(db, client_id)
    return client if client is not None and client.app.is_active else None


def for_app(db: Session, app_id: int) -> OAuthClient | None:
    return db.scalar(select(OAuthClient).where(OAuthClient.app_id == app_id))
