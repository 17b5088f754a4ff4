"""Police RMS/CAD incident pushes: decided (PUSH-INGEST with the CJIS checks), stored as `cji`.

Invariants:
- Only a criminal-justice agency with a data-sharing MOU in force pushes incidents (the
  deployment precondition, like a BAA for health records); the engine decides the push itself
  with the caller's MFA and CJIS personnel status, so every CJIS check applies.
- One transaction stores an envelope per involved person, their person-index updates and the
  receipt; a redelivered incident (same agency and incident id) is answered again, not stored.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from connectors.police.incident import incident_envelopes, parse_incident
from gateway.flows.ingest import PushRefused, envelope_row
from gateway.flows.obligations import Channel
from gateway.flows.policy import PolicyDenied, PolicyGate, Requester
from gateway.keyring import Keyring
from gateway.person_keys import subject_keys
from gateway.store import envelopes as envelope_store
from gateway.store import persons
from gateway.store.database import writer
from policies.vocabulary import AgreementKind, DataClass


@dataclass(frozen=True)
class IncidentStored:
    status: int  # 201 stored, 200 a redelivery answered again
    body: dict[str, Any]


class IncidentService:
    def __init__(
        self,
        *,
        engine: Engine,
        keyring: Keyring,
        policy: PolicyGate,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._writer = writer(engine)
        self._keyring = keyring
        self._policy = policy
        self._clock = clock

    def push(self, requester: Requester, subject: str, data: bytes) -> IncidentStored:
        """Store an incident pushed by `subject` (the token's user or interface id).

        Raises:
            PushRefused (precondition or the engine's deny, with its codes); ConnectorError for
            a malformed incident; PolicyUnavailable.
        """
        sender = requester.sender
        now = self._clock()
        if not sender.org.cjis_agency or AgreementKind.DATA_SHARING_MOU not in sender.org.agreements_in_force(
            now.date()
        ):
            raise PushRefused(
                "PUSH-INGEST",
                "only a criminal-justice agency with a data-sharing MOU in force pushes incidents",
            )
        incident = parse_incident(data)
        try:
            permit = self._policy.require_push(
                sender,
                [DataClass.CJI.value],
                kind="incident",
                requester=requester,
                channel=Channel.INCIDENT_PUSH,
            )
        except PolicyDenied as denied:
            raise PushRefused(denied.code, denied.summary) from None
        key = f"incident:{incident.incident_id}"
        with self._writer.begin() as connection:
            claimed = envelope_store.claim_receipts(
                connection=connection,
                rows=[
                    {
                        "source_org_id": sender.org.org_id,
                        "message_key": key,
                        # The CJIS access record (CJIS_AUDIT_LOG): who, when, under which rules.
                        "response": json.dumps(
                            {
                                "incident_id": incident.incident_id,
                                "client_id": sender.client_id,
                                "subject": subject[:255],
                                "event": "incident_push",
                                "reasons": list(permit.decision.codes),
                                "obligations": list(permit.decision.obligations),
                                "policy_version": permit.decision.policy_version,
                                "records": len(incident.involved_persons),
                            }
                        ),
                        "created_at": now,
                    }
                ],
            )
            if not claimed:
                self._policy.audit.accept(connection, self._policy.records(permit, [], "replayed"))
                return IncidentStored(status=200, body=self._answer(incident.incident_id, stored=False))
            rows = []
            for envelope in incident_envelopes(
                incident, org_id=sender.org.org_id, received_at=now, payload=data
            ):
                keys = subject_keys(
                    envelope.subject, org_id=sender.org.org_id, index_key=self._keyring.index_key
                )
                person_id = persons.resolve(connection=connection, keys=keys, defines_subject=True).person_id
                rows.append(envelope_row(self._keyring, envelope, person_id))
            envelope_store.insert_envelopes(connection=connection, rows=rows)
            self._policy.audit.accept(
                connection, self._policy.records(permit, [row["person_id"] for row in rows], "stored")
            )
        return IncidentStored(
            status=201, body=self._answer(incident.incident_id, stored=True, count=len(rows))
        )

    @staticmethod
    def _answer(incident_id: str, *, stored: bool, count: int | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "incident_id": incident_id,
            "status": "stored" if stored else "already-received",
        }
        if count is not None:
            body["records"] = count
        return body
