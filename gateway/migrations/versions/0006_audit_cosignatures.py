"""Witness cosignatures on audit checkpoints (reference/audit-log.md 2.6), append-only.

One row per (checkpoint size, witness key): the note signature line the witness returned, kept
so the API and exports can publish checkpoints that carry both the log's signature and the
witness's, and so the gateway knows the last size each witness cosigned.

Revision ID: 0006_audit_cosignatures
Revises: 0005_audit
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_audit_cosignatures"
down_revision: str | None = "0005_audit"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLE = "audit_cosignatures"


def upgrade() -> None:
    op.create_table(
        _TABLE,
        sa.Column("tree_size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("witness", sa.String(128), primary_key=True),
        sa.Column("key_id", sa.LargeBinary(), primary_key=True),
        sa.Column("line", sa.Text(), nullable=False),
        sa.Column("cosigned_at", sa.DateTime(timezone=True), nullable=False),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"CREATE TRIGGER {_TABLE}_no_change BEFORE UPDATE OR DELETE ON {_TABLE} "
            "FOR EACH ROW EXECUTE FUNCTION gateway_append_only()"
        )
        op.execute(
            f"CREATE TRIGGER {_TABLE}_no_truncate BEFORE TRUNCATE ON {_TABLE} "
            "FOR EACH STATEMENT EXECUTE FUNCTION gateway_append_only()"
        )
        op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {_TABLE} FROM PUBLIC")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {_TABLE}_no_{event.lower()} BEFORE {event} ON {_TABLE} "
                f"BEGIN SELECT RAISE(ABORT, '{_TABLE} is append-only'); END"
            )


def downgrade() -> None:
    op.drop_table(_TABLE)
