"""SQLModel tables of the gateway's own data: the only place these tables are declared.

Alembic migrations in `gateway/migrations/versions` create them; a test checks that the
migrations and these declarations agree. Registry ids and org names are not personal data.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Column, DateTime
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
