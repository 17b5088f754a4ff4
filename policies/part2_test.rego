# Tests take their input from `cases` (the runner sets it; see tests/policies/test_rego_suites.py).
package consent_gateway.part2_test

import data.consent_gateway.decision
import rego.v1

officer := {"org_id": "pd", "org_type": "police", "role": "officer"}

ems := {"org_id": "county-ems", "org_type": "ems", "role": "clinician"}

law_consent := {"status": "active", "scope": ["part2"], "recipients": ["police"], "purposes": ["LAW"], "part2_elements_complete": true}

request(action, purpose, requester, consents, context) := {
	"action": action, "purpose_of_use": purpose, "requester": requester,
	"resource": {"data_classes": ["part2"]}, "consents": consents,
	"context": object.union({"now": "2026-11-23T10:00:00Z"}, context),
}

cases := {
	"test_no_consent_no_part2": request("pull_flags", "COC", officer, [], {}),
	"test_a_separate_law_consent_permits_with_the_notice": request("pull_flags", "LAW", officer, [law_consent], {}),
	"test_an_incomplete_consent_does_not_count": request("pull_flags", "LAW", officer, [object.union(law_consent, {"part2_elements_complete": false})], {}),
	"test_a_subpoena_alone_never_authorizes": request("pull_flags", "LAW", officer, [], {"court_order": {"type": "subpoena_only", "issued": true}}),
	"test_an_issued_265_order_permits_limited_to_its_scope": request("lookup_record", "LAW", officer, [], {"court_order": {"type": "2.65", "issued": true}}),
	"test_medical_emergency_for_ems": request("lookup_record", "ETREAT", ems, [], {"emergency": true}),
}

test_no_consent_no_part2 if {
	decision.result.decision == "deny"
	"P2-CONSENT-231" in decision.result.reason_codes
	"CONSENT-MISSING" in decision.result.reason_codes
}

test_a_separate_law_consent_permits_with_the_notice if {
	decision.result.decision == "permit"
	"ATTACH_P2_NOTICE" in decision.result.obligations
}

test_an_incomplete_consent_does_not_count if decision.result.decision == "deny"

test_a_subpoena_alone_never_authorizes if {
	decision.result.decision == "deny"
	"P2-COURT-ORDER-265" in decision.result.reason_codes
}

test_an_issued_265_order_permits_limited_to_its_scope if {
	decision.result.decision == "permit"
	same(decision.result.obligations, ["LIMIT_TO_ORDER_SCOPE", "RECORD_ACCOUNTING"])
}

test_medical_emergency_for_ems if {
	decision.result.decision == "permit"
	"DOCUMENT_P2_EMERGENCY" in decision.result.obligations
}

# By membership: regopy 1.5.2 cannot compare or index the arrays sort() returns
# (test_regopy_quirks.py); the engine returns them sorted and without duplicates.
same(actual, expected) if {
	count(actual) == count(expected)
	every v in expected {
		v in actual
	}
}
