"""The audit log over HTTP (DESIGN.md 10, 11).

Public, for anyone holding the log's public key (hashes only, no personal data):
`GET /audit/checkpoint` (C2SP signed note), `GET /audit/keys`, `GET /audit/proof/inclusion`,
`GET /audit/proof/consistency`.

For compliance officers (AUDIT-ACCESS: role compliance_officer, purpose HOVERSIGHT or PATRQT in
`X-Purpose-Of-Use`, decided and itself audited): `GET /audit/entries`,
`GET /audit/accounting/{person_id}` (JSON, or a printable page with `?format=html`; with PATRQT
the person's own copy, suspensions applied), `POST /audit/accounting/{person_id}/suspensions`
(an agency's 45 CFR 164.528(a)(2) statement, HOVERSIGHT), and `GET /fhir/r4/AuditEvent?patient=`
(the same records as FHIR AuditEvents, IHE BALP style).
"""

from __future__ import annotations

import base64
import html
from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query
from fastapi.responses import HTMLResponse, JSONResponse, PlainTextResponse
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from audit.errors import ProofError
from connectors.errors import MalformedMessage
from gateway.api.purpose import parse_purpose
from gateway.deps import RequesterDep, ServicesDep
from gateway.fhir_json import with_entries
from gateway.flows.audit_queries import Entry, EntryQuery
from gateway.flows.suspensions import Suspension, SuspensionInvalid
from policies.vocabulary import PurposeOfUse

router = APIRouter(tags=["audit"])
FHIR_JSON = "application/fhir+json"

PurposeHeader = Annotated[
    str, Header(alias="X-Purpose-Of-Use", max_length=16, description="HOVERSIGHT, or PATRQT for a patient")
]


def _b64(hashes: list[bytes]) -> list[str]:
    return [base64.b64encode(h).decode() for h in hashes]


@router.get(
    "/audit/checkpoint",
    summary="The latest signed checkpoint (C2SP signed note), with any witness cosignatures",
    responses={404: {"description": "no checkpoint of that size, or none cosigned yet"}},
)
async def checkpoint(
    services: ServicesDep, size: int | None = None, cosigned: bool = False
) -> PlainTextResponse:
    if size is not None:
        note = await run_in_threadpool(services.audit.note_at, size)
    else:
        note = await run_in_threadpool(lambda: services.audit.latest_note(cosigned=cosigned))
        if note is None and not cosigned:
            note = await run_in_threadpool(services.audit.checkpoint)
    if note is None:
        return PlainTextResponse("no checkpoint of that size, or none cosigned yet\n", status_code=404)
    return PlainTextResponse(note, headers={"Cache-Control": "max-age=1"})


@router.get("/audit/witnesses", summary="The witnesses this log publishes to, their keys and status")
def witnesses(services: ServicesDep) -> dict[str, Any]:
    return {
        "witnesses": [
            {"key": w.key.encode(), "status": status}  # not the URL: internal infrastructure
            for w, status in services.witnesses.describe()
        ]
    }


@router.get("/audit/keys", summary="The log's origin and verifier keys (name+keyid+key)")
def keys(services: ServicesDep) -> dict[str, Any]:
    return {
        "origin": services.audit.origin,
        "verifier_keys": [v.encode() for v in services.audit.verifiers()],
    }


@router.get(
    "/audit/proof/inclusion", summary="RFC 6962 inclusion proof of entry `index` in the tree of `size`"
)
async def inclusion(
    services: ServicesDep, index: Annotated[int, Query(ge=0)], size: Annotated[int, Query(ge=1)]
) -> dict[str, Any]:
    try:
        proof = await run_in_threadpool(services.audit.inclusion, index, size)
    except ProofError as exc:
        raise MalformedMessage(str(exc), code="value", location="index") from None
    return {"index": index, "size": size, "hashes": _b64(proof)}


@router.get("/audit/proof/consistency", summary="RFC 6962 consistency proof between two tree sizes")
async def consistency(
    services: ServicesDep,
    first: Annotated[int, Query(alias="from", ge=1)],
    second: Annotated[int, Query(alias="to", ge=1)],
) -> dict[str, Any]:
    try:
        proof = await run_in_threadpool(services.audit.consistency, first, second)
    except ProofError as exc:
        raise MalformedMessage(str(exc), code="value", location="from") from None
    return {"from": first, "to": second, "hashes": _b64(proof)}


