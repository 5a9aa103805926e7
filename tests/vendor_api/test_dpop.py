"""DPoP sender-constrained tokens (RFC 9449, SECURITY.md 13): a token bound to a key works only
with fresh proofs signed by that key, for the very request they come with."""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import timedelta

import pytest
from joserfc import jws
from joserfc.jwk import ECKey, OKPKey, RSAKey
from sqlalchemy import select

from vault import clock as vault_clock
from vendor_api import dpop
from vendor_api.models import DPoPProofSeen, OAuthClient, Token

from .conftest import BASE, REDIRECT_URI, TOKEN_URL, make_vendor, query_of, recorded_statements

ME_URL = BASE + "/api/v1/me"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Holder:
    """A client's DPoP key, signing proofs as RFC 9449 §4.2 describes."""

    KEYS = {"ES256": lambda: ECKey.generate_key("P-256"), "EdDSA": lambda: OKPKey.generate_key("Ed25519"),
            "RS256": lambda: RSAKey.generate_key(2048)}

    def __init__(self, alg: str = "ES256"):
        self.alg, self.key = alg, self.KEYS[alg]()

    @property
    def jkt(self) -> str:
        return self.key.thumbprint()

    def header(self, **extra) -> dict:
        return {"typ": "dpop+jwt", "alg": self.alg, "jwk": self.key.as_dict(private=False), **extra}

    def claims(self, method: str, url: str, token: str | None = None, **extra) -> dict:
        body = {"jti": secrets.token_urlsafe(12), "htm": method, "htu": url,
                "iat": int(vault_clock.utcnow().timestamp())}
        if token:
            body["ath"] = dpop.b64_sha256(token)
        body.update(extra)
        return {k: v for k, v in body.items() if v is not None}

    def sign(self, header: dict, claims: dict) -> str:
        return jws.serialize_compact(header, json.dumps(claims), self.key, registry=dpop.REGISTRY)

    def proof(self, method: str = "GET", url: str = ME_URL, token: str | None = None, **claims) -> str:
        return self.sign(self.header(), self.claims(method, url, token, **claims))


@pytest.fixture
def holder() -> Holder:
    return Holder()


def _basic(vendor) -> str:
    return "Basic " + base64.b64encode(f"{vendor.client_id}:{vendor.secret}".encode()).decode()


def _token_call(flow, data: dict, proof: str | None = None, *, vendor=None):
    headers = {"Authorization": _basic(vendor or flow.vendor)}
    if proof is not None:
        headers["DPoP"] = proof
    return flow.client.post("/oauth/token", data=data, headers=headers)


def _code_exchange(flow, proof: str | None):
    location, verifier, _state = flow.code()
    return _token_call(flow, {"grant_type": "authorization_code", "code": query_of(location)["code"],
                              "redirect_uri": REDIRECT_URI, "code_verifier": verifier}, proof)


def _bound_tokens(flow, holder: Holder) -> dict:
    response = _code_exchange(flow, holder.proof("POST", TOKEN_URL))
    assert response.status_code == 200, response.json
    return response.json


def _api(flow, token: str, proof: str | None, *, scheme: str = "DPoP", path: str = "/api/v1/me"):
    headers = {"Authorization": f"{scheme} {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return flow.client.get(path, headers=headers)


def assert_refused(response, error: str) -> None:
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("DPoP ") and f'error="{error}"' in challenge
    assert 'algs="ES256 EdDSA RS256"' in challenge
    assert "vv_at_" not in response.get_data(as_text=True)


# --- token endpoint ---------------------------------------------------------------------------------

@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "RS256"])
def test_sec13_bound_token_works_with_a_correct_proof(flow, logged_in, db, alg):
    holder = Holder(alg)
    body = _bound_tokens(flow, holder)
    assert body["token_type"] == "DPoP"
    row = db.scalar(select(Token).where(Token.access_token_hash == hashlib.sha256(
        body["access_token"].encode()).hexdigest()))
    assert row.dpop_jkt == holder.jkt
    response = _api(flow, body["access_token"], holder.proof(token=body["access_token"]))
    assert response.status_code == 200 and response.json["given_name"] == "Amira"
    assert "DPoP-Nonce" not in response.headers  # nonces are off unless VAULT_DPOP_NONCE asks for them


