"""The privacy officers' portal: who may enter, the log and its filters, paging, exports, entry
detail, integrity (intact and tampered), checkpoints, and reports with the right numbers.

The world is made through the real services: a customer consents on the OAuth screen (unticking
one scope) and the vendor reads through the API; other grants and revocations go through
``consent.grants``; bulk reads are appended as the API appends them. One customer's vault holds a
distinctive value that must never appear on any officer page or export.
"""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone

import pyotp
import pytest
from sqlalchemy import func, select, text

from consent import grants, ledger
from consent.ledger import LedgerEntry
from tests.conftest import STRONG_PASSWORD, Portal
from tests.consent.test_ledger import unguard
from tests.vendor_api.conftest import ALL_SCOPES, PROFILE, Flow, ctx_for, make_vendor
from tests.web.test_accessibility import problems
from vault import records, totp
from vault.accounts import create_officer, sign_up
from vault.clock import utcnow

SECRET_VALUE = "Quokkazanzibar"  # in a customer's vault: must never reach an officer
NOTE_VALUE = "Marmalade-7731 private note"
REFUSED = "profile.phone"


# -- fixtures -------------------------------------------------------------------------------------

def _officer(db, keys, email: str, *, with_totp: bool = True):
    account = create_officer(db, email, STRONG_PASSWORD)
    secret = None
    if with_totp:
        secret = totp.new_secret()
        earlier = utcnow() - timedelta(seconds=90)  # the next login code is a later time step
        assert totp.enable(db, keys, account, secret, pyotp.TOTP(secret).at(earlier), now=earlier)
    db.commit()
    return account, secret


@pytest.fixture
def officer(app, db, keys):
    """A privacy officer with TOTP, logged in through both steps: (portal, account)."""
    account, secret = _officer(db, keys, "officer@example.com")
    portal = Portal(app.test_client())
    first = portal.login(account.email)
    assert first.status_code == 303 and "/login/code" in first.headers["Location"]
    second = portal.post("/login/code", {"code": pyotp.TOTP(secret).now()})
    assert second.status_code == 303 and second.headers["Location"].endswith("/privacy/")
    return portal, account


@dataclass
class World:
    alice: object  # consented on the screen to acme (refusing one scope); acme read her profile
    bob: object    # granted shop 20 days ago, revoked 5 days ago
    carol: object  # granted shop 3 days ago, revoked 30 minutes later
    acme: object
    shop: object
    now: datetime


@pytest.fixture
def world(app, db, keys, customer) -> World:
    now = utcnow()
    alice = customer
    records.write_fields(db, keys, alice, {**PROFILE, "given_name": SECRET_VALUE, "notes": NOTE_VALUE})
    acme, shop = make_vendor(db, name="Acme Books"), make_vendor(db, name="Corner Shop")
    bob = sign_up(db, "bob@example.com", STRONG_PASSWORD)
    carol = sign_up(db, "carol@example.com", STRONG_PASSWORD)
    db.commit()

    # Alice on the real consent screen: everything asked but the phone number; then acme reads.
    flow = Flow(app.test_client(), None, acme)
    flow.portal = Portal(flow.client)
    flow.login(alice.email)
    tokens = flow.tokens(ALL_SCOPES, share=[s for s in ALL_SCOPES if s != REFUSED])
    read = flow.api("/api/v1/me", tokens["access_token"])
    assert read.status_code == 200 and read.get_json()["given_name"] == SECRET_VALUE

    ctx = ctx_for(app)
    for who, granted, revoked in ((bob, now - timedelta(days=20), now - timedelta(days=5)),
                                  (carol, now - timedelta(days=3), now - timedelta(days=3) + timedelta(minutes=30))):
        change = grants.grant(db, ctx, customer=who, app=shop.app, scopes=["profile.name"], now=granted)
        grants.revoke(db, ctx, change.grant, who, now=revoked)

    def reads(vendor, chain, n, start):
        for i in range(n):
            ledger.append(db, type="read", actor=vendor.client_id, actor_role="vendor", chain=chain,
                          vendor_app=vendor.client_id, scopes=["profile.name"], fields=["given_name"],
                          purpose="Send your orders.", details={"endpoint": "me"}, now=start + timedelta(minutes=i))

    reads(acme, alice.public_id, 60, now - timedelta(days=2))    # a jump: 61 this week...
    reads(acme, alice.public_id, 4, now - timedelta(days=20))    # ...against 1 a week before
    reads(shop, bob.public_id, 3, now - timedelta(days=10))      # quiet
    db.commit()
    return World(alice, bob, carol, acme, shop, now)


