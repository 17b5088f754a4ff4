"""FHIR OperationOutcome bodies: issue codes and element paths, never values."""

from __future__ import annotations

from typing import Any

from connectors.errors import ConnectorError, Issue


def operation_outcome(issues: list[Issue]) -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": issue.severity,
                "code": issue.code,
                "diagnostics": issue.reason,
                "expression": [issue.location],
            }
            for issue in issues
        ],
    }


def outcome_for(error: ConnectorError) -> dict[str, Any]:
    issues = getattr(error, "issues", None)
    if issues:
        return operation_outcome(list(issues))
    return operation_outcome([Issue("error", error.code or "invalid", error.location or "", error.reason)])


def single_issue(code: str, reason: str, location: str = "", severity: str = "error") -> dict[str, Any]:
    return operation_outcome([Issue(severity, code, location, reason)])
