"""The blind person index on both backends: linking rules, duplicates, merges, no plaintext."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

import pytest
from sqlalchemy import Connection, text

from connectors.envelope import Demographics, Identifier, SubjectRef
from gateway.person_keys import SubjectKeys, subject_keys
from gateway.settings import load_settings
from gateway.store import persons
from gateway.store.database import create_db_engine, upgrade

KEY = b"k" * 32


@pytest.fixture
def connection(database_url: str) -> Iterator[Connection]:
    engine = create_db_engine(load_settings(database_url=database_url))
    upgrade(engine)
    with engine.begin() as conn:
        yield conn
    engine.dispose()


def _keys(
    mrn: str | None = None,
    family: str | None = "Doe",
    given: str | None = "Jane",
    birth: date | None = date(1980, 2, 3),
    sex: str | None = None,
    logical_id: str | None = None,
) -> SubjectKeys:
    subject = SubjectRef(
        identifiers=(Identifier(system="urn:oid:1.2.3", value=mrn),) if mrn else (),
        demographics=Demographics(family=family, given=given, birth_date=birth, sex=sex),
        source_logical_id=logical_id,
    )
    return subject_keys(subject, org_id="ghh", index_key=KEY)


def _resolve(connection: Connection, keys: SubjectKeys, **kw: bool) -> persons.Resolution:
    return persons.resolve(connection=connection, keys=keys, **kw)


def test_identifier_links_exactly_even_when_the_name_changes(connection: Connection) -> None:
    first = _resolve(connection, _keys("M1"))
    again = _resolve(connection, _keys("M1", family="Doe-Smith"))
    assert (first.created, again.created, again.matched_by) == (True, False, "identifier")
    assert again.person_id == first.person_id


def test_unique_demographic_match_links_after_normalisation(connection: Connection) -> None:
    first = _resolve(connection, _keys("M1", family="O'Brien", given="Zoë"))
    linked = _resolve(connection, _keys("OTHER", family="obrien", given="ZOE"))
    assert (linked.person_id, linked.matched_by) == (first.person_id, "demographics")


def test_ambiguous_demographics_create_a_person_and_a_review_task(connection: Connection) -> None:
    female = _resolve(connection, _keys("M1", sex="F"))
    male = _resolve(connection, _keys("M2", sex="M"))  # same name and birth date, other sex: not linked
    assert male.created
    assert male.person_id != female.person_id
    third = _resolve(connection, _keys("M3"))  # no sex: two candidates → ambiguous, never a guess
    assert third.created
    reasons = [(row.person_id, row.reason) for row in persons.open_duplicates(connection=connection)]
    assert (male.person_id, "DEMOGRAPHIC_AMBIGUOUS") in reasons
    assert (third.person_id, "DEMOGRAPHIC_AMBIGUOUS") in reasons


def test_partial_matches_are_flagged_until_they_are_too_common(connection: Connection) -> None:
    shared_given = [_resolve(connection, _keys(f"G{n}", family=f"Family{'ABCDEFG'[n]}")) for n in range(2)]
    flagged = _resolve(connection, _keys("G9", family="Newname"))
    tasks = [
        (r.person_id, r.candidate_person_id, r.reason) for r in persons.open_duplicates(connection=connection)
    ]
    assert {(flagged.person_id, p.person_id, "PARTIAL_DEMOGRAPHICS") for p in shared_given} <= set(tasks)
    for n in range(5):
        _resolve(connection, _keys(f"H{n}", family=f"Other{'ABCDE'[n]}"))
    before = len(persons.open_duplicates(connection=connection))
    common = _resolve(connection, _keys("H9", family="Yetanother"))  # shares given+birth with 9 people
    assert common.created
    assert len(persons.open_duplicates(connection=connection)) == before


def test_an_unknown_reference_does_not_resolve_but_a_patient_record_may_create(
    connection: Connection,
) -> None:
    reference = _keys(family=None, given=None, birth=None, logical_id="f001")
    with pytest.raises(persons.SubjectUnresolved):
        _resolve(connection, reference)
    created = _resolve(connection, reference, defines_subject=True)
    assert _resolve(connection, reference).person_id == created.person_id


def test_batch_links_two_records_about_one_new_person(connection: Connection) -> None:
    resolver = persons.BatchResolver(connection, [_keys("B1"), _keys("B1")])
    first, second = resolver.resolve(_keys("B1")), resolver.resolve(_keys("B1"))
    resolver.flush()
    assert first.person_id == second.person_id
    assert connection.execute(text("SELECT count(*) FROM persons")).scalar_one() == 1


def test_merge_points_the_old_person_at_the_survivor(connection: Connection) -> None:
    old = _resolve(connection, _keys("OLD", family="Roe"))
    survivor = _resolve(connection, _keys("NEW"))
    merged = persons.merge(
        connection=connection, surviving=survivor.person_id, merged_keys=_keys("OLD", family=None)
    )
    assert merged == [old.person_id]
    assert _resolve(connection, _keys("OLD", family="Roe")).person_id == survivor.person_id


def test_the_index_holds_no_plaintext(connection: Connection) -> None:
    _resolve(connection, _keys("PLAINTEXT-MRN", family="Plaintextname"))
    dump = " ".join(str(row) for row in connection.execute(text("SELECT * FROM person_keys")))
    assert "PLAINTEXT" not in dump.upper()
    assert "1980" not in dump
