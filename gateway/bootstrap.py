"""Opening what every command needs (keyring, database), with checks that name the bad setting.

Invariants:
- A keyring is created on first use only in development; production must be given one, so a
  missing mount can never silently start a gateway whose stored data is unreadable.
- The database records the id of the keyring it was created with and refuses any other.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from gateway.keyring import Keyring, open_or_create_keyring
from gateway.settings import Environment, Settings
from gateway.store.database import (
    bind_keyring,
    check_reachable,
    check_schema_current,
    create_db_engine,
)


@dataclass(frozen=True)
class Runtime:
    keyring: Keyring
    engine: Engine


def open_keyring(settings: Settings) -> Keyring:
    """Raises: KeyringError."""
    return open_or_create_keyring(
        settings.keyring,
        settings.keyring_passphrase_value,
        create=settings.environment is Environment.DEVELOPMENT,
    )


def open_runtime(settings: Settings) -> Runtime:
    """Open the keyring and a database at the current schema, bound to that keyring.

    Raises:
        KeyringError, DatabaseUnavailable, SchemaOutdated, KeyringMismatch.
    """
    keyring = open_keyring(settings)
    keyring.active_signing_key("audit")  # checkpoints cannot be signed without one: say so now
    engine = create_db_engine(settings)
    try:
        check_reachable(engine)
        check_schema_current(engine)
        bind_keyring(engine, keyring.keyring_id)
    except Exception:
        engine.dispose()
        raise
    return Runtime(keyring=keyring, engine=engine)
