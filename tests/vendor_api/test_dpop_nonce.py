"""Server-provided DPoP nonces (RFC 9449 §8, §9), required with ``VAULT_DPOP_NONCE=true``: a proof
must carry a nonce the server handed out lately, so none can be signed ahead of time."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.conftest import make_test_app, rolled_back
from vendor_api import dpop

from .conftest import REDIRECT_URI, TOKEN_URL, query_of
from .test_dpop import ME_URL, Holder, _api, _token_call, assert_refused


@pytest.fixture
def app(database_url, instance_path):
    """This module's app requires nonces (it replaces the suite's ``app`` for every fixture here)."""
    yield from rolled_back(make_test_app(database_url, instance_path, dpop_nonce=True))


@pytest.fixture
def holder() -> Holder:
    return Holder()


def _code_request(flow) -> dict:
    location, verifier, _state = flow.code()
    return {"grant_type": "authorization_code", "code": query_of(location)["code"], "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier}


def _bound_token(flow, holder: Holder) -> str:
    data = _code_request(flow)
    first = _token_call(flow, data, holder.proof("POST", TOKEN_URL))
    second = _token_call(flow, data, holder.proof("POST", TOKEN_URL, nonce=first.headers["DPoP-Nonce"]))
    assert second.status_code == 200, second.json
    return second.json["access_token"]


def test_a_token_request_without_the_nonce_is_told_to_use_one_and_keeps_its_code(flow, logged_in, holder):
    data = _code_request(flow)
    refused = _token_call(flow, data, holder.proof("POST", TOKEN_URL))
    assert refused.status_code == 400 and refused.json["error"] == "use_dpop_nonce"
    assert "access_token" not in refused.json and refused.headers["Cache-Control"] == "no-store"
    nonce = refused.headers["DPoP-Nonce"]

    issued = _token_call(flow, data, holder.proof("POST", TOKEN_URL, nonce=nonce))
    assert issued.status_code == 200 and issued.json["token_type"] == "DPoP"
    assert issued.headers["DPoP-Nonce"]  # the next proof's nonce comes with every answer


def test_a_nonce_that_is_not_ours_or_too_old_is_refused_like_none(flow, logged_in, holder):
    data = _code_request(flow)
    now = datetime.now(timezone.utc)
    strangers = [dpop.make_nonce(dpop.derive_nonce_secret("another instance"), now),
                 dpop.make_nonce(dpop.derive_nonce_secret(flow.client.application.extensions["vrm"].secret_key),
                                 now - timedelta(seconds=3 * dpop.NONCE_SLOT_SECONDS)),
                 "x" * 500, 12345]
    for nonce in strangers:
        refused = _token_call(flow, data, holder.proof("POST", TOKEN_URL, nonce=nonce))
        assert refused.status_code == 400 and refused.json["error"] == "use_dpop_nonce", nonce
    assert _token_call(flow, data, holder.proof("POST", TOKEN_URL, nonce=refused.headers["DPoP-Nonce"])) \
        .status_code == 200


def test_the_api_asks_for_the_nonce_with_a_challenge_and_hands_out_the_next(flow, logged_in, holder):
    token = _bound_token(flow, holder)
    refused = _api(flow, token, holder.proof(token=token))
    assert_refused(refused, "use_dpop_nonce")
    nonce = refused.headers["DPoP-Nonce"]
    answered = _api(flow, token, holder.proof(token=token, nonce=nonce))
    assert answered.status_code == 200 and answered.json["given_name"] == "Amira"
    assert answered.headers["DPoP-Nonce"] == nonce  # the same slot: the same nonce on every server


def test_other_proof_faults_are_reported_before_the_nonce(flow, logged_in, holder):
    token = _bound_token(flow, holder)
    wrong_url = holder.proof(url=ME_URL + "/consent", token=token)
    assert_refused(_api(flow, token, wrong_url), "invalid_dpop_proof")


def test_bearer_tokens_are_untouched(flow, logged_in):
    token = flow.tokens()["access_token"]
    answered = flow.api("/api/v1/me", token)
    assert answered.status_code == 200 and "DPoP-Nonce" not in answered.headers


def test_a_nonce_lasts_its_slot_and_the_next_then_expires():
    secret = dpop.derive_nonce_secret("instance secret")
    start = datetime.fromtimestamp(dpop.NONCE_SLOT_SECONDS * 1000, timezone.utc)
    nonce = dpop.make_nonce(secret, start)
    slot = timedelta(seconds=dpop.NONCE_SLOT_SECONDS)
    assert dpop.nonce_is_fresh(secret, nonce, start + slot - timedelta(seconds=1))
    assert dpop.nonce_is_fresh(secret, nonce, start + 2 * slot - timedelta(seconds=1))
    assert not dpop.nonce_is_fresh(secret, nonce, start + 2 * slot)
    assert not dpop.nonce_is_fresh(dpop.derive_nonce_secret("other"), nonce, start)
