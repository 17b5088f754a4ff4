"""The ledger under any sequence of record / update / revoke / expire / re-consent, on both databases.

A Hypothesis state machine drives the real consent flow (real SQL, real sealing) with a
controlled clock, and after every step compares `consents_for(at=t)` with a naive replay of
what the test did, at every instant that matters.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test
from sqlalchemy import Engine, text

from consent_ledger import Change, ConsentFinal, verify_chain
from consent_ledger.sql import store as consent_store
from gateway.flows.audit_log import AuditLog
from gateway.flows.consents import ConsentService
from gateway.flows.policy import PolicyGate
from gateway.keyring import load_keyring
from gateway.registry.domain import Organization, Sender
from gateway.settings import load_settings
from gateway.store.database import create_db_engine
from policies.vocabulary import OrgType, Role
from tests.builders.consent import consent
from tests.conftest import Installation, shared_policy_engine

START = datetime(2026, 11, 1, tzinfo=UTC)
CLINIC = Sender(
    client_id="clinic-ehr",
    org=Organization(org_id="clinic", name="Clinic", org_type=OrgType.CLINIC),
    role=Role.SYSTEM,
)


@dataclass
class ModelVersion:
    change: Change
    recorded_at: datetime
    effective_at: datetime
    status: str  # the FHIR status of the text
    start: datetime | None
    end: datetime | None  # exclusive


@dataclass
class ModelConsent:
    versions: list[ModelVersion] = field(default_factory=list)

    @property
    def final(self) -> bool:
        return self.versions[-1].change in (Change.REVOKE, Change.EXPIRE)


def replay(model: dict[str, ModelConsent], at: datetime) -> list[tuple[str, str]]:
    """(consent id, status) at `at`, computed the plain way from what the test did."""
    out = []
    for consent_id in sorted(model):
        known = [v for v in model[consent_id].versions if v.recorded_at <= at and v.effective_at <= at]
        if not known:
            continue
        version = known[-1]
        if version.change is Change.REVOKE:
            out.append((consent_id, "revoked"))
        elif version.change is Change.EXPIRE:
            out.append((consent_id, "expired"))
        elif version.status == "draft":
            out.append((consent_id, "draft"))
        elif version.start is not None and version.start > at:
            continue
        elif version.end is not None and version.end <= at:
            out.append((consent_id, "expired"))
        else:
            out.append((consent_id, "active"))
    return out


@pytest.fixture
def engine(upgraded: Installation) -> Iterator[Engine]:
    engine = create_db_engine(load_settings(database_url=upgraded.database_url))
    yield engine
    engine.dispose()


def test_ledger_invariants_hold_for_any_sequence_of_changes(upgraded: Installation, engine: Engine) -> None:
    keyring = load_keyring(upgraded.keyring)

    class LedgerMachine(RuleBasedStateMachine):
        @initialize()
        def start(self) -> None:
            self.now = START
            self.person_id = str(uuid.uuid4())
            with engine.begin() as connection:
                connection.execute(
                    text("INSERT INTO persons (person_id, merged_into, created_at) VALUES (:p, NULL, :t)"),
                    {"p": self.person_id, "t": START},
                )
            self.service = ConsentService(
                engine=engine,
                keyring=keyring,
                org_exists=lambda _org: True,
                policy=PolicyGate(
                    shared_policy_engine(),
                    AuditLog(engine=engine, keyring=keyring, origin="test.example/ledger"),
                    clock=lambda: self.now,
                ),
                clock=lambda: self.now,
            )
            self.model: dict[str, ModelConsent] = {}

        def _document(
            self, status: str, start_day: int, days: int
        ) -> tuple[dict[str, object], datetime, datetime]:
            start = (START + timedelta(days=start_day)).date()
            last = start + timedelta(days=days)
            document = consent(
                {"reference": f"Patient/{self.person_id}", "display": "Synthetic Person"},
                status=status,
                period={"start": start.isoformat(), "end": last.isoformat()},
            )
            as_instant = datetime(start.year, start.month, start.day, tzinfo=UTC)
            return document, as_instant, as_instant + timedelta(days=days + 1)

        @rule(
            status=st.sampled_from(["active", "draft"]), start_day=st.integers(0, 4), days=st.integers(0, 4)
        )
        def record(self, status: str, start_day: int, days: int) -> None:
            document, start, end = self._document(status, start_day, days)
            with engine.begin() as connection:
                version = self.service.record_in(connection, CLINIC, document, self.person_id)
            self.model[version.consent_id] = ModelConsent(
                [ModelVersion(Change.RECORD, self.now, self.now, status, start, end)]
            )

        @rule(data=st.data(), start_day=st.integers(0, 4), days=st.integers(0, 4))
        def update(self, data: st.DataObject, start_day: int, days: int) -> None:
            if not self.model:
                return
            consent_id = data.draw(st.sampled_from(sorted(self.model)))
            document, start, end = self._document("active", start_day, days)
            if self.model[consent_id].final:
                with pytest.raises(ConsentFinal):
                    self.service.update(CLINIC, consent_id, document, None)
                return
            self.service.update(CLINIC, consent_id, document, None)
            self.model[consent_id].versions.append(
                ModelVersion(Change.UPDATE, self.now, self.now, "active", start, end)
            )

        @rule(
            data=st.data(), change=st.sampled_from([Change.REVOKE, Change.EXPIRE]), offset=st.integers(-3, 3)
        )
        def end(self, data: st.DataObject, change: Change, offset: int) -> None:
            if not self.model:
                return
            consent_id = data.draw(st.sampled_from(sorted(self.model)))
            effective = self.now + timedelta(hours=offset * 12)
            reason = "patient-request" if change is Change.REVOKE else "expiry-event"
            if self.model[consent_id].final:
                with pytest.raises(ConsentFinal):
                    self.service.end(CLINIC, consent_id, change=change, reason=reason, effective_at=effective)
                return
            self.service.end(CLINIC, consent_id, change=change, reason=reason, effective_at=effective)
            previous = self.model[consent_id].versions[-1]
            self.model[consent_id].versions.append(
                ModelVersion(change, self.now, effective, previous.status, previous.start, previous.end)
            )

        @rule(hours=st.integers(1, 60))
        def tick(self, hours: int) -> None:
            self.now += timedelta(hours=hours)

        @invariant()
        def facts_equal_a_naive_replay_at_every_instant_that_matters(self) -> None:
            instants = {self.now, START}
            for model in self.model.values():
                for v in model.versions:
                    for t in (v.recorded_at, v.effective_at, v.start, v.end):
                        if t is not None:
                            instants |= {t, t - timedelta(microseconds=1)}
            for at in sorted(instants):
                facts = self.service.consents_for(self.person_id, at)
                assert [(f["id"], f["status"]) for f in facts] == replay(self.model, at), at

        @invariant()
        def revocation_wins_from_its_effective_time_on(self) -> None:
            for consent_id, model in self.model.items():
                revoked = [v for v in model.versions if v.change is Change.REVOKE]
                for v in revoked:
                    later = max(v.recorded_at, v.effective_at) + timedelta(days=30)
                    facts = {f["id"]: f["status"] for f in self.service.consents_for(self.person_id, later)}
                    assert facts[consent_id] == "revoked"

        @invariant()
        def history_is_complete_in_order_and_chained(self) -> None:
            with engine.connect() as connection:
                for consent_id, model in self.model.items():
                    history = consent_store.history(connection=connection, consent_id=consent_id)
                    assert [v.version for v in history] == list(range(1, len(model.versions) + 1))
                    assert [v.change for v in history] == [m.change for m in model.versions]
                    verify_chain(history)

    run_state_machine_as_test(
        LedgerMachine,
        settings=settings(
            max_examples=12,
            stateful_step_count=8,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
