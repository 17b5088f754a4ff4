"""`make bench`: ingest throughput, printed, never asserted.

Starts a real gateway (`consent-gateway serve`) on a scratch SQLite database (or the database in
CGW_BENCH_DATABASE_URL), then measures, in one run on this machine:
- hl7apy and python-hl7 parse-only rates for the ADT message used below;
- HL7 v2 ADT over MLLP, durably acknowledged, with 4 concurrent senders: messages/s, p50/p99 ACK latency;
- FHIR transaction Bundles of 5 entries over HTTP with 4 concurrent clients: bundles/s, p50/p99.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from datetime import date
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.scratch_db import scratch_database  # noqa: E402
from tests.builders.hl7 import Person, adt  # noqa: E402
from tests.conftest import Installation, free_port, register_sender, start_server, stop_server  # noqa: E402

SENDERS = 4
MLLP_MESSAGES = int(os.environ.get("CGW_BENCH_MESSAGES", "4000"))
FHIR_BUNDLES = int(os.environ.get("CGW_BENCH_BUNDLES", "400"))


def person(n: int) -> Person:
    letters = "".join(chr(65 + int(d)) for d in f"{n:06d}")
    return Person(
        mrn=f"B{n:07d}",
        family=f"Bench{letters}",
        given="Alex",
        birth_date=date(1970 + n % 50, 1 + n % 12, 1 + n % 28),
    )


def parse_rates() -> tuple[float, float]:
    import hl7
    from hl7apy.parser import parse_message

    sample = adt(person(1)).replace("\n", "\r")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        started = time.perf_counter()
        for _ in range(100):
            parse_message(sample, find_groups=True)
        hl7apy_rate = 100 / (time.perf_counter() - started)
    started = time.perf_counter()
    for _ in range(1000):
        hl7.parse(sample)
    return hl7apy_rate, 1000 / (time.perf_counter() - started)


def mllp_frames(secret: str, numbers: range) -> list[tuple[int, bytes]]:
    """Built before the clock starts, as an interface engine's queue holds them ready."""
    return [
        (n, b"\x0b" + adt(person(n), control_id=f"BENCH-{n}", secret=secret).encode() + b"\x1c\x0d")
        for n in numbers
    ]


async def mllp_sender(port: int, frames: list[tuple[int, bytes]], latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        for n, frame in frames:
            started = time.perf_counter()
            writer.write(frame)
            await writer.drain()
            ack = await reader.readuntil(b"\x1c\x0d")
            latencies.append(time.perf_counter() - started)
            if b"MSA|AA|" not in ack:
                raise RuntimeError(f"message {n} was not accepted: {ack[:200]!r}")
    finally:
        writer.close()


async def run_mllp(port: int, secret: str, total: int, offset: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    per = total // SENDERS
    frames = [mllp_frames(secret, range(offset + s * per, offset + (s + 1) * per)) for s in range(SENDERS)]
    started = time.perf_counter()
    await asyncio.gather(*(mllp_sender(port, frames[s], latencies) for s in range(SENDERS)))
    return per * SENDERS / (time.perf_counter() - started), latencies


def bundle(n: int) -> dict[str, object]:
    ref = f"urn:uuid:00000000-0000-4000-8000-{n:012d}"
    subject = {"reference": ref}
    return {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "fullUrl": ref,
                "request": {"method": "POST", "url": "Patient"},
                "resource": {
                    "resourceType": "Patient",
                    "identifier": [{"system": "urn:oid:1.2.3", "value": f"F{n}"}],
                    "name": [{"family": person(n).family, "given": [person(n + 500_000).family[5:]]}],
                    "birthDate": person(n).birth_date.isoformat(),
                },
            },
            {
                "request": {"method": "POST", "url": "Encounter"},
                "resource": {
                    "resourceType": "Encounter",
                    "status": "finished",
                    "class": {"code": "EMER"},
                    "subject": subject,
                },
            },
            {
                "request": {"method": "POST", "url": "Condition"},
                "resource": {
                    "resourceType": "Condition",
                    "subject": subject,
                    "code": {"coding": [{"system": "http://hl7.org/fhir/sid/icd-10-cm", "code": "F43.0"}]},
                },
            },
            {
                "request": {"method": "POST", "url": "Observation"},
                "resource": {
                    "resourceType": "Observation",
                    "status": "final",
                    "code": {"text": "PHQ-9"},
                    "subject": subject,
                },
            },
            {
                "request": {"method": "POST", "url": "CarePlan"},
                "resource": {
                    "resourceType": "CarePlan",
                    "status": "active",
                    "intent": "plan",
                    "subject": subject,
                },
            },
        ],
    }


