# Tests take their input from `cases` (the runner sets it; see tests/policies/test_rego_suites.py).
package consent_gateway.hipaa_test

import data.consent_gateway.decision
import rego.v1

clinician := {"org_id": "st-marys", "org_type": "hospital", "role": "clinician"}

officer := {"org_id": "pd", "org_type": "police", "role": "officer"}

request(action, purpose, requester, classes, context) := {
	"action": action, "purpose_of_use": purpose, "requester": requester,
	"resource": {"data_classes": classes}, "consents": [],
	"context": object.union({"now": "2026-11-23T10:00:00Z"}, context),
}

cases := {
	"test_tpo_permits_treatment": request("lookup_record", "TREAT", clinician, ["phi", "mental_health"], {}),
	"test_tpo_is_never_for_police": request("pull_flags", "COC", officer, ["phi"], {}),
	"test_threat_gives_police_flags_only_and_is_accounted": request("pull_flags", "PUBHLTH", officer, ["phi"], {"imminent_threat": true}),
	"test_legal_process_goes_to_the_privacy_officer": request("pull_flags", "LAW", officer, ["phi"], {"court_order": {"type": "judicial", "issued": true}}),
	"test_psychotherapy_notes_alone_are_denied": request("lookup_record", "TREAT", clinician, ["psychotherapy_notes"], {}),
	"test_break_glass_by_police_is_a_hard_deny": request("pull_flags", "ETREAT", officer, ["phi"], {"break_glass": true, "emergency": true}),
	"test_break_glass_needs_mfa": request("lookup_record", "ETREAT", clinician, ["phi"], {"break_glass": true, "emergency": true}),
	"test_break_glass_with_mfa_is_recorded": request("lookup_record", "ETREAT", object.union(clinician, {"auth": {"mfa": true}}), ["phi"], {"break_glass": true, "emergency": true}),
}

test_tpo_permits_treatment if {
	decision.result.decision == "permit"
	same(decision.result.reason_codes, ["HIPAA-TPO"])
}

test_tpo_is_never_for_police if {
	decision.result.decision == "deny"
	not "HIPAA-TPO" in decision.result.reason_codes
}

test_threat_gives_police_flags_only_and_is_accounted if {
	decision.result.decision == "permit"
	same(decision.result.obligations, ["MINIMUM_NECESSARY_FLAGS_ONLY", "RECORD_ACCOUNTING"])
}

test_legal_process_goes_to_the_privacy_officer if {
	decision.result.decision == "deny"
	"NOTIFY_PRIVACY_OFFICER" in decision.result.obligations
	"HIPAA-LE-512F" in decision.result.reason_codes
}

test_psychotherapy_notes_alone_are_denied if {
	decision.result.decision == "deny"
	"HIPAA-PSYNOTES" in decision.result.reason_codes
}

test_break_glass_by_police_is_a_hard_deny if {
	decision.result.decision == "deny"
	"HIPAA-BREAK-GLASS" in decision.result.reason_codes
}

test_break_glass_needs_mfa if {
	decision.result.decision == "deny"
	"CJIS-MFA" in decision.result.reason_codes
}

test_break_glass_with_mfa_is_recorded if {
	decision.result.decision == "permit"
	"RECORD_BREAK_GLASS" in decision.result.obligations
}

# By membership: regopy 1.5.2 cannot compare or index the arrays sort() returns
# (test_regopy_quirks.py); the engine returns them sorted and without duplicates.
same(actual, expected) if {
	count(actual) == count(expected)
	every v in expected {
		v in actual
	}
}