def body(response) -> str:
    return response.get_data(as_text=True)


def officer_views(db) -> list[LedgerEntry]:
    db.expire_all()
    return list(db.scalars(select(LedgerEntry).where(LedgerEntry.type == "officer_view").order_by(LedgerEntry.id)))


def expected(db, *, chain=None, vendor=None, kind=None, scope=None, start=None, end=None) -> list[int]:
    """The filter, reimplemented over every entry in Python: what the page must list, newest first."""
    db.expire_all()
    rows = [e for e in db.scalars(select(LedgerEntry))
            if (chain is None or e.chain == chain) and (vendor is None or e.vendor_app == vendor)
            and (kind is None or e.type == kind) and (scope is None or scope in e.data["scopes"])
            and (start is None or e.created_at >= start) and (end is None or e.created_at < end)]
    return [e.id for e in sorted(rows, key=lambda e: (e.created_at, e.id), reverse=True)]


def listed(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'href="/privacy/entries/(\d+)"', html)]


def assert_private(world: World, html: str) -> None:
    for value in (SECRET_VALUE, NOTE_VALUE, world.alice.email, "bob@example.com", PROFILE["phones"][0]["number"]):
        assert value not in html


# -- who may enter ----------------------------------------------------------------------------------

PAGES = ("/privacy/", "/privacy/integrity", "/privacy/reports", "/privacy/export.csv", "/privacy/export.json")


def test_anonymous_visitors_are_sent_to_log_in(client):
    for path in PAGES:
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"], path


def test_customers_are_refused(portal, customer, db):
    portal.login(customer.email)
    for path in PAGES:
        assert portal.client.get(path).status_code == 403, path
    assert portal.post("/privacy/integrity/checkpoint", {}, form_path="/me/").status_code == 403
    assert officer_views(db) == []


def test_officers_without_an_authenticator_must_enrol_first(app, db, keys):
    account, _ = _officer(db, keys, "new-officer@example.com", with_totp=False)
    portal = Portal(app.test_client())
    assert portal.login(account.email).status_code == 303
    for path in PAGES:
        response = portal.client.get(path)
        assert response.status_code == 303 and response.headers["Location"].endswith("/security/two-factor"), path
    refused = portal.post("/privacy/integrity/checkpoint", {}, form_path="/security/two-factor")
    assert refused.status_code == 303
    assert db.scalar(select(func.count()).select_from(ledger.Checkpoint)) == 0
    assert officer_views(db) == []


def test_officers_land_on_the_log_and_see_its_links(officer, world):
    portal, _ = officer
    home = portal.client.get("/")
    assert home.status_code == 303 and home.headers["Location"].endswith("/privacy/")
    response = portal.client.get("/privacy/")
    html = body(response)
    assert response.status_code == 200 and "<h1>Consent and access log</h1>" in html
    for link in ('href="/privacy/"', 'href="/privacy/integrity"', 'href="/privacy/reports"'):
        assert link in html


# -- the log ----------------------------------------------------------------------------------------

def test_unfiltered_log_lists_the_newest_entries_and_records_the_view(officer, world, db):
    portal, account = officer
    want = expected(db)[:50]
    html = body(portal.client.get("/privacy/"))
    assert listed(html) == want
    assert_private(world, html)
    views = officer_views(db)
    assert len(views) == 1
    view = views[0].data
    assert (view["chain"], view["actor"], view["actor_role"]) == (ledger.SYSTEM_CHAIN, account.public_id, "officer")
    assert view["details"] == {"view": "log", "shown": 50}
    assert views[0].id not in listed(html)  # the view is recorded after its own query


