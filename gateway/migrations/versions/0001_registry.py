"""Org registry: organisations, agreements, API clients, personnel; installation metadata.

Revision ID: 0001_registry
Revises:
Create Date: 2026-11-23
"""

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from alembic import op

revision: str = "0001_registry"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _created() -> sa.Column[datetime]:
    return sa.Column("created_at", sa.DateTime(timezone=True), nullable=False)


def upgrade() -> None:
    op.create_table(
        "gateway_meta",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("value", sa.String(255), nullable=False),
    )
    op.create_table(
        "organizations",
        sa.Column("org_id", sa.String(64), primary_key=True),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("org_type", sa.String(32), nullable=False),
        sa.Column("part2_program", sa.Boolean(), nullable=False),
        sa.Column("cjis_agency", sa.Boolean(), nullable=False),
        _created(),
    )
    op.create_table(
        "agreements",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("org_id", sa.String(64), sa.ForeignKey("organizations.org_id"), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("effective_on", sa.Date(), nullable=False),
        sa.Column("ends_on", sa.Date(), nullable=True),
        _created(),
    )
    op.create_index("ix_agreements_org_id", "agreements", ["org_id"])
    op.create_table(
        "api_clients",
        sa.Column("client_id", sa.String(64), primary_key=True),
        sa.Column("org_id", sa.String(64), sa.ForeignKey("organizations.org_id"), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        _created(),
    )
    op.create_index("ix_api_clients_org_id", "api_clients", ["org_id"])
    op.create_table(
        "personnel",
        sa.Column("subject", sa.String(255), primary_key=True),
        sa.Column("org_id", sa.String(64), sa.ForeignKey("organizations.org_id"), nullable=False),
        sa.Column("addendum_signed_on", sa.Date(), nullable=True),
        sa.Column("training_completed_on", sa.Date(), nullable=True),
        sa.Column("background_check_on", sa.Date(), nullable=True),
        sa.Column("access_revoked_on", sa.Date(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_personnel_org_id", "personnel", ["org_id"])


def downgrade() -> None:
    for index, table in (
        ("ix_personnel_org_id", "personnel"),
        ("ix_api_clients_org_id", "api_clients"),
        ("ix_agreements_org_id", "agreements"),
    ):
        op.drop_index(index, table_name=table)
        op.drop_table(table)
    op.drop_table("organizations")
    op.drop_table("gateway_meta")
