"""Shared by the webhook, change feed and deletion confirmation tests: a real HTTP receiver on
127.0.0.1, client-credentials tokens, and apps bound to a database that really commits."""
from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from tests.conftest import make_test_app
from tests.vendor_api.conftest import ctx_for


@dataclass
class Received:
    path: str
    headers: dict
    body: bytes

    @property
    def json(self) -> dict:
        return json.loads(self.body)


@dataclass
class Receiver:
    """What the test's webhook server got, and what it answers (a status per call, then the last)."""

    url: str
    statuses: list[int] = field(default_factory=lambda: [200])
    received: list[Received] = field(default_factory=list)
    extra_headers: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def next_status(self) -> int:
        with self.lock:
            return self.statuses.pop(0) if len(self.statuses) > 1 else self.statuses[0]

    def record(self, item: Received) -> None:
        with self.lock:
            self.received.append(item)


@contextmanager
def receiver(*statuses: int, headers: dict | None = None) -> Iterator[Receiver]:
    """An HTTP server on 127.0.0.1 (a free port) in a thread, stopped on exit whatever happens."""
    state = Receiver(url="", statuses=list(statuses) or [200], extra_headers=headers or {})

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's naming
            length = int(self.headers.get("Content-Length", 0))
            state.record(Received(self.path, {k.lower(): v for k, v in self.headers.items()}, self.rfile.read(length)))
            self.send_response(state.next_status())
            for key, value in state.extra_headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        state.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/vrm"
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def app_token(db, vendor) -> str:
    """A client-credentials access token (``vendor:read``) for the vendor's app."""
    from vendor_api import tokens
    issued = tokens.issue(db, app_id=vendor.app.id, scope="vendor:read", grant_type="client_credentials")
    db.commit()
    return issued.access_token


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@contextmanager
def committing_app(fresh_database, instance_path):
    """An app on a migrated database of the test's own whose sessions really commit (for tests
    with several connections at once: concurrent workers, writers and readers)."""
    fresh_database.migrate()
    application = make_test_app(fresh_database.url, instance_path)
    try:
        yield application, application.extensions["vrm"], ctx_for(application)
    finally:
        application.extensions["vrm"].dispose()
