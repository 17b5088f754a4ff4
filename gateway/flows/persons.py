"""Person-index use cases for operators: possible duplicates to review."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine

from gateway.store import persons


def list_duplicates(engine: Engine) -> list[dict[str, Any]]:
    """Open possible-duplicate tasks: internal person ids and a reason code, no personal data."""
    with engine.connect() as connection:
        return [
            {
                "person_id": row.person_id,
                "candidate_person_id": row.candidate_person_id,
                "reason": row.reason,
                "created_at": row.created_at.isoformat(),
            }
            for row in persons.open_duplicates(connection=connection)
        ]
