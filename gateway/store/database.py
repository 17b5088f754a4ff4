"""The database engine and schema migrations, for SQLite (default) and PostgreSQL.

Invariants:
- SQLite runs in WAL mode with `synchronous=FULL` (a committed transaction survives power
  loss), a checkpoint every WAL_AUTOCHECKPOINT_PAGES, foreign keys on, and
  `recursive_triggers=ON` (so append-only triggers also fire on REPLACE) on every connection.
  Its writers (BEGIN IMMEDIATE) queue on a file lock beside the database, across threads and
  processes (gateway/store/write_lock.py).
- The gateway serves only on a schema at Alembic's head revision; `db upgrade` gets it there.
- Error messages name the setting (CGW_DATABASE_URL) and the cause, never the password.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, text
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session, select

from gateway.settings import Settings
from gateway.store.guard import MIGRATING, install_sqlite_authorizer
from gateway.store.tables import GatewayMetaRow
from gateway.store.write_lock import WriteLock

SETTING = "CGW_DATABASE_URL"
MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
KEYRING_ID_KEY = "keyring_id"
_WRITE_OPTION = "cgw_write"
_AFTER_COMMIT = "cgw_after_commit"


class DatabaseError(Exception):
    """The database cannot be used as configured; the message says which setting and why."""


class DatabaseUnavailable(DatabaseError):
    def __init__(self, reason: str) -> None:
        super().__init__(f"{SETTING}: {reason}")
        self.reason = reason


class SchemaOutdated(DatabaseError):
    def __init__(self, current: str | None, head: str) -> None:
        super().__init__(
            f"database schema is at revision {current or 'none (empty database)'}, this version needs "
            f"{head}: run `consent-gateway db upgrade`"
        )
        self.current = current
        self.head = head


class KeyringMismatch(DatabaseError):
    def __init__(self) -> None:
        super().__init__(
            "CGW_KEYRING: this keyring does not belong to this database (its sealed data would be "
            "unreadable); point CGW_KEYRING at the keyring created with this database"
        )


def create_db_engine(settings: Settings) -> Engine:
    """Build the engine for the configured database (creating SQLite's folder if needed)."""
    url = settings.database
    connect_args: dict[str, Any] = {}
    if settings.is_sqlite:
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        connect_args["check_same_thread"] = False  # connections are pooled across server threads
        engine = create_engine(url, connect_args=connect_args)
        _run_after_commit(engine)
        event.listen(engine, "connect", _sqlite_pragmas)
        if url.database and url.database != ":memory:":
            _queue_writers(engine, WriteLock(Path(url.database)))
        else:
            event.listen(engine, "begin", _sqlite_begin)
        return engine
    engine = create_engine(url, pool_pre_ping=True, connect_args={"connect_timeout": 5})
    _run_after_commit(engine)
    return engine


def after_commit(connection: Connection, callback: Callable[[], None]) -> None:
    """Run `callback` once the transaction open on `connection` has committed; never if it rolls
    back or the commit fails. For what may only follow durability (e.g. counting an audit record
    as issued). Callbacks run in the committing thread and must be quick."""
    connection.info.setdefault(_AFTER_COMMIT, []).append(callback)


def _run_after_commit(engine: Engine) -> None:
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection: Any) -> None:
        callbacks = _take_callbacks(dbapi_connection)
        commit(dbapi_connection)  # raises: the callbacks are dropped with the transaction
        for callback in callbacks:
            callback()

    def do_rollback(dbapi_connection: Any) -> None:
        _take_callbacks(dbapi_connection)
        rollback(dbapi_connection)

    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]


def _take_callbacks(dbapi_connection: Any) -> list[Callable[[], None]]:
    """The pool proxy's callbacks (its `info` is the connection's), removed."""
    try:
        info = dbapi_connection.info
    except (AttributeError, NotImplementedError):  # a raw DBAPI connection, or a proxy without one
        return []
    return list(info.pop(_AFTER_COMMIT, ())) if isinstance(info, dict) else []


def writer(engine: Engine) -> Engine:
    """The engine for transactions that write.

    On SQLite they start with BEGIN IMMEDIATE: a deferred transaction that reads first cannot
    upgrade to a writer once another writer has committed (WAL snapshot), and fails at once
    instead of waiting. Reads stay deferred, so they never queue behind a writer.
    """
    return engine.execution_options(**{_WRITE_OPTION: True})


