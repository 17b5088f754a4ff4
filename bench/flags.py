"""`make bench`: police flag pulls over HTTP beside a bare FastAPI endpoint; HL7-in to flag-out.

Population: CGW_BENCH_PEOPLE people (default 100,000), each with a crisis ADT (HL7 v2), a crisis
plan and a care team (FHIR), and a consent naming the police. It is seeded through the
gateway's own ingest and consent services in process (batched transactions; a seeded SQLite
population is kept in var/bench/ and reused by the next run), then a real gateway
(`consent-gateway serve`) answers the pulls: every pull matched, derived, decided by the engine
and durably audited, as in production.

Measured in one run on this machine, with wrk (Debian package `wrk`) as the load generator —
32 connections, 2 threads, random people — against:
- the gateway's `GET /fhir/r4/Flag?subject:identifier=…` with an officer's token;
- a bare FastAPI app answering `GET /hello` under the same uvicorn settings (one process,
  no access log, default loop): the ceiling of the stack on this machine.
Then the end-to-end latency from an HL7 ADT acknowledged over MLLP to its flag visible to a pull.

Printed, never asserted. CGW_BENCH_DATABASE_URL runs the gateway on PostgreSQL (seeded afresh).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch_db import scratch_database  # noqa: E402
from connectors.hl7v2.mllp import encode  # noqa: E402
from gateway.auth.tokens import issue_token  # noqa: E402
from gateway.bootstrap import open_keyring  # noqa: E402
from gateway.flows.ingest import Hl7Item  # noqa: E402
from gateway.registry.domain import Sender  # noqa: E402
from gateway.services import Services  # noqa: E402
from gateway.settings import load_settings  # noqa: E402
from gateway.store.database import create_db_engine  # noqa: E402
from policies.vocabulary import Role  # noqa: E402
from tests.builders.consent import consent, recipient_class  # noqa: E402
from tests.builders.hl7 import Person, adt  # noqa: E402
from tests.builders.program import MRN_SYSTEM, care_team, crisis_plan, subject  # noqa: E402
from tests.conftest import (  # noqa: E402
    Installation,
    free_port,
    migrate,
    register_sender,
    start_server,
    stop_server,
)

PEOPLE = int(os.environ.get("CGW_BENCH_PEOPLE", "100000"))
SECONDS = int(os.environ.get("CGW_BENCH_SECONDS", "20"))
CONNECTIONS = 32
BATCH = 500  # people per seeding transaction
E2E_SAMPLES = 30


def person(n: int) -> Person:
    letters = "".join(chr(65 + int(d)) for d in f"{n:07d}")
    return Person(
        mrn=f"F{n:07d}",
        family=f"Flag{letters}",
        given="Robin",
        birth_date=date(1950 + n % 50, 1 + n % 12, 1 + n % 28),
    )


def crisis_message(p: Person, control_id: str, at: datetime) -> str:
    return adt(p, control_id=control_id, at=at.strftime("%Y%m%d%H%M%S")).replace("|||||||PSY", "|||||||CRS")


def seed(installation: Installation, people: int) -> float:
    """Registry and population; the seconds it took."""
    started = time.perf_counter()
    hospital = register_sender(installation, "st-marys")
    register_sender(
        installation, "pd-springfield", org_type="police", agreements=("data_sharing_mou:2026-01-01",)
    )
    installation.admin("client", "add", "cad", "--org", "pd-springfield", "--role", "officer")
    settings = load_settings(database_url=installation.database_url, keyring=installation.keyring)
    engine = create_db_engine(settings)
    services = Services.build(settings, open_keyring(settings), engine)
    org = services.registry.get_org(hospital.org_id)
    assert org is not None
    sender = Sender(client_id=hospital.client_id, org=org, role=Role.SYSTEM)
    recent = datetime.now(UTC) - timedelta(days=2)
    try:
        for first in range(0, people, BATCH):
            batch = [person(n) for n in range(first, min(first + BATCH, people))]
            acks = services.ingest.hl7_many(
                [Hl7Item(sender, crisis_message(p, f"S{p.mrn}", recent).encode()) for p in batch]
            )
            assert all(b"MSA|AA|" in ack for ack in acks), acks[0][:200]
            entries = []
            for p in batch:
                for resource in (
                    crisis_plan(p),
                    care_team(p, name="Springfield Community Support Team"),
                    consent(subject(p), recipients=[recipient_class("police")], purposes=("COC",)),
                ):
                    entries.append(
                        {"resource": resource, "request": {"method": "POST", "url": resource["resourceType"]}}
                    )
            result = services.ingest.fhir_bundle(
                sender, {"resourceType": "Bundle", "type": "transaction", "entry": entries}, None
            )
            assert result.status == 200, json.dumps(result.body)[:500]
            while services.audit.integrate():
                pass
            done = first + len(batch)
            if done % 10_000 == 0 or done == people:
                print(f"  seeded {done:,} people ({time.perf_counter() - started:.0f} s)", flush=True)
    finally:
        engine.dispose()
    return time.perf_counter() - started


@contextmanager
def population() -> Iterator[Installation]:
    """A seeded installation: kept in var/bench/ for SQLite, fresh on PostgreSQL."""
    if os.environ.get("CGW_BENCH_DATABASE_URL"):
        with tempfile.TemporaryDirectory() as scratch, scratch_database(Path(scratch), "flags") as url:
            installation = prepared(Path(scratch) / "install", url)
            print(f"seeding {PEOPLE:,} people on PostgreSQL ...", flush=True)
            print(f"  seeded in {seed(installation, PEOPLE):.0f} s")
            yield installation
        return
    folder = ROOT / "var" / "bench" / f"flags-{PEOPLE}"
    url = f"sqlite:///{folder / 'gateway.db'}"
    if not (folder / "seeded").exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        installation = prepared(folder, url)
        print(f"seeding {PEOPLE:,} people on SQLite (kept in {folder} for the next run) ...", flush=True)
        print(f"  seeded in {seed(installation, PEOPLE):.0f} s")
        (folder / "seeded").write_text("ok\n")
    yield migrate(Installation(root=folder, database_url=url))  # a kept population: schema brought up to date


def prepared(root: Path, url: str) -> Installation:
    root.mkdir(parents=True, exist_ok=True)
    return migrate(Installation(root=root, database_url=url))


def officer_token(installation: Installation) -> str:
    settings = load_settings(database_url=installation.database_url, keyring=installation.keyring)
    return issue_token(
        keyring=open_keyring(settings), settings=settings, client_id="cad", subject="officer.bench", mfa=True
    )


WRK_SCRIPT = """
math.randomseed(os.time())
local people = %d
request = function()
  local n = math.random(0, people - 1)
  return wrk.format("GET", string.format("/fhir/r4/Flag?subject:identifier=%s%%%%7CF%%07d", n), {
    ["Authorization"] = "Bearer %s"})
