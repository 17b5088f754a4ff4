"""SQL access to envelopes and ingest receipts. Payloads and facts are sealed before they get here."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlmodel import Session, col

from gateway.store.tables import EnvelopeRow, IngestReceiptRow


def insert_envelopes(*, session: Session, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        session.execute(insert(EnvelopeRow), list(rows))


def get_receipt(*, session: Session, org_id: str, message_key: str) -> str | None:
    return session.execute(
        select(IngestReceiptRow.response).where(
            IngestReceiptRow.source_org_id == org_id, IngestReceiptRow.message_key == message_key
        )
    ).scalar_one_or_none()


def add_receipt(*, session: Session, org_id: str, message_key: str, response: str, created_at: Any) -> None:
    session.execute(
        insert(IngestReceiptRow).values(
            source_org_id=org_id, message_key=message_key, response=response, created_at=created_at
        )
    )


def envelopes_for_person(*, session: Session, person_ids: Sequence[str]) -> list[EnvelopeRow]:
    query = (
        select(EnvelopeRow)
        .where(col(EnvelopeRow.person_id).in_(list(person_ids)))
        .order_by(col(EnvelopeRow.envelope_id))
    )
    return list(session.execute(query).scalars())


def get_envelope(*, session: Session, envelope_id: str) -> EnvelopeRow | None:
    return session.get(EnvelopeRow, envelope_id)


def count_envelopes(*, session: Session, org_id: str | None = None) -> int:
    from sqlalchemy import func

    query = select(func.count()).select_from(EnvelopeRow)
    if org_id is not None:
        query = query.where(EnvelopeRow.source_org_id == org_id)
    return int(session.execute(query).scalar_one())
