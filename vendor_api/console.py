"""The vendor console's services: organisations and their members, apps, and their numbers.

Who may see what is decided here, once: a person reaches an organisation, an app or an
invitation only through their own membership (:func:`org_of_member`, :func:`app_of_member`);
anything else is :class:`NotFound`, the same as a thing that does not exist, so the console never
confirms that another vendor's app is there. Owners also invite and remove members.

The numbers shown to a vendor are counts of grants by state and by scope: they never name a
customer and never touch the vault, so reading them is not a ledger event.

Like every service, these add and flush; the request commits.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from sqlalchemy import Text, case, cast, func, select, true
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

from consent.models import Grant, VendorApp, VendorMember, VendorOrg
from consent.scopes import DPV_PURPOSES, SCOPES
from vault import accounts, login_emails
from vault.clock import utcnow
from vault.errors import NotFound, ValidationFailed
from vault.models import Account

from . import clients
from .clients import NAME_MAX, PURPOSE_MAX, WEBSITE_MAX
from .console_models import ORG_ROLES, VendorInvite
from .credentials import digest, new_credential
from .models import OAuthClient

INVITE_PREFIX = "vv_inv_"
INVITE_TTL = timedelta(days=7)
GRANT_STATES = ("active", "expired", "revoked")


class NotAllowed(NotFound):
    """A member asked for something only an owner may do."""


# --- sign-up and membership -------------------------------------------------------------------

def sign_up(db: Session, *, org_name: str, website: str, contact_email: str, email: str, password: str,
            locale: str | None = None) -> tuple[Account, VendorOrg]:
    """A new organisation and its first member (an owner), with a vendor account.

    Every problem of both halves is reported at once; the organisation's field names are
    prefixed ``org_`` where they would clash with the person's (``org_name``).
    """
    errors: dict[str, list[str]] = {}
    account = org = None
    try:
        account = accounts.sign_up(db, email, password, role="vendor", locale=locale)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    org_name, website, contact_email = ((v or "").strip() for v in (org_name, website, contact_email))
    org_errors: dict[str, list[str]] = {}
    if len(org_name) > NAME_MAX:
        org_errors["org_name"] = [f"Use {NAME_MAX} characters or fewer."]
    if len(website) > WEBSITE_MAX:
        org_errors["website"] = [f"Use {WEBSITE_MAX} characters or fewer."]
    if problem := accounts.email_problem(contact_email.lower()):
        org_errors["contact_email"] = [problem]
    if not org_errors:
        try:
            org = clients.create_org(db, name=org_name, website=website, contact_email=contact_email)
        except ValidationFailed as exc:
            org_errors.update({("org_name" if k == "name" else k): v for k, v in exc.errors.items()})
    errors.update(org_errors)
    if errors:
        raise ValidationFailed(errors)
    db.add(VendorMember(org_id=org.id, account_id=account.id, role="owner"))
    db.flush()
    return account, org


@dataclass(frozen=True)
class Membership:
    org: VendorOrg
    role: str

    @property
    def is_owner(self) -> bool:
        return self.role == "owner"


def memberships(db: Session, account_id: int) -> list[Membership]:
    rows = db.execute(select(VendorOrg, VendorMember.role).join(VendorMember, VendorMember.org_id == VendorOrg.id)
                      .where(VendorMember.account_id == account_id).order_by(VendorOrg.name, VendorOrg.id)).all()
    return [Membership(org, role) for org, role in rows]


def org_of_member(db: Session, account_id: int, org_id: int, *, owner: bool = False) -> Membership:
    """The organisation if ``account_id`` is a member (an owner, if asked), else NotFound."""
    row = db.execute(select(VendorOrg, VendorMember.role).join(VendorMember, VendorMember.org_id == VendorOrg.id)
                     .where(VendorMember.account_id == account_id, VendorOrg.id == org_id)).first()
    if row is None:
        raise NotFound("No such organisation.")
    membership = Membership(row[0], row[1])
    if owner and not membership.is_owner:
        raise NotAllowed("Only owners of the organisation can do this.")
    return membership


def app_of_member(db: Session, account_id: int, client_id: str) -> tuple[VendorApp, OAuthClient]:
    """The app (and its OAuth client) if ``account_id`` is a member of its organisation."""
    row = db.execute(select(VendorApp, OAuthClient).join(OAuthClient, OAuthClient.app_id == VendorApp.id)
                     .join(VendorMember, VendorMember.org_id == VendorApp.org_id)
                     .where(VendorApp.client_id == client_id, VendorMember.account_id == account_id)).first()
    if row is None:
        raise NotFound("No such app.")
    return row[0], row[1]


@dataclass(frozen=True)
class MemberView:
    id: int
    account_id: int
    email: str
    role: str


def members(db: Session, org_id: int) -> list[MemberView]:
    """The members by address (sorted here: addresses are sealed, the database cannot order them)."""
    rows = db.execute(select(VendorMember, Account).join(Account, Account.id == VendorMember.account_id)
                      .where(VendorMember.org_id == org_id)).all()
    return sorted((MemberView(m.id, m.account_id, account.email, m.role) for m, account in rows),
                  key=lambda view: (view.email, view.id))


def _check_role(role: str) -> str:
    if role not in ORG_ROLES:
        raise ValidationFailed({"role": ["Choose owner or member."]})
    return role


def invite(db: Session, org: VendorOrg, *, email: str, role: str, invited_by: int,
           now: datetime | None = None) -> tuple[VendorInvite, str]:
    """An invitation for ``email``; returns it and its secret token (to be passed on once).

    Only the digest of the token is stored; the link made from it is the only way in.
    """
    now = now or utcnow()
    email = accounts.normalise_email(email)
    if problem := accounts.email_problem(email):
        raise ValidationFailed({"email": [problem]})
    _check_role(role)
    sealer = login_emails.of_session(db)
    already = db.scalar(select(VendorMember.id).join(Account, Account.id == VendorMember.account_id)
                        .where(VendorMember.org_id == org.id, Account.email_lookup == sealer.lookup(email)))
    if already is not None:
        raise ValidationFailed({"email": ["This person is already a member."]})
    token = new_credential(INVITE_PREFIX)
    row = VendorInvite(org_id=org.id, role=role, token_hash=digest(token), invited_by=invited_by,
                       created_at=now, expires_at=now + INVITE_TTL)
    sealer.assign(row, email)
    db.add(row)
    db.flush()
    return row, token


def open_invites(db: Session, org_id: int, *, now: datetime | None = None) -> list[VendorInvite]:
    now = now or utcnow()
    rows = db.scalars(select(VendorInvite).where(VendorInvite.org_id == org_id)
                      .order_by(VendorInvite.created_at.desc(), VendorInvite.id.desc()))
    return [r for r in rows if r.is_open(now)]


def cancel_invite(db: Session, org_id: int, invite_id: int, *, now: datetime | None = None) -> None:
    row = db.get(VendorInvite, invite_id)
    if row is None or row.org_id != org_id:
        raise NotFound("No such invitation.")
    if row.revoked_at is None and row.accepted_at is None:
        row.revoked_at = now or utcnow()
        db.flush()


def find_invite(db: Session, token: str | None, *, now: datetime | None = None) -> VendorInvite | None:
    """The open invitation for ``token``, or None (unknown, expired, used or cancelled)."""
    if not token or not isinstance(token, str) or not token.startswith(INVITE_PREFIX) or len(token) > 200:
        return None
    row = db.scalar(select(VendorInvite).where(VendorInvite.token_hash == digest(token)))
    return row if row is not None and row.is_open(now or utcnow()) else None


class InviteMismatch(NotFound):
    """The invitation is for another email address, or that address is not a vendor account."""


def accept_invite(db: Session, row: VendorInvite, account: Account, *, now: datetime | None = None) -> VendorOrg:
    """Make ``account`` (whose email the invitation names) a member; the invitation is spent."""
    now = now or utcnow()
    if not row.is_open(now):
        raise NotFound("This invitation is no longer valid.")
    if account.role != "vendor" or account.email_lookup != row.email_lookup:
        raise InviteMismatch("This invitation is for another account.")
    exists = db.scalar(select(VendorMember.id).where(VendorMember.org_id == row.org_id,
                                                     VendorMember.account_id == account.id))
    if exists is None:
        db.add(VendorMember(org_id=row.org_id, account_id=account.id, role=row.role))
    row.accepted_at = now
    db.flush()
    return db.get(VendorOrg, row.org_id)


def accept_invite_with_new_account(db: Session, row: VendorInvite, password: str, *, locale: str | None = None,
                                   now: datetime | None = None) -> Account:
    """A vendor account for the invited address (password chosen by the invitee), then membership."""
    account = accounts.sign_up(db, row.email, password, role="vendor", locale=locale)
    db.flush()
    accept_invite(db, row, account, now=now)
    return account


def remove_member(db: Session, org_id: int, member_id: int) -> None:
    """Remove one member; the last owner cannot be removed (an organisation needs someone to run it)."""
    member = db.get(VendorMember, member_id)
    if member is None or member.org_id != org_id:
        raise NotFound("No such member.")
    if member.role == "owner":
        owners = db.scalar(select(func.count()).select_from(VendorMember)
                           .where(VendorMember.org_id == org_id, VendorMember.role == "owner"))
        if owners <= 1:
            raise ValidationFailed({"member": ["An organisation needs at least one owner."]})
    db.delete(member)
    db.flush()


# --- apps -------------------------------------------------------------------------------------

def apps_of_org(db: Session, org_id: int) -> list[VendorApp]:
    return list(db.scalars(select(VendorApp).where(VendorApp.org_id == org_id)
                           .order_by(VendorApp.name, VendorApp.id)))


@dataclass
class AppSettings:
    """What the console edits of an app: what customers see, and where codes are sent."""

    name: str
    website: str
    purpose: str
    purpose_category: str
    scopes: list[str] = field(default_factory=list)
    redirect_uris: list[str] = field(default_factory=list)


def _check_settings(settings: AppSettings) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not settings.name.strip() or len(settings.name.strip()) > NAME_MAX:
        errors["name"] = [f"Give a name of 1 to {NAME_MAX} characters."]
    parts = urlsplit(settings.website or "")
    if parts.scheme not in ("http", "https") or not parts.hostname or len(settings.website) > WEBSITE_MAX:
        errors["website"] = ["Enter the web address of the app, starting with https://."]
    if not settings.purpose.strip() or len(settings.purpose) > PURPOSE_MAX:
        errors["purpose"] = [f"Say what the data is for, in at most {PURPOSE_MAX} characters."]
    if settings.purpose_category not in DPV_PURPOSES:
        errors["purpose_category"] = ["Choose a purpose from the list."]
    if not settings.scopes or any(s not in SCOPES for s in settings.scopes):
        errors["scopes"] = ["Choose at least one kind of data from the list."]
    try:
        clients.check_redirect_uris(settings.redirect_uris)
    except ValidationFailed as exc:
        errors.update(exc.errors)
    return errors


def create_app(db: Session, org: VendorOrg, settings: AppSettings) -> tuple[VendorApp, OAuthClient, str]:
    """Register an app and its confidential client; returns the client secret once."""
    errors = _check_settings(settings)
    if errors:
        raise ValidationFailed(errors)
    return clients.register_app(db, org=org, name=settings.name, website=settings.website.strip(),
                                purpose=settings.purpose, purpose_category=settings.purpose_category,
                                scopes=settings.scopes, redirect_uris=settings.redirect_uris)


def update_app(db: Session, app: VendorApp, client: OAuthClient, settings: AppSettings) -> None:
    """Change what future customers are asked and shown.

    Grants already given keep the purpose and scopes the customer approved (they are copied into
    the grant), so narrowing the request never takes anything back and widening it never adds
    anything without the customer approving again on the consent screen.
    """
    errors = _check_settings(settings)
    if errors:
        raise ValidationFailed(errors)
    app.name = settings.name.strip()
    app.website = settings.website.strip()
    app.purpose = settings.purpose.strip()
    app.purpose_category = settings.purpose_category
    app.requested_scopes = settings.scopes
    clients.set_redirect_uris(db, client, settings.redirect_uris)
    db.flush()


def settings_of(app: VendorApp, client: OAuthClient) -> AppSettings:
    return AppSettings(app.name, app.website, app.purpose, app.purpose_category, list(app.requested_scopes),
                       list(client.redirect_uris))


# --- numbers ----------------------------------------------------------------------------------

def _state(now: datetime):
    """A grant's state as the customer sees it: an active grant past its expiry is expired,
    even before the worker has marked it so."""
    return case((Grant.status == "revoked", "revoked"),
                ((Grant.status == "expired") | (Grant.expires_at.is_not(None) & (Grant.expires_at <= now)),
                 "expired"),
                else_="active")


def empty_counts() -> dict[str, int]:
    return {s: 0 for s in GRANT_STATES}


def grant_counts(db: Session, app_ids: Iterable[int], *, now: datetime | None = None) -> dict[int, dict[str, int]]:
    """``{app id: {"active": n, "expired": n, "revoked": n}}`` for each app."""
    app_ids = list(app_ids)
    counts = {app_id: empty_counts() for app_id in app_ids}
    if not app_ids:
        return counts
    state = _state(now or utcnow())
    rows = db.execute(select(Grant.app_id, state, func.count()).where(Grant.app_id.in_(app_ids))
                      .group_by(Grant.app_id, state))
    for app_id, name, count in rows:
        counts[app_id][name] = count
    return counts


def scope_counts(db: Session, app_id: int, *, now: datetime | None = None) -> dict[str, dict[str, int]]:
    """``{scope: {"active": n, "expired": n, "revoked": n}}``: grants holding each scope, by state.

    Counted in the database (the scopes of a grant are a JSON list) so the page costs one query
    whatever the number of grants.
    """
    state = _state(now or utcnow()).label("state")
    if db.get_bind().dialect.name == "postgresql":
        scope = func.jsonb_array_elements_text(cast(Grant.scopes_json, JSONB)).label("scope")
        inner = select(scope, state).where(Grant.app_id == app_id).subquery()
    else:
        items = func.json_each(cast(Grant.scopes_json, Text)).table_valued("value")
        inner = (select(items.c.value.label("scope"), state).select_from(Grant).join(items, true())
                 .where(Grant.app_id == app_id).subquery())
    rows = db.execute(select(inner.c.scope, inner.c.state, func.count())
                      .group_by(inner.c.scope, inner.c.state))
    counts: dict[str, dict[str, int]] = {}
    for scope_id, name, count in rows:
        counts.setdefault(scope_id, empty_counts())[name] = count
    return counts
