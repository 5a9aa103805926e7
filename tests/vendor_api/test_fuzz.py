"""Schemathesis against our own OpenAPI document, in-process, with valid tokens.

Every operation in ``/api/v1/openapi.json`` gets generated requests (valid and invalid data);
each response must be no 5xx and must match what the document promises (status code, content
type, body schema, headers). Customer endpoints get a token holding a live grant; vendor-level
endpoints a client-credentials token. New endpoints are covered as soon as they are documented.
"""
from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.generation.modes import GenerationMode

import pytest

from consent import grants
from tests.vendor_api.conftest import ALL_SCOPES, PROFILE, make_vendor
from vault import records
from vendor_api import tokens
from vendor_api.context import consent_context


@pytest.fixture
def fuzz_tokens(app, db, keys, customer):
    """A customer token (every read scope granted, plus writes the app asks for) and an app token."""
    scopes = list(ALL_SCOPES) + ["purchases.read", "purchases.write", "purchases.context", "cases.read",
                                 "cases.write", "intents.read", "offers.write"]
    from consent.scopes import SCOPES
    scopes = [s for s in scopes if s in SCOPES]
    vendor = make_vendor(db, scopes=scopes)
    records.write_fields(db, keys, customer, PROFILE)
    with app.test_request_context():
        grant = grants.grant(db, consent_context(), customer=customer, app=vendor.app, scopes=scopes).grant
    customer_token = tokens.issue(db, app_id=vendor.app.id, scope=" ".join(scopes), grant_type="authorization_code",
                                  grant=grant, with_refresh=False)
    app_token = tokens.issue(db, app_id=vendor.app.id, scope="vendor:read", grant_type="client_credentials",
                             with_refresh=False)
    db.commit()
    return {"customer": customer_token.access_token, "app": app_token.access_token}


def _operations(app):
    app.config["VENDOR_API_RATELIMIT"] = "100000 per minute"
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_every_documented_operation_holds_its_promises(app, fuzz_tokens, mode):
    operations = _operations(app)
    assert operations, "the OpenAPI document lists no operation"
    for operation in operations:
        path = operation.path
        token = fuzz_tokens["customer"] if path.startswith("/me") or "/me/" in path else fuzz_tokens["app"]
        auth = {"Authorization": f"Bearer {token}"}

        @given(case=operation.as_strategy(generation_mode=mode, headers=auth))
        @settings(max_examples=25, deadline=None, database=None, derandomize=True,
                  suppress_health_check=list(HealthCheck))
        def exercise(case):
            case.call_and_validate()

        try:
            exercise()
        except Unsatisfiable:
            assert mode is GenerationMode.NEGATIVE  # nothing in this operation can be made invalid
