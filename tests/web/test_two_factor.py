"""TOTP: enrolment, login with a second step, no replay, required for officers."""
import re
import time

import pyotp
import pytest

from tests.conftest import STRONG_PASSWORD, Portal
from vault import totp
from vault.accounts import create_officer
from vault.clock import utcnow


def _enrol(portal) -> str:
    page = portal.client.get("/security/two-factor").get_data(as_text=True)
    secret = re.search(r'<code class="secret">([A-Z2-7]+)</code>', page).group(1)
    assert 'src="data:image/svg+xml' in page
    response = portal.post("/security/two-factor", {"code": pyotp.TOTP(secret).now()})
    assert response.status_code == 303
    return secret


def test_enrol_then_login_needs_the_code(app, portal, customer, db):
    portal.login(customer.email)
    secret = _enrol(portal)
    db.expire_all()
    assert db.get(type(customer), customer.id).totp_secret is not None
    assert secret.encode() not in db.get(type(customer), customer.id).totp_secret  # sealed, not plain
    portal.logout()
    fresh = Portal(app.test_client())
    step_one = fresh.login(customer.email)
    assert step_one.status_code == 303 and "/login/code" in step_one.headers["Location"]
    assert fresh.client.get("/me/").status_code == 302  # the password alone opens nothing
    wrong = fresh.post("/login/code", {"code": "000000"})
    assert wrong.status_code == 401
    # the enrolment code's time step is spent; the app's next code is within the allowed drift
    right = fresh.post("/login/code", {"code": pyotp.TOTP(secret).at(time.time() + 30)})
    assert right.status_code == 303 and fresh.client.get("/me/").status_code == 200


def test_a_code_cannot_be_replayed(db, keys, customer):
    secret = totp.new_secret()
    now = utcnow()
    assert totp.enable(db, keys, customer, secret, pyotp.TOTP(secret).at(now), now=now)
    later = now.replace(microsecond=0)
    code = pyotp.TOTP(secret).at(int(later.timestamp()) + 30)
    from datetime import timedelta
    assert totp.verify(db, keys, customer, code, now=later + timedelta(seconds=30))
    assert not totp.verify(db, keys, customer, code, now=later + timedelta(seconds=31))


def test_enrolment_with_a_wrong_code_stores_nothing(portal, customer, db):
    portal.login(customer.email)
    portal.client.get("/security/two-factor")
    response = portal.post("/security/two-factor", {"code": "123456"})
    assert response.status_code == 422
    db.expire_all()
    assert db.get(type(customer), customer.id).totp_secret is None


@pytest.fixture
def officer(db):
    account = create_officer(db, "po@example.com", STRONG_PASSWORD)
    db.commit()
    return account


def test_officers_cannot_turn_two_factor_off(portal, officer):
    portal.login(officer.email)
    secret = _enrol(portal)
    response = portal.post("/security/two-factor",
                           {"action": "disable", "code": pyotp.TOTP(secret).at(time.time() + 30)})
    assert response.status_code == 422 and "cannot turn" in response.get_data(as_text=True)
