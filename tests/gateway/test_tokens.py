"""Bearer tokens: the embedded issuer, verification failures, MFA, and an external OIDC issuer."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import RSAAlgorithm

from gateway.auth.errors import IssuerUnavailable, TokenRejected
from gateway.auth.tokens import TokenVerifier, amr_means_mfa, embedded_jwks, issue_token
from gateway.keyring import Keyring
from gateway.settings import Settings, load_settings

RING = Keyring.create()
SETTINGS = load_settings()


def _verifier(settings: Settings = SETTINGS, ring: Keyring = RING) -> TokenVerifier:
    return TokenVerifier(keyring=ring, settings=settings)


def _rejected_reason(token: str, verifier: TokenVerifier | None = None) -> str:
    with pytest.raises(TokenRejected) as caught:
        (verifier or _verifier()).verify(token)
    return caught.value.reason


def _embedded_claims() -> dict[str, Any]:
    """Valid claims for the embedded issuer, to sign with the wrong key or algorithm."""
    now = int(datetime.now(UTC).timestamp())
    return {
        "iss": SETTINGS.token_issuer,
        "aud": SETTINGS.token_audience,
        "sub": "x",
        "client_id": "rms-1",
        "iat": now,
        "exp": now + 600,
    }


def test_issued_token_verifies_with_its_client_subject_and_mfa() -> None:
    token = issue_token(keyring=RING, settings=SETTINGS, client_id="rms-1", subject="officer.jones", mfa=True)
    verified = _verifier().verify(token)
    assert verified.client_id == "rms-1"
    assert verified.subject == "officer.jones"
    assert verified.mfa is True
    assert verified.issuer == SETTINGS.token_issuer


def test_token_without_mfa_is_single_factor() -> None:
    token = issue_token(keyring=RING, settings=SETTINGS, client_id="rms-1")
    assert _verifier().verify(token).mfa is False


def test_expired_token_is_rejected() -> None:
    long_ago = datetime.now(UTC) - timedelta(hours=3)
    token = issue_token(keyring=RING, settings=SETTINGS, client_id="rms-1", ttl=3600, now=long_ago)
    assert _rejected_reason(token) == "expired"


def test_token_signed_by_another_key_under_the_same_kid_is_rejected() -> None:
    genuine = jwt.get_unverified_header(issue_token(keyring=RING, settings=SETTINGS, client_id="rms-1"))
    claims = _embedded_claims()
    forged = jwt.encode(
        claims, Ed25519PrivateKey.generate(), algorithm="EdDSA", headers={"kid": genuine["kid"]}
    )
    assert _rejected_reason(forged) == "invalid_signature"


def test_token_from_another_keyring_is_rejected() -> None:
    token = issue_token(keyring=Keyring.create(), settings=SETTINGS, client_id="rms-1")
    assert _rejected_reason(token) == "invalid_signature"


def test_token_for_another_audience_is_rejected() -> None:
    other = load_settings(token_audience="some-other-service")
    token = issue_token(keyring=RING, settings=other, client_id="rms-1")
    assert _rejected_reason(token) == "invalid_audience"


def test_token_from_an_untrusted_issuer_is_rejected() -> None:
    other = load_settings(token_issuer="urn:somebody-else")
    token = issue_token(keyring=RING, settings=other, client_id="rms-1")
    assert _rejected_reason(token) == "unknown_issuer"


def test_unsigned_alg_none_token_is_rejected() -> None:
    claims = {
        "iss": SETTINGS.token_issuer,
        "aud": SETTINGS.token_audience,
        "sub": "x",
        "client_id": "rms-1",
        "iat": 0,
        "exp": 4_000_000_000,
    }
    token = jwt.encode(claims, None, algorithm="none")
    assert _rejected_reason(token) in {"invalid_signature", "malformed"}


def test_hmac_token_keyed_with_the_public_key_is_rejected() -> None:
    public_jwk = json.dumps(embedded_jwks(RING)["keys"][0])
    kid = RING.active_signing_key("token").kid
    claims = _embedded_claims()
    token = jwt.encode(claims, public_jwk.encode() * 2, algorithm="HS256", headers={"kid": kid})
    assert _rejected_reason(token) == "invalid_signature"


@pytest.mark.parametrize("garbage", ["", "abc", "a.b.c", "eyJhbGciOiJub25lIn0..", "x" * 5000])
def test_malformed_tokens_are_rejected(garbage: str) -> None:
    assert _rejected_reason(garbage) == "malformed"


def test_token_signed_before_rotation_still_verifies_after_it() -> None:
    before = issue_token(keyring=RING, settings=SETTINGS, client_id="rms-1")
    rotated = RING.rotate_signing_key("token")
    after = issue_token(keyring=rotated, settings=SETTINGS, client_id="rms-1")
    assert jwt.get_unverified_header(after)["kid"] != jwt.get_unverified_header(before)["kid"]
    assert _verifier(ring=rotated).verify(before).client_id == "rms-1"
    assert _verifier(ring=rotated).verify(after).client_id == "rms-1"


def test_disabled_embedded_issuer_refuses_its_own_tokens() -> None:
    token = issue_token(keyring=RING, settings=SETTINGS, client_id="rms-1")
    assert _rejected_reason(token, _verifier(load_settings(embedded_issuer=False))) == "unknown_issuer"


@pytest.mark.parametrize(
    ("amr", "mfa"),
    [
        (["mfa"], True),
        (["pwd", "otp"], True),
        (["pwd", "hwk"], True),
        (["hwk", "fpt"], True),
        (["pwd"], False),
        (["pwd", "pin"], False),  # two things known are one factor
        (["otp", "sms"], False),  # two things held are one factor
        ([], False),
        ("mfa", False),  # amr must be an array (RFC 8176)
        (None, False),
    ],
)
def test_mfa_is_read_from_amr(amr: Any, mfa: bool) -> None:
    assert amr_means_mfa(amr) is mfa


# --- an external OIDC issuer, served for real on a local socket -------------------------------

ISSUER = "https://idp.county.example"
RSA_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


class _JwksHandler(BaseHTTPRequestHandler):
    body = b""

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture(scope="module")
def jwks_url() -> Iterator[str]:
    jwk = RSAAlgorithm.to_jwk(RSA_KEY.public_key(), as_dict=True)
    _JwksHandler.body = json.dumps({"keys": [{**jwk, "kid": "idp-1", "use": "sig", "alg": "RS256"}]}).encode()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _JwksHandler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/jwks"
    httpd.shutdown()
    httpd.server_close()


def _oidc_token(
    *, key: Any = RSA_KEY, kid: str = "idp-1", drop: tuple[str, ...] = (), **overrides: Any
) -> str:
    """A token as the county's IdP would sign it; vary the key, kid or any claim."""
    now = int(datetime.now(UTC).timestamp())
    claims = {
        "iss": ISSUER,
        "aud": "consent-gateway",
        "sub": "u-123",
        "azp": "cad-console",
        "iat": now,
        "exp": now + 600,
        "amr": ["pwd", "otp"],
        **overrides,
    }
    for claim in drop:
        del claims[claim]
    return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})


