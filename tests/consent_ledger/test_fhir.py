"""Reading FHIR Consent: bad input is refused with the element named and no value echoed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from consent_ledger import ConsentInvalid, read_consent
from tests.builders.consent import consent, recipient_org


def _problems(document: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConsentInvalid) as refused:
        read_consent(document)
    return [(p.location, p.code) for p in refused.value.problems]


def test_terms_carry_recipients_purposes_classes_and_an_inclusive_period_end() -> None:
    terms = read_consent(
        consent(
            recipients=[recipient_org("pd-springfield"), *consent()["provision"]["actor"]],
            purposes=("COC", "TREAT"),
            period={"start": "2026-11-01", "end": "2027-01-31"},
        )
    )
    assert terms.recipient_orgs == ("pd-springfield",)
    assert terms.recipient_types == ("co_responder_team",)
    assert {p.value for p in terms.purposes} == {"COC", "TREAT"}
    assert terms.period_start == datetime(2026, 11, 1, tzinfo=UTC)
    assert terms.period_end == datetime(2027, 2, 1, tzinfo=UTC)  # the whole of 31 January


def test_a_period_ending_before_it_starts_is_refused() -> None:
    assert _problems(consent(period={"start": "2027-01-01", "end": "2026-12-31"})) == [
        ("Consent.provision.period.end", "invalid")
    ]


def test_an_unknown_purpose_code_is_refused() -> None:
    document = consent()
    document["provision"]["purpose"].append(
        {"system": consent()["provision"]["purpose"][0]["system"], "code": "GOSSIP"}
    )
    assert _problems(document) == [("Consent.provision.purpose[1]", "code-invalid")]


def test_a_recipient_that_is_neither_an_org_nor_a_known_class_is_refused() -> None:
    document = consent()
    document["provision"]["actor"][0]["reference"] = {
        "identifier": {"system": "urn:consent-gateway:org-type", "value": "neighbours"}
    }
    assert _problems(document) == [("Consent.provision.actor[0].reference", "invalid")]


def test_a_consent_that_is_not_valid_r4_is_refused_without_echoing_values() -> None:
    document = consent()
    document["dateTime"] = "yesterday-ish Jane"
    with pytest.raises(ConsentInvalid) as refused:
        read_consent(document)
    assert [p.location for p in refused.value.problems] == ["Consent.dateTime"]
    assert "Jane" not in str(refused.value)


def test_psychotherapy_notes_may_not_be_combined_with_other_classes() -> None:
    assert _problems(consent(classes=("phi", "psychotherapy_notes"))) == [
        ("Consent.provision.securityLabel", "business-rule")
    ]


def test_a_part2_consent_for_proceedings_must_stand_alone() -> None:
    assert _problems(consent(classes=("part2",), purposes=("LAW", "COC"))) == [
        ("Consent.provision.purpose", "business-rule")
    ]


def test_cji_is_never_released_on_consent() -> None:
    assert ("Consent.provision.securityLabel", "business-rule") in _problems(consent(classes=("cji",)))


@pytest.mark.parametrize("status", ["inactive", "rejected", "entered-in-error"])
def test_only_draft_proposed_or_active_consents_are_recorded(status: str) -> None:
    assert _problems(consent(status=status)) == [("Consent.status", "not-supported")]


def test_nested_and_deny_provisions_are_refused_as_not_supported() -> None:
    document = consent()
    document["provision"]["type"] = "deny"
    document["provision"]["provision"] = [{"type": "permit"}]
    assert _problems(document) == [
        ("Consent.provision.provision", "not-supported"),
        ("Consent.provision.type", "not-supported"),
    ]