@router.get("/audit/entries", summary="Audit records by person, org, time and decision (compliance)")
async def entries(
    services: ServicesDep,
    requester: RequesterDep,
    purpose: PurposeHeader = PurposeOfUse.HOVERSIGHT.value,
    person: str | None = None,
    org: str | None = None,
    decision: Annotated[str | None, Query(pattern="^(permit|deny)$")] = None,
    since: Annotated[datetime | None, Query(alias="from")] = None,
    until: Annotated[datetime | None, Query(alias="to")] = None,
    after: Annotated[int, Query(ge=-1, description="the last index of the previous page")] = -1,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    query = EntryQuery(
        person_id=person, org=org, decision=decision, since=since, until=until, after=after, limit=limit
    )
    found = await run_in_threadpool(services.audit_queries.entries, requester, parse_purpose(purpose), query)
    return {
        "entries": [_entry_json(entry) for entry in found],
        "next_after": found[-1].index if len(found) == limit else None,
    }


@router.get("/audit/accounting/{person_id}", summary="Accounting of disclosures for a person (compliance)")
async def accounting(
    services: ServicesDep,
    requester: RequesterDep,
    person_id: str,
    purpose: PurposeHeader = PurposeOfUse.HOVERSIGHT.value,
    format: Annotated[str, Query(pattern="^(json|html)$")] = "json",
) -> Any:
    report = await run_in_threadpool(
        services.audit_queries.accounting, requester, parse_purpose(purpose), person_id
    )
    if format == "html":
        return HTMLResponse(_accounting_html(report))
    return report


class SuspensionRequest(BaseModel):
    """An agency's statement that an accounting would impede it (45 CFR 164.528(a)(2))."""

    agency: str = Field(max_length=64, description="org id of the police or oversight agency")
    statement: Literal["written", "oral"]
    reference: str = Field(max_length=64, description="the statement's or case's reference id")
    start: date
    end: date


@router.post(
    "/audit/accounting/{person_id}/suspensions",
    status_code=201,
    summary="Suspend a person's accounting of disclosures to an agency (45 CFR 164.528(a)(2))",
)
async def suspend_accounting(
    services: ServicesDep,
    requester: RequesterDep,
    person_id: str,
    body: SuspensionRequest,
    purpose: PurposeHeader = PurposeOfUse.HOVERSIGHT.value,
) -> dict[str, Any]:
    suspension = Suspension(
        agency=body.agency, statement=body.statement, reference=body.reference, start=body.start, end=body.end
    )
    try:
        return await run_in_threadpool(
            services.audit_queries.suspend, requester, parse_purpose(purpose), person_id, suspension
        )
    except SuspensionInvalid as invalid:
        raise MalformedMessage(str(invalid), code="value", location=invalid.location) from None


@router.get("/fhir/r4/AuditEvent", summary="Audit records as FHIR AuditEvents (compliance)")
async def audit_events(
    services: ServicesDep,
    requester: RequesterDep,
    patient: str,
    purpose: PurposeHeader = PurposeOfUse.HOVERSIGHT.value,
    after: Annotated[int, Query(alias="_after", ge=-1)] = -1,
    count: Annotated[int, Query(alias="_count", ge=1, le=500)] = 100,
) -> JSONResponse:
    person_id = patient.removeprefix("Patient/")
    query = EntryQuery(person_id=person_id, after=after, limit=count)
    found = await run_in_threadpool(services.audit_queries.entries, requester, parse_purpose(purpose), query)
    bundle = with_entries(
        {"resourceType": "Bundle", "type": "searchset", "total": len(found)},
        [{"resource": _audit_event(entry, services.audit.origin)} for entry in found],
    )
    return JSONResponse(bundle, media_type=FHIR_JSON)


def _entry_json(entry: Entry) -> dict[str, Any]:
    return {
        "index": entry.index,
        "leaf_hash": entry.leaf_hash,
        "leaf": base64.b64encode(entry.leaf).decode(),
        "record": entry.record,
        "columns_match": entry.columns_match,
    }


_ACTIONS = {  # AuditEvent.action by record action
    "push_record": "C",
    "pull_flags": "R",
    "lookup_record": "R",
    "query_audit": "R",
    "manage_consent": "U",
}
_ENTITY_TYPE = "http://terminology.hl7.org/CodeSystem/audit-entity-type"


def _audit_event(entry: Entry, origin: str) -> dict[str, Any]:
    """One record as an AuditEvent (IHE BALP: one event per decision x patient)."""
    record = entry.record
    requester = record.get("requester") or {}
    agent_who = {
        "identifier": {"system": "urn:consent-gateway:client", "value": requester.get("client") or "?"}
    }
    event: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": f"audit-{entry.index}",
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [{"system": "urn:consent-gateway:action", "code": str(record.get("action"))}],
        "action": _ACTIONS.get(str(record.get("action")), "E"),
        "recorded": record.get("recorded"),
        "outcome": "0" if record.get("decision") == "permit" else "4",
        "outcomeDesc": ", ".join(record.get("reasons") or []) or None,
        "purposeOfEvent": [
            {
                "coding": [
                    {
                        "system": "http://terminology.hl7.org/CodeSystem/v3-ActReason",
                        "code": record.get("purpose"),
                    }
                ]
            }
        ],
        "agent": [
            {
                "type": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/extra-security-role-type",
                            "code": "humanuser" if requester.get("user") else "dataprocessor",
                        }
                    ]
                },
                "who": agent_who,
                "altId": requester.get("user"),
                "requestor": True,
            }
        ],
        "source": {"site": origin, "observer": {"display": "consent-gateway"}},
        "entity": [
            {
                "what": {
                    "identifier": {"system": "urn:consent-gateway:audit-leaf", "value": entry.leaf_hash}
                },
                "type": {"system": _ENTITY_TYPE, "code": "4"},
                "description": f"audit log entry {entry.index}",
            }
        ],
    }
    if record.get("person_id"):
        event["entity"].insert(
            0,
            {
                "what": {"reference": f"Patient/{record['person_id']}"},
                "type": {"system": _ENTITY_TYPE, "code": "1"},
                "role": {"system": "http://terminology.hl7.org/CodeSystem/object-role", "code": "1"},
                "securityLabel": [
                    {"system": "urn:consent-gateway:data-class", "code": c}
                    for c in record.get("data_classes") or []
                ],
            },
        )
    return {k: v for k, v in event.items() if v is not None}


