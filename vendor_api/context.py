"""Request context shared by the API and the portal: the instance, the database session, consent.

One database session per request, committed once at the edge. Views and services only add and
flush. After the view returns, a successful response commits; an error response or an exception
rolls back, so a failed request leaves nothing half-written. (It lives here, the lowest layer
that knows Flask, so both ``vendor_api`` and ``web`` can use it.)
"""
from __future__ import annotations

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


def consent_context() -> ConsentContext:
    inst = instance()
    secret = current_app.extensions.get("vrm_pairwise_secret")
    if secret is None:
        secret = current_app.extensions["vrm_pairwise_secret"] = derive_pairwise_secret(inst.secret_key)
    return ConsentContext(signing=inst.signing, pairwise_secret=secret, issuer_url=base_url())


def get_db() -> Session:
    if "db" not in g:
        inst = instance()
        statement_wise = request and request.endpoint in current_app.extensions.get("vrm_statement_endpoints", ())
        g.db = (inst.statement_sessions if statement_wise else inst.sessions)()
    return g.db


def commit_each_statement(app: Flask, *endpoints: str) -> None:
    """Run these endpoints' database work with every statement committing itself.

    Only for views whose one write is a single statement (a vendor read: the ledger append, plus
    at most the grant's last-access hint before it): on PostgreSQL that drops a transaction's
    BEGIN and COMMIT round trips from the API's hottest calls. The append is committed — durable
    — before the response is built, as before; but an error after it no longer takes it back,
    so the log may name a read whose answer then failed, never the other way round.
    """
    app.extensions.setdefault("vrm_statement_endpoints", set()).update(endpoints)


def keep_on_error() -> None:
    """Ask for a commit even though the response is an error (e.g. a refresh-token replay
    that must revoke tokens and write the ledger while answering 400)."""
    g.commit_on_error = True


def init_app(app: Flask) -> None:
    @app.after_request
    def _commit(response):
        db = g.get("db")
        if db is not None:
            if response.status_code < 400 or g.get("commit_on_error"):
                db.commit()
            else:
                db.rollback()
        return response

    @app.teardown_appcontext
    def _close(_exc):
        db = g.pop("db", None)
        if db is not None:
            db.rollback()
            db.close()
