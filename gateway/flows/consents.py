"""Consent capture and revocation: FHIR Consent in, versions of the ledger out, sealed at rest.

Invariants:
- Every change is a new version in one transaction (ledger row + receipt); nothing is edited.
- The patient must already be known to the person index; a consent never creates a person.
- Recipients are registered orgs or org types; a consent naming anything else is refused.
- The FHIR text (names, signature, the signed form) is sealed with the consent id and version
  as associated data, so a sealed text cannot be moved to another version.
- Recording, revoking and reading consents is limited to the org types and roles of
  CONSENT-MANAGE (regulations.md); the policy issue moves this decision into the engine.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine

from consent_ledger import (
    GENESIS,
    ChainBroken,
    Change,
    ConsentFinal,
    ConsentInvalid,
    ConsentNotFound,
    ConsentTerms,
    ConsentVersion,
    Problem,
    VersionMismatch,
    facts_at,
    read_consent,
    row_hash,
    verify_chain,
)
from consent_ledger.domain import FINAL_CHANGES, instant_text
from consent_ledger.sql import store as consent_store
from gateway.crypto import open_sealed, seal
from gateway.flows.patients import find_person
from gateway.flows.policy import Permit, PolicyDenied, PolicyGate, Requester
from gateway.keyring import Keyring
from gateway.registry.domain import Sender
from gateway.store import envelopes as receipts_store
from gateway.store import persons
from gateway.store.database import writer

REVOCATION_REASONS = frozenset({"patient-request", "representative-request", "superseded", "other"})
EXPIRY_REASONS = frozenset({"expiry-event"})
EXT_CHANGE = "urn:consent-gateway:ext:change"


class ConsentRefused(Exception):
    """The policy engine refused to let this client manage consents (CONSENT-MANAGE)."""

    def __init__(self, denied: PolicyDenied) -> None:
        super().__init__(denied.summary)
        self.reason = denied.summary
        self.code = denied.code
        self.decision = denied.decision


class PatientUnknown(ConsentInvalid):
    """The consent's patient is not in the person index: push the Patient first."""


@dataclass(frozen=True)
class StoredConsent:
    version: ConsentVersion
    resource: dict[str, Any]  # the FHIR Consent of this version, with id and meta
    replayed: bool = False


