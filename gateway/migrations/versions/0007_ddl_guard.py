"""PostgreSQL: refuse DDL on the append-only tables outside a migration (reference/audit-log.md
2.4, T21), the counterpart of the SQLite authorizer in gateway/store/guard.py.

Two event triggers (`ddl_command_end`, `sql_drop`) raise when a command touches one of those
tables or their triggers — `ALTER TABLE … DISABLE TRIGGER`, `DROP TRIGGER`, `DROP TABLE`, …
— unless `gateway.migrating` is on for the transaction, which only the gateway's migration
runner sets. Creating event triggers takes a superuser: on a database migrated by a role that
is not one, this migration leaves them out and prints a warning. A superuser can still bypass them (`session_replication_role = replica`); the proof
against that is the Merkle tree and its witnesses.

Revision ID: 0007_ddl_guard
Revises: 0006_audit_cosignatures
Create Date: 2026-11-24
"""

import sys
from collections.abc import Sequence

from alembic import op

revision: str = "0007_ddl_guard"
down_revision: str | None = "0006_audit_cosignatures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# A snapshot, as migrations are: gateway/store/guard.py holds the living list (a test compares
# both with the tables that carry append-only triggers).
GUARDED = (
    "consent_versions",
    "disclosures",
    "privacy_reviews",
    "audit_entries",
    "audit_nodes",
    "audit_checkpoints",
    "audit_cosignatures",
    "audit_pending",
    "audit_head",
)
_PATTERN = "(^|[. ])(" + "|".join(GUARDED) + ")($|[ _])"  # a table, or a trigger named after one


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    if not bind.exec_driver_sql("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").scalar():
        print(
            "0007_ddl_guard: not a superuser, the DDL guard event triggers were not created",
            file=sys.stderr,
        )
        return
    for name, source in (
        ("gateway_ddl_guard", "pg_event_trigger_ddl_commands()"),
        ("gateway_drop_guard", "pg_event_trigger_dropped_objects()"),
    ):
        op.execute(
            f"""
            CREATE FUNCTION {name}() RETURNS event_trigger LANGUAGE plpgsql AS $$
            DECLARE
                touched record;
            BEGIN
                IF coalesce(current_setting('gateway.migrating', true), '') = 'on' THEN
                    RETURN;
                END IF;
                FOR touched IN SELECT object_identity FROM {source} LOOP
                    IF touched.object_identity ~ '{_PATTERN}' THEN
                        RAISE EXCEPTION 'append-only tables: % refused outside a migration', tg_tag
                            USING ERRCODE = 'insufficient_privilege';
                    END IF;
                END LOOP;
            END $$
            """
        )
    op.execute(
        "CREATE EVENT TRIGGER gateway_ddl_guard ON ddl_command_end EXECUTE FUNCTION gateway_ddl_guard()"
    )
    op.execute("CREATE EVENT TRIGGER gateway_drop_guard ON sql_drop EXECUTE FUNCTION gateway_drop_guard()")


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP EVENT TRIGGER IF EXISTS gateway_ddl_guard")
    op.execute("DROP EVENT TRIGGER IF EXISTS gateway_drop_guard")
    op.execute("DROP FUNCTION IF EXISTS gateway_ddl_guard()")
    op.execute("DROP FUNCTION IF EXISTS gateway_drop_guard()")
