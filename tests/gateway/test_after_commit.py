"""`after_commit`: work that may only follow a durable commit runs after it, and never after a
rollback or a failed commit, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from gateway.settings import load_settings
from gateway.store.database import after_commit, create_db_engine, writer


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_db_engine(load_settings(database_url=database_url))
    with writer(engine).begin() as connection:
        connection.execute(text("CREATE TABLE marks (who VARCHAR(20) PRIMARY KEY)"))
    yield engine
    engine.dispose()


def test_callbacks_run_after_the_commit_in_order(engine: Engine) -> None:
    ran: list[str] = []
    with writer(engine).begin() as connection:
        connection.execute(text("INSERT INTO marks VALUES ('a')"))
        after_commit(connection, lambda: ran.append("first"))
        after_commit(connection, lambda: ran.append("second"))
        assert ran == []  # not before the commit
    assert ran == ["first", "second"]


def test_a_rollback_drops_the_callbacks(engine: Engine) -> None:
    ran: list[str] = []

    def abandon() -> None:
        with writer(engine).begin() as connection:
            connection.execute(text("INSERT INTO marks VALUES ('a')"))
            after_commit(connection, lambda: ran.append("rolled back"))
            raise RuntimeError("abandon")

    with pytest.raises(RuntimeError):
        abandon()
    with writer(engine).begin() as connection:  # the same pooled connection, a new transaction
        connection.execute(text("INSERT INTO marks VALUES ('b')"))
        after_commit(connection, lambda: ran.append("committed"))
    assert ran == ["committed"]


def test_a_failed_statement_rolls_back_and_drops_the_callbacks(engine: Engine) -> None:
    ran: list[str] = []

    def duplicate() -> None:
        with writer(engine).begin() as connection:
            after_commit(connection, lambda: ran.append("never"))
            connection.execute(text("INSERT INTO marks VALUES ('x'), ('x')"))

    with pytest.raises(IntegrityError):
        duplicate()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM marks")).scalar() == 0
    assert ran == []
