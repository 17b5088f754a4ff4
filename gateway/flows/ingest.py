"""Ingest: parse → classify → resolve the person → seal → store, durably, then acknowledge.

Invariants:
- Durable before acknowledged: envelopes, person-index changes and receipts of one call
  commit in one transaction; the ACK or response is built only after the commit returns.
  HL7 calls take many messages at once (the MLLP group commit): each message runs in its
  own savepoint, so one failure never takes the others down with it.
- A redelivery (same sender org and MSH-10, Idempotency-Key, or Bundle.id + meta) is
  answered again from its receipt and stores nothing new.
- `source.org_id` is the sender's registered org, never the payload's.
- Every push is decided by the policy engine (PUSH-INGEST) on the parsed record's data classes,
  after the registry precondition (a BAA or QSOA in force) and before anything is stored.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel import Session

from audit.errors import AuditUnavailable
from audit.record import AuditRecord
from connectors.envelope import Envelope, RecordKind, SubjectRef
from connectors.errors import ConnectorError, Issue, IssuesFound, MalformedMessage
from connectors.fhir.parse import ParsedBundle, check_single, parse_bundle
from connectors.fhir.to_envelope import Context, FhirRecord, bundle_to_records, resource_to_record
from connectors.hl7v2.ack import ACCEPT, ERROR, REJECT, build_ack
from connectors.hl7v2.parse import APPLICATION_INTERNAL_ERROR, Header, parse, read_header, split_batch
from connectors.hl7v2.strict import parse_strict
from connectors.hl7v2.to_envelope import to_envelope
from consent_ledger import ConsentInvalid
from gateway.crypto import facts_associated_data, open_sealed, seal
from gateway.flows.consents import ConsentRefused, ConsentService
from gateway.flows.policy import Permit, PolicyDenied, PolicyGate
from gateway.keyring import Keyring
from gateway.log_config import get_logger
from gateway.outcome import operation_outcome
from gateway.person_keys import SubjectKeys, subject_keys
from gateway.registry.domain import Sender
from gateway.store import envelopes as envelope_store
from gateway.store import persons
from gateway.store.database import writer
from policies.errors import PolicyUnavailable
from policies.vocabulary import AgreementKind

PUSH_AGREEMENTS = frozenset({AgreementKind.BAA, AgreementKind.QSOA})

log = get_logger(__name__)


class PushRefused(Exception):
    """The sender may not push records (PUSH-INGEST). `code` names the rule that failed."""

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def check_push_agreement(sender: Sender, today: date) -> None:
    """The deployment precondition of PUSH-INGEST: a BAA or QSOA in force today (DESIGN.md 8).

    The engine decides the push itself; it does not read agreements (regulations.md 5).

    Raises:
        PushRefused.
    """
    if not set(sender.org.agreements_in_force(today)) & PUSH_AGREEMENTS:
        raise PushRefused(
            "PUSH-INGEST", "no business associate agreement or QSOA is in force for this organisation"
        )


@dataclass(frozen=True)
class Hl7Item:
    sender: Sender
    data: bytes
    payload: bytes | None = None  # what to store, when it differs from `data` (MLLP: MSH-8 blanked)


@dataclass(frozen=True)
class FhirResult:
    status: int
    body: dict[str, Any]
    location: str | None = None
    replayed: bool = False


class IngestService:
    def __init__(
        self,
        *,
        engine: Engine,
        keyring: Keyring,
        strict_hl7: bool = False,
        policy: PolicyGate,
        consents: ConsentService | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._policy = policy
        self._consents = consents  # Consents in Bundles go to the ledger; None where none arrive
        self._writer = writer(engine)  # made once: each call builds a new option engine
        self._keyring = keyring
        self._strict = strict_hl7
        self._clock = clock

    @contextmanager
    def _transaction(self) -> Iterator[Session]:
        with Session(self._writer) as session, session.begin():
            yield session

    @contextmanager
    def _hl7_transaction(self) -> Iterator[Connection]:
        """A Core transaction: the HL7 path runs only Core statements, so no ORM session is needed."""
        with self._writer.begin() as connection:
            yield connection

    def require_push(self, sender: Sender, classes: Iterable[str]) -> Permit:
        """The engine's PUSH-INGEST decision on what the push carries (a refusal is audited).

        Raises:
            PushRefused: denied (its codes and sentences, never the payload). PolicyUnavailable;
            AuditUnavailable.
        """
        try:
            return self._policy.require_push(sender, [str(c) for c in classes])
        except PolicyDenied as denied:
            raise PushRefused(denied.code, denied.summary) from None

    # --- HL7 v2 -------------------------------------------------------------------------------

    def hl7_many(self, items: list[Hl7Item]) -> list[bytes]:
        """Ingest many frames in one transaction; one ACK (or batch ACK) per frame, after commit."""
        return self.store_hl7(self.prepare_hl7(items))

    def prepare_hl7(self, items: list[Hl7Item]) -> PreparedHl7:
        """Parse, authorise, classify and key every frame: CPU only, no database access."""
        return PreparedHl7(frames=[self._prepare_frame(item) for item in items])

    def store_hl7(self, prepared: PreparedHl7) -> list[bytes]:
        """Store prepared frames in one transaction; one ACK (or batch ACK) per frame, after commit.

        If the batch's transaction fails, each message is retried in a transaction of its own,
        so one bad message cannot fail its neighbours.
        """
        frames = prepared.frames
        pending = [message for frame in frames for message in frame if message.ack is None]
        accepted: list[bytes] = []
        try:
            if pending:  # all answered already (rejected): take no write lock for nothing
                with self._hl7_transaction() as connection:
                    accepted = self._store_messages(connection, pending)
        except SQLAlchemyError as exc:
            log.error("hl7_batch_failed", count=len(pending), error_type=type(exc).__name__)
            accepted = [self._store_alone(message) for message in pending]
        for message, ack in zip(pending, accepted, strict=True):
            message.ack = ack
        return [_frame_ack(frame) for frame in frames]

    def _prepare_frame(self, item: Hl7Item) -> list[_Prepared]:
        try:
            messages = split_batch(item.data)
        except ConnectorError as error:
            return [_Prepared(ack=build_ack(None, REJECT, error))]
        single = len(messages) == 1 and messages[0] is item.data
        if single:
            return [self._prepare(item.sender, item.data, item.payload)]
        # A batch: each message is stored from the frame's stored form (MLLP: MSH-8 blanked in
        # every message), which splits into the same messages in the same order.
        payloads = split_batch(item.payload) if item.payload is not None else messages
        prepared = [self._prepare(item.sender, m, p) for m, p in zip(messages, payloads, strict=True)]
        prepared[0].batch = True
        return prepared

    def _prepare(self, sender: Sender, data: bytes, payload: bytes | None) -> _Prepared:
        try:
            header = read_header(data)
        except ConnectorError as error:
            return _Prepared(ack=build_ack(None, REJECT, error))
        try:
            check_push_agreement(sender, self._clock().date())
            message = parse_strict(data, header) if self._strict else parse(data, header)
            envelope = to_envelope(
                message,
                org_id=sender.org.org_id,
                source_is_part2_program=sender.org.part2_program,
                received_at=self._clock(),
                payload=payload,
            )
            permit = self.require_push(sender, envelope.data_classes)
        except PushRefused as refused:
            return _Prepared(
                ack=build_ack(
                    header, REJECT, MalformedMessage(refused.reason, code=APPLICATION_INTERNAL_ERROR)
                )
            )
        except (PolicyUnavailable, AuditUnavailable):
            return _Prepared(
                ack=build_ack(
                    header,
                    ERROR,
                    MalformedMessage(
                        "no audited policy decision could be made; resend later",
                        code=APPLICATION_INTERNAL_ERROR,
                    ),
                )
            )
        except ConnectorError as error:
            return _Prepared(
                ack=build_ack(header, ERROR if isinstance(error, MalformedMessage) else REJECT, error)
            )
        keys = subject_keys(envelope.subject, org_id=sender.org.org_id, index_key=self._keyring.index_key)
        return _Prepared(
            header=header, envelope=envelope, keys=keys, message_key=f"hl7:{header.control_id}", permit=permit
        )

    def _store_messages(self, connection: Connection, messages: list[_Prepared]) -> list[bytes]:
        """Store each message not seen before; redeliveries are acknowledged, not stored.

        A whole group commit costs a handful of statements: one receipt upsert (which also tells
        redeliveries apart), one person-key lookup, and one insert each for people, keys and
        envelopes. An A40 merge changes who holds which keys, so it splits the batch.
        """
        first = {(m.org_id, m.message_key): m for m in reversed(messages)}
        claimed = envelope_store.claim_receipts(
            connection=connection,
            rows=[
                {
                    "source_org_id": org_id,
                    "message_key": key,
                    "response": _AA_RECEIPT,
                    "created_at": self._clock(),
                }
                for org_id, key in first
            ],
        )
        to_store = [
            m
            for m in messages
            if first.get((m.org_id, m.message_key)) is m and (m.org_id, m.message_key) in claimed
        ]
        rows: list[dict[str, Any]] = []
        records: list[AuditRecord] = []
        resolver = persons.BatchResolver(connection, [m.keys_or_raise for m in to_store])
        for index, message in enumerate(to_store):
            envelope = message.envelope_or_raise
            if envelope.merge_from:
                resolver.flush()
                person_id = self._resolve_hl7(connection, message)
                resolver = persons.BatchResolver(connection, [m.keys_or_raise for m in to_store[index + 1 :]])
            else:
                person_id = resolver.resolve(message.keys_or_raise, defines_subject=True).person_id
            rows.append(envelope_row(self._keyring, envelope, person_id))
            records += self._policy.records(message.permit_or_raise, [person_id], "stored")
        resolver.flush()
        envelope_store.insert_envelopes(connection=connection, rows=rows)
        stored = {id(m) for m in to_store}
        for message in messages:
            if id(message) not in stored:  # a redelivery: decided again, acknowledged, not stored
                records += self._policy.records(message.permit_or_raise, [], "replayed")
        self._policy.audit.accept(connection, records)
        return [build_ack(message.header, ACCEPT) for message in messages]

    def _store_alone(self, message: _Prepared) -> bytes:
        try:
            with self._hl7_transaction() as connection:
                return self._store_messages(connection, [message])[0]
        except SQLAlchemyError as exc:
            log.error("hl7_store_failed", error_type=type(exc).__name__)
            return build_ack(
                message.header,
                ERROR,
                MalformedMessage(
                    "message could not be stored; resend later", code=APPLICATION_INTERNAL_ERROR
                ),
            )

    def _resolve_hl7(self, connection: Connection, message: _Prepared) -> str:
        envelope = message.envelope_or_raise
        person_id = self._resolve(connection, envelope, defines_subject=True)
        if envelope.merge_from:
            merged_keys = subject_keys(
                SubjectRef(identifiers=envelope.merge_from),
                org_id=envelope.source.org_id,
                index_key=self._keyring.index_key,
            )
            persons.merge(connection=connection, surviving=person_id, merged_keys=merged_keys)
        return person_id

    # --- FHIR R4 ------------------------------------------------------------------------------

    def fhir_bundle(
        self, sender: Sender, document: dict[str, Any], idempotency_key: str | None
    ) -> FhirResult:
        """A transaction (all or nothing) or batch (entry by entry) Bundle.

        Raises:
            PushRefused; ConnectorError (IssuesFound lists every problem) for a rejected Bundle.
        """
        check_push_agreement(sender, self._clock().date())
        bundle = parse_bundle(document)
        key = _bundle_key(bundle, idempotency_key)
        context = Context(
            org_id=sender.org.org_id,
            source_is_part2_program=sender.org.part2_program,
            received_at=self._clock(),
            message_id=key,
        )
        records = bundle_to_records(bundle, context)
        # Decided before the write transaction opens, so a refusal is recorded on its own.
        permit = self.require_push(
            sender,
            {c for r in records.values() if isinstance(r, FhirRecord) for c in r.envelope.data_classes},
        )
        with self._transaction() as session:
            if key and (
                replay := envelope_store.receipt(
                    connection=session.connection(), org_id=sender.org.org_id, message_key=key
                )
            ):
                self._policy.audit.accept(session.connection(), self._policy.records(permit, [], "replayed"))
                return FhirResult(status=200, body=json.loads(replay), replayed=True)
            stored: list[str] = []
            if bundle.bundle_type == "transaction":
                body = self._transaction_bundle(session, sender, records, stored)
            else:
                body = self._batch_bundle(session, sender, records, stored)
            self._policy.audit.accept(session.connection(), self._policy.records(permit, stored, "stored"))
            if key:
                envelope_store.add_receipt(
                    connection=session.connection(),
                    org_id=sender.org.org_id,
                    message_key=key,
                    response=json.dumps(body),
                    created_at=self._clock(),
                )
        return FhirResult(status=200, body=body)

    def fhir_resource(
        self, sender: Sender, resource_type: str | None, document: dict[str, Any], idempotency_key: str | None
    ) -> FhirResult:
        """One resource (POST /fhir/r4/{type}): 201 with the stored resource's id.

        Raises:
            PushRefused; ConnectorError (IssuesFound) for an invalid resource or subject.
        """
        check_push_agreement(sender, self._clock().date())
        check_single(document, resource_type)
        key = f"key:{idempotency_key}" if idempotency_key else None
        context = Context(
            org_id=sender.org.org_id,
            source_is_part2_program=sender.org.part2_program,
            received_at=self._clock(),
            message_id=key,
        )
        record = resource_to_record(document, context, str(document["resourceType"]))
        if isinstance(record, list):
            raise IssuesFound(record)
        # Decided before the write transaction opens, so a refusal is recorded on its own.
        permit = self.require_push(sender, record.envelope.data_classes)
        with self._transaction() as session:
            if key and (
                replay := envelope_store.receipt(
                    connection=session.connection(), org_id=sender.org.org_id, message_key=key
                )
            ):
                self._policy.audit.accept(session.connection(), self._policy.records(permit, [], "replayed"))
                return self._replayed_resource(sender, key, json.loads(replay))
            people: list[str] = []
            stored_id = self._store_record(session, sender, record, str(document["resourceType"]), people)
            if isinstance(stored_id, Issue):
                raise IssuesFound([stored_id])
            self._policy.audit.accept(session.connection(), self._policy.records(permit, people, "stored"))
            response = _response_entry(record, stored_id)
            resource = {
                **document,
                "id": stored_id,
                "meta": {
                    **(document.get("meta") or {}),
                    "versionId": "1",
                    "lastUpdated": record.envelope.received_at.isoformat(),
                },
            }
            if key:
                aad = _receipt_associated_data(sender.org.org_id, key)
                envelope_store.add_receipt(
                    connection=session.connection(),
                    org_id=sender.org.org_id,
                    message_key=key,
                    response=json.dumps(
                        {
                            "location": response["location"],
                            "resource_sealed": base64.b64encode(
                                seal(self._keyring, json.dumps(resource).encode(), associated_data=aad)
                            ).decode(),
                        }
                    ),
                    created_at=self._clock(),
                )
        return FhirResult(status=201, body=resource, location=response["location"])

    def _replayed_resource(self, sender: Sender, key: str, stored: dict[str, Any]) -> FhirResult:
        """The answer first given to this Idempotency-Key, opened from its sealed receipt.

        A receipt written before resources were sealed in receipts has had its copy of the
        resource removed (migration 0011): the replay then says where the resource is.
        """
        location = str(stored["location"])
        sealed = stored.get("resource_sealed")
        if not isinstance(sealed, str):
            answered = Issue("information", "informational", location, "this request was answered before")
            return FhirResult(
                status=200, body=operation_outcome([answered]), location=location, replayed=True
            )
        opened = open_sealed(
            self._keyring,
            base64.b64decode(sealed),
            associated_data=_receipt_associated_data(sender.org.org_id, key),
        )
        return FhirResult(status=200, body=json.loads(opened), location=location, replayed=True)

    def _transaction_bundle(
        self,
        session: Session,
        sender: Sender,
        records: dict[int, FhirRecord | list[Issue]],
        people: list[str],
    ) -> dict[str, Any]:
        issues = [issue for result in records.values() if isinstance(result, list) for issue in result]
        if issues:
            raise IssuesFound(issues)
        entries = []
        for index, record in sorted(records.items()):
            assert not isinstance(record, list)
            stored = self._store_record(session, sender, record, f"Bundle.entry[{index}].resource", people)
            if isinstance(stored, Issue):
                issues.append(stored)
                continue
            entries.append({"response": _response_entry(record, stored)})
        if issues:
            raise IssuesFound(issues)  # the transaction rolls back: nothing of the Bundle is stored
        return {"resourceType": "Bundle", "type": "transaction-response", "entry": entries}

    def _batch_bundle(
        self,
        session: Session,
        sender: Sender,
        records: dict[int, FhirRecord | list[Issue]],
        people: list[str],
    ) -> dict[str, Any]:
        entries = []
        for index, result in sorted(records.items()):
            if isinstance(result, list):
                entries.append({"response": _error_entry(result)})
                continue
            with session.begin_nested() as savepoint:
                stored_here: list[str] = []
                stored = self._store_record(
                    session, sender, result, f"Bundle.entry[{index}].resource", stored_here
                )
                if isinstance(stored, Issue):
                    savepoint.rollback()
                    entries.append({"response": _error_entry([stored])})
                    continue
                people += stored_here
            entries.append({"response": _response_entry(result, stored)})
        return {"resourceType": "Bundle", "type": "batch-response", "entry": entries}

    def _store_record(
        self, session: Session, sender: Sender, record: FhirRecord, path: str, people: list[str]
    ) -> str | Issue:
        """Store one record; its id for the response, or an Issue when its subject is unknown.
        The person it is about is added to `people` (consents audit themselves in the ledger)."""
        envelope = record.envelope
        if record.resource_type == "Consent":
            return self._store_consent(session, sender, record, path)
        try:
            person_id = self._resolve(
                session.connection(), envelope, defines_subject=envelope.kind is RecordKind.PATIENT
            )
        except persons.SubjectUnresolved:
            element = "patient" if record.resource_type == "Consent" else "subject"
            return Issue(
                "error",
                "not-found",
                f"{path}.{element}",
                "the referenced Patient is unknown: push the Patient first or reference it by identifier",
            )
        envelope_store.insert_envelopes(
            connection=session.connection(), rows=[envelope_row(self._keyring, envelope, person_id)]
        )
        people.append(person_id)
        return person_id if envelope.kind is RecordKind.PATIENT else envelope.envelope_id

    def _store_consent(self, session: Session, sender: Sender, record: FhirRecord, path: str) -> str | Issue:
        """A Consent in a Bundle goes to the consent ledger, in the Bundle's transaction.

        Its patient must be known already (pushed earlier, or earlier in this Bundle).
        """
        if self._consents is None:
            return Issue("error", "not-supported", path, "consents are not accepted on this channel")
        connection = session.connection()
        keys = subject_keys(
            record.envelope.subject, org_id=record.envelope.source.org_id, index_key=self._keyring.index_key
        )
        person_id = persons.find_existing(connection=connection, keys=keys)
        if person_id is None:
            return Issue(
                "error",
                "not-found",
                f"{path}.patient",
                "the referenced Patient is unknown: push the Patient first or reference it by identifier",
            )
        try:
            document = json.loads(record.envelope.payload)
            version = self._consents.record_in(connection, sender, document, person_id)
        except ConsentRefused as refused:
            return Issue("error", "forbidden", path, f"{refused.code}: {refused.reason}")
        except ConsentInvalid as invalid:
            problem = invalid.problems[0]
            location = path + problem.location.removeprefix("Consent")
            return Issue("error", problem.code, location, "; ".join(p.reason for p in invalid.problems))
        return version.consent_id

    # --- shared -------------------------------------------------------------------------------

    def _resolve(self, connection: Connection, envelope: Envelope, *, defines_subject: bool) -> str:
        keys = subject_keys(
            envelope.subject, org_id=envelope.source.org_id, index_key=self._keyring.index_key
        )
        return persons.resolve(connection=connection, keys=keys, defines_subject=defines_subject).person_id


def envelope_row(keyring: Keyring, envelope: Envelope, person_id: str) -> dict[str, Any]:
    """The `envelopes` row of a record: payload and facts sealed, the envelope id as AAD."""
    aad = envelope.envelope_id.encode()
    facts = json.dumps(envelope.facts, sort_keys=True).encode()
    return {
        "envelope_id": envelope.envelope_id,
        "received_at": envelope.received_at,
        "source_org_id": envelope.source.org_id,
        "source_format": envelope.source.format,
        "source_system": (envelope.source.system or None) and envelope.source.system[:255],
        "message_id": (envelope.source.message_id or None) and envelope.source.message_id[:255],
        "kind": envelope.kind.value,
        "occurred_at": envelope.occurred_at,
        "person_id": person_id,
        "data_classes": ",".join(sorted(c.value for c in envelope.data_classes)),
        "security_labels": ",".join(sorted(envelope.security_labels))[:255],
        "warnings": ",".join(envelope.warnings),
        "payload_sha256": envelope.payload_sha256,
        "payload_sealed": seal(keyring, envelope.payload, associated_data=aad),
        "facts_sealed": seal(keyring, facts, associated_data=facts_associated_data(envelope.envelope_id)),
    }


_AA_RECEIPT = json.dumps({"ack": ACCEPT})


@dataclass(frozen=True)
class PreparedHl7:
    """Frames parsed and keyed, waiting for the writer; one list of messages per frame."""

    frames: list[list[_Prepared]]


@dataclass
class _Prepared:
    """One HL7 message between parsing and storage; `ack` set means it is answered."""

    ack: bytes | None = None
    header: Header | None = None
    envelope: Envelope | None = None
    keys: SubjectKeys | None = None
    message_key: str = ""
    batch: bool = False
    permit: Permit | None = None

    @property
    def permit_or_raise(self) -> Permit:
        assert self.permit is not None, "only permitted messages are stored"
        return self.permit

    @property
    def org_id(self) -> str:
        return self.envelope_or_raise.source.org_id

    @property
    def keys_or_raise(self) -> SubjectKeys:
        assert self.keys is not None, "only parsed messages are stored"
        return self.keys

    @property
    def envelope_or_raise(self) -> Envelope:
        assert self.envelope is not None, "only parsed messages are stored"
        return self.envelope


def _frame_ack(frame: list[_Prepared]) -> bytes:
    acks = [message.ack or b"" for message in frame]
    return _batch_ack(acks) if frame[0].batch else acks[0]


def _bundle_key(bundle: ParsedBundle, idempotency_key: str | None) -> str | None:
    if idempotency_key:
        return f"key:{idempotency_key}"
    if bundle.bundle_id and bundle.version_marker:
        return f"bundle:{bundle.bundle_id}|{bundle.version_marker}"
    return None


def _receipt_associated_data(org_id: str, key: str) -> bytes:
    """A receipt's sealed resource is bound to the sender and the key it answers."""
    return f"receipt|{org_id}|{key}".encode()


def _response_entry(record: FhirRecord, stored_id: str) -> dict[str, str]:
    return {
        "status": "201 Created",
        "location": f"{record.resource_type}/{stored_id}/_history/1",
        "etag": 'W/"1"',
        "lastModified": record.envelope.received_at.isoformat(),
    }


def _error_entry(issues: list[Issue]) -> dict[str, Any]:
    status = "404 Not Found" if all(i.code == "not-found" for i in issues) else "400 Bad Request"
    return {"status": status, "outcome": operation_outcome(issues)}


def _batch_ack(acks: list[bytes]) -> bytes:
    """A batch of ACKs answers a batch of messages (HL7 v2 2.10.3)."""
    count = len(acks)
    stamp = datetime.now(UTC).strftime("%Y%m%d%H%M%S")
    return b"BHS|^~\\&|||||" + stamp.encode() + b"\r" + b"".join(acks) + f"BTS|{count}\r".encode()
