def test_healthz_answers_without_the_database(app, client):
    app.extensions["vrm"].sessions = None  # any database use would now crash
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_checks_database_and_keys(client):
    body = client.get("/readyz").get_json()
    assert body == {"status": "ok", "checks": {"database": "ok", "keys": "ok"}}


def test_readyz_reports_an_unreachable_database(app, client):
    from vault.db import make_engine, make_session_factory
    app.extensions["vrm"].sessions = make_session_factory(make_engine("postgresql+psycopg://x@127.0.0.1:1/none"))
    response = client.get("/readyz")
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.get_json()["checks"]["database"] == "unreachable"
