"""FHIR R4 Consent → `ConsentTerms`: what the ledger stores as codes, with every problem named.

How the elements are read (README "Consent ledger" shows a complete example):
- patient: `Consent.patient` (the gateway resolves it to a person; `display` is the name on the form);
- who may disclose: `Consent.organization`, or a `provision.actor` with role `CST`;
- recipients: `provision.actor` with role `IRCP` (v3-ParticipationType), each either
  `Organization/{org_id}` (or identifier `urn:consent-gateway:org|{org_id}`) or a class of
  recipients, identifier `urn:consent-gateway:org-type|{org type}` (e.g. `co_responder_team`);
- purposes: `provision.purpose` (v3-ActReason PurposeOfUse codes the gateway knows);
- data classes: `provision.securityLabel`, codes of `urn:consent-gateway:data-class` or the v3
  labels PSY/MH (mental health), PSYTHPN (psychotherapy notes), ETH/SUD/42CFRPart2 (Part 2);
- description of the information: `provision.code` text; period: `provision.period`;
- expiry event, signature and required statements: extensions (URLs below);
- the signed form: `sourceAttachment` or `sourceReference`, stored sealed with the text.

A FHIR `Period.end` includes the whole of its last day (a date `2027-01-31` ends at
`2027-02-01T00:00:00Z`), so `expires` is the first instant the consent no longer holds.
"""

from __future__ import annotations

import calendar
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from consent_ledger.domain import ConsentTerms
from consent_ledger.elements import ConsentForm, hipaa_missing, part2_missing, separation_problems
from consent_ledger.errors import ConsentIncomplete, ConsentInvalid, Problem
from policies.vocabulary import DataClass, OrgType, PurposeOfUse

EXT_STATEMENT = "urn:consent-gateway:ext:consent-statement"
EXT_SIGNATURE = "urn:consent-gateway:ext:signature"
EXT_EXPIRY_EVENT = "urn:consent-gateway:ext:expiry-event"
ORG_SYSTEM = "urn:consent-gateway:org"
ORG_TYPE_SYSTEM = "urn:consent-gateway:org-type"
DATA_CLASS_SYSTEM = "urn:consent-gateway:data-class"
PURPOSE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
PARTICIPATION_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
ACT_CODE_SYSTEM = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
V3_LABELS = {
    "PSY": DataClass.MENTAL_HEALTH,
    "MH": DataClass.MENTAL_HEALTH,
    "PSYTHPN": DataClass.PSYCHOTHERAPY_NOTES,
    "ETH": DataClass.PART2,
    "SUD": DataClass.PART2,
    "42CFRPart2": DataClass.PART2,
}
STATEMENTS = frozenset({"right-to-revoke", "redisclosure", "no-conditioning", "refusal-consequences"})
RECORDABLE_STATUSES = frozenset({"draft", "proposed", "active"})
_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")


