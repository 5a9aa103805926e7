"""Contact permission: the customer's channels, quiet hours in their own time zone (across midnight
and daylight-saving changes), the weekly cap counted from reported contacts, and the consent it all
needs -- exact at every boundary, on a clock the test controls."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from consent import contact, grants, ledger
from tests.vendor_api.conftest import ctx_for, make_vendor, recorded_statements, touched_before_the_chain
from vault import clock as vault_clock
from vault import records
from vault.accounts import sign_up
from vendor_api import tokens

UTC = timezone.utc
SCOPES = ["profile.name", "preferences.communication"]
START = datetime(2026, 1, 10, 9, 0, tzinfo=UTC)  # when the customers connect; every instant below is later
RIYADH = {"start": "22:00", "end": "07:00", "timezone": "Asia/Riyadh"}  # UTC+3 all year
LOS_ANGELES = {"start": "22:00", "end": "07:00", "timezone": "America/Los_Angeles"}  # UTC-8, UTC-7 from 8 March


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# --- the rules alone ------------------------------------------------------------------------------

@pytest.mark.parametrize("moment, quiet, until", [
    # Riyadh 22:00-07:00 is 19:00-04:00 UTC
    ("2026-01-15T18:59:59", False, None),
    ("2026-01-15T19:00:00", True, "2026-01-16T04:00:00"),
    ("2026-01-15T23:30:00", True, "2026-01-16T04:00:00"),  # Riyadh 02:30, after midnight there
    ("2026-01-16T03:59:59", True, "2026-01-16T04:00:00"),
    ("2026-01-16T04:00:00", False, None),
])
def test_quiet_hours_in_riyadh_across_midnight(moment, quiet, until):
    answer = contact.evaluate({"channels": ["sms"], "quiet_hours": RIYADH}, "sms", at(moment), [])
    assert answer.allowed is not quiet
    assert answer.reason == ("quiet_hours" if quiet else None)
    assert answer.until == (at(until) if until else None)


@pytest.mark.parametrize("moment, quiet, until", [
    # winter, PST: 22:00-07:00 is 06:00-15:00 UTC
    ("2026-01-15T05:59:59", False, None),
    ("2026-01-15T06:00:00", True, "2026-01-15T15:00:00"),
    ("2026-01-15T14:59:59", True, "2026-01-15T15:00:00"),
    ("2026-01-15T15:00:00", False, None),
    # summer, PDT: 22:00-07:00 is 05:00-14:00 UTC
    ("2026-07-01T04:59:59", False, None),
    ("2026-07-01T05:00:00", True, "2026-07-01T14:00:00"),
    ("2026-07-01T14:00:00", False, None),
    # the night clocks go forward (8 March 2026): starts 22:00 PST, ends 07:00 PDT -- 8 hours, not 9
    ("2026-03-08T06:00:00", True, "2026-03-08T14:00:00"),
    ("2026-03-08T13:59:59", True, "2026-03-08T14:00:00"),
    ("2026-03-08T14:00:00", False, None),
])
def test_quiet_hours_in_los_angeles_through_the_seasons(moment, quiet, until):
    answer = contact.evaluate({"channels": ["email"], "quiet_hours": LOS_ANGELES}, "email", at(moment), [])
    assert (answer.allowed, answer.until) == (not quiet, at(until) if until else None)


def test_one_instant_is_night_in_riyadh_and_noon_in_los_angeles():
    moment = at("2026-01-15T20:00:00")  # 23:00 in Riyadh, 12:00 in Los Angeles
    assert contact.evaluate({"channels": ["sms"], "quiet_hours": RIYADH}, "sms", moment, []).reason == "quiet_hours"
    assert contact.evaluate({"channels": ["sms"], "quiet_hours": LOS_ANGELES}, "sms", moment, []).allowed


def test_a_window_inside_one_day():
    prefs = {"channels": ["phone"], "quiet_hours": {"start": "12:00", "end": "14:00", "timezone": "Asia/Riyadh"}}
    assert contact.evaluate(prefs, "phone", at("2026-01-15T08:59:59"), []).allowed
    assert contact.evaluate(prefs, "phone", at("2026-01-15T09:00:00"), []).until == at("2026-01-15T11:00:00")
    assert contact.evaluate(prefs, "phone", at("2026-01-15T11:00:00"), []).allowed


def test_channels_come_first_and_none_chosen_means_none_accepted():
    assert contact.evaluate({}, "email", START, []).reason == "channel_not_allowed"
    prefs = {"channels": ["email"], "quiet_hours": RIYADH, "max_contacts_per_week": 0}
    assert contact.evaluate(prefs, "post", at("2026-01-15T20:00:00"), []).reason == "channel_not_allowed"
    assert contact.evaluate(prefs, "email", at("2026-01-15T20:00:00"), []).reason == "quiet_hours"
    assert contact.evaluate(prefs, "email", at("2026-01-15T12:00:00"), []).reason == "weekly_cap_reached"


def test_the_weekly_cap_counts_a_rolling_seven_days():
    now = at("2026-01-20T12:00:00")
    sent = [now - timedelta(days=7), now - timedelta(days=6, hours=23), now - timedelta(hours=1)]
    prefs = {"channels": ["sms"], "max_contacts_per_week": 2}
    answer = contact.evaluate(prefs, "sms", now, sent)  # exactly 7 days ago no longer counts: 2 in the window
    assert answer.reason == "weekly_cap_reached" and answer.until == sent[1] + timedelta(days=7)
    assert contact.evaluate(prefs, "sms", answer.until, sent).allowed
    assert contact.evaluate({**prefs, "max_contacts_per_week": 3}, "sms", now, sent).allowed


# --- through the API, on a clock the test sets ----------------------------------------------------

class FixedClock:
    def __init__(self):
        self.now_value = START

    def now(self):
        return self.now_value


@pytest.fixture
def fixed(monkeypatch) -> FixedClock:
    fake = FixedClock()
    monkeypatch.setattr(vault_clock, "utcnow", fake.now)
    return fake


@pytest.fixture
def shop(db):
    return make_vendor(db, name="Date Palm Deli", scopes=SCOPES + ["preferences.interests"])


class Customer:
    """A customer connected to the shop at START, whose tokens are issued at the clock's time."""

    def __init__(self, app, db, client, fixed, account, shop, scopes=SCOPES):
        self.db, self.client, self.fixed, self.account, self.shop = db, client, fixed, account, shop
        self.grant = grants.grant(db, ctx_for(app), customer=account, app=shop.app, scopes=scopes, now=START).grant
        db.commit()

    def token(self, scope=None) -> str:
        issued = tokens.issue(self.db, app_id=self.shop.app.id, scope=" ".join(scope or self.grant.scopes),
                              grant_type="authorization_code", grant=self.grant, now=self.fixed.now())
        self.db.commit()
        return issued.access_token

    def ask(self, channel: str, when: str | datetime | None = None, **kwargs):
        if when is not None:
            self.fixed.now_value = at(when) if isinstance(when, str) else when
        response = self.client.get("/api/v1/me/contact-permission", query_string={"channel": channel},
                                   headers={"Authorization": f"Bearer {self.token(**kwargs)}"})
        assert response.status_code == 200, response.get_data(as_text=True)
        return response.get_json()

    def report(self, channel: str, at_: str | None = None, **kwargs):
        body = {"channel": channel, **({"at": at_} if at_ else {})}
        return self.client.post("/api/v1/me/contacts", json=body,
                                headers={"Authorization": f"Bearer {self.token(**kwargs)}"})


