"""Bearer-token authentication: the embedded issuer, token verification, and caller resolution."""
