"""SQL access to disclosures and privacy-officer reviews: appended, never changed."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select

from gateway.store.tables import DisclosureRow, PrivacyReviewRow

_disclosures = DisclosureRow.__table__  # type: ignore[attr-defined]
_reviews = PrivacyReviewRow.__table__  # type: ignore[attr-defined]


def add_disclosure(*, connection: Connection, row: dict[str, Any]) -> None:
    connection.execute(insert(_disclosures), [row])


def add_reviews(*, connection: Connection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        connection.execute(insert(_reviews), list(rows))


def disclosures(*, connection: Connection, person_ids: Sequence[str] | None = None) -> list[Any]:
    """Disclosures, oldest first; only those about `person_ids` when given."""
    query = select(_disclosures).order_by(_disclosures.c.id)
    if person_ids is not None:
        query = query.where(_disclosures.c.person_id.in_(list(person_ids)))
    return list(connection.execute(query).all())


def reviews(*, connection: Connection) -> list[Any]:
    """The privacy officer's review queue, oldest first."""
    return list(connection.execute(select(_reviews).order_by(_reviews.c.id)).all())
