# Tests take their input from `cases` (the runner sets it; see tests/policies/test_rego_suites.py).
package consent_gateway.consent_test

import data.consent_gateway.decision
import rego.v1

base := {"status": "active", "scope": ["phi"], "recipients": ["police"], "purposes": ["COC"]}

pull(consents) := {
	"action": "pull_flags", "purpose_of_use": "COC",
	"requester": {"org_id": "pd", "org_type": "police", "role": "officer"},
	"resource": {"data_classes": ["phi"]}, "consents": consents,
	"context": {"now": "2026-11-23T10:00:00Z"},
}

with_fields(fields) := pull([object.union(base, fields)])

cases := {
	"test_an_applying_consent_permits": pull([base]),
	"test_missing": pull([]),
	"test_revoked": with_fields({"status": "revoked"}),
	"test_draft": with_fields({"status": "draft"}),
	"test_status_expired": with_fields({"status": "expired"}),
	"test_other_recipient": with_fields({"recipients": ["co_responder_team"]}),
	"test_other_purpose": with_fields({"purposes": ["TREAT"]}),
	"test_expired_a_second_ago": with_fields({"expires": "2026-11-23T09:59:59Z"}),
	"test_expiry_with_an_offset_already_passed": with_fields({"expires": "2026-11-23T11:00:00+02:00"}),
	"test_expiry_with_an_offset_still_ahead": with_fields({"expires": "2026-11-23T12:30:00+02:00"}),
}

denied_with(code) if {
	decision.result.decision == "deny"
	code in decision.result.reason_codes
}

test_an_applying_consent_permits if decision.result.decision == "permit"

test_missing if denied_with("CONSENT-MISSING")

test_revoked if denied_with("CONSENT-REVOKED")

test_draft if denied_with("CONSENT-NOT-EXECUTED")

test_status_expired if denied_with("CONSENT-EXPIRED")

test_other_recipient if denied_with("CONSENT-RECIPIENT")

test_other_purpose if denied_with("CONSENT-PURPOSE")

test_expired_a_second_ago if denied_with("CONSENT-EXPIRED")

# 11:00+02:00 is 09:00Z, before now (10:00Z); 12:30+02:00 is after.
test_expiry_with_an_offset_already_passed if denied_with("CONSENT-EXPIRED")

test_expiry_with_an_offset_still_ahead if decision.result.decision == "permit"
