"""SQLModel tables of the gateway's own data: the only place these tables are declared.

Alembic migrations in `gateway/migrations/versions` create them; a test checks that the
migrations and these declarations agree. Registry ids and org names are not personal data.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Column, DateTime, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _timestamp() -> Column[datetime]:
    return Column(DateTime(timezone=True), nullable=False)


class GatewayMetaRow(SQLModel, table=True):
    """Facts about this installation, e.g. which keyring the database belongs to."""

    __tablename__ = "gateway_meta"

    key: str = Field(primary_key=True, max_length=64)
    value: str = Field(max_length=255)


class OrganizationRow(SQLModel, table=True):
    __tablename__ = "organizations"

    org_id: str = Field(primary_key=True, max_length=64)
    name: str = Field(max_length=200)
    org_type: str = Field(max_length=32)
    part2_program: bool = False
    cjis_agency: bool = False
    created_at: datetime = Field(default_factory=_utcnow, sa_column=_timestamp())


class AgreementRow(SQLModel, table=True):
    __tablename__ = "agreements"

    id: int | None = Field(default=None, primary_key=True)
    org_id: str = Field(foreign_key="organizations.org_id", index=True, max_length=64)
    kind: str = Field(max_length=32)
    effective_on: date
    ends_on: date | None = None
    created_at: datetime = Field(default_factory=_utcnow, sa_column=_timestamp())


class ApiClientRow(SQLModel, table=True):
    __tablename__ = "api_clients"

    client_id: str = Field(primary_key=True, max_length=64)
    org_id: str = Field(foreign_key="organizations.org_id", index=True, max_length=64)
    role: str = Field(max_length=32)
    active: bool = True
    mllp_secret_sha256: str | None = Field(default=None, max_length=64, unique=True)
    created_at: datetime = Field(default_factory=_utcnow, sa_column=_timestamp())


class PersonnelRow(SQLModel, table=True):
    __tablename__ = "personnel"

    subject: str = Field(primary_key=True, max_length=255)
    org_id: str = Field(foreign_key="organizations.org_id", index=True, max_length=64)
    addendum_signed_on: date | None = None
    training_completed_on: date | None = None
    background_check_on: date | None = None
    access_revoked_on: date | None = None
    updated_at: datetime = Field(default_factory=_utcnow, sa_column=_timestamp())


class PersonRow(SQLModel, table=True):
    """A person: a random, meaningless id. Nothing about who they are is stored here."""

    __tablename__ = "persons"

    person_id: str = Field(primary_key=True, max_length=36)
    merged_into: str | None = Field(default=None, max_length=36, index=True)  # ADT^A40: the surviving person
    created_at: datetime = Field(default_factory=_utcnow, sa_column=_timestamp())


class PersonKeyRow(SQLModel, table=True):
    """Blind index: HMAC-SHA256 of an identifier or of normalised demographics (DESIGN.md 4)."""

    __tablename__ = "person_keys"
    __table_args__ = (UniqueConstraint("kind", "key_hash", "person_id", name="uq_person_keys"),)

    id: int | None = Field(default=None, primary_key=True)
    kind: str = Field(max_length=8)  # id | lid | fgbs | fgb | fb | gb
    key_hash: str = Field(max_length=64, index=True)
    person_id: str = Field(foreign_key="persons.person_id", index=True, max_length=36)


class PersonDuplicateRow(SQLModel, table=True):
    """A possible duplicate for a human to review: never merged silently."""

    __tablename__ = "person_duplicates"

    id: int | None = Field(default=None, primary_key=True)
    person_id: str = Field(foreign_key="persons.person_id", index=True, max_length=36)
    candidate_person_id: str = Field(foreign_key="persons.person_id", max_length=36)
    reason: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=_utcnow, sa_column=_timestamp())
    resolved_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )


class EnvelopeRow(SQLModel, table=True):
    """One inbound record. Payload and facts are sealed (AES-256-GCM, envelope id as AAD)."""

    __tablename__ = "envelopes"

    envelope_id: str = Field(primary_key=True, max_length=36)
    received_at: datetime = Field(sa_column=_timestamp())
    source_org_id: str = Field(foreign_key="organizations.org_id", index=True, max_length=64)
    source_format: str = Field(max_length=16)
    source_system: str | None = Field(default=None, max_length=255)
    message_id: str | None = Field(default=None, max_length=255)
    kind: str = Field(max_length=16)
    occurred_at: datetime | None = Field(
        default=None, sa_column=Column(DateTime(timezone=True), nullable=True)
    )
    person_id: str = Field(foreign_key="persons.person_id", index=True, max_length=36)
    data_classes: str = Field(max_length=128)  # comma-separated DataClass values, sorted
    security_labels: str = Field(max_length=255)
    warnings: str = Field(default="", max_length=255)
    payload_sha256: str = Field(max_length=64)
    payload_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    facts_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class IngestReceiptRow(SQLModel, table=True):
    """What was answered for a message id, so a redelivery is acknowledged, not stored again."""

    __tablename__ = "ingest_receipts"

    source_org_id: str = Field(primary_key=True, max_length=64)
    message_key: str = Field(primary_key=True, max_length=255)
    response: str = Field(sa_column=Column(Text, nullable=False))  # ids and statuses only
    created_at: datetime = Field(default_factory=_utcnow, sa_column=_timestamp())
