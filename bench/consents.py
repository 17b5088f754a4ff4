"""`make bench`: `consents_for` latency with 100,000 people x 3 consents, printed, never asserted.

Seeds a scratch SQLite database (or CGW_BENCH_DATABASE_URL) through the ledger's own store,
rows hashed and chained like real ones, then times `ConsentService.consents_for(person, at)`
(merges followed, history replayed) for random people. CGW_BENCH_PEOPLE changes the size.
"""

from __future__ import annotations

import os
import random
import statistics
import sys
import time
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import insert  # noqa: E402

from bench.scratch_db import scratch_gateway  # noqa: E402
from consent_ledger import GENESIS, Change, ConsentTerms, ConsentVersion, row_hash  # noqa: E402
from consent_ledger.sql import store as consent_store  # noqa: E402
from consent_ledger.sql.tables import ConsentVersionRow  # noqa: E402
from gateway.flows.audit_log import AuditLog  # noqa: E402
from gateway.flows.consents import ConsentService  # noqa: E402
from gateway.flows.policy import PolicyGate  # noqa: E402
from gateway.store.database import writer  # noqa: E402
from gateway.store.tables import PersonRow  # noqa: E402
from policies.engine import build_engine  # noqa: E402
from policies.vocabulary import DataClass, PurposeOfUse  # noqa: E402

PEOPLE = int(os.environ.get("CGW_BENCH_PEOPLE", "100000"))
PER_PERSON = 3
SAMPLES = 5000
START = datetime(2026, 1, 1, tzinfo=UTC)


def versions_of(person_id: str, n: int) -> list[dict[str, object]]:
    """Rows of three active consents for one person, hashed like real ones (the text is a dummy)."""
    rows = []
    for k in range(PER_PERSON):
        terms = ConsentTerms(
            fhir_status="active",
            scope=frozenset({DataClass.PHI, DataClass.MENTAL_HEALTH}),
            recipient_orgs=("pd-springfield",) if k == 0 else (),
            recipient_types=("co_responder_team",),
            purposes=frozenset({PurposeOfUse.COC}),
            period_end=START + timedelta(days=365 + k),
        )
        recorded = START + timedelta(minutes=n % 100_000, seconds=k)
        version = ConsentVersion(
            consent_id=str(uuid.uuid4()),
            version=1,
            person_id=person_id,
            change=Change.RECORD,
            terms=terms,
            recorded_at=recorded,
            effective_at=recorded,
            recorded_by_client="bench-ehr",
            recorded_by_org="bench",
            reason=None,
            document_sha256="0" * 64,
            prev_hash=GENESIS,
        )
        version = replace(version, row_hash=row_hash(version))
        rows.append(consent_store.row_of(version, b"\x00" * 64))
    return rows


def main() -> None:
    with scratch_gateway("consents") as (engine, keyring):
        people = [str(uuid.uuid4()) for _ in range(PEOPLE)]
        started = time.perf_counter()
        for chunk in range(0, PEOPLE, 10_000):
            batch = people[chunk : chunk + 10_000]
            with writer(engine).begin() as connection:
                connection.execute(
                    insert(PersonRow.__table__),  # type: ignore[attr-defined]
                    [{"person_id": p, "merged_into": None, "created_at": START} for p in batch],
                )
                connection.execute(
                    insert(ConsentVersionRow.__table__),  # type: ignore[attr-defined]
                    [row for n, p in enumerate(batch, start=chunk) for row in versions_of(p, n)],
                )
        seeded = time.perf_counter() - started
        service = ConsentService(
            engine=engine,
            keyring=keyring,
            org_exists=lambda _org: True,
            policy=PolicyGate(
                build_engine(), AuditLog(engine=engine, keyring=keyring, origin="bench/consents")
            ),
        )
        at = START + timedelta(days=200)
        for person in random.sample(people, 200):  # warm-up
            service.consents_for(person, at)
        latencies = []
        for person in random.sample(people, min(SAMPLES, PEOPLE)):
            t0 = time.perf_counter()
            facts = service.consents_for(person, at)
            latencies.append(time.perf_counter() - t0)
            assert len(facts) == PER_PERSON
    q = statistics.quantiles(latencies, n=100)
    print(
        f"consents_for ({PEOPLE:,} people x {PER_PERSON} consents, {engine.dialect.name}):"
        f"  p50 {q[49] * 1000:.3f} ms  p99 {q[98] * 1000:.3f} ms"
        f"  [{len(latencies)} lookups; seeded in {seeded:.0f} s]"
    )


if __name__ == "__main__":
    main()