@pytest.mark.parametrize("case", ["type", "vendor", "scope", "customer", "dates", "combined"])
def test_filters(officer, world, db, case):
    portal, _ = officer
    day = (world.now - timedelta(days=20)).date()
    start = datetime.combine(day, time(), timezone.utc)
    args, want = {
        "type": ({"type": "revoke"}, dict(kind="revoke")),
        "vendor": ({"vendor": world.shop.client_id}, dict(vendor=world.shop.client_id)),
        "scope": ({"scope": "address.shipping"}, dict(scope="address.shipping")),
        "customer": ({"customer": world.bob.public_id}, dict(chain=world.bob.public_id)),
        "dates": ({"from": day.isoformat(), "to": day.isoformat()}, dict(start=start, end=start + timedelta(days=1))),
        "combined": ({"vendor": world.acme.client_id, "type": "read", "scope": "profile.name",
                      "from": day.isoformat(), "to": day.isoformat()},
                     dict(vendor=world.acme.client_id, kind="read", scope="profile.name", start=start,
                          end=start + timedelta(days=1))),
    }[case]
    ids = expected(db, **want)
    assert 0 < len(ids) <= 50
    response = portal.client.get("/privacy/", query_string=args)
    assert response.status_code == 200
    assert listed(body(response)) == ids
    assert_private(world, body(response))
    details = officer_views(db)[-1].data["details"]
    assert details["shown"] == len(ids)
    assert details.get("types", []) == ([args["type"]] if "type" in args else [])
    for arg, key in (("vendor", "vendor_app"), ("scope", "scope"), ("customer", "chain")):
        assert details.get(key) == args.get(arg)
    if "from" in args:
        assert details["from"].startswith(args["from"])


def test_filters_pick_what_they_say(officer, world, db):
    portal, _ = officer
    html = body(portal.client.get("/privacy/", query_string={"scope": REFUSED}))
    assert listed(html) == []  # alice refused the phone scope: no entry carries it
    assert "No entries match this filter." in html
    revokes = listed(body(portal.client.get("/privacy/", query_string={"type": "revoke"})))
    db.expire_all()
    assert {db.get(LedgerEntry, i).chain for i in revokes} == {world.bob.public_id, world.carol.public_id}


def test_a_view_of_one_customer_is_recorded_on_their_chain(officer, world, db):
    portal, account = officer
    portal.client.get("/privacy/", query_string={"customer": world.bob.public_id})
    view = officer_views(db)[-1]
    assert view.chain == world.bob.public_id and view.actor == account.public_id
    assert view.data["details"]["chain"] == world.bob.public_id
    # ...so Bob sees it in his own activity, and his chain still verifies
    assert ledger.verify(db, chain=world.bob.public_id).ok
    # an id that matches no chain is not created: the view goes to the system chain
    portal.client.get("/privacy/", query_string={"customer": "c_nobodyHasThisId"})
    view = officer_views(db)[-1]
    assert view.chain == ledger.SYSTEM_CHAIN and view.data["details"]["chain"] == "c_nobodyHasThisId"
    assert db.scalar(select(ledger.LedgerHead).where(ledger.LedgerHead.chain == "c_nobodyHasThisId")) is None


@pytest.mark.parametrize("args, field, message", [
    ({"customer": "bob@example.com"}, "customer", "Names and email addresses are not searchable here."),
    ({"customer": "+447700900123"}, "customer", "Names and email addresses are not searchable here."),
    ({"type": "delete"}, "type", "Choose a kind of entry from the list."),
    ({"vendor": "vv_app_unknown"}, "vendor", "Choose a vendor app from the list."),
    ({"scope": "profile.ssn"}, "scope", "Choose a scope from the list."),
    ({"from": "yesterday"}, "from", "Enter a date as year-month-day"),
    ({"from": "2026-03-10", "to": "2026-03-01"}, "to", "The end date must not be before the start date."),
    ({"to": "9999-12-31"}, "to", "Enter a date between 1970-01-01 and 9998-12-31."),
    ({"from": "0001-01-01"}, "from", "Enter a date between 1970-01-01 and 9998-12-31."),
])
def test_bad_filters_are_refused_with_a_message_and_nothing_recorded(officer, world, db, args, field, message):
    portal, _ = officer
    before = db.scalar(select(func.count()).select_from(LedgerEntry))
    response = portal.client.get("/privacy/", query_string=args)
    html = body(response)
    assert response.status_code == 422
    assert f'id="{field}-error"' in html and message in html and 'aria-invalid="true"' in html
    assert listed(html) == []
    db.expire_all()
    assert db.scalar(select(func.count()).select_from(LedgerEntry)) == before
    assert portal.client.get("/privacy/export.csv", query_string=args).status_code == 400