def _accounting_row(d: dict[str, Any]) -> str:
    e = html.escape
    recipient = d["recipient"]
    basis = "<br>".join(e(f"{b['citation']} ({b['code']})") for b in d["legal_basis"])
    part2 = " <strong>(42 CFR Part 2)</strong>" if d["part2"] else ""
    return (
        f"<tr><td>{e(str(d['date']))}</td>"
        f"<td>{e(str(recipient['name'] or recipient['org_id']))}<br>"
        f"<small>{e(str(recipient['org_id']))}</small></td>"
        f"<td>{e(d['description'])}{part2}</td>"
        f"<td>{e(str(d['purpose']))}</td><td>{basis}</td>"
        f"<td>{'yes' if d['break_glass'] else ''}"
        f"{'<br><strong>suspended</strong>' if d.get('suspended') else ''}</td>"
        f"<td><code>{d['index']}</code></td></tr>"
    )


def _accounting_html(report: dict[str, Any]) -> str:
    """A printable accounting of disclosures; every value escaped."""
    e = html.escape
    rows = "".join(_accounting_row(d) for d in report["disclosures"])
    empty = '<tr><td colspan="7">No disclosures in this period.</td></tr>'
    log_ref = f"<code>{e(report['log']['origin'])}</code> (size {report['log']['size']})"
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Accounting of disclosures</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;width:100%}}
td,th{{border:1px solid #999;padding:.3em;vertical-align:top;text-align:left}}
@media print{{body{{margin:0}}}}</style></head>
<body>
<h1>Accounting of disclosures</h1>
<p>Person <code>{e(report["person_id"])}</code>; disclosures from {e(report["period"]["from"])} to
{e(report["period"]["to"])} ({e(", ".join(report["basis"]))}). Generated {e(report["generated"])}.</p>
<table id="disclosures"><thead><tr><th>Date</th><th>Recipient</th><th>What was disclosed</th>
<th>Purpose</th><th>Legal basis</th><th>Break-glass</th><th>Log entry</th></tr></thead>
<tbody>{rows or empty}</tbody></table>
<p>Each row is entry <em>n</em> of audit log {log_ref}; its inclusion can be proved at
<code>/audit/proof/inclusion?index=n&amp;size=…</code>.</p>
</body></html>
"""