async def run_fhir(base_url: str, token: str, total: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"}
    per = total // SENDERS

    async def client(worker: int) -> None:
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=60) as http:
            for n in range(worker * per, (worker + 1) * per):
                body = json.dumps(bundle(n))
                started = time.perf_counter()
                answer = await http.post("/fhir/r4", content=body)
                latencies.append(time.perf_counter() - started)
                if answer.status_code != 200:
                    raise RuntimeError(f"bundle {n}: {answer.status_code}")

    started = time.perf_counter()
    await asyncio.gather(*(client(w) for w in range(SENDERS)))
    return per * SENDERS / (time.perf_counter() - started), latencies


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] * 1000 if len(values) > 1 else 0.0


def main() -> None:
    hl7apy_rate, fast_rate = parse_rates()
    with tempfile.TemporaryDirectory() as scratch, scratch_database(Path(scratch), "ingest") as database:
        root = Path(scratch)
        installation = Installation(root=root, database_url=database)
        subprocess.run(
            [str(Path(sys.executable).parent / "consent-gateway"), "db", "upgrade"],
            env=installation.env(),
            cwd=root,
            check=True,
            capture_output=True,
        )
        hospital = register_sender(installation, "bench-hospital")
        workers = os.environ.get("CGW_MLLP_WORKERS", "1")
        server = start_server(
            installation, CGW_MLLP_PORT=str(free_port()), CGW_LOG_LEVEL="warning", CGW_MLLP_WORKERS=workers
        )
        try:
            asyncio.run(run_mllp(server.mllp_port, hospital.mllp_secret, 200, 10_000_000))  # warm-up
            rate, latencies = asyncio.run(run_mllp(server.mllp_port, hospital.mllp_secret, MLLP_MESSAGES, 0))
            fhir_rate, fhir_latencies = asyncio.run(run_fhir(server.base_url, hospital.token, FHIR_BUNDLES))
        except Exception:
            print(server.log()[-3000:], file=sys.stderr)
            raise
        finally:
            stop_server(server)
    backend = database.split(":", 1)[0]
    workers = os.environ.get("CGW_MLLP_WORKERS", "1")
    print(
        f"machine: {os.cpu_count()} cores; database: {backend}; senders: {SENDERS}; MLLP workers: {workers}"
    )
    print(f"hl7apy parse only (find_groups):     {hl7apy_rate:8.0f} msg/s")
    print(f"python-hl7 parse only:                {fast_rate:8.0f} msg/s")
    print(
        f"HL7 v2 ADT over MLLP, durable ACK:    {rate:8.0f} msg/s"
        f"  ({rate / hl7apy_rate:.1f}x hl7apy parse-only)"
        f"  p50 {percentile(latencies, 50):.1f} ms  p99 {percentile(latencies, 99):.1f} ms"
        f"  [{MLLP_MESSAGES} messages]"
    )
    print(
        f"FHIR transaction Bundles (5 entries): {fhir_rate:8.0f} bundles/s"
        f"  p50 {percentile(fhir_latencies, 50):.1f} ms  p99 {percentile(fhir_latencies, 99):.1f} ms"
        f"  [{FHIR_BUNDLES} bundles]"
    )


if __name__ == "__main__":
    main()
