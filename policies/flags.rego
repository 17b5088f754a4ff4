# Which police flags a person's health records support (DESIGN.md 6, regulations.md 7).
#
# Derivation is not disclosure: this module says which flags *could* be shown and which record
# each rests on; the decision (decision.rego, action pull_flags) then says which of those
# records' classes the requester may receive, and the gateway drops every flag resting on a
# withheld class. A flag therefore inherits the data classes of its source record.
#
# Input: {"now_ns", "records": [{"id", "kind", "data_classes", "started_ns", "period_end_ns",
#          "facts": {...}}]} — the person's stored envelopes, facts only. Instants are integer
# nanoseconds since the epoch, converted by the gateway: parsing timestamps in Rego costs
# about 200 µs each, and a pull derives from every record a person has.
# `started_ns` is when the record's thing happened (else when it was received);
# `period_end_ns` the end of its own period (a crisis plan's, a pushed flag's), or null.
# Output: `derived`, a set of {"code", "source", "rule", "expires_ns"}; `expires_ns` is rounded
# down to the Monday 00:00Z of its week so that no flag reveals a date finer than the week.
#
# Never derived: anything from police records (cji), and `prefers-contact-person` (only a
# consent naming that person could support it; the ledger records none).
package consent_gateway.flags

import rego.v1

day_ns := 86400000000000

week_ns := 7 * day_ns

# 1970-01-05 was a Monday.
monday_offset_ns := 4 * day_ns

# How long each flag lives from the record it rests on, unless the record's period ends first.
lifetime_days := {
	"coresponder-recommended": 30,
	"recent-crisis-contact": 14,
	"crisis-plan-on-file": 365,
	"care-team-contact": 180,
	"communication-needs": 365,
	"medical-alert-contact-ems": 365,
	"check-with-clinician": 90,
}

now_ns := n if {
	n := input.now_ns
	is_number(n)
}

records := r if {
	r := input.records
	is_array(r)
} else := []

# A record the derivation may read: a health record (never CJI) with a start instant.
usable(r) if {
	is_object(r)
	is_number(r.started_ns)
	not police_record(r)
}

police_record(r) if {
	some c in r.data_classes
	c == "cji"
}

status(r) := object.get(r.facts, "status", null)

# Active, or no status given.
active(r) if status(r) == null

active(r) if status(r) == "active"

# basis: [index of the record, flag code, derivation rule].
basis contains [i, "crisis-plan-on-file", "FLAG-CRISIS-PLAN"] if {
	some i, r in records
	r.kind == "crisis_plan"
	active(r)
}

basis contains [i, "care-team-contact", "FLAG-CARE-TEAM"] if {
	some i, r in records
	r.kind == "care_team"
	active(r)
	r.facts.has_contact == true
}

basis contains [i, code, "FLAG-CRISIS-ENCOUNTER"] if {
	some i, r in records
	r.kind == "encounter"
	r.facts.crisis == true
	not status(r) in {"entered-in-error", "cancelled"}
	r.started_ns <= now_ns
	some code in ["coresponder-recommended", "recent-crisis-contact"]
}

# A flag pushed by a health record system with one of the vocabulary's codes.
basis contains [i, code, "FLAG-PUSHED"] if {
	some i, r in records
	r.kind == "flag"
	status(r) == "active"
	code := r.facts.flag_code
	lifetime_days[code]
}

week_floor(ns) := ns - ((ns - monday_offset_ns) % week_ns)

# The end of the flag's lifetime, or of the record's own period if that comes first.
end_ns(r, code) := min({lifetime_end, r.period_end_ns}) if {
	lifetime_end := r.started_ns + lifetime_days[code] * day_ns
	is_number(r.period_end_ns)
} else := r.started_ns + lifetime_days[code] * day_ns

# Only flags still in force now, their expiry rounded down to the week: a crisis encounter
# recommends a co-responder for about 30 days and is "recent" for about 14.
derived contains {"code": code, "source": r.id, "rule": rule, "expires_ns": expires} if {
	some [i, code, rule] in basis
	r := records[i]
	usable(r)
	expires := week_floor(end_ns(r, code))
	now_ns < expires
}
