"""`consent-gateway demo` on a fresh clone's terms: the real executable, real sockets, a fresh
SQLite; it walks the four flows and says what each party saw."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.conftest import free_port

CLI = str(Path(sys.executable).with_name("consent-gateway"))


def two_ports() -> tuple[int, int]:
    """Two free ports, distinct: the same free port can be handed out twice in a row."""
    http = free_port()
    mllp = free_port()
    while mllp == http:
        mllp = free_port()
    return http, mllp


def run_demo(directory: Path) -> subprocess.CompletedProcess[str]:
    http, mllp = two_ports()
    return subprocess.run(
        [CLI, "demo", "--dir", str(directory), "--port", str(http), "--mllp-port", str(mllp), "--exit"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=directory.parent,
    )


def section(output: str, title: str) -> str:
    """The lines of the section whose title contains `title`."""
    start = output.index(title)
    end = output.find("\n== ", start)
    return output[start : end if end != -1 else None]


def test_the_demo_walks_the_four_flows_and_verifies_the_log(tmp_path: Path) -> None:
    result = run_demo(tmp_path / "demo")
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    assert "MSA|AA|DEMO-0001" in section(out, "HL7 v2 ADT^A01 over MLLP")
    before = section(out, "before any consent")
    assert "an empty searchset Bundle" in before
    assert "pull_flags deny (refused)" in before
    assert "CONSENT-MISSING" in before
    during = section(out, "with the consent")
    for code in (
        "coresponder-recommended",
        "crisis-plan-on-file",
        "care-team-contact",
        "recent-crisis-contact",
    ):
        assert f"[{code}]" in during
    assert "pull_flags permit (disclosed)" in during
    lookup = section(out, "co-responder clinician looks up")
    assert "police incident: nature MENTAL" in lookup
    assert "42 CFR 2.32 notice" in lookup
    after = section(out, "after the revocation")
    assert "an empty searchset Bundle" in after
    assert "CONSENT-REVOKED" in after
    accounting = section(out, "accounting of disclosures")
    assert "to Springfield Police Department (officer.okafor): police flags" in accounting
    assert "verifier: OK" in section(out, "verify the audit log")
    assert (tmp_path / "demo" / "gateway.db").exists()

    again = run_demo(tmp_path / "demo")  # a second run starts from scratch in its own directory
    assert again.returncode == 0, again.stderr[-2000:]
    assert again.stdout.count("officer sees: [coresponder-recommended]") == 1


def test_the_demo_never_deletes_a_directory_it_did_not_create(tmp_path: Path) -> None:
    precious = tmp_path / "var"
    precious.mkdir()
    (precious / "gateway.db").write_text("someone's real data")
    result = run_demo(precious)
    assert result.returncode != 0
    assert "not a demo directory" in result.stderr
    assert (precious / "gateway.db").read_text() == "someone's real data"
