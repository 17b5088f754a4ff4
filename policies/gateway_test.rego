# Tests take their input from `cases` (the runner sets it; see tests/policies/test_rego_suites.py).
package consent_gateway.gateway_test

import data.consent_gateway.decision
import rego.v1

request(action, purpose, requester, classes, source) := {
	"action": action, "purpose_of_use": purpose, "requester": requester,
	"resource": {"data_classes": classes, "source_org": source},
	"context": {"now": "2026-11-23T10:00:00Z"},
}

ehr := {"org_id": "st-marys", "org_type": "hospital", "role": "system"}

rms := {"org_id": "pd", "org_type": "police", "role": "system", "cjis": {"training_current": true, "background_check": true}, "auth": {"mfa": true}}

compliance := {"org_id": "co", "org_type": "compliance", "role": "compliance_officer"}

cases := {
	"test_a_hospital_pushes_its_own_records": request("push_record", "COC", ehr, ["phi"], "st-marys"),
	"test_nobody_pushes_for_another_org": request("push_record", "COC", ehr, ["phi"], "elsewhere"),
	"test_police_push_cji": request("push_record", "LAW", rms, ["cji"], "pd"),
	"test_police_never_push_health_classes": request("push_record", "LAW", rms, ["phi"], "pd"),
	"test_compliance_officers_query_the_log": request("query_audit", "HOVERSIGHT", compliance, [], ""),
	"test_admins_do_not_query_the_log": request("query_audit", "HOVERSIGHT", object.union(ehr, {"role": "admin"}), [], ""),
	"test_police_do_not_manage_consents": request("manage_consent", "COC", {"org_id": "pd", "org_type": "police", "role": "officer"}, ["phi"], ""),
}

test_a_hospital_pushes_its_own_records if {
	decision.result.decision == "permit"
	same(decision.result.obligations, ["TAG_SECURITY_LABELS"])
}

test_nobody_pushes_for_another_org if same(decision.result.reason_codes, ["PUSH-INGEST"])

test_police_push_cji if decision.result.decision == "permit"

test_police_never_push_health_classes if decision.result.decision == "deny"

test_compliance_officers_query_the_log if decision.result.decision == "permit"

test_admins_do_not_query_the_log if same(decision.result.reason_codes, ["AUDIT-ACCESS"])

test_police_do_not_manage_consents if same(decision.result.reason_codes, ["CONSENT-MANAGE"])

# By membership: regopy 1.5.2 cannot compare or index the arrays sort() returns
# (test_regopy_quirks.py); the engine returns them sorted and without duplicates.
same(actual, expected) if {
	count(actual) == count(expected)
	every v in expected {
		v in actual
	}
}
