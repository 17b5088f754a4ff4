"""Audit log figures: durable appends/s (1 and 16 writers, one record per commit and batched),
integration, proofs from the database, and offline verification of a large export.

Prints figures; asserts nothing. SQLite (synchronous=FULL) by default; CGW_BENCH_DATABASE_URL
for PostgreSQL. CGW_BENCH_AUDIT_ENTRIES sets the export size (default 1,000,000).
"""

from __future__ import annotations

import base64
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from audit.bundle import Bundle, StoredCheckpoint, read_bundle, write_bundle
from audit.checkpoint import Checkpoint, NoteVerifier, public_bytes, sign
from audit.merkle import CompactRange, MemoryTree, consistency_proof, inclusion_proof, leaf_hash
from audit.record import AuditRecord, Kind, canonical
from audit.verify import verify_bundle
from bench.scratch_db import scratch_gateway
from gateway.flows.audit_log import AuditLog

ORIGIN = "bench.consent-gateway.local/audit"
APPENDS = 2000


def record(n: int) -> AuditRecord:
    return AuditRecord(
        kind=Kind.DECISION,
        action="lookup_record",
        decision="permit",
        outcome="disclosed",
        recorded=datetime.now(UTC),
        requester={"org": "co-team", "client": "co-team-app", "user": f"clin-{n % 50}"},
        purpose="TREAT",
        person_id=f"00000000-0000-4000-8000-{n:012d}",
        reasons=["TPO-TREATMENT", "CONSENT-PERMIT"],
        policy_version="sha256:" + "ab" * 32,
        data_classes=["phi", "mental_health"],
        obligations=["RECORD_ACCOUNTING", "MINIMUM_NECESSARY"],
        request_id=f"req-{n}",
        detail={"envelope_ids": [f"env-{n}"], "record_kinds": "encounter:1", "break_glass": False},
    )


def distinct_leaves(entries: int) -> list[bytes]:
    """`entries` leaves of one record with fresh nonces, encoded by orjson (as fast as the
    verifier's check, unlike rfc8785); the first is checked to be the rfc8785 bytes."""
    document = record(0).to_document(ORIGIN)
    leaves = []
    for _ in range(entries):
        document["nonce"] = base64.b64encode(secrets.token_bytes(16)).decode()
        leaves.append(orjson.dumps(document, option=orjson.OPT_SORT_KEYS))
    if leaves and leaves[-1] != canonical(document):
        raise AssertionError("orjson and rfc8785 disagree about the bench record")
    return leaves


def appends(log: AuditLog, writers: int, batch: int) -> float:
    """Durable appends/s with `writers` threads, `batch` records per commit."""
    per_writer = APPENDS // writers
    records = [record(n) for n in range(per_writer)]

    def work() -> None:
        for start in range(0, per_writer, batch):
            log.accept_now(records[start : start + batch])

    threads = [threading.Thread(target=work) for _ in range(writers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return per_writer * writers / (time.perf_counter() - started)


def database_figures() -> None:
    with scratch_gateway("audit") as (engine, keyring):
        log = AuditLog(engine=engine, keyring=keyring, origin=ORIGIN, batch=1024)
        backend = engine.dialect.name
        for writers, batch in ((1, 1), (16, 1), (1, 32), (16, 32)):
            rate = appends(log, writers, batch)
            print(
                f"audit append {backend}: {writers:>2} writer(s), {batch:>2} per commit: "
                f"{rate:,.0f} records/s"
            )
        started = time.perf_counter()
        integrated = log.integrate_all()
        elapsed = time.perf_counter() - started
        print(
            f"audit integrate {backend}: {integrated:,} records in {elapsed:.2f} s "
            f"({integrated / elapsed:,.0f}/s, "
            f"batches of 1024, a checkpoint signed per batch)"
        )
        size = log.head().size
        timings = []
        for index in range(0, size, max(1, size // 200)):
            started = time.perf_counter()
            proof = log.inclusion(index, size)
            timings.append(time.perf_counter() - started)
        print(
            f"audit inclusion proof from {backend} at size {size:,}: {len(proof)} hashes, "
            f"p50 {statistics.median(timings) * 1e3:.2f} ms"
        )


def verification_figures(entries: int) -> None:
    key = Ed25519PrivateKey.generate()
    started = time.perf_counter()
    leaves = distinct_leaves(entries)
    compact, notes = CompactRange(), []
    for size, leaf in enumerate(leaves, start=1):
        compact.append(leaf_hash(leaf))
        if size % 10_000 == 0 or size == entries:
            notes.append(StoredCheckpoint(size, sign(Checkpoint(ORIGIN, size, compact.root()), ORIGIN, key)))
    print(f"audit export of {entries:,} entries built in {time.perf_counter() - started:.1f} s")
    keys = [NoteVerifier(ORIGIN, public_bytes(key)).encode()]
    bundle = Bundle(ORIGIN, keys, leaves, [leaf_hash(leaf) for leaf in leaves], notes, list(range(entries)))
    for check_records in (True, False):
        started = time.perf_counter()
        report = verify_bundle(bundle, check_records=check_records)
        elapsed = time.perf_counter() - started
        what = "tree, checkpoints and canonical records" if check_records else "tree and checkpoints only"
        print(
            f"audit verify {report.entries:,} entries in memory ({what}): {elapsed:.1f} s, "
            f"{report.entries / elapsed:,.0f} entries/s"
        )
    with tempfile.TemporaryDirectory(prefix="cgw-bench-export-") as directory:
        write_bundle(
            Path(directory),
            origin=ORIGIN,
            verifier_keys=keys,
            leaves=((index, leaf, leaf_hash(leaf)) for index, leaf in enumerate(leaves)),
            checkpoints=notes,
            exported_at=datetime.now(UTC).isoformat(),
        )
        started = time.perf_counter()
        read = read_bundle(Path(directory))
        loaded = time.perf_counter() - started
        report = verify_bundle(read)
        elapsed = time.perf_counter() - started
        print(
            f"audit verify {report.entries:,} entries from an export directory, as `audit verify DIR` "
            f"(read {loaded:.1f} s, then every check): {elapsed:.1f} s, "
            f"{report.entries / elapsed:,.0f} entries/s"
        )
    tree = MemoryTree([leaf_hash(leaf) for leaf in leaves])
    timings = []
    for index in range(0, entries, max(1, entries // 1000)):
        started = time.perf_counter()
        proof = inclusion_proof(tree, index, entries)
        timings.append(time.perf_counter() - started)
    consistency = consistency_proof(tree, entries // 3, entries)
    print(
        f"audit proofs at {entries:,} entries (in memory): inclusion {len(proof)} hashes "
        f"({len(proof) * 32} bytes), p50 {statistics.median(timings) * 1e6:.0f} µs; "
        f"consistency {len(consistency)} hashes"
    )


def main() -> None:
    database_figures()
    verification_figures(int(os.environ.get("CGW_BENCH_AUDIT_ENTRIES", "1000000")))


if __name__ == "__main__":
    main()
