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

from tests.conftest import PG_URL, STRONG_PASSWORD, make_test_app

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
    from vault import accounts
    from vendor_api.cli import demo_step

    url = str(make_url(fresh_database.url).set(host="127.0.0.1", port=relay.port).render_as_string(
        hide_password=False))
    app = make_test_app(url, tmp_path / "instance", auto_migrate=True)
    inst = app.extensions["vrm"]
    with app.app_context(), inst.sessions() as db:
        customer = accounts.sign_up(db, "outage@example.com", STRONG_PASSWORD)
        token = demo_step(db, inst, customer)["access_token"]
        db.commit()
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
