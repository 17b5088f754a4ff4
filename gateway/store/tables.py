"""SQLModel tables of the gateway's own data: the only place these tables are declared.

Alembic migrations in `gateway/migrations/versions` create them; a test checks that the
migrations and these declarations agree. Registry ids and org names are not personal data.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    DateTime,
    Index,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
)
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
    key_hash: str = Field(max_length=64)  # found through uq_person_keys: lookups name the kind
    # No index of its own: nothing looks keys up by person (migration 0010), and persons are
    # never deleted, so the foreign key never searches this side.
    person_id: str = Field(foreign_key="persons.person_id", max_length=36)


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
    response: str = Field(sa_column=Column(Text, nullable=False))  # ids, statuses; resources sealed
    created_at: datetime = Field(default_factory=_utcnow, sa_column=_timestamp())


class DisclosureRow(SQLModel, table=True):
    """One disclosure of records, written before the response leaves (append-only).

    The interim accounting of disclosures (45 CFR 164.528(b), 42 CFR 2.24) and access record
    (CJIS 5.4) until the audit log (DESIGN.md 10) takes them over. Ids and codes only: what was
    disclosed is named by envelope ids, kinds and classes, never by content.
    """

    __tablename__ = "disclosures"

    id: int | None = Field(default=None, primary_key=True)
    disclosure_id: str = Field(max_length=36, unique=True)
    disclosed_at: datetime = Field(sa_column=_timestamp())
    person_id: str = Field(foreign_key="persons.person_id", index=True, max_length=36)
    recipient_org_id: str = Field(foreign_key="organizations.org_id", max_length=64)
    recipient_client_id: str = Field(max_length=64)
    recipient_subject: str = Field(max_length=255)  # the workforce member's user id, not a patient's
    action: str = Field(max_length=32)
    purpose_of_use: str = Field(max_length=16)
    legal_basis: str = Field(sa_column=Column(Text, nullable=False))  # the decision's rule codes
    data_classes: str = Field(max_length=128)  # classes disclosed, comma-separated, sorted
    record_kinds: str = Field(max_length=255)  # kind:count, comma-separated
    envelope_ids: str = Field(sa_column=Column(Text, nullable=False))
    obligations: str = Field(sa_column=Column(Text, nullable=False))  # applied, comma-separated
    accountable: bool  # RECORD_ACCOUNTING: listed in the person's accounting of disclosures
    break_glass: bool
    policy_version: str = Field(max_length=80)
    request_id: str | None = Field(default=None, max_length=64)


class PrivacyReviewRow(SQLModel, table=True):
    """A request the privacy officer must review after the fact (break-glass, legal process)."""

    __tablename__ = "privacy_reviews"

    id: int | None = Field(default=None, primary_key=True)
    review_id: str = Field(max_length=36, unique=True)
    created_at: datetime = Field(sa_column=_timestamp())
    obligation: str = Field(max_length=32)  # RECORD_BREAK_GLASS or NOTIFY_PRIVACY_OFFICER
    person_id: str = Field(foreign_key="persons.person_id", index=True, max_length=36)
    requester_org_id: str = Field(foreign_key="organizations.org_id", max_length=64)
    requester_client_id: str = Field(max_length=64)
    requester_subject: str = Field(max_length=255)
    decision: str = Field(max_length=8)
    reason_codes: str = Field(sa_column=Column(Text, nullable=False))
    disclosure_id: str | None = Field(default=None, max_length=36)
    # The requester's stated reason (free text, may name the patient): sealed, id as AAD.
    statement_sealed: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    request_id: str | None = Field(default=None, max_length=64)


class AuditPendingRow(SQLModel, table=True):
    """An accepted audit record waiting for the integrator (durable before data is released)."""

    __tablename__ = "audit_pending"

    id: int | None = Field(default=None, primary_key=True)
    record_id: str = Field(max_length=36, unique=True)
    leaf: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    leaf_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    accepted_at: datetime = Field(sa_column=_timestamp())


class AuditEntryRow(SQLModel, table=True):
    """Leaf `idx` of the log: the exact record bytes; the other columns are query copies only."""

    __tablename__ = "audit_entries"
    __table_args__ = (
        Index("ix_audit_entries_person", "person_id", "recorded_at"),
        Index("ix_audit_entries_recorded", "recorded_at"),
    )

    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    record_id: str = Field(max_length=36, unique=True)
    leaf: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    leaf_hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    kind: str = Field(max_length=32)
    person_id: str | None = Field(default=None, max_length=36)
    requester_org: str | None = Field(default=None, max_length=64)
    action: str | None = Field(default=None, max_length=32)
    decision: str | None = Field(default=None, max_length=8)
    recorded_at: datetime = Field(sa_column=_timestamp())


class AuditNodeRow(SQLModel, table=True):
    """A complete subtree's hash (level ≥ 1); written once, when the subtree completes."""

    __tablename__ = "audit_nodes"

    level: int = Field(sa_column=Column(SmallInteger, primary_key=True, autoincrement=False))
    idx: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    hash: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class AuditCheckpointRow(SQLModel, table=True):
    """Every signed checkpoint; at most one root per size (no fork inside the database)."""

    __tablename__ = "audit_checkpoints"

    tree_size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    root: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    note: str = Field(sa_column=Column(Text, nullable=False))
    signed_at: datetime = Field(sa_column=_timestamp())


class AuditCosignatureRow(SQLModel, table=True):
    """A witness's cosignature line on the checkpoint of one size (C2SP tlog-cosignature)."""

    __tablename__ = "audit_cosignatures"

    tree_size: int = Field(sa_column=Column(BigInteger, primary_key=True, autoincrement=False))
    witness: str = Field(sa_column=Column(String(128), primary_key=True))
    key_id: bytes = Field(sa_column=Column(LargeBinary, primary_key=True))
    line: str = Field(sa_column=Column(Text, nullable=False))
    cosigned_at: datetime = Field(sa_column=_timestamp())


class AuditHeadRow(SQLModel, table=True):
    """The tree's size, root and compact range; compare-and-swapped by the integrator only."""

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="audit_head_single_row"),)

    id: int = Field(sa_column=Column(Integer, primary_key=True, autoincrement=False))
    tree_size: int = Field(sa_column=Column(BigInteger, nullable=False))
    root: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    peaks: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
