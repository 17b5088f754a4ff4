"""Obligations: what each channel fulfils, the deny when it cannot, and the classes redaction removes."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from gateway.flows.obligations import (
    FULFILS,
    REDACTS,
    Channel,
    require_fulfillable,
    unfulfilled,
    withheld_classes,
)
from policies.catalog import Reason, load_catalog
from policies.decision import Decision
from policies.vocabulary import DataClass, Obligation

TPO = Reason(code="HIPAA-TPO", citation="45 CFR 164.506(c)", text="Treatment.")
names = st.sampled_from([o.value for o in Obligation] + ["NOTIFY_STATE_REGISTRY", "X"])


def _decision(outcome: str, *obligations: str) -> Decision:
    return Decision(decision=outcome, obligations=obligations, reasons=(TPO,), policy_version="sha256:x")  # type: ignore[arg-type]


def test_the_vocabulary_names_exactly_the_catalogs_obligations() -> None:
    assert {o.value for o in Obligation} == set(load_catalog().obligations)


def test_a_lookup_fulfils_redaction_notice_and_accounting_but_not_police_only_obligations() -> None:
    decision = _decision("permit", "REDACT_PART2", "ATTACH_P2_NOTICE", "RECORD_ACCOUNTING")
    assert require_fulfillable(decision, Channel.RECORD_LOOKUP) is decision
    flags_only = require_fulfillable(
        _decision("permit", "MINIMUM_NECESSARY_FLAGS_ONLY"), Channel.RECORD_LOOKUP
    )
    assert flags_only.decision == "deny"
    assert flags_only.unfulfilled == ("MINIMUM_NECESSARY_FLAGS_ONLY",)
    assert flags_only.codes == ("DEFAULT-DENY", "HIPAA-TPO")
    assert "unfulfilled_obligations" in flags_only.as_json()


def test_a_push_fulfils_only_labelling_and_an_unknown_overlay_obligation_nowhere() -> None:
    assert unfulfilled(["TAG_SECURITY_LABELS"], Channel.PUSH) == ()
    assert unfulfilled(["TAG_SECURITY_LABELS", "RECORD_ACCOUNTING"], Channel.PUSH) == ("RECORD_ACCOUNTING",)
    for channel in Channel:
        assert unfulfilled(["NOTIFY_STATE_REGISTRY"], channel) == ("NOTIFY_STATE_REGISTRY",)


def test_redaction_obligations_name_their_classes() -> None:
    assert withheld_classes(["REDACT_PART2", "REDACT_PSYNOTES", "RECORD_ACCOUNTING"]) == {
        DataClass.PART2,
        DataClass.PSYCHOTHERAPY_NOTES,
    }
    assert withheld_classes([]) == frozenset()
    assert set(REDACTS) <= FULFILS[Channel.RECORD_LOOKUP]


@given(
    outcome=st.sampled_from(["permit", "deny"]),
    obligations=st.lists(names, max_size=6),
    channel=st.sampled_from(list(Channel)),
)
def test_fulfilment_never_permits_a_deny_nor_drops_an_obligation(
    outcome: str, obligations: list[str], channel: Channel
) -> None:
    decision = _decision(outcome, *obligations)
    checked = require_fulfillable(decision, channel)
    assert checked.obligations == decision.obligations
    if outcome == "deny":
        assert checked is decision
    assert checked.permitted == (outcome == "permit" and not unfulfilled(obligations, channel))
