# When a consent applies, and why none did (regulations.md 4).
#
# A consent applies to a class when it is active and unexpired, names the requester's org or
# org type, lists the purpose, and has the class in scope. Multiple consents are judged one by
# one: a revoked consent removes only what rested on it.
package consent_gateway.consent

import data.consent_gateway.common
import rego.v1

field(k, key) := v if {
	v := k[key]
	is_array(v)
} else := []

status(k) := object.get(k, "status", "")

names_requester(k) if {
	some r in field(k, "recipients")
	r == common.org_id
}

names_requester(k) if {
	some r in field(k, "recipients")
	r == common.org_type
}

lists_purpose(k) if {
	some p in field(k, "purposes")
	p == common.purpose
}

covers(k, class) if {
	some s in field(k, "scope")
	s == class
}

# Expired: by status, or its expiry instant has passed, or it cannot be read (a value that
# cannot be parsed makes the consent not apply). An absent or null expiry never expires.
expired(k) if status(k) == "expired"

expired(k) if {
	e := object.get(k, "expires", null)
	e != null
	not before_expiry(e)
}

before_expiry(e) if common.now_ns < common.instant_ns(e)

in_force(k) if {
	status(k) == "active"
	not expired(k)
}

applies(k, class) if {
	in_force(k)
	names_requester(k)
	lists_purpose(k)
	covers(k, class)
}

# The consents that apply to `class`.
applying(class) := [k | some k in common.consents; applies(k, class)]

# --- why no consent applied (regulations.md 4, first test that holds) ------------------------

naming := [k | some k in common.consents; names_requester(k)]

purposed := [k | some k in naming; lists_purpose(k)]

scoped(class) := [k | some k in purposed; covers(k, class)]

failure_codes(class) := {"CONSENT-MISSING"} if {
	count(common.consents) == 0
} else := {"CONSENT-RECIPIENT"} if {
	count(naming) == 0
} else := {"CONSENT-PURPOSE"} if {
	count(purposed) == 0
} else := {"CONSENT-SCOPE"} if {
	count(scoped(class)) == 0
} else := status_codes(scoped(class))

status_codes(ks) := (revoked | lapsed) | drafts if {
	revoked := {"CONSENT-REVOKED" | some k in ks; status(k) == "revoked"}
	lapsed := {"CONSENT-EXPIRED" | some k in ks; expired(k)}
	drafts := {"CONSENT-NOT-EXECUTED" | some k in ks; status(k) == "draft"}
}
