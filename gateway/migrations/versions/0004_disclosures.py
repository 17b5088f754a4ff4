"""Disclosures (the interim accounting of disclosures) and the privacy officer's review queue,
both append-only, enforced by triggers on both databases.

Revision ID: 0004_disclosures
Revises: 0003_consents
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_disclosures"
down_revision: str | None = "0003_consents"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("disclosures", "privacy_reviews")


def upgrade() -> None:
    op.create_table(
        "disclosures",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("disclosure_id", sa.String(36), nullable=False, unique=True),
        sa.Column("disclosed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("person_id", sa.String(36), sa.ForeignKey("persons.person_id"), nullable=False),
        sa.Column("recipient_org_id", sa.String(64), sa.ForeignKey("organizations.org_id"), nullable=False),
        sa.Column("recipient_client_id", sa.String(64), nullable=False),
        sa.Column("recipient_subject", sa.String(255), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("purpose_of_use", sa.String(16), nullable=False),
        sa.Column("legal_basis", sa.Text(), nullable=False),
        sa.Column("data_classes", sa.String(128), nullable=False),
        sa.Column("record_kinds", sa.String(255), nullable=False),
        sa.Column("envelope_ids", sa.Text(), nullable=False),
        sa.Column("obligations", sa.Text(), nullable=False),
        sa.Column("accountable", sa.Boolean(), nullable=False),
        sa.Column("break_glass", sa.Boolean(), nullable=False),
        sa.Column("policy_version", sa.String(80), nullable=False),
        sa.Column("request_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_disclosures_person_id", "disclosures", ["person_id"])
    op.create_table(
        "privacy_reviews",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("review_id", sa.String(36), nullable=False, unique=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("obligation", sa.String(32), nullable=False),
        sa.Column("person_id", sa.String(36), sa.ForeignKey("persons.person_id"), nullable=False),
        sa.Column("requester_org_id", sa.String(64), sa.ForeignKey("organizations.org_id"), nullable=False),
        sa.Column("requester_client_id", sa.String(64), nullable=False),
        sa.Column("requester_subject", sa.String(255), nullable=False),
        sa.Column("decision", sa.String(8), nullable=False),
        sa.Column("reason_codes", sa.Text(), nullable=False),
        sa.Column("disclosure_id", sa.String(36), nullable=True),
        sa.Column("statement_sealed", sa.LargeBinary(), nullable=True),
        sa.Column("request_id", sa.String(64), nullable=True),
    )
    op.create_index("ix_privacy_reviews_person_id", "privacy_reviews", ["person_id"])
    postgresql = op.get_bind().dialect.name == "postgresql"
    if postgresql:
        op.execute(
            """
            CREATE FUNCTION gateway_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '% is append-only', TG_TABLE_NAME;
            END $$
            """
        )
    for table in _TABLES:
        if postgresql:
            op.execute(
                f"CREATE TRIGGER {table}_no_change BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION gateway_append_only()"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                "FOR EACH STATEMENT EXECUTE FUNCTION gateway_append_only()"
            )
            op.execute(f"REVOKE UPDATE, DELETE, TRUNCATE ON {table} FROM PUBLIC")
        else:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"BEGIN SELECT RAISE(ABORT, '{table} is append-only'); END"
                )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _TABLES:
            op.execute(f"DROP TABLE {table}")
        op.execute("DROP FUNCTION gateway_append_only()")
        return
    for table in _TABLES:
        op.drop_index(f"ix_{table}_person_id", table_name=table)
        op.drop_table(table)