def read_consent(document: dict[str, Any]) -> ConsentTerms:
    """The terms of a Consent that may be recorded as sent.

    Raises:
        ConsentInvalid: not valid R4, or a bad code, period, recipient or combination.
        ConsentIncomplete: `status` is active but required elements are missing (all named).
    """
    _validate_r4(document)
    problems: list[Problem] = []
    status = str(document.get("status"))
    if status not in RECORDABLE_STATUSES:
        problems.append(
            Problem(
                "Consent.status",
                "not-supported",
                "record a consent as draft, proposed or active; end one with $revoke",
            )
        )
    provision = _dict(document.get("provision"))
    if provision.get("provision"):
        problems.append(
            Problem("Consent.provision.provision", "not-supported", "nested provisions are not supported")
        )
    if provision.get("type") == "deny":
        problems.append(
            Problem("Consent.provision.type", "not-supported", "only permit provisions are recorded")
        )
    scope = _scope(provision, problems)
    purposes = _purposes(provision, problems)
    orgs, types, disclosing_actor = _actors(provision, problems)
    start, end = _period(_dict(provision.get("period")), problems)
    expiry_event = any(
        e.get("url") == EXT_EXPIRY_EVENT and str(e.get("valueString") or "").strip()
        for e in _extensions(document)
    )
    form = ConsentForm(
        patient_name=bool(str(_dict(document.get("patient")).get("display") or "").strip()),
        discloser=bool(_dict(document.get("organization")) or _list(document.get("organization")))
        or disclosing_actor,
        information_description=_describes_information(provision),
        recipients=bool(orgs or types),
        purposes=purposes,
        expiration=end is not None or expiry_event,
        signature=_signed(document),
        date_signed=bool(document.get("dateTime")) or _signature_when(document),
        statements=_statements(document, problems),
        scope=scope,
    )
    problems += [Problem(where, "business-rule", reason) for reason, where in separation_problems(form)]
    if problems:
        raise ConsentInvalid(problems)
    missing_p2 = part2_missing(form)
    missing_hipaa = hipaa_missing(form)
    required = missing_hipaa + (missing_p2 if DataClass.PART2 in scope else [])
    if status == "active" and required:
        raise ConsentIncomplete(
            [Problem(where, "required", f"missing: {name}") for name, where in required],
            [name for name, _ in required],
        )
    return ConsentTerms(
        fhir_status=status,
        scope=scope,
        recipient_orgs=tuple(orgs),
        recipient_types=tuple(types),
        purposes=purposes,
        period_start=start,
        period_end=end,
        expiry_event=expiry_event,
        part2_missing=tuple(name for name, _ in missing_p2),
        hipaa_missing=tuple(name for name, _ in missing_hipaa),
    )


def _validate_r4(document: dict[str, Any]) -> None:
    if document.get("resourceType") != "Consent":
        raise ConsentInvalid([Problem("resourceType", "invalid", "must be Consent")])
    try:
        get_fhir_model_class("Consent").model_validate(document)
    except ValidationError as exc:
        raise ConsentInvalid(
            [
                Problem(_location(error["loc"]), "structure", "element has the wrong type or shape")
                for error in exc.errors(include_input=False, include_url=False)
            ]
        ) from None
    except (ValueError, TypeError, RecursionError):
        raise ConsentInvalid([Problem("Consent", "structure", "resource cannot be read")]) from None


def _location(loc: tuple[Any, ...]) -> str:
    path = "Consent"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _scope(provision: dict[str, Any], problems: list[Problem]) -> frozenset[DataClass]:
    classes: set[DataClass] = set()
    for index, coding in enumerate(_list(provision.get("securityLabel"))):
        system, code = _dict(coding).get("system"), str(_dict(coding).get("code") or "")
        where = f"Consent.provision.securityLabel[{index}]"
        if system == DATA_CLASS_SYSTEM:
            if code not in DataClass.__members__.values():
                problems.append(Problem(f"{where}.code", "code-invalid", "unknown data class"))
                continue
            classes.add(DataClass(code))
        elif system == ACT_CODE_SYSTEM and code in V3_LABELS:
            classes.add(V3_LABELS[code])
    if DataClass.CJI in classes:
        problems.append(
            Problem(
                "Consent.provision.securityLabel",
                "business-rule",
                "criminal justice information is never released on consent (CJIS Security Policy)",
            )
        )
    if not classes:
        problems.append(
            Problem("Consent.provision.securityLabel", "required", "name at least one data class")
        )
    return frozenset(classes)


def _purposes(provision: dict[str, Any], problems: list[Problem]) -> frozenset[PurposeOfUse]:
    purposes: set[PurposeOfUse] = set()
    for index, coding in enumerate(_list(provision.get("purpose"))):
        code = str(_dict(coding).get("code") or "")
        system = _dict(coding).get("system")
        if system not in (None, PURPOSE_SYSTEM) or code not in PurposeOfUse.__members__.values():
            problems.append(
                Problem(
                    f"Consent.provision.purpose[{index}]",
                    "code-invalid",
                    "unknown purpose of use (v3-ActReason PurposeOfUse codes only)",
                )
            )
            continue
        purposes.add(PurposeOfUse(code))
    return frozenset(purposes)


