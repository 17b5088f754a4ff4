"""Ingest: person index (blind), possible duplicates, envelopes, receipts, MLLP client secrets.

Revision ID: 0002_ingest
Revises: 0001_registry
Create Date: 2026-11-23
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_ingest"
down_revision: str | None = "0001_registry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("api_clients") as batch:
        batch.add_column(sa.Column("mllp_secret_sha256", sa.String(64), nullable=True))
        batch.create_unique_constraint("uq_api_clients_mllp_secret_sha256", ["mllp_secret_sha256"])
    op.create_table(
        "persons",
        sa.Column("person_id", sa.String(36), primary_key=True),
        sa.Column("merged_into", sa.String(36), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "person_keys",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("key_hash", sa.String(64), nullable=False),
        sa.Column("person_id", sa.String(36), sa.ForeignKey("persons.person_id"), nullable=False),
        sa.UniqueConstraint("kind", "key_hash", "person_id", name="uq_person_keys"),
    )
    op.create_index("ix_person_keys_key_hash", "person_keys", ["key_hash"])
    op.create_index("ix_person_keys_person_id", "person_keys", ["person_id"])
    op.create_table(
        "person_duplicates",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("person_id", sa.String(36), sa.ForeignKey("persons.person_id"), nullable=False),
        sa.Column("candidate_person_id", sa.String(36), sa.ForeignKey("persons.person_id"), nullable=False),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_person_duplicates_person_id", "person_duplicates", ["person_id"])
    op.create_table(
        "envelopes",
        sa.Column("envelope_id", sa.String(36), primary_key=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source_org_id", sa.String(64), sa.ForeignKey("organizations.org_id"), nullable=False),
        sa.Column("source_format", sa.String(16), nullable=False),
        sa.Column("source_system", sa.String(255), nullable=True),
        sa.Column("message_id", sa.String(255), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("person_id", sa.String(36), sa.ForeignKey("persons.person_id"), nullable=False),
        sa.Column("data_classes", sa.String(128), nullable=False),
        sa.Column("security_labels", sa.String(255), nullable=False),
        sa.Column("warnings", sa.String(255), nullable=False),
        sa.Column("payload_sha256", sa.String(64), nullable=False),
        sa.Column("payload_sealed", sa.LargeBinary(), nullable=False),
        sa.Column("facts_sealed", sa.LargeBinary(), nullable=False),
    )
    op.create_index("ix_envelopes_source_org_id", "envelopes", ["source_org_id"])
    op.create_index("ix_envelopes_person_id", "envelopes", ["person_id"])
    op.create_table(
        "ingest_receipts",
        sa.Column("source_org_id", sa.String(64), primary_key=True),
        sa.Column("message_key", sa.String(255), primary_key=True),
        sa.Column("response", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("ingest_receipts")
    op.drop_index("ix_envelopes_person_id", table_name="envelopes")
    op.drop_index("ix_envelopes_source_org_id", table_name="envelopes")
    op.drop_table("envelopes")
    op.drop_index("ix_person_duplicates_person_id", table_name="person_duplicates")
    op.drop_table("person_duplicates")
    op.drop_index("ix_person_keys_person_id", table_name="person_keys")
    op.drop_index("ix_person_keys_key_hash", table_name="person_keys")
    op.drop_table("person_keys")
    op.drop_table("persons")
    with op.batch_alter_table("api_clients") as batch:
        batch.drop_constraint("uq_api_clients_mllp_secret_sha256", type_="unique")
        batch.drop_column("mllp_secret_sha256")