end
"""


def wrk(url: str, script: Path | None) -> dict[str, float]:
    command = ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{SECONDS}s", "--latency", "--timeout", "10s"]
    if script is not None:
        command += ["-s", str(script)]
    output = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
    percentiles = {p: _ms(v, u) for p, v, u in re.findall(r"\s+(50|99)%\s+([\d.]+)(us|ms|s)", output)}
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "rate": rate,
        "p50": percentiles["50"],
        "p99": percentiles["99"],
        "errors": float(errors.group(1)) if errors else 0.0,
    }


def _ms(value: str, unit: str) -> float:
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def bare_endpoint() -> dict[str, float]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "bench.hello_app:app", "--host", "127.0.0.1", "--port", str(port),
         "--no-access-log", "--log-level", "warning", "--no-server-header"],
        cwd=ROOT,
    )  # fmt: skip
    try:
        _wait_http(f"http://127.0.0.1:{port}/hello")
        return wrk(f"http://127.0.0.1:{port}/hello", None)
    finally:
        process.terminate()
        process.wait(10)


def _wait_http(url: str) -> None:
    for _ in range(200):
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


def hl7_to_flag(installation: Installation, base_url: str, mllp_port: int, officer: str) -> list[float]:
    """Milliseconds from an ADT acknowledged over MLLP to its flag visible to a police pull."""
    secret = installation.admin("client", "mllp-secret", "st-marys-ehr").strip()
    hospital = {
        "Authorization": f"Bearer {installation.admin('token', 'issue', 'st-marys-ehr').strip()}",
        "Content-Type": "application/fhir+json",
    }
    run = int(time.time()) % 100_000
    samples = []
    with httpx.Client(
        base_url=base_url, headers={"Authorization": f"Bearer {officer}"}, timeout=30
    ) as client:
        for i in range(E2E_SAMPLES):
            p = person(10_000_000 + run * 100 + i)  # new people each run
            # A visit that derives no police flag makes the person known; then the consent; then
            # the crisis visit, timed from its ACK to the flag it derives.
            first = adt(p, control_id=f"P{run}-{i}").encode()
            answer = client.post(
                "/hl7v2", content=first, headers={**hospital, "Content-Type": "x-application/hl7-v2+er7"}
            )
            assert "MSA|AA|" in answer.text, answer.text
            document = consent(subject(p), recipients=[recipient_class("police")], purposes=("COC",))
            answer = client.post("/fhir/r4/Consent", content=json.dumps(document).encode(), headers=hospital)
            assert answer.status_code == 201, answer.text
            fields = crisis_message(p, f"E{run}-{i}", datetime.now(UTC)).split("|")
            fields[7] = secret  # MSH-8: the MLLP shared secret
            with socket.create_connection(("127.0.0.1", mllp_port), timeout=30) as connection:
                connection.sendall(encode("|".join(fields).encode()))
                reply = b""
                while not reply.endswith(b"\x1c\r"):
                    reply += connection.recv(4096)
                acked = time.perf_counter()
            assert b"MSA|AA|" in reply, reply[:200]
            while True:
                pulled = client.get("/fhir/r4/Flag", params={"subject:identifier": f"{MRN_SYSTEM}|{p.mrn}"})
                if "coresponder-recommended" in pulled.text:
                    samples.append((time.perf_counter() - acked) * 1000)
                    break
    return samples


def main() -> None:
    if shutil.which("wrk") is None:
        sys.exit("bench/flags.py needs wrk (Debian: apt-get install wrk)")
    print(f"Flag pulls: {PEOPLE:,} people, {CONNECTIONS} connections, {SECONDS} s per run (wrk)")
    bare = bare_endpoint()
    with population() as installation, tempfile.TemporaryDirectory() as scratch:
        server = start_server(installation)
        try:
            token = officer_token(installation)
            script = Path(scratch) / "pull.lua"
            script.write_text(WRK_SCRIPT % (PEOPLE, MRN_SYSTEM.replace("%", "%%"), token))
            _wait_http(f"{server.base_url}/healthz")
            wrk(f"{server.base_url}/fhir/r4/Flag", script)  # warm up: caches, pages, JIT-free but fair
            pulls = wrk(f"{server.base_url}/fhir/r4/Flag", script)
            e2e = hl7_to_flag(installation, server.base_url, server.mllp_port, token)
            audited = installation.query("SELECT COUNT(*) FROM audit_entries")[0][0]
        finally:
            stop_server(server)
    for label, figures in (("bare FastAPI GET /hello", bare), ("GET /fhir/r4/Flag", pulls)):
        print(
            f"  {label + ':':<25} {figures['rate']:8,.0f} req/s  "
            f"p50 {figures['p50']:6.1f} ms  p99 {figures['p99']:6.1f} ms  non-2xx {figures['errors']:.0f}"
        )
    print(
        f"  flag pulls: {pulls['rate'] / bare['rate']:.0%} of the bare endpoint (target >= 50%, p99 <= 25 ms)"
    )
    print(
        f"  HL7 ADT acked over MLLP -> flag visible: p50 {statistics.median(e2e):.1f} ms, "
        f"max {max(e2e):.1f} ms over {len(e2e)} messages"
    )
    print(f"  audit log entries after the run: {audited:,} (every pull decided and recorded)")


if __name__ == "__main__":
    main()