def _actors(provision: dict[str, Any], problems: list[Problem]) -> tuple[list[str], list[str], bool]:
    orgs: list[str] = []
    types: list[str] = []
    discloser = False
    for index, actor in enumerate(_list(provision.get("actor"))):
        where = f"Consent.provision.actor[{index}]"
        roles = {
            str(c.get("code"))
            for c in _list(_dict(_dict(actor).get("role")).get("coding"))
            if isinstance(c, dict) and c.get("system") in (None, PARTICIPATION_SYSTEM)
        }
        if "CST" in roles:
            discloser = True
            continue
        if "IRCP" not in roles:
            problems.append(
                Problem(f"{where}.role", "not-supported", "actor role must be IRCP (recipient) or CST")
            )
            continue
        reference = _dict(_dict(actor).get("reference"))
        target = str(reference.get("reference") or "")
        identifier = _dict(reference.get("identifier"))
        if target.startswith("Organization/") and len(target) > len("Organization/"):
            orgs.append(target.removeprefix("Organization/"))
        elif identifier.get("system") == ORG_SYSTEM and identifier.get("value"):
            orgs.append(str(identifier["value"]))
        elif identifier.get("system") == ORG_TYPE_SYSTEM and str(identifier.get("value")) in set(OrgType):
            types.append(str(identifier["value"]))
        else:
            problems.append(
                Problem(
                    f"{where}.reference",
                    "invalid",
                    "a recipient is a registered organisation (Organization/{org_id}) or a class "
                    f"of recipients (identifier {ORG_TYPE_SYSTEM}|<org type>)",
                )
            )
    return list(dict.fromkeys(orgs)), list(dict.fromkeys(types)), discloser


def _period(period: dict[str, Any], problems: list[Problem]) -> tuple[datetime | None, datetime | None]:
    start = _instant(period.get("start"), end=False)
    end = _instant(period.get("end"), end=True)
    if start is not None and end is not None and end <= start:
        problems.append(
            Problem("Consent.provision.period.end", "invalid", "the period ends before it starts")
        )
    return start, end


def _instant(value: Any, *, end: bool) -> datetime | None:
    """A FHIR dateTime as an instant; a partial date's end is the first instant after it."""
    if not isinstance(value, str) or not value:
        return None
    match = _DATE.match(value)
    if not match:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    year, month, day = int(match[1]), int(match[2] or 1), int(match[3] or 1)
    first = datetime(year, month, day, tzinfo=UTC)
    if not end:
        return first
    if match[3]:
        return first + timedelta(days=1)
    if match[2]:
        return first + timedelta(days=calendar.monthrange(year, month)[1])
    return first.replace(year=year + 1)


def _describes_information(provision: dict[str, Any]) -> bool:
    for concept in _list(provision.get("code")):
        concept = _dict(concept)
        if str(concept.get("text") or "").strip():
            return True
        if any(str(_dict(c).get("display") or "").strip() for c in _list(concept.get("coding"))):
            return True
    return False


def _statements(document: dict[str, Any], problems: list[Problem]) -> frozenset[str]:
    found: set[str] = set()
    for index, extension in enumerate(_extensions(document)):
        if extension.get("url") != EXT_STATEMENT:
            continue
        code = str(extension.get("valueCode") or "")
        if code not in STATEMENTS:
            problems.append(
                Problem(f"Consent.extension[{index}].valueCode", "code-invalid", "unknown consent statement")
            )
        found.add(code)
    return frozenset(found & STATEMENTS)


def _signed(document: dict[str, Any]) -> bool:
    signature = _signature(document)
    if signature.get("who") and signature.get("when"):
        return True
    attachment = _dict(document.get("sourceAttachment"))
    return bool(attachment.get("data") or attachment.get("url")) or bool(document.get("sourceReference"))


def _signature_when(document: dict[str, Any]) -> bool:
    return bool(_signature(document).get("when"))


def _signature(document: dict[str, Any]) -> dict[str, Any]:
    for extension in _extensions(document):
        if extension.get("url") == EXT_SIGNATURE:
            return _dict(extension.get("valueSignature"))
    return {}


def _extensions(document: dict[str, Any]) -> list[dict[str, Any]]:
    return [e for e in _list(document.get("extension")) if isinstance(e, dict)]


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []
