# Tests take their input from `cases` (the runner sets it; see tests/policies/test_rego_suites.py).
package consent_gateway.cjis_test

import data.consent_gateway.decision
import rego.v1

cleared := {
	"org_id": "crt", "org_type": "co_responder_team", "role": "coresponder_clinician",
	"cjis": {"security_addendum": true, "training_current": true, "background_check": true},
	"auth": {"mfa": true},
}

without(key) := object.union(cleared, {"cjis": object.union(cleared.cjis, {key: false})})

request(requester, purpose) := {
	"action": "lookup_record", "purpose_of_use": purpose, "requester": requester,
	"resource": {"data_classes": ["cji"]}, "context": {"now": "2026-11-23T10:00:00Z"},
}

cases := {
	"test_cleared_personnel_see_cji_with_an_audit_obligation": request(cleared, "COC"),
	"test_no_addendum_no_cji": request(without("security_addendum"), "COC"),
	"test_no_training_no_cji": request(without("training_current"), "COC"),
	"test_no_screening_no_cji": request(without("background_check"), "COC"),
	"test_no_mfa_no_cji": request(object.union(cleared, {"auth": {"mfa": false}}), "COC"),
	"test_treatment_is_not_a_criminal_justice_purpose": request(cleared, "TREAT"),
}

test_cleared_personnel_see_cji_with_an_audit_obligation if {
	decision.result.decision == "permit"
	same(decision.result.obligations, ["CJIS_AUDIT_LOG"])
}

test_no_addendum_no_cji if {
	decision.result.decision == "deny"
	"CJIS-ADDENDUM" in decision.result.reason_codes
	not "CJIS-TRAINING" in decision.result.reason_codes
}

test_no_training_no_cji if {
	decision.result.decision == "deny"
	"CJIS-TRAINING" in decision.result.reason_codes
}

test_no_screening_no_cji if {
	decision.result.decision == "deny"
	"CJIS-SCREENING" in decision.result.reason_codes
}

test_no_mfa_no_cji if {
	decision.result.decision == "deny"
	"CJIS-MFA" in decision.result.reason_codes
}

test_treatment_is_not_a_criminal_justice_purpose if {
	decision.result.decision == "deny"
	"CJIS-ACCESS" in decision.result.reason_codes
}

# By membership: regopy 1.5.2 cannot compare or index the arrays sort() returns
# (test_regopy_quirks.py); the engine returns them sorted and without duplicates.
same(actual, expected) if {
	count(actual) == count(expected)
	every v in expected {
		v in actual
	}
}
