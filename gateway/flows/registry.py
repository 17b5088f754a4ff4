"""Registry use cases: each runs in one transaction, so a failure writes nothing.

Every write also bumps `registry_version` in `gateway_meta` (the row is created by migration
0008), in its transaction. Readers on the request path take a `RegistryView` (`current()`): one
query for the version, then orgs, clients and personnel from memory, loaded once per version.
A change committed by any process (the CLI included) is seen by the next request, as without a
cache.
"""

from __future__ import annotations

import hashlib
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import date
from typing import cast

from sqlalchemy import Engine, text
from sqlmodel import Session

from gateway.registry.domain import (
    NO_CJIS,
    Agreement,
    ApiClient,
    CjisStatus,
    Organization,
    Personnel,
    Sender,
)
from gateway.registry.errors import NotFoundError
from gateway.store import registry as store
from gateway.store.database import writer

REGISTRY_VERSION = "registry_version"
_MAX_CACHED = 10_000  # entries per version; personnel lookups by unknown subjects are cached too
_READ_VERSION = text("SELECT value FROM gateway_meta WHERE key = :key").bindparams(key=REGISTRY_VERSION)
_BUMP_VERSION = text(
    "UPDATE gateway_meta SET value = CAST(CAST(value AS INTEGER) + 1 AS VARCHAR(255)) WHERE key = :key"
).bindparams(key=REGISTRY_VERSION)


class RegistryService:
    """Register and read organisations, agreements, clients and personnel."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._cache = _VersionedCache()

    @contextmanager
    def _transaction(self, *, write: bool = False) -> Iterator[Session]:
        with Session(writer(self._engine) if write else self._engine) as session, session.begin():
            yield session
            if write:  # readers' caches are keyed by this version (its row: migration 0008)
                session.execute(_BUMP_VERSION)

    def current(self) -> RegistryView:
        """The registry as committed now, for one request: reads after this are from memory."""
        with self._engine.connect() as connection:
            version = connection.execute(_READ_VERSION).scalar() or "0"
        return RegistryView(self, self._cache.at(str(version)))

    def register_org(self, org: Organization) -> Organization:
        """Raises: DuplicateError."""
        with self._transaction(write=True) as session:
            store.add_organization(session=session, org=org)
        return org

    def add_agreement(self, org_id: str, agreement: Agreement) -> None:
        """Raises: NotFoundError."""
        with self._transaction(write=True) as session:
            self._require_org(session, org_id)
            store.add_agreement(session=session, org_id=org_id, agreement=agreement)

    def get_org(self, org_id: str) -> Organization | None:
        with self._transaction() as session:
            return store.get_organization(session=session, org_id=org_id)

    def list_orgs(self) -> list[Organization]:
        with self._transaction() as session:
            return store.list_organizations(session=session)

    def register_client(self, client: ApiClient) -> ApiClient:
        """Raises: NotFoundError (no such org), DuplicateError."""
        with self._transaction(write=True) as session:
            self._require_org(session, client.org_id)
            store.add_client(session=session, client=client)
        return client

    def set_client_active(self, client_id: str, *, active: bool) -> None:
        """Raises: NotFoundError."""
        with self._transaction(write=True) as session:
            if not store.set_client_active(session=session, client_id=client_id, active=active):
                raise NotFoundError(f"client {client_id!r} does not exist")

    def issue_mllp_secret(self, client_id: str) -> str:
        """Create (or replace) a client's MLLP shared secret; only its SHA-256 is stored.

        Raises: NotFoundError.
        """
        secret = secrets.token_urlsafe(24)
        with self._transaction(write=True) as session:
            digest = hashlib.sha256(secret.encode()).hexdigest()
            if not store.set_mllp_secret(session=session, client_id=client_id, secret_sha256=digest):
                raise NotFoundError(f"client {client_id!r} does not exist")
        return secret

    def sender_by_mllp_secret(self, secret_sha256: str) -> Sender | None:
        """The active client (with its org) whose MLLP secret has this digest."""
        with self._transaction() as session:
            client = store.client_by_mllp_secret(session=session, secret_sha256=secret_sha256)
            if client is None or not client.active:
                return None
            org = store.get_organization(session=session, org_id=client.org_id)
        return None if org is None else Sender(client_id=client.client_id, org=org, role=client.role)

    def get_client(self, client_id: str) -> ApiClient | None:
        with self._transaction() as session:
            return store.get_client(session=session, client_id=client_id)

    def list_clients(self, org_id: str | None = None) -> list[ApiClient]:
        with self._transaction() as session:
            return store.list_clients(session=session, org_id=org_id)

    def set_personnel(self, personnel: Personnel) -> Personnel:
        """Raises: NotFoundError (no such org)."""
        with self._transaction(write=True) as session:
            self._require_org(session, personnel.org_id)
            store.put_personnel(session=session, personnel=personnel)
        return personnel

    def get_personnel(self, subject: str) -> Personnel | None:
        with self._transaction() as session:
            return store.get_personnel(session=session, subject=subject)

    def cjis_status(self, subject: str, org_id: str, day: date) -> CjisStatus:
        return cjis_status_of(self.get_personnel(subject), org_id, day)

    def list_personnel(self, org_id: str | None = None) -> list[Personnel]:
        with self._transaction() as session:
            return store.list_personnel(session=session, org_id=org_id)

    @staticmethod
    def _require_org(session: Session, org_id: str) -> None:
        if store.get_organization(session=session, org_id=org_id) is None:
            raise NotFoundError(f"org {org_id!r} does not exist")


def cjis_status_of(personnel: Personnel | None, org_id: str, day: date) -> CjisStatus:
    """The CJIS checks of the person acting, on `day`; none pass for someone not on file at
    that org (a record at another org does not travel with the token)."""
    if personnel is None or personnel.org_id != org_id:
        return NO_CJIS
    return personnel.cjis_status(day)


class _VersionedCache:
    """Registry reads for one version at a time; a new version starts an empty cache."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._version: str | None = None
        self._entries: dict[tuple[str, str], object] = {}

    def at(self, version: str) -> dict[tuple[str, str], object]:
        with self._lock:
            if version != self._version or len(self._entries) > _MAX_CACHED:
                self._version, self._entries = version, {}
            return self._entries


class RegistryView:
    """Orgs, clients and personnel as of one registry version (see `RegistryService.current`)."""

    def __init__(self, service: RegistryService, entries: dict[tuple[str, str], object]) -> None:
        self._service = service
        self._entries = entries

    def _read(self, kind: str, key: str, load: Callable[[str], object]) -> object:
        try:
            return self._entries[(kind, key)]
        except KeyError:
            value = self._entries[(kind, key)] = load(key)
            return value

    def get_org(self, org_id: str) -> Organization | None:
        return cast(Organization | None, self._read("org", org_id, self._service.get_org))

    def get_client(self, client_id: str) -> ApiClient | None:
        return cast(ApiClient | None, self._read("client", client_id, self._service.get_client))

    def cjis_status(self, subject: str, org_id: str, day: date) -> CjisStatus:
        personnel = cast(Personnel | None, self._read("personnel", subject, self._service.get_personnel))
        return cjis_status_of(personnel, org_id, day)
