"""Request context shared by the API and the portal: the instance, the database session, consent.

One database session per request, committed once at the edge. Views and services only add and
flush. After the view returns, a successful response commits; an error response or an exception
rolls back, so a failed request leaves nothing half-written. (It lives here, the lowest layer
that knows Flask, so both ``vendor_api`` and ``web`` can use it.)
"""
from __future__ import annotations

import functools
from collections.abc import Callable

from flask import Flask, current_app, g, request
from sqlalchemy.orm import Session

from consent.context import ConsentContext
from consent.pairwise import derive_pairwise_secret
from vault.instance import Instance


def instance() -> Instance:
    return current_app.extensions["vrm"]


def base_url() -> str:
    """The public URL: configured, else the URL this request came in on."""
    configured = instance().settings.base_url
    return (configured or request.url_root).rstrip("/")


def derived_secret(derive: Callable[[str], bytes]) -> bytes:
    """``derive(instance secret)``, computed once per app (HKDF on every request would be waste)."""
    cache = current_app.extensions.setdefault("vrm_derived_secrets", {})
    secret = cache.get(derive)
    if secret is None:
        secret = cache[derive] = derive(instance().secret_key)
    return secret


def consent_context() -> ConsentContext:
    return ConsentContext(signing=instance().signing, pairwise_secret=derived_secret(derive_pairwise_secret),
                          issuer_url=base_url())


def current_view():
    """The view function this request is routed to (None outside a request or when unrouted):
    where per-view marks such as :func:`statement_wise` are read."""
    return current_app.view_functions.get(request.endpoint) if request else None


def request_has_body() -> bool:
    """Whether the client sent a body (a length, or chunks to come), whatever its type."""
    return bool(request.content_length) or "chunked" in request.headers.get("Transfer-Encoding", "").lower()


def get_db() -> Session:
    db = g.get("db")
    if db is None:
        inst = current_app.extensions["vrm"]
        db = g.db = inst.statement_session() if getattr(current_view(), "vv_statement_wise", False) else inst.sessions()
    return db


def statement_wise(view):
    """For views whose one write is a single self-contained record — a vendor read and its ledger
    entry (plus, before it, at most the grant's last-access hint): that write is committed as
    soon as the view returns, before the response is serialised.

    On PostgreSQL their session is in autocommit (``Instance.statement_session``), which drops a
    transaction's BEGIN and COMMIT round trips from the API's hottest calls; on SQLite the commit
    lets the writer lock go before the response is built instead of after. The entry is durable
    before the answer leaves, as before; but an error after it no longer takes it back, so the
    log may name a read whose answer then failed — never the other way round.
    """
    @functools.wraps(view)
    def committed_first(*args, **kwargs):
        result = view(*args, **kwargs)
        db = g.get("db")
        if db is not None:
            db.commit()
        return result

    committed_first.vv_statement_wise = True  # carried outward by every functools.wraps above it
    return committed_first


def keep_on_error() -> None:
    """Ask for a commit even though the response is an error (e.g. a refresh-token replay
    that must revoke tokens and write the ledger while answering 400)."""
    g.commit_on_error = True


def init_app(app: Flask) -> None:
    @app.after_request
    def _commit(response):
        db = g.get("db")
        if db is not None and db.in_transaction():  # nothing begun (or committed already): nothing to do
            if response.status_code < 400 or g.get("commit_on_error"):
                db.commit()
            else:
                db.rollback()
        return response

    @app.teardown_appcontext
    def _close(_exc):
        db = g.pop("db", None)
        if db is not None:
            db.close()  # rolls back whatever is still open
