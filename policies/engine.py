"""The policy engine interface, and the choice of adapter from configuration.

Two adapters answer the same question the same way: `RegoEngine` evaluates in process
(regopy, the default) and `OpaEngine` asks an OPA server (`CGW_OPA_URL`). Both load the same
`PolicyBundle` and both turn the raw result into a `Decision` through `Decision.from_result`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from policies.bundle import PolicyBundle, load_bundle
from policies.catalog import Catalog, load_catalog
from policies.decision import Decision
from policies.flags import DerivedFlag


class PolicyEngine(Protocol):
    @property
    def bundle(self) -> PolicyBundle: ...

    @property
    def catalog(self) -> Catalog: ...

    @property
    def version(self) -> str: ...

    def decide(self, decision_input: Mapping[str, Any]) -> Decision:
        """Raises: PolicyUnavailable (callers fail closed)."""
        ...

    def explain(self, decision_input: Mapping[str, Any]) -> Decision:
        """The decision with the rules that fired. Raises: PolicyUnavailable."""
        ...

    def derive_flags(self, derivation_input: Mapping[str, Any]) -> list[DerivedFlag]:
        """The police flags a person's records support (policies/flags.rego), before any
        decision about who may see them. Raises: PolicyUnavailable."""
        ...

    def close(self) -> None: ...


class BundleEngine:
    """What both adapters hold: the bundle they evaluate, its version and the rule catalog."""

    def __init__(self, bundle: PolicyBundle) -> None:
        self._bundle = bundle
        self._version = bundle.version
        self._catalog = load_catalog()

    @property
    def bundle(self) -> PolicyBundle:
        return self._bundle

    @property
    def catalog(self) -> Catalog:
        return self._catalog

    @property
    def version(self) -> str:
        return self._version


def build_engine(
    *, opa_url: str | None = None, overlay_dirs: tuple[Path, ...] = (), interpreters: int = 1
) -> PolicyEngine:
    """The configured engine over our policies and the county's overlays.

    Raises:
        PolicyLoadError: a module does not load or an overlay is refused.
        PolicyUnavailable: the OPA server cannot be reached or refuses the policies.
    """
    bundle = load_bundle(overlay_dirs)
    if opa_url:
        from policies.opa import OpaEngine

        return OpaEngine(bundle, opa_url)
    from policies.inprocess import RegoEngine

    return RegoEngine(bundle, interpreters=interpreters)
