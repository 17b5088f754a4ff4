"""The policy bundle: our Rego modules plus a county's overlays, with one version hash.

Invariants:
- `version` is the SHA-256 of every module's name and text (sorted by name) and the catalog,
  so any change to what decides gives a new version, and the same files give the same one.
- Overlays (STATE-OVERLAY) may only declare packages under `consent_gateway.overlay.`; the
  decision reads nothing from them but `deny` and `obligations`, so an overlay can add
  denials and obligations and never a permit. A module in any other package is refused.
- `*_test.rego` files are tests, never part of the bundle.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from policies.errors import PolicyLoadError

DECISION_PACKAGE = "consent_gateway.decision"
RESULT_ENTRYPOINT = "consent_gateway/decision/result"
EXPLAIN_ENTRYPOINT = "consent_gateway/decision/explained"
FLAGS_ENTRYPOINT = "consent_gateway/flags/derived"
OVERLAY_PREFIX = "consent_gateway.overlay."

_PACKAGE = re.compile(r"^package\s+([A-Za-z_][A-Za-z0-9_.]*)\s*$", re.MULTILINE)
_OVERLAY_PACKAGE = re.compile(r"^consent_gateway\.overlay\.[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class Module:
    name: str  # e.g. "policies/hipaa.rego" or "overlay/ca-lps.rego"
    text: str
    package: str
    overlay: bool = False

    @property
    def policy_id(self) -> str:
        """A name OPA accepts as a policy id (PUT /v1/policies/{id})."""
        return re.sub(r"[^A-Za-z0-9_-]", "_", self.name)


@dataclass(frozen=True)
class PolicyBundle:
    modules: tuple[Module, ...]
    catalog_text: str

    @property
    def version(self) -> str:
        digest = hashlib.sha256()
        for module in sorted(self.modules, key=lambda m: m.name):
            for part in (module.name, module.text):
                digest.update(part.encode())
                digest.update(b"\0")
        digest.update(self.catalog_text.encode())
        return "sha256:" + digest.hexdigest()

    @property
    def overlays(self) -> tuple[Module, ...]:
        return tuple(m for m in self.modules if m.overlay)


def package_of(name: str, text: str) -> str:
    """Raises: PolicyLoadError when the module declares no package."""
    found = _PACKAGE.search(text)
    if found is None:
        raise PolicyLoadError(f"{name}: no package declaration")
    return found.group(1)


def _our_modules() -> list[Module]:
    root = resources.files("policies")
    modules = []
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".rego") and not entry.name.endswith("_test.rego"):
            text = entry.read_text(encoding="utf-8")
            name = f"policies/{entry.name}"
            modules.append(Module(name=name, text=text, package=package_of(name, text)))
    return modules


def overlay_module(name: str, text: str) -> Module:
    """Check one overlay module.

    Raises:
        PolicyLoadError: not Rego v1, or its package is outside consent_gateway.overlay.*.
    """
    package = package_of(name, text)
    if not _OVERLAY_PACKAGE.fullmatch(package):
        raise PolicyLoadError(
            f"{name}: overlay package {package!r} is not under {OVERLAY_PREFIX}<jurisdiction>; "
            "overlays may only add denials and obligations"
        )
    if not re.search(r"^import rego\.v1\s*$", text, re.MULTILINE):
        raise PolicyLoadError(f"{name}: overlays are Rego v1 and must `import rego.v1`")
    return Module(name=name, text=text, package=package, overlay=True)


def load_overlays(directories: Iterable[Path]) -> list[Module]:
    """Every `*.rego` (not `*_test.rego`) in each directory, in name order.

    Raises:
        PolicyLoadError: a directory is missing, or a module is refused.
    """
    modules = []
    for directory in directories:
        if not directory.is_dir():
            raise PolicyLoadError(f"overlay directory {directory} does not exist")
        for path in sorted(directory.glob("*.rego")):
            if not path.name.endswith("_test.rego"):
                modules.append(overlay_module(f"overlay/{path.name}", path.read_text(encoding="utf-8")))
    return modules


def load_bundle(overlay_dirs: Iterable[Path] = ()) -> PolicyBundle:
    """Raises: PolicyLoadError."""
    modules = _our_modules() + load_overlays(overlay_dirs)
    names = [m.name for m in modules]
    if len(set(names)) != len(names):
        raise PolicyLoadError("two overlay modules have the same file name")
    catalog_text = resources.files("policies").joinpath("catalog.json").read_text(encoding="utf-8")
    return PolicyBundle(modules=tuple(modules), catalog_text=catalog_text)
