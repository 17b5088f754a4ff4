"""The audit log (DESIGN.md 10, reference/audit-log.md 2.4): pending records, integrated entries,
complete-subtree nodes, signed checkpoints and the head, append-only by triggers.

`audit_pending` may lose rows only to the integrator (DELETE, never UPDATE); `audit_head` is the
one row the integrator compare-and-swaps; the rest refuse UPDATE and DELETE on both databases.

Revision ID: 0005_audit
Revises: 0004_disclosures
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_audit"
down_revision: str | None = "0004_disclosures"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LOG_TABLES = ("audit_entries", "audit_nodes", "audit_checkpoints")
_EMPTY_ROOT = bytes.fromhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


def upgrade() -> None:
    op.create_table(
        "audit_pending",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("record_id", sa.String(36), nullable=False, unique=True),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        sa.Column("accepted_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "audit_entries",
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("record_id", sa.String(36), nullable=False, unique=True),
        sa.Column("leaf", sa.LargeBinary(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(), nullable=False),
        # query columns: copies of leaf fields, not covered by the hash, never report truth
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("person_id", sa.String(36), nullable=True),
        sa.Column("requester_org", sa.String(64), nullable=True),
        sa.Column("action", sa.String(32), nullable=True),
        sa.Column("decision", sa.String(8), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_audit_entries_person", "audit_entries", ["person_id", "recorded_at"])
    op.create_index("ix_audit_entries_recorded", "audit_entries", ["recorded_at"])
    op.create_table(
        "audit_nodes",
        sa.Column("level", sa.SmallInteger(), primary_key=True, autoincrement=False),
        sa.Column("idx", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("hash", sa.LargeBinary(), nullable=False),
    )
    op.create_table(
        "audit_checkpoints",
        sa.Column("tree_size", sa.BigInteger(), primary_key=True, autoincrement=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("signed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(), nullable=False),
        sa.Column("peaks", sa.LargeBinary(), nullable=False),
        sa.CheckConstraint("id = 1", name="audit_head_single_row"),
    )
    op.execute(
        sa.text("INSERT INTO audit_head (id, tree_size, root, peaks) VALUES (1, 0, :root, :peaks)").bindparams(
            root=_EMPTY_ROOT, peaks=b""
        )
    )
    postgresql = op.get_bind().dialect.name == "postgresql"
    refusals: list[tuple[str, tuple[str, ...]]] = [(table, ("UPDATE", "DELETE")) for table in _LOG_TABLES]
    refusals += [("audit_pending", ("UPDATE",)), ("audit_head", ("DELETE",))]
    for table, events in refusals:
        if postgresql:
            op.execute(
                f"CREATE TRIGGER {table}_no_change BEFORE {' OR '.join(events)} ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION gateway_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION gateway_append_only()"
            )
            op.execute(f"REVOKE {', '.join(events)}, TRUNCATE ON {table} FROM PUBLIC")
        else:
            for event in events:
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )


def downgrade() -> None:
    for table in ("audit_head", "audit_checkpoints", "audit_nodes", "audit_entries", "audit_pending"):
        op.drop_table(table)
