"""Errors of the policy package. Messages name files and rules, never decision inputs."""

from __future__ import annotations


class PolicyError(Exception):
    """Base class."""


class PolicyLoadError(PolicyError):
    """The policy bundle or an overlay cannot be loaded (bad Rego, overlay in a forbidden package)."""


class PolicyUnavailable(PolicyError):
    """No decision could be obtained (OPA unreachable, malformed result). Callers fail closed."""
