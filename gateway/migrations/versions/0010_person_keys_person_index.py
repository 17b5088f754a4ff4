"""Drop the person-key index on `person_id`: no query reads keys by person (lookups go from
(kind, key_hash) to the person), and persons are never deleted, so the foreign key never
searches from that side. Each new person no longer writes a random leaf page of it: about an
eighth of the pages an HL7 group commit writes.

Revision ID: 0010_person_keys_person_index
Revises: 0009_person_keys_index
Create Date: 2026-11-24
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010_person_keys_person_index"
down_revision: str | None = "0009_person_keys_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.drop_index("ix_person_keys_person_id", table_name="person_keys")


def downgrade() -> None:
    op.create_index("ix_person_keys_person_id", "person_keys", ["person_id"])