class ConsentService:
    def __init__(
        self,
        *,
        engine: Engine,
        keyring: Keyring,
        org_exists: Callable[[str], bool],
        policy: PolicyGate,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._policy = policy
        self._engine = engine
        self._writer = writer(engine)
        self._keyring = keyring
        self._org_exists = org_exists
        self._clock = clock

    def _check_manage(self, sender: Sender, connection: Connection | None = None) -> Permit:
        """Every consent interaction is decided by the policy engine (CONSENT-MANAGE).

        Raises:
            ConsentRefused: denied (and audited). PolicyUnavailable: no decision (fail closed).
        """
        requester = Requester(sender)
        try:
            return self._policy.require_manage_consent(requester, connection=connection)
        except PolicyDenied as denied:
            raise ConsentRefused(denied) from None

    def _audit(
        self, connection: Connection, permit: Permit, person_ids: Iterable[str | None], outcome: str
    ) -> None:
        """The permit's audit records, committed with the change they allowed."""
        self._policy.audit.accept(connection, self._policy.records(permit, person_ids, outcome))

    def _audit_read(self, permit: Permit, person_ids: Iterable[str | None]) -> None:
        """A read's audit records, durable before the consents are returned."""
        self._policy.audit.accept_now(self._policy.records(permit, person_ids, "read"))

    @contextmanager
    def _write(self) -> Iterator[Connection]:
        with self._writer.begin() as connection:
            yield connection

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        with self._engine.connect() as connection:
            yield connection

    # --- changes ------------------------------------------------------------------------------

    def record(self, sender: Sender, document: dict[str, Any], idempotency_key: str | None) -> StoredConsent:
        """A new consent (POST /fhir/r4/Consent, `consent import`).

        Raises:
            ConsentRefused, ConsentInvalid (ConsentIncomplete, PatientUnknown).
        """
        permit = self._check_manage(sender)
        key = f"consent:{idempotency_key}" if idempotency_key else None
        with self._write() as connection:
            if key:
                stored = receipts_store.receipt(
                    connection=connection, org_id=sender.org.org_id, message_key=key
                )
                if stored:
                    answer = json.loads(stored)
                    replayed = consent_store.history(connection=connection, consent_id=answer["id"])
                    self._audit(connection, permit, [replayed[0].person_id], "replayed")
                    return self._render(connection, replayed[answer["version"] - 1], replayed=True)
            person_id = self._patient(connection, sender, document)
            version = self.record_in(connection, sender, document, person_id, permit=permit)
            if key:
                receipts_store.add_receipt(
                    connection=connection,
                    org_id=sender.org.org_id,
                    message_key=key,
                    response=json.dumps({"id": version.consent_id, "version": 1}),
                    created_at=self._clock(),
                )
            return self._render(connection, version)

    def record_in(
        self,
        connection: Connection,
        sender: Sender,
        document: dict[str, Any],
        person_id: str,
        *,
        permit: Permit | None = None,
    ) -> ConsentVersion:
        """Record a new consent inside the caller's transaction (a Bundle's, for instance).

        Raises:
            ConsentRefused, ConsentInvalid.
        """
        permit = permit or self._check_manage(sender, connection)
        terms = read_consent(document)
        self._check_recipients(terms.recipient_orgs)
        self._audit(connection, permit, [person_id], "recorded")
        return self._append(
            connection,
            sender,
            consent_id=str(uuid.uuid4()),
            number=1,
            person_id=person_id,
            change=Change.RECORD,
            terms=terms,
            document=_without_server_fields(document),
            effective_at=None,
            reason=None,
            prev_hash=GENESIS,
        )

    def update(
        self, sender: Sender, consent_id: str, document: dict[str, Any], if_match: int | None
    ) -> StoredConsent:
        """A new text of an existing consent (PUT), e.g. a draft completed and signed.

        Raises:
            ConsentRefused, ConsentNotFound, ConsentFinal, StaleVersion, ConsentInvalid.
        """
        permit = self._check_manage(sender)
        with self._write() as connection:
            latest = self._latest(connection, consent_id, if_match)
            person_id = self._patient(connection, sender, document)
            if person_id != persons.existing_person(connection=connection, person_id=latest.person_id):
                raise ConsentInvalid(
                    [Problem("Consent.patient", "business-rule", "a consent's patient cannot change")]
                )
            terms = read_consent(document)
            self._check_recipients(terms.recipient_orgs)
            self._audit(connection, permit, [latest.person_id], "updated")
            version = self._append(
                connection,
                sender,
                consent_id=consent_id,
                number=latest.version + 1,
                person_id=latest.person_id,
                change=Change.UPDATE,
                terms=terms,
                document=_without_server_fields(document),
                effective_at=None,
                reason=None,
                prev_hash=latest.row_hash,
            )
            return self._render(connection, version)

    def end(
        self,
        sender: Sender,
        consent_id: str,
        *,
        change: Change,
        reason: str,
        effective_at: datetime | None,
        if_match: int | None = None,
    ) -> StoredConsent:
        """Revoke a consent, or record that its expiry event happened: a final new version.

        Raises:
            ConsentRefused, ConsentNotFound, ConsentFinal, StaleVersion, ConsentInvalid (reason).
        """
        permit = self._check_manage(sender)
        allowed = REVOCATION_REASONS if change is Change.REVOKE else EXPIRY_REASONS
        if reason not in allowed:
            raise ConsentInvalid(
                [
                    Problem(
                        "Parameters.parameter.reason", "code-invalid", f"reason is one of {sorted(allowed)}"
                    )
                ]
            )
        with self._write() as connection:
            latest = self._latest(connection, consent_id, if_match)
            previous = self._document(connection, consent_id, latest.version)
            self._audit(connection, permit, [latest.person_id], change.value)
            when = effective_at or self._clock()
            document = {
                **previous,
                "status": "inactive",
                "extension": [
                    *(e for e in previous.get("extension", []) if e.get("url") != EXT_CHANGE),
                    {
                        "url": EXT_CHANGE,
                        "extension": [
                            {"url": "change", "valueCode": change.value},
                            {"url": "reason", "valueCode": reason},
                            {"url": "effective", "valueDateTime": instant_text(when)},
                        ],
                    },
                ],
            }
            version = self._append(
                connection,
                sender,
                consent_id=consent_id,
                number=latest.version + 1,
                person_id=latest.person_id,
                change=change,
                terms=latest.terms,
                document=document,
                effective_at=when,
                reason=reason,
                prev_hash=latest.row_hash,
            )
            return self._render(connection, version)

    # --- reads --------------------------------------------------------------------------------

    def read(self, sender: Sender, consent_id: str, version: int | None = None) -> StoredConsent:
        """Raises: ConsentRefused, ConsentNotFound; AuditUnavailable."""
        permit = self._check_manage(sender)
        with self._read() as connection:
            history = consent_store.history(connection=connection, consent_id=consent_id)
            if not history:
                self._audit_read(permit, [])
                raise ConsentNotFound("no consent with that id")
            number = version if version is not None else history[-1].version
            wanted = [v for v in history if v.version == number]
            self._audit_read(permit, [history[0].person_id])
            if not wanted:
                raise ConsentNotFound("no such version of that consent")
            return self._render(connection, wanted[0])

    def history(self, sender: Sender, consent_id: str) -> list[StoredConsent]:
        """Every version, newest first (FHIR history order). Raises: ConsentRefused, ConsentNotFound."""
        permit = self._check_manage(sender)
        with self._read() as connection:
            history = consent_store.history(connection=connection, consent_id=consent_id)
            self._audit_read(permit, [history[0].person_id] if history else [])
            if not history:
                raise ConsentNotFound("no consent with that id")
            return [self._render(connection, v) for v in reversed(history)]

    def search(self, sender: Sender, patient: dict[str, Any], *, all_versions: bool) -> list[StoredConsent]:
        """A person's consents: the current version of each, or every version when `all_versions`.

        An unknown patient has no consents ([]), which says nothing about whether they exist.

        Raises: ConsentRefused.
        """
        permit = self._check_manage(sender)
        with self._read() as connection:
            try:
                person_id = self._patient(connection, sender, {"patient": patient})
            except PatientUnknown:
                self._audit_read(permit, [])
                return []
            self._audit_read(permit, [person_id])
            ids = persons.merged_ids(connection=connection, person_id=person_id)
            versions = consent_store.for_persons(connection=connection, person_ids=ids)
            if not all_versions:
                latest: dict[str, ConsentVersion] = {}
                for version in versions:
                    latest[version.consent_id] = version
                versions = list(latest.values())
            ordered = sorted(versions, key=lambda v: (v.consent_id, -v.version))
            return [self._render(connection, v) for v in ordered]

    def consents_for(self, person_id: str, at: datetime) -> list[dict[str, Any]]:
        """The policy engine's `consents[]` for a person at an instant (DESIGN.md 7).

        Follows merges: consents recorded under a merged person count for the survivor. Known
        at `at` means recorded by then, so any past decision can be reproduced.
        """
        with self._read() as connection:
            return self.consents_for_in(connection, person_id, at)

    def consents_for_in(self, connection: Connection, person_id: str, at: datetime) -> list[dict[str, Any]]:
        ids = persons.merged_ids(connection=connection, person_id=person_id)
        versions = consent_store.for_persons(connection=connection, person_ids=ids, known_at=at)
        return [fact.as_input() for fact in facts_at(versions, at)]

    def verify(self) -> int:
        """Check every consent's chain and sealed text; the number of consents checked.

        Raises:
            ChainBroken: naming the first consent and version that is missing or altered.
        """
        count = 0
        with self._read() as connection:
            for history in consent_store.all_histories(connection=connection):
                verify_chain(history)
                for version in history:
                    sealed = consent_store.document(
                        connection=connection, consent_id=version.consent_id, version=version.version
                    )
                    text = open_sealed(
                        self._keyring,
                        sealed or b"",
                        associated_data=_aad(version.consent_id, version.version),
                    )
                    if hashlib.sha256(text).hexdigest() != version.document_sha256:
                        raise ChainBroken(version.consent_id, version.version, "sealed text does not match")
                count += 1
        return count

    # --- internals ----------------------------------------------------------------------------

    def _latest(self, connection: Connection, consent_id: str, if_match: int | None) -> ConsentVersion:
        history = consent_store.history(connection=connection, consent_id=consent_id)
        if not history:
            raise ConsentNotFound("no consent with that id")
        latest = history[-1]
        if latest.change in FINAL_CHANGES:
            raise ConsentFinal("the consent is revoked or expired; record a new consent instead")
        if if_match is not None and if_match != latest.version:
            raise VersionMismatch("If-Match names a version that is no longer current")
        return latest

    def _append(
        self,
        connection: Connection,
        sender: Sender,
        *,
        consent_id: str,
        number: int,
        person_id: str,
        change: Change,
        terms: ConsentTerms,
        document: dict[str, Any],
        effective_at: datetime | None,
        reason: str | None,
        prev_hash: str,
    ) -> ConsentVersion:
        now = self._clock()
        text = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        version = ConsentVersion(
            consent_id=consent_id,
            version=number,
            person_id=person_id,
            change=change,
            terms=terms,
            recorded_at=now,
            effective_at=effective_at or now,
            recorded_by_client=sender.client_id,
            recorded_by_org=sender.org.org_id,
            reason=reason,
            document_sha256=hashlib.sha256(text).hexdigest(),
            prev_hash=prev_hash,
        )
        version = _with_hash(version)
        consent_store.append(
            connection=connection,
            version=version,
            document_sealed=seal(self._keyring, text, associated_data=_aad(consent_id, number)),
        )
        return version

    def _patient(self, connection: Connection, sender: Sender, document: dict[str, Any]) -> str:
        """The person a Consent's `patient` names. Raises: PatientUnknown, ConsentInvalid."""
        pointer = document.get("patient")
        pointer = pointer if isinstance(pointer, dict) else {}
        reference = pointer.get("reference")
        identifier = pointer.get("identifier")
        logical: str | None = None
        named: tuple[str | None, str] | None = None
        if isinstance(reference, str) and reference.startswith("Patient/") and len(reference) > 8:
            logical = reference.removeprefix("Patient/")
        elif isinstance(identifier, dict) and identifier.get("value"):
            system = identifier.get("system")
            named = (str(system) if system else None, str(identifier["value"]))
        else:
            raise ConsentInvalid(
                [Problem("Consent.patient", "required", "reference (Patient/{id}) or identifier is required")]
            )
        person_id = find_person(
            connection, self._keyring, sender.org.org_id, logical_id=logical, identifier=named
        )
        if person_id is None:
            raise PatientUnknown(
                [
                    Problem(
                        "Consent.patient",
                        "not-found",
                        "the patient is unknown: push the Patient first or reference it by identifier",
                    )
                ]
            )
        return person_id

    def _check_recipients(self, org_ids: tuple[str, ...]) -> None:
        unknown = [org_id for org_id in org_ids if not self._org_exists(org_id)]
        if unknown:
            raise ConsentInvalid(
                [
                    Problem(
                        "Consent.provision.actor",
                        "invalid",
                        f"recipient is not a registered organisation: {org_id}",
                    )
                    for org_id in unknown
                ]
            )

    def _document(self, connection: Connection, consent_id: str, number: int) -> dict[str, Any]:
        sealed = consent_store.document(connection=connection, consent_id=consent_id, version=number)
        if sealed is None:
            raise ConsentNotFound("no such version of that consent")
        text = open_sealed(self._keyring, sealed, associated_data=_aad(consent_id, number))
        document: dict[str, Any] = json.loads(text)
        return document

    def _render(
        self, connection: Connection, version: ConsentVersion, *, replayed: bool = False
    ) -> StoredConsent:
        document = self._document(connection, version.consent_id, version.version)
        resource = {
            **document,
            "id": version.consent_id,
            "meta": {
                **(document.get("meta") or {}),
                "versionId": str(version.version),
                "lastUpdated": instant_text(version.recorded_at),
            },
        }
        return StoredConsent(version=version, resource=resource, replayed=replayed)


def _with_hash(version: ConsentVersion) -> ConsentVersion:
    return replace(version, row_hash=row_hash(version))


def _aad(consent_id: str, version: int) -> bytes:
    return f"consent:{consent_id}:{version}".encode()


def _without_server_fields(document: dict[str, Any]) -> dict[str, Any]:
    """The text as sent, minus what the server assigns (id, meta.versionId, meta.lastUpdated)."""
    meta = {k: v for k, v in (document.get("meta") or {}).items() if k not in ("versionId", "lastUpdated")}
    stripped = {k: v for k, v in document.items() if k not in ("id", "meta")}
    return {**stripped, **({"meta": meta} if meta else {})}