def test_paging_walks_older_and_back_keeping_the_filter(officer, world, db):
    portal, _ = officer
    ids = expected(db, vendor=world.acme.client_id)
    assert len(ids) == 66  # grant, the API read, 64 appended reads
    first = body(portal.client.get("/privacy/", query_string={"vendor": world.acme.client_id}))
    assert listed(first) == ids[:50]
    assert "Newer entries" not in first
    older = re.search(r'href="(/privacy/\?[^"]*before=\d+[^"]*)"', first).group(1).replace("&amp;", "&")
    assert f"vendor={world.acme.client_id}" in older
    second = body(portal.client.get(older))
    assert listed(second) == ids[50:]
    assert "Older entries" not in second
    newer = re.search(r'href="(/privacy/\?[^"]*after=\d+[^"]*)"', second).group(1).replace("&amp;", "&")
    assert f"vendor={world.acme.client_id}" in newer
    assert listed(body(portal.client.get(newer))) == ids[:50]
    assert [v.data["details"].get("before") for v in officer_views(db)] == [None, ids[49], None]


def test_entry_detail_shows_every_recorded_field(officer, world, db):
    portal, _ = officer
    entry = db.scalar(select(LedgerEntry).where(LedgerEntry.chain == world.alice.public_id,
                                                LedgerEntry.type == "grant"))
    response = portal.client.get(f"/privacy/entries/{entry.id}")
    html = body(response)
    assert response.status_code == 200
    for text_ in (entry.chain, entry.entry_hash, entry.prev_hash, entry.actor, world.acme.client_id,
                  "address.shipping", "address_shipping", entry.data["details"]["grant"], "This chain verifies"):
        assert text_ in html, text_
    assert f"<dd>{entry.seq}</dd>" in html
    assert REFUSED not in entry.data["scopes"]
    assert_private(world, html)
    view = officer_views(db)[-1]
    assert view.chain == world.alice.public_id
    assert view.data["details"] == {"view": "entry", "entry": entry.id, "entry_chain": entry.chain, "seq": entry.seq}
    assert portal.client.get("/privacy/entries/999999999").status_code == 404


# -- exports -----------------------------------------------------------------------------------------

def test_csv_export_holds_the_filtered_set(officer, world, db):
    portal, _ = officer
    ids = expected(db, vendor=world.shop.client_id)
    response = portal.client.get("/privacy/export.csv", query_string={"vendor": world.shop.client_id})
    assert response.status_code == 200 and response.mimetype == "text/csv"
    day = utcnow().date().isoformat()
    assert response.headers["Content-Disposition"] == f'attachment; filename="vrm-ledger-{day}.csv"'
    content = body(response)
    rows = list(csv.DictReader(io.StringIO(content)))
    assert [int(r["id"]) for r in rows] == ids
    assert {r["vendor_app"] for r in rows} == {world.shop.client_id}
    assert {r["type"] for r in rows} == {"grant", "revoke", "read"}
    db.expire_all()
    first = db.get(LedgerEntry, ids[0])
    assert rows[0]["entry_hash"] == first.entry_hash and rows[0]["prev_hash"] == first.prev_hash
    assert rows[0]["scopes"] == " ".join(first.data["scopes"]) and rows[0]["fields"] == " ".join(first.data["fields"])
    assert json.loads(rows[0]["details"]) == first.data["details"]
    assert_private(world, content)
    view = officer_views(db)[-1]
    assert view.data["details"] == {"view": "export", "vendor_app": world.shop.client_id, "format": "csv"}