def make_customer(app, db, keys, client, fixed, shop, email, prefs, scopes=SCOPES) -> Customer:
    account = sign_up(db, email, "correct horse battery staple")
    records.write_fields(db, keys, account, prefs)
    db.commit()
    return Customer(app, db, client, fixed, account, shop, scopes)


@pytest.fixture
def riyadh(app, db, keys, client, fixed, shop) -> Customer:
    return make_customer(app, db, keys, client, fixed, shop, "noura@example.com",
                         {"channels": ["email", "sms"], "preferred_channel": "sms", "quiet_hours": RIYADH,
                          "max_contacts_per_week": 2})


@pytest.fixture
def los_angeles(app, db, keys, client, fixed, shop) -> Customer:
    return make_customer(app, db, keys, client, fixed, shop, "dana@example.com",
                         {"channels": ["email", "phone"], "quiet_hours": LOS_ANGELES})


def test_the_api_answers_at_the_quiet_hour_boundaries_of_each_customer(riyadh, los_angeles):
    assert riyadh.ask("sms", "2026-01-15T18:59:59")["allowed"] is True
    night = riyadh.ask("sms", "2026-01-15T19:00:00")
    assert night["allowed"] is False and night["reason"]["code"] == "quiet_hours"
    assert night["reason"]["message"] and datetime.fromisoformat(night["until"]) == at("2026-01-16T04:00:00")
    assert los_angeles.ask("email")["allowed"] is True  # the same instant is 11:00 in Los Angeles
    assert riyadh.ask("sms", "2026-01-16T03:59:59")["reason"]["code"] == "quiet_hours"
    assert riyadh.ask("sms", "2026-01-16T04:00:00") == {"channel": "sms", "allowed": True, "reason": None,
                                                         "until": None}
    assert los_angeles.ask("email", "2026-03-08T13:59:59")["reason"]["code"] == "quiet_hours"
    assert los_angeles.ask("email", "2026-03-08T14:00:00")["allowed"] is True


