# Shared reading of the decision input (DESIGN.md 7, regulations.md 0 and 6a).
#
# Every family module reads the input through these names, so "a key that is absent counts as
# false / empty" is decided once. Membership tests over input arrays are written as
# `some x in xs; x == v` or over sets built here: regopy 1.5.2 crashes on `v in input.array`
# under `with input as` (see tests/policies/test_regopy_quirks.py).
package consent_gateway.common

import rego.v1

requester := r if {
	r := input.requester
	is_object(r)
} else := {}

resource := r if {
	r := input.resource
	is_object(r)
} else := {}

context := c if {
	c := input.context
	is_object(c)
} else := {}

cjis := c if {
	c := requester.cjis
	is_object(c)
} else := {}

auth := a if {
	a := requester.auth
	is_object(a)
} else := {}

action := object.get(input, "action", "")

purpose := object.get(input, "purpose_of_use", "")

role := object.get(requester, "role", "")

org_type := object.get(requester, "org_type", "")

org_id := object.get(requester, "org_id", "")

classes := {c | some c in array_or_empty(object.get(resource, "data_classes", []))}

consents := [k | some k in array_or_empty(object.get(input, "consents", []))]

array_or_empty(x) := x if is_array(x)

else := []

is_true(obj, key) if object.get(obj, key, false) == true

emergency if is_true(context, "emergency")

imminent_threat if is_true(context, "imminent_threat")

break_glass if is_true(context, "break_glass")

mfa if is_true(auth, "mfa")

court_order := object.get(context, "court_order", null)

has_court_order if court_order != null

# Actions that release content (records or flags derived from them).
content_actions := {"pull_flags", "lookup_record"}

content_action if content_actions[action]

# --- role groups (regulations.md 0 and 6a.1) -------------------------------------------------

le_roles := {"officer", "dispatcher"}

clinical_roles := {"clinician", "coresponder_clinician"}

clinical_org_types := {"hospital", "clinic", "part2_program", "ems", "co_responder_team"}

# LE: officers and dispatchers anywhere, and everyone at a police org.
is_le if le_roles[role]

is_le if org_type == "police"

# Clinical: a clinician role at a health-care org type (a co-responder clinician is treated as
# a workforce member of a covered-entity provider).
is_clinical if {
	clinical_roles[role]
	clinical_org_types[org_type]
}

# EMS: anyone at an EMS org who is not LE, admin or an interface account.
is_ems if {
	org_type == "ems"
	not is_le
	not {"admin", "system"}[role]
}

# Medical personnel for 42 CFR 2.51.
is_medical if is_clinical

is_medical if is_ems

is_admin if role == "admin"

# --- time -------------------------------------------------------------------------------------

date_pattern := `^[0-9]{4}-[0-9]{2}-[0-9]{2}$`

timestamp_pattern := `^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$`

# Nanoseconds since the epoch of an ISO 8601 date (00:00:00Z of that day) or an RFC 3339
# timestamp; undefined for anything else. A trailing Z is spelt +00:00 because regopy 1.5.2's
# time.parse_rfc3339_ns does not accept Z (OPA does; the result is the same).
instant_ns(s) := ns if {
	is_string(s)
	regex.match(date_pattern, s)
	ns := time.parse_ns("2006-01-02", s)
}

instant_ns(s) := ns if {
	is_string(s)
	regex.match(timestamp_pattern, s)
	ns := time.parse_rfc3339_ns(zulu_as_offset(s))
}

zulu_as_offset(s) := concat("", [substring(s, 0, count(s) - 1), "+00:00"]) if {
	regex.match(`[Zz]$`, s)
} else := s

now_ns := instant_ns(object.get(context, "now", ""))