def _sqlite_begin(connection: Any) -> None:
    immediate = connection.get_execution_options().get(_WRITE_OPTION)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _queue_writers(engine: Engine, lock: WriteLock) -> None:
    """Writers take `lock` before BEGIN IMMEDIATE and drop it after COMMIT or ROLLBACK."""
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def begin(connection: Any) -> None:
        writing = connection.get_execution_options().get(_WRITE_OPTION)
        if writing:
            lock.acquire(connection.connection)
        try:
            _sqlite_begin(connection)
        except BaseException:
            lock.release(connection.connection)  # a no-op unless this connection holds it
            raise

    def do_commit(dbapi_connection: Any) -> None:
        try:
            commit(dbapi_connection)
        finally:
            lock.release(dbapi_connection)

    def do_rollback(dbapi_connection: Any) -> None:
        try:
            rollback(dbapi_connection)
        finally:
            lock.release(dbapi_connection)

    def dropped(dbapi_connection: Any, *_: Any) -> None:  # closed or invalidated mid-transaction
        lock.release(dbapi_connection)

    event.listen(engine, "begin", begin)
    event.listen(engine.pool, "invalidate", dropped)
    event.listen(engine.pool, "close", dropped)
    dialect.do_commit = do_commit  # type: ignore[method-assign]
    dialect.do_rollback = do_rollback  # type: ignore[method-assign]


# SQLite checkpoints the WAL into the database inside the commit that takes it past this many
# pages, before that commit returns (and so before its ACKs go out). The default, 1,000 pages,
# did that every 15 group commits of HL7 ingest; at 4,000 (a 16 MiB WAL) a checkpoint comes a
# quarter as often and copies each hot index page once for more commits: 953 against 912 msg/s
# in bench/ingest.py (10,000 pages measured 959, for a WAL two and a half times the size).
WAL_AUTOCHECKPOINT_PAGES = 4000


def _sqlite_pragmas(dbapi_connection: Any, record: Any) -> None:
    dbapi_connection.isolation_level = None  # SQLAlchemy's begin event issues BEGIN itself
    cursor = dbapi_connection.cursor()
    for pragma in (
        "journal_mode=WAL",
        "synchronous=FULL",
        "foreign_keys=ON",
        "recursive_triggers=ON",
        "busy_timeout=5000",
        f"wal_autocheckpoint={WAL_AUTOCHECKPOINT_PAGES}",
    ):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()
    install_sqlite_authorizer(dbapi_connection, record.info)  # after the pragmas it then locks


def check_reachable(engine: Engine) -> None:
    """Run a trivial query.

    Raises:
        DatabaseUnavailable: the database does not answer.
    """
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(f"database unreachable ({_cause(exc)})") from None


def head_revision() -> str:
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None, "migrations folder holds no revision"
    return head


def current_revision(engine: Engine) -> str | None:
    """The schema revision recorded in the database (None for an empty database).

    Raises:
        DatabaseUnavailable: the database does not answer.
    """
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(f"database unreachable ({_cause(exc)})") from None


def check_schema_current(engine: Engine) -> None:
    """Raises:
    DatabaseUnavailable: the database does not answer.
    SchemaOutdated: the schema is not at the head revision.
    """
    current, head = current_revision(engine), head_revision()
    if current != head:
        raise SchemaOutdated(current, head)


def utc(value: datetime) -> datetime:
    """A timestamp read back as aware UTC: SQLite hands back naive UTC values, PostgreSQL aware ones."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the schema (idempotent at head).

    Raises:
        DatabaseUnavailable: the database does not answer.
    """
    try:
        _migrate(engine, lambda config: command.upgrade(config, revision))
    except SQLAlchemyError as exc:
        raise DatabaseUnavailable(f"migration failed ({_cause(exc)})") from None


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the schema down (for operators rolling back a release, and for tests)."""
    _migrate(engine, lambda config: command.downgrade(config, revision))


def _migrate(engine: Engine, run: Callable[[Config], None]) -> None:
    """Run migrations on a connection let past the guards (gateway/store/guard.py), then
    discard that connection so nothing prepared under the exemption stays cached."""
    config = _alembic_config()
    with engine.connect() as connection:
        try:
            connection.connection.info[MIGRATING] = True
            with connection.begin():
                if connection.dialect.name == "postgresql":
                    connection.exec_driver_sql("SET LOCAL gateway.migrating = 'on'")
                config.attributes["connection"] = connection
                run(config)
        finally:
            connection.invalidate()


def bind_keyring(engine: Engine, keyring_id: str) -> None:
    """Record which keyring this database belongs to, or check it is the recorded one.

    Raises:
        KeyringMismatch: the database was created with another keyring.
    """
    with Session(writer(engine)) as session:
        row = session.exec(select(GatewayMetaRow).where(GatewayMetaRow.key == KEYRING_ID_KEY)).first()
        if row is None:
            session.add(GatewayMetaRow(key=KEYRING_ID_KEY, value=keyring_id))
            session.commit()
        elif row.value != keyring_id:
            raise KeyringMismatch()


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def _cause(exc: SQLAlchemyError) -> str:
    """A short, password-free cause: the driver's exception class and first line."""
    original = getattr(exc, "orig", None) or exc
    first_line = str(original).strip().splitlines()[0] if str(original).strip() else ""
    return f"{type(original).__name__}: {first_line}"[:200]
