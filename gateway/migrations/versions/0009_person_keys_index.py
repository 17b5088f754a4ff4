"""Drop the person-key index on `key_hash` alone: lookups name the kinds too, so the unique
index on (kind, key_hash, person_id) serves them, and every new person no longer writes five
random leaf pages of a second index (about a fifth of the pages an HL7 group commit writes).

Revision ID: 0009_person_keys_index
Revises: 0008_registry_version
Create Date: 2026-11-24
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0009_person_keys_index"
down_revision: str | None = "0008_registry_version"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_person_keys_key_hash", table_name="person_keys")


def downgrade() -> None:
    op.create_index("ix_person_keys_key_hash", "person_keys", ["key_hash"])