def test_json_export_holds_the_filtered_set_and_not_its_own_view(officer, world, db):
    portal, _ = officer
    ids = expected(db)  # everything so far
    response = portal.client.get("/privacy/export.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert re.fullmatch(r'attachment; filename="vrm-ledger-\d{4}-\d{2}-\d{2}\.json"',
                        response.headers["Content-Disposition"])
    document = json.loads(body(response))
    assert [e["id"] for e in document["entries"]] == ids  # the export's own officer_view is not in it
    assert document["filter"]["types"] == []
    some = document["entries"][0]
    assert set(some) == {"id", "chain", "seq", "at", "type", "actor", "actor_role", "vendor_app", "scopes",
                         "fields", "purpose", "details", "prev_hash", "entry_hash"}
    assert_private(world, body(response))
    assert len(officer_views(db)) == 1


def test_export_by_type_and_dates(officer, world, db):
    portal, _ = officer
    day = (world.now - timedelta(days=3)).date()
    start = datetime.combine(day, time(), timezone.utc)
    ids = expected(db, kind="revoke", start=start, end=start + timedelta(days=1))
    assert len(ids) == 1  # carol's
    response = portal.client.get("/privacy/export.json",
                                 query_string={"type": "revoke", "from": day.isoformat(), "to": day.isoformat()})
    entries = json.loads(body(response))["entries"]
    assert [e["id"] for e in entries] == ids and entries[0]["chain"] == world.carol.public_id


# -- integrity ---------------------------------------------------------------------------------------

def test_integrity_page_reports_an_intact_ledger_and_signs_checkpoints(officer, world, db, app):
    portal, _ = officer
    html = body(portal.client.get("/privacy/integrity"))
    total = db.scalar(select(func.count()).select_from(LedgerEntry)) - 1  # less the view itself
    chains = db.scalar(select(func.count()).select_from(ledger.LedgerHead)) - 1  # the view started "system"
    assert f"The ledger verifies: {total} entries in {chains} chains" in html
    assert "No checkpoint has been signed yet." in html and "no signed checkpoint to check yet" in html
    assert officer_views(db)[-1].data["details"] == {"view": "integrity", "ok": True, "entries_checked": total,
                                                     "chains": chains, "checkpoints_checked": 0}
    signed = portal.post("/privacy/integrity/checkpoint", {}, form_path="/privacy/integrity")
    assert signed.status_code == 303 and signed.headers["Location"].endswith("/privacy/integrity")
    cp = db.scalar(select(ledger.Checkpoint))
    assert cp is not None and len(cp.heads) == chains + 1
    html = body(portal.client.get("/privacy/integrity"))
    assert f"Checkpoint {cp.id} signed over {len(cp.heads)} chain heads." in html
    assert "1 checkpoint verifies: every chain head it signed" in html and cp.kid in html and ">verified<" in html
    assert f"<dd>{len(cp.heads)} (" in html
    # (the second "integrity" is the page the form's CSRF token was taken from)
    assert [v.data["details"]["view"] for v in officer_views(db)] == ["integrity", "integrity", "checkpoint_signed",
                                                                       "integrity"]


def test_checkpoint_needs_a_csrf_token(officer, world, db):
    portal, _ = officer
    assert portal.client.post("/privacy/integrity/checkpoint").status_code == 400
    assert db.scalar(select(func.count()).select_from(ledger.Checkpoint)) == 0


def test_integrity_page_names_the_first_problem_after_tampering(officer, world, db):
    portal, _ = officer
    unguard(db)
    db.execute(text("UPDATE ledger_entries SET vendor_app = :v WHERE chain = :c AND seq = 1"),
               {"v": world.acme.client_id, "c": world.bob.public_id})
    db.commit()
    response = portal.client.get("/privacy/integrity")
    html = body(response)
    assert response.status_code == 200
    assert "The ledger does not verify." in html
    assert f"Entry 1 of chain {world.bob.public_id} was changed after it was written." in html
    assert officer_views(db)[-1].data["details"]["ok"] is False


