# Tests take their input from `cases` (the runner sets it; see tests/policies/test_rego_suites.py).
package consent_gateway.decision_test

import data.consent_gateway.decision
import rego.v1

cases := {
	"test_an_empty_input_is_denied": {},
	"test_a_malformed_input_says_what_is_wrong": {"action": "pull_flags", "purpose_of_use": "COC", "requester": "me"},
	"test_deny_overrides_permit": {
		"action": "lookup_record", "purpose_of_use": "TREAT",
		"requester": {"org_id": "h", "org_type": "hospital", "role": "clinician"},
		"resource": {"data_classes": ["phi", "cji"]}, "context": {"now": "2026-11-23T10:00:00Z"},
	},
}

test_an_empty_input_is_denied if same(decision.result.reason_codes, ["DEFAULT-DENY"])

test_a_malformed_input_says_what_is_wrong if {
	decision.explained.decision == "deny"
	"requester" in decision.explained.problems
}

# TPO would permit phi; the CJIS failure on cji in the same request denies the whole request.
test_deny_overrides_permit if {
	decision.result.decision == "deny"
	"HIPAA-TPO" in decision.result.reason_codes
}

# By membership: regopy 1.5.2 cannot compare or index the arrays sort() returns
# (test_regopy_quirks.py); the engine returns them sorted and without duplicates.
same(actual, expected) if {
	count(actual) == count(expected)
	every v in expected {
		v in actual
	}
}
