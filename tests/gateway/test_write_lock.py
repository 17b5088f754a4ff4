"""SQLite writers queue on a file lock (gateway/store/write_lock.py), in and across processes."""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import OperationalError

from gateway.settings import load_settings
from gateway.store.database import create_db_engine, writer
from gateway.store.write_lock import WriteLock, WriteLockTimeout

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "gateway.db"


@pytest.fixture
def engine(database: Path) -> Iterator[Engine]:
    engine = create_db_engine(load_settings(database_url=f"sqlite:///{database}"))
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE marks (who TEXT)"))
    yield engine
    engine.dispose()


def lock_is_free(database: Path) -> bool:
    """Whether another open file could take the writers' flock right now."""
    fd = os.open(WriteLock(database).path, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    finally:
        os.close(fd)  # also drops the flock if it was taken
    return True


def test_a_write_transaction_holds_the_lock_until_commit(engine: Engine, database: Path) -> None:
    with writer(engine).begin() as connection:
        connection.execute(text("INSERT INTO marks VALUES ('a')"))
        assert not lock_is_free(database)
    assert lock_is_free(database)


def test_a_rollback_releases_the_lock(engine: Engine, database: Path) -> None:
    def abandon() -> None:
        with writer(engine).begin() as connection:
            connection.execute(text("INSERT INTO marks VALUES ('a')"))
            raise RuntimeError("abandon")

    with pytest.raises(RuntimeError):
        abandon()
    assert lock_is_free(database)
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(*) FROM marks")).scalar() == 0


def test_an_invalidated_connection_releases_the_lock(engine: Engine, database: Path) -> None:
    connection = writer(engine).connect()
    connection.begin()
    connection.execute(text("INSERT INTO marks VALUES ('a')"))
    assert not lock_is_free(database)
    connection.invalidate()
    connection.close()
    assert lock_is_free(database)


def test_readers_do_not_take_the_lock(engine: Engine, database: Path) -> None:
    with engine.begin() as connection:
        assert connection.execute(text("SELECT count(*) FROM marks")).scalar() == 0
        assert lock_is_free(database)


def test_a_writer_in_another_process_waits_for_the_lock(engine: Engine, database: Path) -> None:
    """The database itself is not locked here, only the queue: without it the other process
    would write at once."""
    script = (
        "import sys\n"
        "from sqlalchemy import text\n"
        "from gateway.settings import load_settings\n"
        "from gateway.store.database import create_db_engine, writer\n"
        f"engine = create_db_engine(load_settings(database_url='sqlite:///{database}'))\n"
        "print('ready', flush=True)\n"
        "with writer(engine).begin() as connection:\n"
        "    connection.execute(text(\"INSERT INTO marks VALUES ('other')\"))\n"
        "print('written', flush=True)\n"
    )
    fd = os.open(WriteLock(database).path, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)
    other = subprocess.Popen(
        [sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True, env=os.environ.copy()
    )
    try:
        assert other.stdout is not None
        assert other.stdout.readline().strip() == "ready"
        with pytest.raises(subprocess.TimeoutExpired):
            other.wait(timeout=0.5)  # queued behind the flock we hold
        with engine.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM marks")).scalar() == 0
    finally:
        os.close(fd)  # releases the queue
    assert other.stdout.readline().strip() == "written"
    assert other.wait(timeout=30) == 0
    with engine.connect() as connection:
        assert connection.execute(text("SELECT who FROM marks")).scalars().all() == ["other"]


def test_a_second_writer_in_the_same_process_fails_after_the_timeout(tmp_path: Path) -> None:
    lock = WriteLock(tmp_path / "gateway.db", timeout=0.2)
    first, second = object(), object()
    lock.acquire(first)
    with pytest.raises(WriteLockTimeout) as raised:
        lock.acquire(second)
    assert isinstance(raised.value, OperationalError)  # handled where "database is locked" is
    assert "database is locked" in str(raised.value)
    lock.release(second)  # not the holder: nothing happens
    assert not lock_is_free(tmp_path / "gateway.db")
    lock.release(first)
    assert lock_is_free(tmp_path / "gateway.db")


def test_writers_in_threads_take_turns(engine: Engine) -> None:
    def write(name: str) -> None:
        for n in range(20):
            with writer(engine).begin() as connection:
                connection.execute(text("INSERT INTO marks VALUES (:who)"), {"who": f"{name}{n}"})

    threads = [threading.Thread(target=write, args=(name,)) for name in "abcd"]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with engine.connect() as connection:
        assert connection.execute(text("SELECT count(DISTINCT who) FROM marks")).scalar() == 80
