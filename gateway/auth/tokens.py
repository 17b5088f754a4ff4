"""Signed bearer JWTs: issued by the embedded Ed25519 issuer, or verified from an OIDC issuer.

Invariants:
- Only asymmetric algorithms are accepted, and only those the issuer uses ("none" and HMAC
  never, so a public key can't be replayed as an HMAC secret).
- `iss`, `aud`, `exp`, `iat` and `sub` are required; clock skew tolerance is 30 seconds.
- MFA is read from `amr` (RFC 8176): "mfa", or methods from at least two factor categories.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from jwt.algorithms import OKPAlgorithm

from gateway.auth.errors import IssuerUnavailable, TokenRejected
from gateway.keyring import Keyring
from gateway.settings import Settings

TOKEN_KEY_PURPOSE = "token"  # noqa: S105 - a key purpose label, not a secret
EMBEDDED_ALGORITHMS = ["EdDSA"]
OIDC_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA"]
LEEWAY = timedelta(seconds=30)
REQUIRED_CLAIMS = ["iss", "aud", "exp", "iat", "sub"]

# RFC 8176 authentication method references, by factor category.
_KNOW = {"pwd", "pin", "kba"}
_HAVE = {"hwk", "swk", "otp", "sms", "tel", "sc"}
_ARE = {"fpt", "face", "iris", "retina", "vbm", "bio"}


def amr_means_mfa(amr: object) -> bool:
    """True when `amr` says multi-factor: "mfa", or factors from two categories (RFC 8176)."""
    if not isinstance(amr, list):
        return False
    methods = {m for m in amr if isinstance(m, str)}
    if "mfa" in methods:
        return True
    return sum(bool(methods & category) for category in (_KNOW, _HAVE, _ARE)) >= 2


@dataclass(frozen=True)
class VerifiedToken:
    issuer: str
    subject: str
    client_id: str
    mfa: bool
    token_id: str | None
    expires_at: datetime


def issue_token(
    *,
    keyring: Keyring,
    settings: Settings,
    client_id: str,
    subject: str | None = None,
    mfa: bool = False,
    ttl: int = 3600,
    now: datetime | None = None,
) -> str:
    """Sign a bearer token for a registered client with the embedded issuer's newest key."""
    key = keyring.active_signing_key(TOKEN_KEY_PURPOSE)
    issued = now or datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": settings.token_issuer,
        "aud": settings.token_audience,
        "sub": subject or client_id,
        "client_id": client_id,
        "iat": int(issued.timestamp()),
        "nbf": int(issued.timestamp()),
        "exp": int((issued + timedelta(seconds=ttl)).timestamp()),
        "jti": secrets.token_hex(16),
    }
    if mfa:
        claims["amr"] = ["mfa"]
    return jwt.encode(claims, key.private_key, algorithm="EdDSA", headers={"kid": key.kid})


def embedded_jwks(keyring: Keyring) -> dict[str, Any]:
    """The embedded issuer's public keys as a JWK Set (RFC 7517), for relying parties."""
    keys = []
    for key in keyring.signing_keys:
        if key.purpose != TOKEN_KEY_PURPOSE:
            continue
        jwk = OKPAlgorithm.to_jwk(key.public_key, as_dict=True)
        keys.append({**jwk, "kid": key.kid, "use": "sig", "alg": "EdDSA"})
    return {"keys": keys}


class TokenVerifier:
    """Checks bearer tokens from the embedded issuer and, when configured, an OIDC issuer."""

    def __init__(self, *, keyring: Keyring, settings: Settings) -> None:
        self._keyring = keyring
        self._settings = settings
        self._jwks: jwt.PyJWKClient | None = None
        if settings.oidc_jwks_url:
            self._jwks = jwt.PyJWKClient(settings.oidc_jwks_url, cache_keys=True, lifespan=300, timeout=5)

    def verify(self, token: str) -> VerifiedToken:
        """Verify signature and claims.

        Raises:
            TokenRejected: for any reason the token is not acceptable.
            IssuerUnavailable: the OIDC issuer's keys cannot be fetched.
        """
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except jwt.PyJWTError:
            raise TokenRejected("malformed", "not a well-formed JWT") from None
        issuer = unverified.get("iss")
        if issuer == self._settings.token_issuer and self._settings.embedded_issuer:
            key: Any = self._embedded_key(header)
            algorithms, audience = EMBEDDED_ALGORITHMS, self._settings.token_audience
        elif self._jwks is not None and issuer == self._settings.oidc_issuer:
            key = self._oidc_key(token)
            algorithms, audience = OIDC_ALGORITHMS, self._settings.effective_oidc_audience
        else:
            raise TokenRejected("unknown_issuer", "token issuer is not trusted")
        claims = self._decode(token, key, algorithms, audience, str(issuer))
        client_id = (
            claims.get(self._settings.oidc_client_claim) or claims.get("client_id") or claims.get("azp")
        )
        if not isinstance(client_id, str) or not client_id:
            raise TokenRejected("missing_claim", "token names no client (client_id or azp)")
        return VerifiedToken(
            issuer=str(issuer),
            subject=str(claims["sub"]),
            client_id=client_id,
            mfa=amr_means_mfa(claims.get("amr")),
            token_id=claims.get("jti") if isinstance(claims.get("jti"), str) else None,
            expires_at=datetime.fromtimestamp(int(claims["exp"]), UTC),
        )

    def _embedded_key(self, header: dict[str, Any]) -> Any:
        kid = header.get("kid")
        key = self._keyring.signing_key(kid, TOKEN_KEY_PURPOSE) if isinstance(kid, str) else None
        if key is None:
            raise TokenRejected("invalid_signature", "token is not signed by a key of this issuer")
        return key.public_key

    def _oidc_key(self, token: str) -> Any:
        assert self._jwks is not None
        try:
            return self._jwks.get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError:
            raise IssuerUnavailable("the OIDC issuer's JWKS could not be fetched") from None
        except jwt.PyJWKClientError:
            raise TokenRejected("invalid_signature", "token is not signed by a key of this issuer") from None
        except jwt.PyJWTError:
            raise TokenRejected("malformed", "token header cannot be matched to a key") from None

    def _decode(
        self, token: str, key: Any, algorithms: list[str], audience: str, issuer: str
    ) -> dict[str, Any]:
        try:
            return jwt.decode(
                token,
                key,
                algorithms=algorithms,
                audience=audience,
                issuer=issuer,
                leeway=LEEWAY,
                options={"require": REQUIRED_CLAIMS},
            )
        except jwt.ExpiredSignatureError:
            raise TokenRejected("expired", "token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenRejected("not_yet_valid", "token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise TokenRejected("invalid_audience", "token is not meant for this gateway") from None
        except jwt.InvalidIssuerError:
            raise TokenRejected("unknown_issuer", "token issuer is not trusted") from None
        except jwt.InvalidSignatureError:
            raise TokenRejected("invalid_signature", "token signature does not verify") from None
        except jwt.InvalidAlgorithmError:
            raise TokenRejected("invalid_signature", "token uses an algorithm this issuer does not") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenRejected("missing_claim", f"token lacks the {exc.claim!r} claim") from None
        except jwt.PyJWTError:
            raise TokenRejected("malformed", "token cannot be verified") from None