def test_integrity_page_finds_a_rewound_chain_through_the_checkpoint(officer, world, db):
    portal, _ = officer
    portal.post("/privacy/integrity/checkpoint", {}, form_path="/privacy/integrity")
    unguard(db)
    chain = world.carol.public_id
    second = db.scalar(select(LedgerEntry).where(LedgerEntry.chain == chain, LedgerEntry.seq == 1))
    db.execute(text("DELETE FROM ledger_entries WHERE chain = :c AND seq = 2"), {"c": chain})
    db.execute(text("UPDATE ledger_heads SET seq = 1, head_hash = :h WHERE chain = :c"),
               {"h": second.entry_hash, "c": chain})
    db.commit()
    html = body(portal.client.get("/privacy/integrity"))
    assert "A signed checkpoint does not match the ledger." in html
    assert f"Entry 2 of chain {chain} is missing: it was deleted. Found through signed checkpoint" in html


# -- reports ------------------------------------------------------------------------------------------

def _row(html: str, *cells) -> bool:
    pattern = r"<tr[^>]*>\s*" + r"\s*".join(rf"<td[^>]*>(?:<code>)?{re.escape(str(c))}(?:</code>)?</td>" for c in cells)
    return re.search(pattern, html) is not None


def test_reports_draw_accessible_charts_with_their_tables(officer, world, db):
    portal, _ = officer
    response = portal.client.get("/privacy/reports")
    html = body(response)
    assert response.status_code == 200
    svgs = re.findall(r"<svg [^>]*>.*?</svg>", html, re.S)
    assert len(svgs) == 7
    for svg in svgs:
        assert 'role="img"' in svg and 'aria-label="' in svg and "<title>" in svg and "<desc" in svg
    assert "style=" not in html and "<script" not in html.split("</head>")[1]
    assert html.count("<table>") == 8
    assert_private(world, html)
    acme, shop = world.acme.app.name, world.shop.app.name
    # grants and revocations per vendor (alice's grant to acme; bob's and carol's to shop, both revoked)
    assert _row(html, acme, 1, 0) and _row(html, shop, 2, 2)
    # scopes: each requested once, the phone refused once
    assert _row(html, REFUSED, 1, 1, "100%") and _row(html, "profile.email", 1, 0, "0%")
    assert _row(html, REFUSED, 1, 1)  # most refused table
    # grant to revocation: carol after 30 minutes, bob after 15 days
    assert _row(html, "Under an hour", 1) and _row(html, "Under 30 days", 1) and _row(html, "Under a day", 0)
    # reads: acme 61 this week against 1 a week before -> flagged; shop quiet
    assert re.search(rf'<tr class="flagged"><td>{re.escape(acme)}</td><td class="num">61</td>\s*'
                     r'<td class="num">1</td>\s*<td class="num">61</td>', html)
    assert _row(html, shop, 0, 0.8)
    assert officer_views(db)[-1].data["details"]["view"] == "reports"


def test_reports_range_and_its_errors(officer, world, db):
    portal, _ = officer
    day = (world.now - timedelta(days=4)).date().isoformat()
    html = body(portal.client.get("/privacy/reports", query_string={"from": day}))
    assert _row(html, world.shop.app.name, 1, 1)  # only carol's grant and revocation
    assert _row(html, "Under an hour", 1) and _row(html, "Under 30 days", 0)
    before = len(officer_views(db))
    bad = portal.client.get("/privacy/reports", query_string={"from": "soon"})
    assert bad.status_code == 422 and 'id="from-error"' in body(bad) and "<svg" not in body(bad)
    for edge in ({"from": "0001-01-01", "to": "0001-01-02"}, {"to": "9999-12-31"}):  # were 500s
        bad = portal.client.get("/privacy/reports", query_string=edge)
        assert bad.status_code == 422 and "Enter a date between 1970-01-01 and 9998-12-31." in body(bad)
    assert len(officer_views(db)) == before


@pytest.mark.parametrize("args", [{"before": "9" * 23}, {"after": "-" + "9" * 20}, {"before": "9223372036854775808"},
                                  {"before": "²"}])
def test_a_cursor_no_row_can_have_is_the_first_page(officer, world, db, args):
    portal, _ = officer
    ids = expected(db)
    response = portal.client.get("/privacy/", query_string=args)
    assert response.status_code == 200
    assert listed(body(response)) == ids[:50]


