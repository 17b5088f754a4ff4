"""SQL access to the org registry: keyword-only, explicit session; the caller owns the transaction."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from gateway.registry.domain import Agreement, ApiClient, Organization, Personnel
from gateway.registry.errors import DuplicateError
from gateway.store.tables import AgreementRow, ApiClientRow, OrganizationRow, PersonnelRow
from policies.vocabulary import AgreementKind, OrgType, Role


def add_organization(*, session: Session, org: Organization) -> None:
    """Insert an organisation and its agreements.

    Raises:
        DuplicateError: the org id is taken.
    """
    if session.get(OrganizationRow, org.org_id) is not None:
        raise DuplicateError(f"org {org.org_id!r} already exists")
    session.add(
        OrganizationRow(
            org_id=org.org_id,
            name=org.name,
            org_type=org.org_type.value,
            part2_program=org.part2_program,
            cjis_agency=org.cjis_agency,
        )
    )
    _flush_or_duplicate(session, f"org {org.org_id!r} already exists")
    for agreement in org.agreements:
        add_agreement(session=session, org_id=org.org_id, agreement=agreement)


def add_agreement(*, session: Session, org_id: str, agreement: Agreement) -> None:
    session.add(
        AgreementRow(
            org_id=org_id,
            kind=agreement.kind.value,
            effective_on=agreement.effective_on,
            ends_on=agreement.ends_on,
        )
    )
    session.flush()


def get_organization(*, session: Session, org_id: str) -> Organization | None:
    row = session.get(OrganizationRow, org_id)
    if row is None:
        return None
    agreements = session.exec(
        select(AgreementRow).where(AgreementRow.org_id == org_id).order_by(col(AgreementRow.id))
    ).all()
    return _organization(row, agreements)


def list_organizations(*, session: Session) -> list[Organization]:
    rows = session.exec(select(OrganizationRow).order_by(col(OrganizationRow.org_id))).all()
    agreements = session.exec(select(AgreementRow).order_by(col(AgreementRow.id))).all()
    by_org: dict[str, list[AgreementRow]] = {}
    for agreement in agreements:
        by_org.setdefault(agreement.org_id, []).append(agreement)
    return [_organization(row, by_org.get(row.org_id, [])) for row in rows]


def add_client(*, session: Session, client: ApiClient) -> None:
    """Raises:
    DuplicateError: the client id is taken.
    """
    if session.get(ApiClientRow, client.client_id) is not None:
        raise DuplicateError(f"client {client.client_id!r} already exists")
    session.add(
        ApiClientRow(
            client_id=client.client_id,
            org_id=client.org_id,
            role=client.role.value,
            active=client.active,
        )
    )
    _flush_or_duplicate(session, f"client {client.client_id!r} already exists")


def set_client_active(*, session: Session, client_id: str, active: bool) -> bool:
    """Enable or disable a client; False when there is no such client."""
    return _update_client(session, client_id, active=active)


def get_client(*, session: Session, client_id: str) -> ApiClient | None:
    row = session.get(ApiClientRow, client_id)
    return None if row is None else _client(row)


def list_clients(*, session: Session, org_id: str | None = None) -> list[ApiClient]:
    query = select(ApiClientRow).order_by(col(ApiClientRow.client_id))
    if org_id is not None:
        query = query.where(ApiClientRow.org_id == org_id)
    return [_client(row) for row in session.exec(query).all()]


def put_personnel(*, session: Session, personnel: Personnel) -> None:
    """Insert or replace a person's CJIS facts."""
    row = session.get(PersonnelRow, personnel.subject) or PersonnelRow(
        subject=personnel.subject, org_id=personnel.org_id
    )
    row.org_id = personnel.org_id
    row.addendum_signed_on = personnel.addendum_signed_on
    row.training_completed_on = personnel.training_completed_on
    row.background_check_on = personnel.background_check_on
    row.access_revoked_on = personnel.access_revoked_on
    row.updated_at = datetime.now(UTC)
    session.add(row)
    session.flush()


def get_personnel(*, session: Session, subject: str) -> Personnel | None:
    row = session.get(PersonnelRow, subject)
    return None if row is None else _personnel(row)


def list_personnel(*, session: Session, org_id: str | None = None) -> list[Personnel]:
    query = select(PersonnelRow).order_by(col(PersonnelRow.subject))
    if org_id is not None:
        query = query.where(PersonnelRow.org_id == org_id)
    return [_personnel(row) for row in session.exec(query).all()]


def _update_client(session: Session, client_id: str, **values: object) -> bool:
    row = session.get(ApiClientRow, client_id)
    if row is None:
        return False
    for name, value in values.items():
        setattr(row, name, value)
    session.add(row)
    session.flush()
    return True


def _flush_or_duplicate(session: Session, message: str) -> None:
    """Flush; a concurrent insert of the same key surfaces as a DuplicateError."""
    try:
        session.flush()
    except IntegrityError:
        raise DuplicateError(message) from None


def _organization(row: OrganizationRow, agreements: Sequence[AgreementRow]) -> Organization:
    return Organization(
        org_id=row.org_id,
        name=row.name,
        org_type=OrgType(row.org_type),
        part2_program=row.part2_program,
        cjis_agency=row.cjis_agency,
        agreements=tuple(
            Agreement(kind=AgreementKind(a.kind), effective_on=a.effective_on, ends_on=a.ends_on)
            for a in agreements
        ),
    )


def _client(row: ApiClientRow) -> ApiClient:
    return ApiClient(client_id=row.client_id, org_id=row.org_id, role=Role(row.role), active=row.active)


def _personnel(row: PersonnelRow) -> Personnel:
    return Personnel(
        subject=row.subject,
        org_id=row.org_id,
        addendum_signed_on=row.addendum_signed_on,
        training_completed_on=row.training_completed_on,
        background_check_on=row.background_check_on,
        access_revoked_on=row.access_revoked_on,
    )


def set_mllp_secret(*, session: Session, client_id: str, secret_sha256: str) -> bool:
    """Store the digest of a client's MLLP secret; False when there is no such client."""
    return _update_client(session, client_id, mllp_secret_sha256=secret_sha256)


def client_by_mllp_secret(*, session: Session, secret_sha256: str) -> ApiClient | None:
    row = session.exec(select(ApiClientRow).where(ApiClientRow.mllp_secret_sha256 == secret_sha256)).first()
    return None if row is None else _client(row)
