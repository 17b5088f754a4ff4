"""The ledger's one table. Rows are only ever inserted: triggers refuse UPDATE and DELETE.

The gateway's migration `0003_consents` creates it with those triggers; a test checks the
migration and this declaration agree. Terms are codes and ids (no names); the FHIR text, which
holds names and signatures, is stored sealed by the caller.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, DateTime, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


class ConsentVersionRow(SQLModel, table=True):
    __tablename__ = "consent_versions"
    __table_args__ = (UniqueConstraint("consent_id", "version", name="uq_consent_versions"),)

    id: int | None = Field(default=None, primary_key=True)
    consent_id: str = Field(max_length=36, index=True)
    version: int
    person_id: str = Field(max_length=36, index=True)
    change: str = Field(max_length=16)
    terms: str = Field(sa_column=Column(Text, nullable=False))  # canonical JSON of ConsentTerms
    recorded_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    effective_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    recorded_by_client: str = Field(max_length=64)
    recorded_by_org: str = Field(max_length=64)
    reason: str | None = Field(default=None, max_length=64)
    document_sha256: str = Field(max_length=64)
    document_sealed: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    prev_hash: str = Field(max_length=64)
    row_hash: str = Field(max_length=64)
