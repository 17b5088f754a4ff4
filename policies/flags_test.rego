# Tests take their input from `cases` (the runner sets it; see tests/policies/test_rego_suites.py).
package consent_gateway.flags_test

import data.consent_gateway.flags
import rego.v1

# Monday 2026-11-23, 10:00Z.
now := ns("2026-11-23T10:00:00Z")

ns(s) := time.parse_rfc3339_ns(replace(s, "Z", "+00:00")) if contains(s, "T")

else := time.parse_ns("2006-01-02", s)

record(id, kind, occurred, facts) := {
	"id": id, "kind": kind, "data_classes": ["phi", "mental_health"],
	"started_ns": ns(occurred), "period_end_ns": end_of(facts), "facts": facts,
}

end_of(facts) := ns(facts.period_end) if facts.period_end

else := null

crisis(id, occurred) := record(id, "encounter", occurred, {"crisis": true, "status": "finished"})

codes := {f.code | some f in flags.derived}

sources(code) := {f.source | some f in flags.derived; f.code == code}

day := 86400000000000

cases := {
	"test_a_crisis_encounter_this_week_recommends_a_coresponder_and_says_recent": {
		"now_ns": now, "records": [crisis("e1", "2026-11-20T22:00:00Z")],
	},
	"test_a_crisis_encounter_three_weeks_ago_only_recommends_a_coresponder": {
		"now_ns": now, "records": [crisis("e1", "2026-11-02T09:00:00Z")],
	},
	"test_a_planned_crisis_encounter_derives_nothing_yet": {
		"now_ns": now, "records": [crisis("e1", "2026-11-30T09:00:00Z")],
	},
	"test_a_crisis_encounter_older_than_thirty_days_derives_nothing": {
		"now_ns": now, "records": [crisis("e1", "2026-10-20T09:00:00Z")],
	},
	"test_an_encounter_that_was_not_a_crisis_derives_nothing": {
		"now_ns": now, "records": [record("e1", "encounter", "2026-11-22T09:00:00Z", {"crisis": false})],
	},
	"test_an_encounter_entered_in_error_derives_nothing": {
		"now_ns": now,
		"records": [record("e1", "encounter", "2026-11-22T09:00:00Z", {"crisis": true, "status": "entered-in-error"})],
	},
	"test_an_active_crisis_plan_is_on_file_until_its_period_ends": {
		"now_ns": now,
		"records": [record("p1", "crisis_plan", "2026-06-01", {"status": "active", "period_end": "2027-01-15"})],
	},
	"test_a_crisis_plan_whose_period_ended_derives_nothing": {
		"now_ns": now,
		"records": [record("p1", "crisis_plan", "2026-01-01", {"status": "active", "period_end": "2026-11-01"})],
	},
	"test_a_revoked_crisis_plan_derives_nothing": {
		"now_ns": now, "records": [record("p1", "crisis_plan", "2026-11-01", {"status": "revoked"})],
	},
	"test_a_care_team_with_a_contact_derives_a_contact_flag": {
		"now_ns": now,
		"records": [
			record("t1", "care_team", "2026-10-01", {"status": "active", "has_contact": true}),
			record("t2", "care_team", "2026-10-01", {"status": "active", "has_contact": false}),
		],
	},
	"test_pushed_flags_pass_only_with_a_vocabulary_code_and_active": {
		"now_ns": now,
		"records": [
			record("f1", "flag", "2026-11-01", {"status": "active", "flag_code": "communication-needs"}),
			record("f2", "flag", "2026-11-01", {"status": "inactive", "flag_code": "check-with-clinician"}),
			record("f3", "flag", "2026-11-01", {"status": "active", "flag_code": "prefers-contact-person"}),
			record("f4", "flag", "2026-11-01", {"status": "active", "flag_code": null}),
		],
	},
	"test_police_records_never_derive_flags": {
		"now_ns": now,
		"records": [object.union(crisis("i1", "2026-11-22T09:00:00Z"), {"data_classes": ["cji"]})],
	},
	"test_expiry_is_rounded_down_to_a_monday": {
		"now_ns": now, "records": [crisis("e1", "2026-11-20T22:00:00Z")],
	},
	"test_a_record_without_any_time_derives_nothing": {
		"now_ns": now,
		"records": [{"id": "p1", "kind": "crisis_plan", "data_classes": ["phi"], "started_ns": null, "facts": {"status": "active"}}],
	},
	"test_malformed_input_derives_nothing": {"now_ns": "yesterday", "records": "many"},
}

test_a_crisis_encounter_this_week_recommends_a_coresponder_and_says_recent if {
	codes == {"coresponder-recommended", "recent-crisis-contact"}
	sources("coresponder-recommended") == {"e1"}
}

test_a_crisis_encounter_three_weeks_ago_only_recommends_a_coresponder if {
	codes == {"coresponder-recommended"}
}

test_a_crisis_encounter_older_than_thirty_days_derives_nothing if count(flags.derived) == 0

test_a_planned_crisis_encounter_derives_nothing_yet if count(flags.derived) == 0

test_an_encounter_that_was_not_a_crisis_derives_nothing if count(flags.derived) == 0

test_an_encounter_entered_in_error_derives_nothing if count(flags.derived) == 0

test_an_active_crisis_plan_is_on_file_until_its_period_ends if {
	codes == {"crisis-plan-on-file"}
	some f in flags.derived
	# 2027-01-15 is a Friday: the flag ends on Monday 2027-01-11.
	f.expires_ns == time.parse_ns("2006-01-02", "2027-01-11")
}

test_a_crisis_plan_whose_period_ended_derives_nothing if count(flags.derived) == 0

test_a_revoked_crisis_plan_derives_nothing if count(flags.derived) == 0

test_a_care_team_with_a_contact_derives_a_contact_flag if {
	codes == {"care-team-contact"}
	sources("care-team-contact") == {"t1"}
}

test_pushed_flags_pass_only_with_a_vocabulary_code_and_active if {
	codes == {"communication-needs"}
	sources("communication-needs") == {"f1"}
}

test_police_records_never_derive_flags if count(flags.derived) == 0

test_expiry_is_rounded_down_to_a_monday if {
	some f in flags.derived
	f.code == "recent-crisis-contact"
	# 2026-11-20 22:00Z + 14 days = Friday 2026-12-04: rounded down to Monday 2026-11-30.
	f.expires_ns == time.parse_ns("2006-01-02", "2026-11-30")
}

test_a_record_without_any_time_derives_nothing if count(flags.derived) == 0

test_malformed_input_derives_nothing if count(flags.derived) == 0
