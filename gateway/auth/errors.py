"""Authentication errors.

    AuthError
    ├── TokenRejected       the token is not acceptable (401); `reason` is a short code
    └── IssuerUnavailable   the external issuer's keys cannot be fetched (503)

Messages carry reason codes only: never the token, its claims, or personal data.
"""


class AuthError(Exception):
    """Base of authentication errors."""


class TokenRejected(AuthError):
    """The bearer token is missing, malformed, expired, wrongly signed, or names an unknown client."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class IssuerUnavailable(AuthError):
    """The configured OIDC issuer's JWKS could not be fetched."""
