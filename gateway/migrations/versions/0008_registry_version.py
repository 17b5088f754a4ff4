"""The registry's version row (gateway_meta `registry_version`): every registry write bumps it
in its transaction, and request-path readers cache the registry per version
(gateway/flows/registry.py). Created here so that writers only ever UPDATE it: two first writes
at once cannot both try to insert it.

Revision ID: 0008_registry_version
Revises: 0007_ddl_guard
Create Date: 2026-11-24
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_registry_version"
down_revision: str | None = "0007_ddl_guard"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    exists = op.get_bind().execute(sa.text("SELECT 1 FROM gateway_meta WHERE key = 'registry_version'")).first()
    if exists is None:
        op.execute("INSERT INTO gateway_meta (key, value) VALUES ('registry_version', '1')")


def downgrade() -> None:
    op.execute("DELETE FROM gateway_meta WHERE key = 'registry_version'")
