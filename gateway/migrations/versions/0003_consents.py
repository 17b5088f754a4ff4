"""Consent ledger: append-only consent versions, enforced by triggers on both databases;
an index to follow person merges.

Revision ID: 0003_consents
Revises: 0002_ingest
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_consents"
down_revision: str | None = "0002_ingest"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_MESSAGE = "consent_versions is append-only"


def upgrade() -> None:
    op.create_table(
        "consent_versions",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("consent_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.String(36), nullable=False),
        sa.Column("change", sa.String(16), nullable=False),
        sa.Column("terms", sa.Text(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("effective_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by_client", sa.String(64), nullable=False),
        sa.Column("recorded_by_org", sa.String(64), nullable=False),
        sa.Column("reason", sa.String(64), nullable=True),
        sa.Column("document_sha256", sa.String(64), nullable=False),
        sa.Column("document_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("row_hash", sa.String(64), nullable=False),
        sa.UniqueConstraint("consent_id", "version", name="uq_consent_versions"),
    )
    op.create_index("ix_consent_versions_consent_id", "consent_versions", ["consent_id"])
    op.create_index("ix_consent_versions_person_id", "consent_versions", ["person_id"])
    # consents_for follows merges to a person's merged records: find them without a scan
    op.create_index("ix_persons_merged_into", "persons", ["merged_into"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            f"""
            CREATE FUNCTION consent_versions_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION '{_MESSAGE}';
            END $$
            """
        )
        op.execute(
            "CREATE TRIGGER consent_versions_no_change BEFORE UPDATE OR DELETE ON consent_versions "
            "FOR EACH ROW EXECUTE FUNCTION consent_versions_append_only()"
        )
        op.execute(
            "CREATE TRIGGER consent_versions_no_truncate BEFORE TRUNCATE ON consent_versions "
            "FOR EACH STATEMENT EXECUTE FUNCTION consent_versions_append_only()"
        )
        op.execute("REVOKE UPDATE, DELETE, TRUNCATE ON consent_versions FROM PUBLIC")
    else:
        for event in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER consent_versions_no_{event.lower()} BEFORE {event} ON consent_versions "
                f"BEGIN SELECT RAISE(ABORT, '{_MESSAGE}'); END"
            )


def downgrade() -> None:
    op.drop_index("ix_persons_merged_into", table_name="persons")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TABLE consent_versions")
        op.execute("DROP FUNCTION consent_versions_append_only()")
        return
    op.drop_index("ix_consent_versions_person_id", table_name="consent_versions")
    op.drop_index("ix_consent_versions_consent_id", table_name="consent_versions")
    op.drop_table("consent_versions")
