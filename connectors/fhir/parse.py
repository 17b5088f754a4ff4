"""FHIR R4 JSON → validated resources (fhir.resources, R4B models), or precise issues.

Invariants:
- Issues name the element path (`Bundle.entry[2].resource.birthDate`) and a FHIR issue-type
  code with a fixed phrase per error type: pydantic's own messages and inputs never pass
  through (they can echo patient data).
- Only the resource types the gateway ingests are accepted; others are `not-supported`.
- A Bundle must be a transaction or a batch; entry fullUrls are unique; `urn:uuid:`
  references must point at an entry of the same Bundle.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from fhir.resources.R4B import get_fhir_model_class
from pydantic import ValidationError

from connectors.errors import Issue, IssuesFound, MalformedMessage, TooLarge, UnsupportedMessage

INGESTED_TYPES: tuple[str, ...] = (
    "Patient",
    "Encounter",
    "Condition",
    "Observation",
    "Flag",
    "CarePlan",
    "CareTeam",
    "DocumentReference",
    "Consent",
)
BUNDLE_TYPES = frozenset({"transaction", "batch"})
WRITE_METHODS = frozenset({"POST", "PUT"})

_PHRASES = {
    "missing": ("required", "required element is missing"),
    "extra_forbidden": ("structure", "element is not defined for this resource type"),
    "value_error": ("value", "value is not valid for its datatype"),
    "assertion_error": ("invariant", "resource breaks a FHIR invariant"),
    "literal_error": ("code-invalid", "code is not one of the allowed values"),
    "enum": ("code-invalid", "code is not one of the allowed values"),
}


@dataclass(frozen=True)
class BundleEntry:
    index: int
    full_url: str | None
    method: str
    url: str
    resource: dict[str, Any]


@dataclass
class ParsedBundle:
    bundle_type: str
    bundle_id: str | None
    version_marker: str | None  # meta.versionId or meta.lastUpdated, for redelivery detection
    entries: list[BundleEntry]
    issues_by_entry: dict[int, list[Issue]] = field(default_factory=dict)


def load_json(data: bytes, *, max_bytes: int) -> dict[str, Any]:
    """Raises: TooLarge, MalformedMessage (not JSON, or not a resource)."""
    if len(data) > max_bytes:
        raise TooLarge(f"body exceeds {max_bytes} bytes", location="body", code="too-long")
    text = data[3:] if data.startswith(b"\xef\xbb\xbf") else data
    try:
        document = json.loads(text)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError):
        raise MalformedMessage("body is not valid JSON", location="body", code="structure") from None
    if not isinstance(document, dict) or not isinstance(document.get("resourceType"), str):
        raise MalformedMessage(
            "body is not a FHIR resource (no resourceType)", location="resourceType", code="structure"
        )
    return document


def validate_resource(resource: dict[str, Any], path: str) -> list[Issue]:
    """Validate one resource against its R4 model; [] when valid."""
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str):
        return [Issue("error", "structure", f"{path}.resourceType", "resource has no resourceType")]
    if resource_type not in INGESTED_TYPES:
        return [Issue("error", "not-supported", f"{path}.resourceType", "resource type is not accepted")]
    try:
        get_fhir_model_class(resource_type).model_validate(resource)
    except ValidationError as exc:
        return [_issue(error, path) for error in exc.errors(include_input=False, include_url=False)]
    except (ValueError, TypeError, RecursionError):
        return [Issue("error", "structure", path, "resource cannot be read")]
    return []


def check_single(resource: dict[str, Any], expected_type: str | None) -> None:
    """Check a resource posted alone (POST /fhir/r4/{type}).

    Raises:
        UnsupportedMessage: a type the gateway does not ingest, or a mismatch with the URL.
        MalformedMessage: validation issues (`issues` attribute lists them).
    """
    resource_type = str(resource["resourceType"])
    if expected_type is not None and resource_type != expected_type:
        raise UnsupportedMessage(
            "resourceType does not match the URL", location="resourceType", code="invalid"
        )
    if resource_type not in INGESTED_TYPES:
        raise UnsupportedMessage(
            "resource type is not accepted", location="resourceType", code="not-supported"
        )
    issues = validate_resource(resource, resource_type)
    if issues:
        raise IssuesFound(issues)


def parse_bundle(document: dict[str, Any]) -> ParsedBundle:
    """Check a transaction/batch Bundle's shape; per-entry issues are collected, not raised.

    Raises:
        UnsupportedMessage: not a transaction or batch.
        IssuesFound: the Bundle itself is malformed (envelope, duplicate fullUrls, dangling
            urn:uuid references), which fails a batch as a whole too.
    """
    bundle_type = document.get("type")
    if not isinstance(bundle_type, str) or bundle_type not in BUNDLE_TYPES:
        raise UnsupportedMessage(
            "only transaction and batch Bundles are accepted", location="Bundle.type", code="not-supported"
        )
    raw_entries = document.get("entry") or []
    if not isinstance(raw_entries, list):
        raise IssuesFound([Issue("error", "structure", "Bundle.entry", "entry must be an array")])
    shell = {k: v for k, v in document.items() if k != "entry"}
    bundle_issues = [i for i in validate_resource_shell(shell) if not i.location.startswith("Bundle.entry")]
    entries: list[BundleEntry] = []
    issues_by_entry: dict[int, list[Issue]] = {}
    seen_urls: dict[str, int] = {}
    for index, raw in enumerate(raw_entries):
        path = f"Bundle.entry[{index}]"
        if not isinstance(raw, dict):
            bundle_issues.append(Issue("error", "structure", path, "entry must be an object"))
            continue
        full_url = raw.get("fullUrl")
        if isinstance(full_url, str) and full_url:
            if full_url in seen_urls:
                bundle_issues.append(
                    Issue(
                        "error",
                        "duplicate",
                        f"{path}.fullUrl",
                        f"fullUrl repeats entry[{seen_urls[full_url]}]",
                    )
                )
            seen_urls.setdefault(full_url, index)
        request: dict[str, Any] = raw["request"] if isinstance(raw.get("request"), dict) else {}
        method = str(request.get("method", "")).upper()
        url = str(request.get("url", ""))
        resource = raw.get("resource")
        entry_issues: list[Issue] = []
        if method not in WRITE_METHODS:
            entry_issues.append(
                Issue(
                    "error",
                    "not-supported",
                    f"{path}.request.method",
                    "only POST and PUT entries are accepted (the gateway is push-only)",
                )
            )
        if not isinstance(resource, dict):
            if method in WRITE_METHODS:
                entry_issues.append(Issue("error", "required", f"{path}.resource", "entry has no resource"))
            resource = {}
        else:
            entry_issues += validate_resource(resource, f"{path}.resource")
            resource_type = resource.get("resourceType")
            if method in WRITE_METHODS and url.split("/")[0].split("?")[0] != resource_type:
                entry_issues.append(
                    Issue(
                        "error",
                        "invalid",
                        f"{path}.request.url",
                        "request url does not name the resource's type",
                    )
                )
        if entry_issues:
            issues_by_entry[index] = entry_issues
        entries.append(
            BundleEntry(
                index=index,
                full_url=full_url if isinstance(full_url, str) else None,
                method=method,
                url=url,
                resource=resource,
            )
        )
    for entry in entries:
        for location, reference in references(entry.resource, f"Bundle.entry[{entry.index}].resource"):
            if reference.startswith("urn:uuid:") and reference not in seen_urls:
                bundle_issues.append(
                    Issue("error", "invalid", location, "reference does not resolve within the Bundle")
                )
    if bundle_issues:
        raise IssuesFound(bundle_issues)
    meta: dict[str, Any] = document["meta"] if isinstance(document.get("meta"), dict) else {}
    marker = meta.get("versionId") or meta.get("lastUpdated")
    return ParsedBundle(
        bundle_type=str(bundle_type),
        bundle_id=document.get("id") if isinstance(document.get("id"), str) else None,
        version_marker=str(marker) if marker else None,
        entries=entries,
        issues_by_entry=issues_by_entry,
    )


def validate_resource_shell(shell: dict[str, Any]) -> list[Issue]:
    try:
        get_fhir_model_class("Bundle").model_validate(shell)
    except ValidationError as exc:
        return [_issue(error, "Bundle") for error in exc.errors(include_input=False, include_url=False)]
    return []


def references(value: Any, path: str) -> list[tuple[str, str]]:
    """Every `reference` string inside a resource, with its element path."""
    found: list[tuple[str, str]] = []
    if isinstance(value, dict):
        for key, child in value.items():
            if key == "reference" and isinstance(child, str):
                found.append((f"{path}.reference", child))
            elif key != "contained":
                found += references(child, f"{path}.{key}")
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += references(child, f"{path}[{index}]")
    return found


def _issue(error: Any, prefix: str) -> Issue:
    code, phrase = _PHRASES.get(error["type"], ("structure", "element has the wrong type or shape"))
    location = prefix
    for part in error["loc"]:
        location += f"[{part}]" if isinstance(part, int) else f".{part}"
    return Issue("error", code, location, phrase)