def test_a_channel_the_customer_did_not_choose_is_refused(riyadh, los_angeles):
    assert riyadh.ask("post", "2026-01-15T12:00:00")["reason"]["code"] == "channel_not_allowed"
    assert los_angeles.ask("sms")["reason"]["code"] == "channel_not_allowed"
    assert riyadh.ask("chat")["reason"]["code"] == "channel_not_allowed"


def test_reported_contacts_fill_the_weekly_cap_for_this_vendor_only(app, db, riyadh, shop, fixed):
    fixed.now_value = at("2026-01-15T08:00:00")
    first = riyadh.report("sms", "2026-01-15T07:30:00Z")
    assert first.status_code == 201 and first.get_json()["contacts_last_7_days"] == 1
    assert riyadh.ask("email")["allowed"] is True
    assert riyadh.report("email").get_json()["contacts_last_7_days"] == 2
    full = riyadh.ask("sms")
    assert full["reason"]["code"] == "weekly_cap_reached"
    assert datetime.fromisoformat(full["until"]) == at("2026-01-22T07:30:00")
    # another vendor's contacts are its own business: its count starts at zero
    other = make_vendor(db, name="Other Deli", scopes=SCOPES)
    elsewhere = Customer(app, db, riyadh.client, fixed, riyadh.account, other)
    assert elsewhere.ask("sms")["allowed"] is True
    # a week after the first contact, one slot frees up -- outside quiet hours
    assert riyadh.ask("sms", "2026-01-22T07:29:59")["reason"]["code"] == "weekly_cap_reached"
    assert riyadh.ask("sms", "2026-01-22T07:30:00")["allowed"] is True


def test_without_preferences_communication_the_answer_is_no_and_reports_are_refused(riyadh):
    fixed_answer = riyadh.ask("email", "2026-01-15T12:00:00", scope=["profile.name"])
    assert fixed_answer["allowed"] is False and fixed_answer["reason"]["code"] == "scope_missing"
    refused = riyadh.report("email", scope=["profile.name"])
    assert refused.status_code == 403 and 'error="insufficient_scope"' in refused.headers["WWW-Authenticate"]


def test_a_grant_narrowed_away_from_communication_says_scope_missing(app, db, riyadh):
    grants.narrow(db, ctx_for(app), riyadh.grant, riyadh.account, scopes=["profile.name"], now=START)
    db.commit()
    assert riyadh.ask("email", "2026-01-15T12:00:00")["reason"]["code"] == "scope_missing"