def test_an_entry_id_no_row_can_have_is_not_found(officer, world):
    portal, _ = officer
    assert portal.client.get(f"/privacy/entries/{'9' * 23}").status_code == 404
    assert portal.client.get(f"/privacy/entries/{2**63}").status_code == 404


def test_reports_show_service_cases_and_overdue_deletion_confirmations(officer, world, app, db, keys):
    from consent import cases
    portal, _ = officer
    # bob's revocation (5 days ago) is not overdue yet; dave's, 40 days ago, is
    dave = sign_up(db, "dave@example.com", STRONG_PASSWORD)
    ctx = ctx_for(app)
    change = grants.grant(db, ctx, customer=dave, app=world.shop.app, scopes=["profile.name"],
                          now=world.now - timedelta(days=60))
    grants.revoke(db, ctx, change.grant, dave, now=world.now - timedelta(days=40))
    # erin opens two cases with a repair shop: one answered in 2 hours and resolved, one left late
    fixit = make_vendor(db, name="Fix-It", scopes=["profile.name", "cases.read", "cases.write"])
    erin = sign_up(db, "erin@example.com", STRONG_PASSWORD)
    start = world.now - timedelta(days=5)
    grants.grant(db, ctx, customer=erin, app=fixit.app, scopes=["cases.read", "cases.write"], now=start)
    cases.set_targets(db, fixit.app, first_response_hours=4, resolution_hours=48, escalation_email=None)
    quick = cases.open_case(db, keys, erin, fixit.app, category="question", description="When?", now=start)
    cases.open_case(db, keys, erin, fixit.app, category="repair", description="Broken.", now=start)
    cases.vendor_reply(db, keys, quick, "Tomorrow.", status="resolved", now=start + timedelta(hours=2))
    cases.escalate_due(db, now=world.now)
    db.commit()

    html = body(portal.client.get("/privacy/reports"))
    assert _row(html, fixit.app.name, 2, 2, 1, "100%", 1, 1)
    assert dave.public_id in html and bob_not_listed(html, world)
    assert "consent.revoked" in html
    assert "When?" not in html and "Broken." not in html  # officers never see the thread


def bob_not_listed(html: str, world) -> bool:
    section = html.split('id="deletions-heading"')[1]
    return world.bob.public_id not in section


@pytest.mark.parametrize("language", ["en", "ar"])
def test_officer_pages_pass_the_accessibility_audit(officer, world, db, language):
    portal, _ = officer
    entry_id = expected(db)[0]
    for path in ("/privacy/", f"/privacy/entries/{entry_id}", "/privacy/integrity", "/privacy/reports",
                 "/privacy/?customer=nope"):
        response = portal.client.get(path, headers={"Accept-Language": language})
        assert problems(body(response)) == [], path


# -- charts -------------------------------------------------------------------------------------------

def _luminance(colour: str) -> float:
    def channel(c: int) -> float:
        c /= 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4
    r, g, b = (int(colour[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def test_chart_colours_contrast_with_white():
    from web.privacy.charts import PALETTE
    for colour in PALETTE:
        assert (1.05) / (_luminance(colour) + 0.05) >= 4.5, colour


def test_charts_escape_their_text_and_draw_every_value():
    from web.privacy.charts import Series, bar_chart, line_chart
    bars = str(bar_chart("c1", 'Apps <"&>', "d", ["<script>alert(1)</script>", "B"],
                         [Series("n", [3, 0]), Series("m", [1, 7])]))
    assert "<script>" not in bars and "&lt;script&gt;" in bars and 'aria-label="Apps &lt;&#34;&amp;&gt;"' in bars
    assert bars.count("<rect") == 4 + 2  # four bars and two legend keys
    assert "style=" not in bars
    line = str(line_chart("c2", "T", "d", ["w1", "w2", "w3"], [Series("a", [0, 5, 2])]))
    assert line.count("<circle") == 3 and "<polyline" in line and 'role="img"' in line
    empty = str(bar_chart("c3", "T", "d", [], [Series("a", [])]))
    assert empty.startswith("<svg") and empty.endswith("</svg>")
