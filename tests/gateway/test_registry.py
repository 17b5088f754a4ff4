"""The org registry on both backends: rules, duplicates, all-or-nothing writes, CJIS status."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Engine, event, text

from gateway.flows.registry import RegistryService
from gateway.registry import (
    Agreement,
    ApiClient,
    DuplicateError,
    InvalidRegistryInput,
    NotFoundError,
    Organization,
    Personnel,
    parse_agreement,
)
from gateway.settings import load_settings
from gateway.store.database import create_db_engine, upgrade
from policies.vocabulary import AgreementKind, OrgType, Role


@pytest.fixture
def registry(database_url: str) -> Iterator[RegistryService]:
    engine: Engine = create_db_engine(load_settings(database_url=database_url))
    upgrade(engine)
    yield RegistryService(engine)
    engine.dispose()


def _police(**overrides: object) -> Organization:
    fields: dict[str, object] = {
        "org_id": "pd-springfield",
        "name": "Springfield PD",
        "org_type": OrgType.POLICE,
        "cjis_agency": True,
    }
    fields.update(overrides)
    return Organization(**fields)  # type: ignore[arg-type]


def test_org_with_agreements_round_trips(registry: RegistryService) -> None:
    org = _police(
        agreements=(
            parse_agreement("data_sharing_mou:2026-01-01:2027-12-31"),
            parse_agreement("cjis_security_addendum:2026-02-01"),
        )
    )
    registry.register_org(org)
    assert registry.get_org("pd-springfield") == org
    assert registry.list_orgs() == [org]


def test_duplicate_org_is_refused_and_the_first_is_unchanged(registry: RegistryService) -> None:
    registry.register_org(_police())
    with pytest.raises(DuplicateError, match="already exists"):
        registry.register_org(_police(name="Another name"))
    stored = registry.get_org("pd-springfield")
    assert stored is not None
    assert stored.name == "Springfield PD"


def test_agreement_for_a_missing_org_is_refused(registry: RegistryService) -> None:
    with pytest.raises(NotFoundError):
        registry.add_agreement("nope", parse_agreement("baa:2026-01-01"))


def test_client_for_a_missing_org_writes_nothing(registry: RegistryService) -> None:
    with pytest.raises(NotFoundError, match="'nope' does not exist"):
        registry.register_client(ApiClient(client_id="rms-1", org_id="nope", role=Role.OFFICER))
    assert registry.list_clients() == []


def test_clients_are_listed_per_org_and_can_be_disabled(registry: RegistryService) -> None:
    registry.register_org(_police())
    registry.register_org(
        _police(org_id="hosp-1", name="General", org_type=OrgType.HOSPITAL, cjis_agency=False)
    )
    registry.register_client(ApiClient(client_id="rms-1", org_id="pd-springfield", role=Role.OFFICER))
    registry.register_client(ApiClient(client_id="ehr-1", org_id="hosp-1", role=Role.SYSTEM))
    assert [c.client_id for c in registry.list_clients("hosp-1")] == ["ehr-1"]
    with pytest.raises(DuplicateError):
        registry.register_client(ApiClient(client_id="rms-1", org_id="hosp-1", role=Role.SYSTEM))
    registry.set_client_active("rms-1", active=False)
    assert registry.get_client("rms-1") == ApiClient("rms-1", "pd-springfield", Role.OFFICER, active=False)
    with pytest.raises(NotFoundError):
        registry.set_client_active("ghost", active=False)


def test_personnel_facts_are_replaced_not_duplicated(registry: RegistryService) -> None:
    registry.register_org(_police())
    registry.set_personnel(
        Personnel(subject="officer.jones", org_id="pd-springfield", training_completed_on=date(2025, 1, 1))
    )
    registry.set_personnel(
        Personnel(subject="officer.jones", org_id="pd-springfield", training_completed_on=date(2026, 6, 1))
    )
    people = registry.list_personnel("pd-springfield")
    assert [p.training_completed_on for p in people] == [date(2026, 6, 1)]
    with pytest.raises(NotFoundError):
        registry.set_personnel(Personnel(subject="x", org_id="nope"))


# --- pure rules ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("baa", "not KIND:START"),
        ("baa:2026-01-01:2027-01-01:extra", "not KIND:START"),
        ("nda:2026-01-01", "unknown agreement kind"),
        ("baa:01/02/2026", "not a date"),
        ("baa:2026-05-01:2026-04-30", "ends (2026-04-30) before it starts"),
    ],
)
def test_malformed_agreements_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(InvalidRegistryInput, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_agreement(text)


def test_agreement_is_in_force_from_start_through_end_inclusive() -> None:
    agreement = Agreement(AgreementKind.BAA, date(2026, 1, 1), date(2026, 12, 31))
    assert not agreement.in_force_on(date(2025, 12, 31))
    assert agreement.in_force_on(date(2026, 1, 1))
    assert agreement.in_force_on(date(2026, 12, 31))
    assert not agreement.in_force_on(date(2027, 1, 1))
    assert Agreement(AgreementKind.QSOA, date(2026, 1, 1)).in_force_on(date(2099, 1, 1))


@pytest.mark.parametrize("bad_id", ["", "PD", "-pd", "pd springfield", "x" * 65, "pd/1"])
def test_malformed_org_ids_are_refused(bad_id: str) -> None:
    with pytest.raises(InvalidRegistryInput, match="org id"):
        _police(org_id=bad_id)


def _checks(person: Personnel, day: date) -> tuple[bool, bool, bool]:
    status = person.cjis_status(day)
    return status.security_addendum, status.training_current, status.background_check


def test_cjis_status_follows_the_dates() -> None:
    person = Personnel(
        subject="s",
        org_id="pd",
        addendum_signed_on=date(2026, 1, 10),
        training_completed_on=date(2026, 1, 1),
        background_check_on=date(2025, 12, 1),
    )
    assert _checks(person, date(2026, 1, 5)) == (False, True, True)  # addendum not signed yet
    assert _checks(person, date(2026, 6, 1)) == (True, True, True)
    assert _checks(person, date(2026, 12, 31)) == (True, True, True)  # 364 days after training
    assert _checks(person, date(2027, 1, 1)) == (True, False, True)  # training is annual (CJIS 5.2)


def test_revoked_cjis_access_clears_every_check_from_that_day() -> None:
    person = Personnel(
        subject="s",
        org_id="pd",
        addendum_signed_on=date(2026, 1, 1),
        training_completed_on=date(2026, 1, 1),
        background_check_on=date(2026, 1, 1),
        access_revoked_on=date(2026, 3, 1),
    )
    assert _checks(person, date(2026, 2, 28)) == (True, True, True)
    assert _checks(person, date(2026, 3, 1)) == (False, False, False)


def test_a_registry_view_reads_from_memory_until_any_writer_commits(registry: RegistryService) -> None:
    registry.register_org(_police())
    registry.register_client(ApiClient(client_id="rms", org_id="pd-springfield", role=Role.OFFICER))
    statements: list[str] = []
    event.listen(registry._engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    view = registry.current()
    assert view.get_client("rms") is view.get_client("rms")  # loaded once
    assert view.get_org("pd-springfield") is registry.current().get_org("pd-springfield")
    loads = [
        s.split("FROM ")[1].split()[0]
        for s in statements
        if s.startswith("SELECT") and "gateway_meta" not in s
    ]
    assert sorted(loads) == ["agreements", "api_clients", "organizations"]  # once each: the rest from memory

    other_process = RegistryService(registry._engine)  # a writer with a cache of its own (the CLI)
    other_process.set_client_active("rms", active=False)
    client = registry.current().get_client("rms")
    assert client is not None
    assert client.active is False
    other_process.set_personnel(
        Personnel(subject="officer.7", org_id="pd-springfield", addendum_signed_on=date(2026, 1, 2))
    )
    status = registry.current().cjis_status("officer.7", "pd-springfield", date(2026, 6, 1))
    assert status == registry.cjis_status("officer.7", "pd-springfield", date(2026, 6, 1))
    assert status.security_addendum


def test_every_registry_write_bumps_the_version_row_the_migration_created(registry: RegistryService) -> None:
    def version() -> int:
        with registry._engine.connect() as connection:
            return int(
                connection.execute(
                    text("SELECT value FROM gateway_meta WHERE key = 'registry_version'")
                ).scalar_one()
            )

    assert version() == 1
    registry.register_org(_police())
    registry.register_client(ApiClient(client_id="rms", org_id="pd-springfield", role=Role.OFFICER))
    registry.set_client_active("rms", active=False)
    assert version() == 4
    registry.get_client("rms")
    registry.current().get_org("pd-springfield")
    assert version() == 4  # reads leave it