def test_sec13_token_request_without_proof_still_gets_a_bearer_token(flow, logged_in):
    body = _code_exchange(flow, None).json
    assert body["token_type"] == "Bearer"
    assert flow.api("/api/v1/me", body["access_token"]).status_code == 200


def test_sec13_token_request_with_a_proof_for_another_url_is_refused(flow, logged_in, holder, db):
    response = _code_exchange(flow, holder.proof("POST", ME_URL))
    assert response.status_code == 400 and response.json["error"] == "invalid_dpop_proof"
    assert db.scalar(select(Token)) is None


def test_sec13_token_request_with_a_replayed_proof_is_refused(flow, logged_in, holder):
    proof = holder.proof("POST", TOKEN_URL)
    assert _code_exchange(flow, proof).status_code == 200
    response = _code_exchange(flow, proof)
    assert response.status_code == 400 and response.json["error"] == "invalid_dpop_proof"


def _none_alg(holder: Holder) -> str:
    header, claims = holder.header(alg="none"), holder.claims("POST", TOKEN_URL)
    return f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}."


def _hs256(holder: Holder) -> str:
    header, claims = holder.header(alg="HS256"), holder.claims("POST", TOKEN_URL)
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    mac = hmac.new(b"a shared secret the server never had", signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _private_jwk(holder: Holder) -> str:
    return holder.sign(holder.header(jwk=holder.key.as_dict(private=True)), holder.claims("POST", TOKEN_URL))


def _wrong_typ(holder: Holder) -> str:
    return holder.sign(holder.header(typ="JWT"), holder.claims("POST", TOKEN_URL))


def _foreign_signature(holder: Holder) -> str:
    other = Holder()
    return other.sign(holder.header(), holder.claims("POST", TOKEN_URL))  # claims to be holder's key


@pytest.mark.parametrize("make, why", [(_none_alg, "'alg'"), (_hs256, "'alg'"), (_private_jwk, "public key"),
                                       (_wrong_typ, "'typ'"), (_foreign_signature, "signature"),
                                       (lambda h: "not.a.jwt", "well-formed"), (lambda h: "x" * 7000, "one JWT")],
                         ids=["alg-none", "hs256", "private-jwk", "typ-jwt", "signature-by-another-key",
                              "garbage", "oversized"])
def test_sec13_malformed_or_unsafe_proofs_are_refused_at_the_token_endpoint(flow, logged_in, holder, db, make, why):
    response = _code_exchange(flow, make(holder))
    assert response.status_code == 400 and response.json["error"] == "invalid_dpop_proof"
    assert why in response.json["error_description"]
    assert response.headers["Cache-Control"] == "no-store"
    assert db.scalar(select(Token)) is None


@pytest.mark.parametrize("missing", ["jti", "htm", "htu", "iat"])
def test_sec13_proof_without_a_required_claim_is_refused(flow, logged_in, holder, missing):
    proof = holder.sign(holder.header(), holder.claims("POST", TOKEN_URL, **{missing: None}))
    assert _code_exchange(flow, proof).json["error"] == "invalid_dpop_proof"


def test_sec13_refused_proof_leaves_the_code_redeemable(flow, logged_in, holder):
    location, verifier, _state = flow.code()
    data = {"grant_type": "authorization_code", "code": query_of(location)["code"], "redirect_uri": REDIRECT_URI,
            "code_verifier": verifier}
    assert _token_call(flow, data, _none_alg(holder)).status_code == 400
    assert _token_call(flow, data, holder.proof("POST", TOKEN_URL)).status_code == 200


def _bound_code(flow, jkt: str) -> dict:
    """Authorize with ``dpop_jkt`` (RFC 9449 §10) and approve; the token request's form."""
    path, verifier, _state = flow.authorize_url(dpop_jkt=jkt)
    response = flow.consent(path)
    assert response.status_code == 303, response.get_data(as_text=True)[:500]
    return {"grant_type": "authorization_code", "code": query_of(response.headers["Location"])["code"],
            "redirect_uri": REDIRECT_URI, "code_verifier": verifier}


def test_sec13_a_code_bound_with_dpop_jkt_needs_a_proof_from_that_key(flow, logged_in, holder, db):
    data = _bound_code(flow, holder.jkt)
    plain = _token_call(flow, data, None)
    assert plain.status_code == 400 and plain.json["error"] == "invalid_dpop_proof"
    assert "code is bound to a DPoP key" in plain.json["error_description"]
    other = _token_call(flow, data, Holder().proof("POST", TOKEN_URL))
    assert other.status_code == 400 and other.json["error"] == "invalid_dpop_proof"
    assert db.scalar(select(Token)) is None  # neither refusal spent the code or issued anything
    body = _token_call(flow, data, holder.proof("POST", TOKEN_URL)).json
    assert body["token_type"] == "DPoP"
    assert db.scalar(select(Token.dpop_jkt).where(Token.access_token_hash == hashlib.sha256(
        body["access_token"].encode()).hexdigest())) == holder.jkt


def test_sec13_a_malformed_dpop_jkt_is_refused_back_to_the_client(flow, logged_in):
    path, _verifier, state = flow.authorize_url(dpop_jkt="not-a-thumbprint")
    response = flow.client.get(path)
    assert response.status_code in (302, 303)
    answer = query_of(response.headers["Location"])
    assert answer["error"] == "invalid_request" and answer["state"] == state and "dpop_jkt" in answer["error_description"]


def test_sec13_client_requiring_dpop_refuses_a_plain_token_request(flow, logged_in, vendor, db, holder):
    db.get(OAuthClient, vendor.client.id).require_dpop = True
    db.commit()
    refused = _code_exchange(flow, None)
    assert refused.status_code == 400 and refused.json["error"] == "invalid_dpop_proof"
    assert "DPoP" in refused.json["error_description"]
    assert _code_exchange(flow, holder.proof("POST", TOKEN_URL)).json["token_type"] == "DPoP"


def test_sec13_client_requiring_dpop_refuses_plain_client_credentials(flow, vendor, db, holder):
    db.get(OAuthClient, vendor.client.id).require_dpop = True
    db.commit()
    assert _token_call(flow, {"grant_type": "client_credentials"}).json["error"] == "invalid_dpop_proof"
    bound = _token_call(flow, {"grant_type": "client_credentials"}, holder.proof("POST", TOKEN_URL))
    assert bound.status_code == 200 and bound.json["token_type"] == "DPoP"


def test_sec13_cli_creates_an_app_that_requires_dpop(app, db):
    from vendor_api import clients
    runner = app.test_cli_runner()
    result = runner.invoke(args=["vault", "vendor", "create-org", "--name", "Bound Ltd", "--website",
                                 "https://bound.example", "--contact-email", "privacy@bound.example"])
    org_id = result.output.split("id ")[-1].strip(". \n")
    result = runner.invoke(args=["vault", "vendor", "create-app", "--org", org_id, "--name", "Bound App",
                                 "--website", "https://bound.example", "--purpose", "Testing.",
                                 "--scope", "profile.name", "--redirect-uri", "https://bound.example/cb",
                                 "--require-dpop", "--json"])
    assert result.exit_code == 0, result.output
    assert clients.by_client_id(db, json.loads(result.output)["client_id"]).require_dpop is True
    assert make_vendor(db).client.require_dpop is False


# --- refresh ----------------------------------------------------------------------------------------

def _refresh(flow, refresh_token: str, proof: str | None):
    return _token_call(flow, {"grant_type": "refresh_token", "refresh_token": refresh_token}, proof)


def test_sec13_refresh_of_a_dpop_bound_token_requires_the_same_key(flow, logged_in, holder):
    tokens = _bound_tokens(flow, holder)
    without = _refresh(flow, tokens["refresh_token"], None)
    assert without.status_code == 400 and without.json["error"] == "invalid_dpop_proof"
    other_key = _refresh(flow, tokens["refresh_token"], Holder().proof("POST", TOKEN_URL))
    assert other_key.status_code == 400 and other_key.json["error"] == "invalid_dpop_proof"

    # Neither refused attempt spent the refresh token: its holder still refreshes, and stays bound.
    rotated = _refresh(flow, tokens["refresh_token"], holder.proof("POST", TOKEN_URL))
    assert rotated.status_code == 200 and rotated.json["token_type"] == "DPoP"
    access = rotated.json["access_token"]
    assert _api(flow, access, holder.proof(token=access)).status_code == 200
    assert_refused(_api(flow, access, None, scheme="Bearer"), "invalid_token")


def test_sec13_plain_refresh_token_may_be_upgraded_to_a_bound_one(flow, logged_in, holder):
    plain = _code_exchange(flow, None).json
    upgraded = _refresh(flow, plain["refresh_token"], holder.proof("POST", TOKEN_URL)).json
    assert upgraded["token_type"] == "DPoP"
    assert _refresh(flow, upgraded["refresh_token"], None).json["error"] == "invalid_dpop_proof"


# --- resource server --------------------------------------------------------------------------------

@pytest.fixture
def bound(flow, logged_in, holder) -> str:
    return _bound_tokens(flow, holder)["access_token"]


def test_sec13_proof_signed_by_another_key_is_refused(flow, bound):
    assert_refused(_api(flow, bound, Holder().proof(token=bound)), "invalid_dpop_proof")


@pytest.mark.parametrize("method, url", [("GET", BASE + "/api/v1/me/consent"), ("POST", ME_URL),
                                         ("GET", "https://elsewhere.example/api/v1/me")])
def test_sec13_proof_for_another_url_or_method_is_refused(flow, bound, holder, method, url):
    assert_refused(_api(flow, bound, holder.proof(method, url, token=bound)), "invalid_dpop_proof")


def test_sec13_htu_is_compared_after_normalisation_and_without_query(flow, bound, holder):
    proof = holder.proof("GET", "HTTP://LocalHost:80/api/v1/me?ignored=1#frag", token=bound)
    assert _api(flow, bound, proof).status_code == 200


def test_sec13_replayed_jti_is_refused(flow, bound, holder):
    proof = holder.proof(token=bound)
    assert _api(flow, bound, proof).status_code == 200
    assert_refused(_api(flow, bound, proof), "invalid_dpop_proof")
    same_jti = holder.proof(token=bound, jti=json.loads(base64.urlsafe_b64decode(
        proof.split(".")[1] + "==="))["jti"])
    assert_refused(_api(flow, bound, same_jti), "invalid_dpop_proof")


def test_sec13_stale_iat_is_refused(flow, bound, holder, clock):
    proof = holder.proof(token=bound)
    clock.advance(seconds=61)
    assert_refused(_api(flow, bound, proof), "invalid_dpop_proof")


def test_sec13_iat_in_the_future_is_refused(flow, bound, holder):
    future = int((vault_clock.utcnow() + timedelta(seconds=120)).timestamp())
    assert_refused(_api(flow, bound, holder.proof(token=bound, iat=future)), "invalid_dpop_proof")


def test_sec13_iat_within_the_minute_is_accepted(flow, bound, holder, clock):
    proof = holder.proof(token=bound)
    clock.advance(seconds=55)
    assert _api(flow, bound, proof).status_code == 200


def test_sec13_missing_ath_is_refused(flow, bound, holder):
    assert_refused(_api(flow, bound, holder.proof()), "invalid_dpop_proof")


def test_sec13_wrong_ath_is_refused(flow, bound, holder):
    assert_refused(_api(flow, bound, holder.proof(token="vv_at_some-other-token")), "invalid_dpop_proof")


def test_sec13_missing_proof_is_refused(flow, bound):
    assert_refused(_api(flow, bound, None), "invalid_dpop_proof")


def test_sec13_two_proofs_in_one_request_are_refused(flow, bound, holder):
    response = flow.client.get("/api/v1/me", headers=[("Authorization", f"DPoP {bound}"),
                                                      ("DPoP", holder.proof(token=bound)),
                                                      ("DPoP", holder.proof(token=bound))])
    assert_refused(response, "invalid_dpop_proof")


@pytest.mark.parametrize("make", [_none_alg, _hs256, _private_jwk])
def test_sec13_unsafe_proofs_are_refused_at_the_api(flow, bound, holder, make):
    assert_refused(_api(flow, bound, make(holder)), "invalid_dpop_proof")


def test_sec13_bound_token_with_too_little_scope_gets_a_dpop_insufficient_scope(flow, bound, holder):
    response = _api(flow, bound, holder.proof(url=BASE + "/api/v1/app", token=bound), path="/api/v1/app")
    assert response.status_code == 403
    assert response.headers["WWW-Authenticate"].startswith("DPoP ")
    assert 'error="insufficient_scope"' in response.headers["WWW-Authenticate"]


def test_sec13_bound_token_sent_as_bearer_is_refused(flow, bound, holder):
    assert_refused(_api(flow, bound, None, scheme="Bearer"), "invalid_token")
    assert_refused(_api(flow, bound, holder.proof(token=bound), scheme="Bearer"), "invalid_token")


def test_sec13_plain_bearer_token_sent_with_the_dpop_scheme_is_refused(flow, logged_in, holder):
    plain = _code_exchange(flow, None).json["access_token"]
    assert_refused(_api(flow, plain, holder.proof(token=plain)), "invalid_token")
    assert flow.api("/api/v1/me", plain).status_code == 200


def test_sec13_revoked_bound_token_is_invalid_token(flow, logged_in, holder, vendor):
    tokens = _bound_tokens(flow, holder)
    flow.client.post("/oauth/revoke", data={"token": tokens["access_token"]},
                     headers={"Authorization": _basic(vendor)})
    assert_refused(_api(flow, tokens["access_token"], holder.proof(token=tokens["access_token"])), "invalid_token")


def test_sec13_plain_bearer_requests_never_touch_the_replay_cache(flow, logged_in, app):
    plain = _code_exchange(flow, None).json["access_token"]
    with recorded_statements(app) as seen:
        assert flow.api("/api/v1/me", plain).status_code == 200
    assert seen and not [s for s in seen if "dpop_proofs_seen" in s]


# --- introspection and metadata ---------------------------------------------------------------------

def test_sec13_introspection_shows_cnf_jkt(flow, logged_in, holder, vendor):
    tokens = _bound_tokens(flow, holder)
    for value, token_type in ((tokens["access_token"], "DPoP"), (tokens["refresh_token"], "refresh_token")):
        body = flow.client.post("/oauth/introspect", data={"token": value},
                                headers={"Authorization": _basic(vendor)}).json
        assert body["active"] is True and body["token_type"] == token_type
        assert body["cnf"] == {"jkt": holder.jkt}
    plain = _code_exchange(flow, None).json["access_token"]
    body = flow.client.post("/oauth/introspect", data={"token": plain}, headers={"Authorization": _basic(vendor)}).json
    assert body["token_type"] == "Bearer" and "cnf" not in body


def test_sec13_metadata_lists_the_dpop_algorithms(client):
    data = client.get("/.well-known/oauth-authorization-server").json
    assert data["dpop_signing_alg_values_supported"] == ["ES256", "EdDSA", "RS256"]


# --- the replay cache -------------------------------------------------------------------------------

def test_sec13_replay_cache_refuses_a_second_use_and_drops_expired_entries(db, holder):
    now = vault_clock.utcnow()
    proof = dpop.check(holder.proof("POST", TOKEN_URL), method="POST", url=TOKEN_URL, now=now)
    assert dpop.remember(db, proof, now=now) is True
    assert dpop.remember(db, proof, now=now) is False
    later = now + dpop.IAT_WINDOW + timedelta(seconds=2)
    fresh = dpop.check(holder.proof("POST", TOKEN_URL, iat=int(later.timestamp())), method="POST",
                       url=TOKEN_URL, now=later)
    assert dpop.remember(db, fresh, now=later) is True
    assert db.scalar(select(DPoPProofSeen.expires_at).order_by(DPoPProofSeen.expires_at)) > later
    assert len(db.scalars(select(DPoPProofSeen)).all()) == 1