def _oidc_verifier(jwks_url: str) -> TokenVerifier:
    return _verifier(load_settings(oidc_jwks_url=jwks_url, oidc_issuer=ISSUER))


def test_oidc_token_verifies_through_the_issuers_jwks(jwks_url: str) -> None:
    verified = _oidc_verifier(jwks_url).verify(_oidc_token())
    assert verified.client_id == "cad-console"
    assert verified.subject == "u-123"
    assert verified.mfa is True
    assert verified.issuer == ISSUER


def test_oidc_token_for_another_audience_is_rejected(jwks_url: str) -> None:
    assert _rejected_reason(_oidc_token(aud="another-api"), _oidc_verifier(jwks_url)) == "invalid_audience"


def test_oidc_token_with_unknown_kid_is_rejected(jwks_url: str) -> None:
    token = _oidc_token(kid="not-published")
    assert _rejected_reason(token, _oidc_verifier(jwks_url)) == "invalid_signature"


def test_oidc_token_signed_by_an_impostor_is_rejected(jwks_url: str) -> None:
    impostor = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert _rejected_reason(_oidc_token(key=impostor), _oidc_verifier(jwks_url)) == "invalid_signature"


def test_oidc_token_naming_no_client_is_rejected(jwks_url: str) -> None:
    assert _rejected_reason(_oidc_token(drop=("azp",)), _oidc_verifier(jwks_url)) == "missing_claim"


def test_unreachable_jwks_is_an_issuer_outage_not_a_bad_token() -> None:
    verifier = _verifier(load_settings(oidc_jwks_url="http://127.0.0.1:9/jwks", oidc_issuer=ISSUER))
    with pytest.raises(IssuerUnavailable):
        verifier.verify(_oidc_token())
