"""Liveness and readiness probes for load balancers and orchestrators."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from vault.keyops import sample_check

from vendor_api.context import instance

bp = Blueprint("health", __name__)


@bp.route("/healthz")
def healthz():
    """Alive: answers without touching the database, so a slow database never restarts us."""
    return jsonify(status="ok")


@bp.route("/readyz")
def readyz():
    """Ready: the database answers and the data keys unwrap under the configured keys."""
    inst = instance()
    try:
        with inst.sessions() as db:
            db.execute(text("SELECT 1"))
            problem = sample_check(db, inst.keys)
    except SQLAlchemyError:
        response = jsonify(status="unavailable", checks={"database": "unreachable"})
        response.status_code = 503
        response.headers["Retry-After"] = "5"
        return response
    if problem:
        response = jsonify(status="unavailable", checks={"database": "ok", "keys": "failing"})
        response.status_code = 503
        return response
    return jsonify(status="ok", checks={"database": "ok", "keys": "ok"})
