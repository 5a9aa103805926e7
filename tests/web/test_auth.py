"""Sign-up, login, logout, CSRF, throttling and messages that reveal nothing (SECURITY.md 19-21)."""
import re

from sqlalchemy import select

from tests.conftest import STRONG_PASSWORD, Portal, lookup
from vault.accounts import LOGIN_FAILED
from vault.models import Account, LoginSession


def test_signup_logs_in_and_stores_an_argon2id_hash(portal, db):
    response = portal.signup("New.Person@Example.com")
    assert response.status_code == 303 and response.headers["Location"].endswith("/me/profile")
    account = db.scalar(select(Account).where(Account.email_lookup == lookup(db, "new.person@example.com")))
    assert account.role == "customer"
    assert account.password_hash.startswith("$argon2id$") and STRONG_PASSWORD not in account.password_hash
    assert portal.client.get("/me/").status_code == 200


def test_signup_refuses_short_and_common_passwords_with_field_messages(portal, db):
    short = portal.post("/signup", {"email": "a@example.com", "password": "short", "password_confirm": "short"})
    assert short.status_code == 422 and "at least 12 characters" in short.get_data(as_text=True)
    common = portal.post("/signup", {"email": "a@example.com", "password": "password1234",
                                     "password_confirm": "password1234"})
    assert common.status_code == 422 and "too common" in common.get_data(as_text=True)
    assert db.scalar(select(Account).where(Account.email_lookup == lookup(db, "a@example.com"))) is None


def test_signup_with_a_taken_email_does_not_crash(portal, customer):
    response = portal.signup(customer.email)
    assert response.status_code == 422
    assert "cannot be created" in response.get_data(as_text=True)


def test_login_and_logout_end_the_server_side_session(portal, customer, db):
    response = portal.login(customer.email)
    assert response.status_code == 303
    assert portal.client.get("/me/").status_code == 200
    assert db.scalar(select(LoginSession).where(LoginSession.account_id == customer.id)) is not None
    cookie = portal.client.get_cookie("vv_session").value
    assert portal.logout().status_code == 303
    assert db.scalar(select(LoginSession).where(LoginSession.account_id == customer.id)) is None
    # Replaying the old cookie after logout gets nowhere: the server-side session is gone.
    portal.client.set_cookie("vv_session", cookie)
    assert portal.client.get("/me/").status_code == 302


def test_each_login_gets_a_new_session(app, customer):
    first, second = Portal(app.test_client()), Portal(app.test_client())
    first.login(customer.email)
    second.login(customer.email)
    assert first.client.get_cookie("vv_session").value != second.client.get_cookie("vv_session").value


def test_session_cookie_flags(portal, customer):
    response = portal.login(customer.email)
    header = [h for h in response.headers.getlist("Set-Cookie") if h.startswith("vv_session=")][0]
    assert "HttpOnly" in header and "SameSite=Lax" in header


def test_unknown_account_and_wrong_password_read_the_same(portal, customer):
    unknown = portal.login("nobody@example.com", "whatever whatever")
    wrong = portal.login(customer.email, "not the password at all")
    assert unknown.status_code == wrong.status_code == 401
    for response in (unknown, wrong):
        assert LOGIN_FAILED in response.get_data(as_text=True)
    def page(response, email):  # the same page but for the typed email and the CSRF token's timestamp
        return re.sub(r'name="csrf_token" value="[^"]+"', "", response.get_data(as_text=True).replace(email, "X"))
    assert page(unknown, "nobody@example.com") == page(wrong, customer.email)


def test_post_without_csrf_token_is_refused(client, customer):
    response = client.post("/login", data={"email": customer.email, "password": STRONG_PASSWORD})
    assert response.status_code == 400
    assert "did not come from this site" in response.get_data(as_text=True)
    assert client.get("/me/").status_code == 302


def test_login_is_rate_limited_per_account(app, customer):
    attacker = Portal(app.test_client())
    statuses = [attacker.login(customer.email, f"wrong password {i}").status_code for i in range(6)]
    assert statuses[:5] == [401] * 5 and statuses[5] == 429
    # From another address the account is still throttled, even with the right password.
    other = Portal(app.test_client())
    blocked = other.login(customer.email, environ_base={"REMOTE_ADDR": "10.9.9.9"})
    assert blocked.status_code == 429 and blocked.headers.get("Retry-After")
    assert "Too many attempts" in blocked.get_data(as_text=True)


def test_login_is_rate_limited_per_address(app):
    attacker = Portal(app.test_client())
    statuses = [attacker.login(f"user{i}@example.com", "wrong password!!").status_code for i in range(21)]
    assert statuses[-1] == 429 and statuses[:20] == [401] * 20


def test_next_parameter_cannot_redirect_off_site(portal, customer):
    response = portal.post("/login?next=https://evil.example/", {"email": customer.email,
                                                                 "password": STRONG_PASSWORD}, form_path="/login")
    assert response.headers["Location"] == "/me/"


def test_next_parameter_to_a_local_page_is_followed(portal, customer):
    response = portal.post("/login?next=/me/preferences", {"email": customer.email, "password": STRONG_PASSWORD},
                           form_path="/login")
    assert response.headers["Location"] == "/me/preferences"


def test_security_headers_on_pages(client):
    response = client.get("/login")
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_pages_need_login_and_the_right_role(portal, db):
    from vault.accounts import create_officer
    assert portal.client.get("/me/profile").status_code == 302
    officer = create_officer(db, "officer@example.com", STRONG_PASSWORD)
    db.commit()
    portal.login(officer.email)
    assert portal.client.get("/me/profile").status_code == 403
