"""Remove the copies of pushed resources that single-resource receipts held in plain text.

A `POST /fhir/r4/{type}` with an Idempotency-Key kept the created resource in its receipt, so
that a replay could answer with it: names, birth dates and identifiers unencrypted at rest.
Receipts now hold the resource sealed like every payload (gateway/flows/ingest.py). The
migration cannot seal (it has no keyring), so it keeps only the location of each old receipt;
a replay of one says where the resource is. On SQLite, `secure_delete` makes the rewritten
cells' old bytes zeroes rather than free space that still holds them; on PostgreSQL the old row
versions remain until VACUUM reclaims them (README: Upgrading).

Revision ID: 0011_sealed_receipts
Revises: 0010_person_keys_person_index
Create Date: 2026-11-24
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_sealed_receipts"
down_revision: str | None = "0010_person_keys_person_index"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    connection = op.get_bind()
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA secure_delete = ON")
    rows = connection.execute(
        sa.text(
            "SELECT source_org_id, message_key, response FROM ingest_receipts WHERE message_key LIKE 'key:%'"
        )
    ).all()
    for org_id, key, response in rows:
        try:
            answer = json.loads(response)
        except ValueError:
            continue
        if not isinstance(answer, dict) or "resource" not in answer:
            continue
        connection.execute(
            sa.text(
                "UPDATE ingest_receipts SET response = :response"
                " WHERE source_org_id = :org AND message_key = :key"
            ),
            {"response": json.dumps({"location": answer.get("location")}), "org": org_id, "key": key},
        )


def downgrade() -> None:
    """Older versions cannot open sealed receipts and would fail every replay of one, so the
    downgrade forgets them: a redelivery of one of those requests is then stored again."""
    op.execute(
        "DELETE FROM ingest_receipts WHERE message_key LIKE 'key:%' AND response LIKE '%resource_sealed%'"
    )
