"""``vault demo`` gives a newcomer a vendor app, a grant and a working access token; the body a
vendor receives for that grant is snapshot-tested (a change to it must be deliberate)."""
from __future__ import annotations

import json
from pathlib import Path

from sqlalchemy import select

from consent.models import Grant
from vault import accounts

SNAPSHOT = Path(__file__).parent / "snapshots" / "me_demo.json"


def _demo(app) -> dict:
    result = app.test_cli_runner().invoke(args=["vault", "demo", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_demo_prints_client_credentials_and_a_working_token(app, client, db):
    out = _demo(app)
    assert out["client_id"].startswith("vv_app_") and out["client_secret"].startswith("vv_cs_")
    assert out["redirect_uri"] == "http://127.0.0.1:8000/callback"
    assert out["scopes_granted"] == ["profile.name", "profile.email", "preferences.interests"]
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {out['access_token']}"})
    assert response.status_code == 200

    customer = accounts.find_by_email(db, out["customer_email"])
    grant = db.scalar(select(Grant).where(Grant.account_id == customer.id))
    body = response.json
    assert body["sub"] == grant.subject
    body["sub"] = "<pairwise subject>"
    assert body == json.loads(SNAPSHOT.read_text(encoding="utf-8"))


def test_demo_can_run_twice_and_rotates_the_secret(app, client):
    first, second = _demo(app), _demo(app)
    assert first["client_id"] == second["client_id"]
    assert first["client_secret"] != second["client_secret"]
    import base64
    for secret, expected in ((first["client_secret"], 401), (second["client_secret"], 200)):
        auth = base64.b64encode(f"{second['client_id']}:{secret}".encode()).decode()
        response = client.post("/oauth/token", data={"grant_type": "client_credentials"},
                               headers={"Authorization": f"Basic {auth}"})
        assert response.status_code == expected
    for out in (first, second):
        response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {out['access_token']}"})
        assert response.status_code == 200


def test_demo_prose_mentions_the_token(app):
    result = app.test_cli_runner().invoke(args=["vault", "demo"])
    assert result.exit_code == 0 and "access_token: vv_at_" in result.output