def test_bad_requests_are_422_problems(riyadh, fixed):
    fixed.now_value = at("2026-01-15T12:00:00")
    headers = {"Authorization": f"Bearer {riyadh.token()}"}
    assert riyadh.client.get("/api/v1/me/contact-permission", headers=headers).status_code == 422
    bad = riyadh.client.get("/api/v1/me/contact-permission?channel=pigeon", headers=headers)
    assert bad.status_code == 422 and bad.mimetype == "application/problem+json"
    assert riyadh.report("email", "2026-01-15T12:00:00").status_code == 422  # no time zone
    assert riyadh.report("fax").status_code == 422
    assert riyadh.client.get("/api/v1/me/contact-permission?channel=sms").status_code == 401


def test_a_contact_reported_ahead_of_our_clock_counts_as_now_and_an_old_one_never_counts(riyadh, fixed):
    fixed.now_value = at("2026-01-15T12:00:00")
    ahead = riyadh.report("email", "2026-01-16T12:00:00Z")
    assert ahead.status_code == 201 and datetime.fromisoformat(ahead.get_json()["at"]) == at("2026-01-15T12:00:00")
    old = riyadh.report("email", "2025-11-01T12:00:00+03:00")
    assert old.status_code == 201 and old.get_json()["contacts_last_7_days"] == 1
    assert riyadh.ask("email")["allowed"] is True  # cap 2: the old one is outside the week


def test_asking_and_reporting_are_on_the_ledger_without_values(db, riyadh, shop):
    riyadh.ask("sms", "2026-01-15T20:00:00")
    riyadh.report("email")
    entries = [e for e in ledger.iter_chain(db, riyadh.account.public_id) if e.vendor_app == shop.client_id]
    asked, reported = entries[-2], entries[-1]
    assert asked.type == "read" and asked.data["fields"] == ["channels", "max_contacts_per_week", "quiet_hours"]
    assert asked.data["details"]["channel"] == "sms" and asked.data["details"]["reason"] == "quiet_hours"
    assert reported.type == "write" and reported.data["fields"] == ["contacts"]
    for entry in entries:
        assert b"Asia/Riyadh" not in bytes(entry.canonical) and b"22:00" not in bytes(entry.canonical)
    assert [c.channel for c in contact.contacts_for_customer(db, riyadh.account.id)] == ["email"]


def test_asking_and_reporting_note_the_grants_last_access_like_every_read(app, db, client, riyadh, fixed):
    from consent.models import Grant
    fixed.now_value = at("2026-01-15T12:00:00")
    token = riyadh.token()
    auth = {"Authorization": f"Bearer {token}"}
    with recorded_statements(app) as asked:
        assert client.get("/api/v1/me/contact-permission", query_string={"channel": "sms"},
                          headers=auth).status_code == 200
    assert touched_before_the_chain(asked)
    db.expire_all()
    assert db.get(Grant, riyadh.grant.id).last_access_at == fixed.now_value
    fixed.now_value += timedelta(minutes=1)  # within the 5-minute granularity: the write is skipped
    with recorded_statements(app) as soon:
        assert client.post("/api/v1/me/contacts", json={"channel": "email"}, headers=auth).status_code == 201
    assert not [s for s in soon if s.lstrip().upper().startswith("UPDATE GRANTS")]
    fixed.now_value += timedelta(minutes=5)
    with recorded_statements(app) as later:
        assert client.post("/api/v1/me/contacts", json={"channel": "email"}, headers=auth).status_code == 201
    assert touched_before_the_chain(later)
    db.expire_all()
    assert db.get(Grant, riyadh.grant.id).last_access_at == fixed.now_value


def test_a_contact_time_outside_what_can_be_recorded_is_422(riyadh):
    for when in ("0001-01-01T00:00:00+05:00", "9999-12-31T23:59:59-05:00"):
        response = riyadh.report("email", when)
        assert response.status_code == 422, response.get_data(as_text=True)
        assert "at" in response.json["errors"]["json"]
