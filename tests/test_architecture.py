"""The dependency direction of DESIGN.md section 2 is a rule: import-linter contracts enforce it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_import_contracts_hold() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(
        [str(lint_imports), "--no-cache"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def test_every_library_package_ships_a_type_marker() -> None:
    for package in ("gateway", "connectors", "consent_ledger", "audit", "policies"):
        assert (ROOT / package / "py.typed").is_file(), package
