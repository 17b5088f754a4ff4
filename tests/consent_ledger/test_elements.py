"""42 CFR 2.31(a) and 45 CFR 164.508(c): each element missing in turn is named, and nothing is accepted."""

from __future__ import annotations

from typing import Any

import pytest

from consent_ledger import ConsentIncomplete, read_consent
from consent_ledger.fhir import EXT_EXPIRY_EVENT, EXT_SIGNATURE, EXT_STATEMENT
from tests.builders.consent import consent, without

PART2 = {"classes": ("phi",), "part2_label": True}
TPO = {**PART2, "purposes": ("TREAT",)}

# (element named, consent builder arguments, paths removed)
PART2_TABLE: list[tuple[str, dict[str, Any], tuple[str, ...]]] = [
    ("2.31(a)(1) patient name", PART2, ("patient.display",)),
    ("2.31(a)(2) who may disclose", PART2, ("organization",)),
    ("2.31(a)(3) description of the information", PART2, ("provision.code",)),
    ("2.31(a)(4) recipients", PART2, ("provision.actor",)),
    ("2.31(a)(5) purpose", PART2, ("provision.purpose",)),
    ("2.31(a)(6) right to revoke and how", PART2, (f"extension={EXT_STATEMENT}=right-to-revoke",)),
    ("2.31(a)(7) expiration date or event", PART2, ("provision.period.end", f"extension={EXT_EXPIRY_EVENT}")),
    ("2.31(a)(8) signature", PART2, (f"extension={EXT_SIGNATURE}", "sourceAttachment")),
    ("2.31(a)(9) date signed", PART2, ("dateTime", f"extension={EXT_SIGNATURE}")),
    ("2.31(a)(4)(iii) redisclosure statement", TPO, (f"extension={EXT_STATEMENT}=redisclosure",)),
    (
        "2.31(a)(10) consequences of refusing to sign",
        TPO,
        (f"extension={EXT_STATEMENT}=refusal-consequences",),
    ),
]


def test_a_complete_part2_consent_is_accepted_as_active() -> None:
    terms = read_consent(consent(**PART2))  # type: ignore[arg-type]
    assert terms.fhir_status == "active"
    assert terms.part2_missing == ()
    assert terms.hipaa_missing == ()
    assert {c.value for c in terms.scope} == {"phi", "part2"}


@pytest.mark.parametrize(
    ("element", "arguments", "removed"), PART2_TABLE, ids=[row[0] for row in PART2_TABLE]
)
def test_an_active_part2_consent_missing_one_element_is_refused_naming_it(
    element: str, arguments: dict[str, Any], removed: tuple[str, ...]
) -> None:
    with pytest.raises(ConsentIncomplete) as refused:
        read_consent(without(consent(**arguments), *removed))
    assert {m for m in refused.value.missing if m.startswith("2.31")} == {element}
    assert any(element in p.reason for p in refused.value.problems)


@pytest.mark.parametrize(
    ("element", "arguments", "removed"), PART2_TABLE, ids=[row[0] for row in PART2_TABLE]
)
def test_the_same_consent_as_a_draft_is_kept_with_the_element_listed(
    element: str, arguments: dict[str, Any], removed: tuple[str, ...]
) -> None:
    terms = read_consent(without(consent(**arguments, status="draft"), *removed))
    assert terms.fhir_status == "draft"
    assert element in terms.part2_missing


def test_redisclosure_and_refusal_statements_are_required_only_of_a_tpo_part2_consent() -> None:
    document = without(
        consent(**PART2),  # type: ignore[arg-type]
        f"extension={EXT_STATEMENT}=refusal-consequences",
    )
    assert read_consent(document).part2_missing == ()


def test_a_hipaa_authorization_needs_the_no_conditioning_statement() -> None:
    with pytest.raises(ConsentIncomplete) as refused:
        read_consent(without(consent(), f"extension={EXT_STATEMENT}=no-conditioning"))
    assert refused.value.missing == ["164.508(c)(2)(ii) treatment not conditioned on signing"]


def test_a_non_part2_consent_is_not_held_to_part2_elements_but_reports_them() -> None:
    terms = read_consent(without(consent(), "patient.display"))  # name is a 2.31 element only
    assert terms.fhir_status == "active"
    assert terms.part2_missing == ("2.31(a)(1) patient name",)
