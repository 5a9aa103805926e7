"""The database goes away and comes back: the API says 503 with Retry-After, then recovers alone.

A small TCP relay sits between the app and PostgreSQL; closing it is indistinguishable, for the
app, from the server going down (connections reset, new ones refused), without disturbing the
shared server other tests use.
"""
from __future__ import annotations

import socket
import threading

import pytest
from sqlalchemy.engine import make_url

from tests.conftest import PG_URL, Portal, demo_customer, make_test_app

pytestmark = pytest.mark.skipif(not PG_URL, reason="the outage is simulated in front of PostgreSQL")


class Relay:
    """Forwards 127.0.0.1:<port> to the database until stopped; can start again on the same port."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.port = None
        self._listener = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> "Relay":
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port or 0))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            with self._lock:
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def stop(self) -> None:
        try:
            self._listener.shutdown(socket.SHUT_RDWR)  # wakes the blocked accept(); close() alone does not
        except OSError:
            pass
        self._listener.close()
        with self._lock:
            for sock in self._sockets:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
            self._sockets.clear()


@pytest.fixture
def relay():
    url = make_url(PG_URL)
    relay = Relay((url.host or "127.0.0.1", url.port or 5432)).start()
    yield relay
    relay.stop()


def test_api_answers_503_while_the_database_is_down_and_recovers_by_itself(fresh_database, tmp_path, relay):
    url = str(make_url(fresh_database.url).set(host="127.0.0.1", port=relay.port).render_as_string(
        hide_password=False))
    app = make_test_app(url, tmp_path / "instance", auto_migrate=True)
    inst = app.extensions["vrm"]
    token = demo_customer(app, "outage@example.com")["access_token"]
    client = app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=bearer).status_code == 200

    relay.stop()
    down = client.get("/api/v1/me", headers=bearer)
    assert down.status_code == 503
    assert down.headers["Retry-After"].isdigit()
    assert down.mimetype == "application/problem+json" and down.get_json()["status"] == 503
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200  # alive, just not ready

    relay.start()
    assert client.get("/api/v1/me", headers=bearer).status_code == 200
    assert client.get("/readyz").status_code == 200
    inst.dispose()


def test_a_connection_that_died_while_idle_is_replaced_before_use(fresh_database, monkeypatch):
    """The pool pings a connection only after it sat idle (vault.db._ping_when_idle); a dead one is
    then replaced before any statement runs, so the caller never sees the loss."""
    from sqlalchemy import text

    from vault import db as vault_db

    engine = vault_db.make_engine(fresh_database.url, pool_size=1, max_overflow=0)
    with engine.connect() as conn:
        victim = conn.execute(text("SELECT pg_backend_pid()")).scalar_one()
    admin = vault_db.make_engine(fresh_database.url)
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": victim})
        conn.commit()
    admin.dispose()
    monkeypatch.setattr(vault_db, "PING_AFTER_IDLE_SECONDS", 0.0)
    with engine.connect() as conn:
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() != victim
    engine.dispose()


def _terminate(url: str, application_name: str) -> int:
    """Ends every server process of one application, as a restart or failover of the server would."""
    from sqlalchemy import text

    from vault import db as vault_db

    admin = vault_db.make_engine(url)
    with admin.connect() as conn:
        ended = conn.execute(text("SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                                  "WHERE application_name = :name"), {"name": application_name}).scalar_one()
        conn.commit()
    admin.dispose()
    return ended


def test_a_server_restart_inside_the_idle_window_costs_no_request(fresh_database, tmp_path):
    """Connections used less than a second ago are not pinged (the hot path's saving); when the
    server went away meanwhile, the request's first statement finds out, and the request starts
    again on a new connection instead of answering 503: once, with one ledger entry per read."""
    from consent import ledger

    url = f"{fresh_database.url}&application_name=vv_restart_test"
    app = make_test_app(url, tmp_path / "instance", auto_migrate=True)
    inst = app.extensions["vrm"]
    demo = demo_customer(app, "restart@example.com")
    token, chain = demo["access_token"], demo["chain"]
    api, browser = app.test_client(), app.test_client()
    bearer = {"Authorization": f"Bearer {token}"}
    assert Portal(browser).login("restart@example.com").status_code == 303
    first_statements = {  # each one's first statement meets the dead connection
        "vendor read (token look-up)": lambda: api.get("/api/v1/me", headers=bearer),
        "OAuth endpoint (client look-up)": lambda: api.post(
            "/oauth/introspect", data={"token": token}, auth=(demo["client_id"], demo["client_secret"])),
        "portal page (session look-up)": lambda: browser.get("/me/"),
    }
    for name, request in first_statements.items():
        for warm in first_statements.values():  # every pool holds a connection used just now
            assert warm().status_code == 200
        assert _terminate(fresh_database.url, "vv_restart_test") >= 1
        answer = request()
        assert answer.status_code == 200, (name, answer.get_data(as_text=True))
    assert api.post("/oauth/introspect", data={"token": token},
                    auth=(demo["client_id"], demo["client_secret"])).get_json()["active"] is True

    with inst.sessions() as db:
        reads = [e for e in ledger.entries_for(db, chain, types=["read"]) if e.vendor_app]
    assert len(reads) == 4  # every answered read logged once: none lost, none doubled by the retry
    inst.dispose()


def test_a_loss_seen_on_one_connection_makes_every_other_one_prove_itself(fresh_database):
    """After one connection is found dead, the others of the process are pinged before their next
    use however recently they were used: a restart costs at most the one statement that saw it."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError

    from vault import db as vault_db

    url = f"{fresh_database.url}&application_name=vv_loss_test"
    first, second = vault_db.make_engine(url), vault_db.make_engine(url)
    pids = []
    for engine in (first, second):
        with engine.connect() as conn:
            pids.append(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    assert _terminate(fresh_database.url, "vv_loss_test") == 2

    with first.connect() as conn, pytest.raises(DBAPIError) as lost:  # used just now: not pinged
        conn.execute(text("SELECT 1"))
    assert lost.value.connection_invalidated
    with second.connect() as conn:  # also used just now, but after a loss: pinged and replaced
        assert conn.execute(text("SELECT pg_backend_pid()")).scalar_one() not in pids
    first.dispose()
    second.dispose()


def test_only_a_fresh_session_losing_its_connection_starts_again(fresh_database):
    """The retry repeats nothing that could have taken effect: not after the session had begun,
    and not for an error other than a lost connection."""
    from sqlalchemy import text
    from sqlalchemy.exc import DBAPIError, ProgrammingError
    from sqlalchemy.orm import Session

    from vault import db as vault_db

    url = f"{fresh_database.url}&application_name=vv_retry_test"
    engine = vault_db.make_engine(url)
    calls = []

    def pid(db):
        calls.append(1)
        return db.execute(text("SELECT pg_backend_pid()")).scalar_one()

    with Session(engine) as db:
        first = pid(db)
    _terminate(fresh_database.url, "vv_retry_test")
    with Session(engine) as db:
        assert vault_db.retry_if_lost_at_start(db, lambda: pid(db)) != first
    assert len(calls) == 3  # the first attempt failed, the second answered

    with Session(engine) as db:
        pid(db)  # the session has begun: a loss now may have cost work, so it is not hidden
        _terminate(fresh_database.url, "vv_retry_test")
        with pytest.raises(DBAPIError):
            vault_db.retry_if_lost_at_start(db, lambda: pid(db))

    calls.clear()
    with Session(engine) as db, pytest.raises(ProgrammingError):
        vault_db.retry_if_lost_at_start(db, lambda: (calls.append(1), db.execute(text("SELECT nonsense_column"))))
    assert len(calls) == 1
    engine.dispose()
