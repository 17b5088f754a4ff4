# HIPAA Privacy and Security Rules (regulations.md 1): bases for phi, mental_health and
# psychotherapy notes, and the HIPAA hard denies.
#
# Contract with decision.rego: `basis` holds {class, code, rank, obligations, also}; for each
# class the basis with the lowest rank is used (non-consent bases before consent bases).
# `hard_deny`, `obligations` and `reasons` are request-wide.
package consent_gateway.hipaa

import data.consent_gateway.common
import data.consent_gateway.consent
import rego.v1

hipaa_classes := {"phi", "mental_health"}

treatment_purposes := {"TREAT", "ETREAT", "COC"}

operations_purposes := {"HPAYMT", "HOPERAT"}

requested_hipaa_classes := {c | some c in common.classes; hipaa_classes[c]}

# HIPAA-TPO: a clinician receives phi / mental health for treatment (164.506(c)).
basis contains {"class": c, "code": "HIPAA-TPO", "rank": 10, "obligations": [], "also": []} if {
	common.content_action
	common.is_clinical
	treatment_purposes[common.purpose]
	some c in requested_hipaa_classes
}

basis contains {
	"class": c, "code": "HIPAA-TPO", "rank": 10,
	"obligations": ["MINIMUM_NECESSARY"], "also": ["HIPAA-MIN-NEC"],
} if {
	common.content_action
	common.is_clinical
	operations_purposes[common.purpose]
	some c in requested_hipaa_classes
}

# HIPAA-THREAT-512J: a serious and imminent threat attested by a covered entity, whatever the
# purpose; flags only for law enforcement; accountable (164.528).
basis contains {
	"class": c, "code": "HIPAA-THREAT-512J", "rank": 20,
	"obligations": threat_obligations, "also": ["HIPAA-MIN-NEC", "HIPAA-ACCOUNTING"],
} if {
	common.content_action
	common.imminent_threat
	threat_recipient
	some c in requested_hipaa_classes
}

threat_recipient if common.is_le

threat_recipient if common.is_ems

threat_recipient if common.is_clinical

threat_obligations := ["MINIMUM_NECESSARY_FLAGS_ONLY", "RECORD_ACCOUNTING"] if {
	common.is_le
} else := ["MINIMUM_NECESSARY", "RECORD_ACCOUNTING"]

# HIPAA-AUTH-508: an applying consent is the authorization (not accountable, 164.528(a)(1)(iv)).
basis contains {"class": c, "code": "HIPAA-AUTH-508", "rank": 50, "obligations": [], "also": []} if {
	common.content_action
	not common.is_admin
	some c in requested_hipaa_classes
	count(consent.applying(c)) > 0
}

# HIPAA-PSYNOTES: only a consent whose whole scope is psychotherapy notes, and never to LE.
basis contains {
	"class": "psychotherapy_notes", "code": "HIPAA-PSYNOTES", "rank": 50,
	"obligations": [], "also": ["HIPAA-AUTH-508"],
} if {
	notes_authorized
}

notes_authorized if {
	common.content_action
	common.classes.psychotherapy_notes
	not common.is_le
	not common.is_admin
	some k in consent.applying("psychotherapy_notes")
	notes_only(k)
}

notes_only(k) if {
	scope := consent.field(k, "scope")
	count(scope) > 0
	every s in scope {
		s == "psychotherapy_notes"
	}
}

hard_deny contains "HIPAA-PSYNOTES" if {
	common.content_action
	common.classes == {"psychotherapy_notes"}
	not notes_authorized
}

# HIPAA-LE-512F: legal process touching HIPAA data always goes to the privacy officer.
hard_deny contains "HIPAA-LE-512F" if {
	common.content_action
	common.has_court_order
	some c in common.classes
	{"phi", "mental_health", "psychotherapy_notes"}[c]
}

obligations contains "NOTIFY_PRIVACY_OFFICER" if hard_deny["HIPAA-LE-512F"]

# HIPAA-BREAK-GLASS: emergency access is for Clinical requesters treating an emergency, with MFA.
effective_break_glass if {
	common.break_glass
	common.is_clinical
	common.purpose == "ETREAT"
	common.emergency
}

break_glass_applies if {
	common.break_glass
	common.action != "query_audit"
}

hard_deny contains "HIPAA-BREAK-GLASS" if {
	break_glass_applies
	not common.is_clinical
}

hard_deny contains code if {
	effective_break_glass
	not common.mfa
	some code in ["HIPAA-BREAK-GLASS", "CJIS-MFA"]
}

obligations contains "NOTIFY_PRIVACY_OFFICER" if {
	break_glass_applies
	not common.is_clinical
}

obligations contains "RECORD_BREAK_GLASS" if effective_break_glass

reasons contains "HIPAA-BREAK-GLASS" if effective_break_glass

# Patients reach the gateway only for accountings (164.524 is served by the source EHR).
hard_deny contains "HIPAA-PATIENT-ACCESS-524" if {
	common.content_action
	common.purpose == "PATRQT"
}

# Why a HIPAA class was removed.
failure_codes(c) := {"HIPAA-AUTH-508"} | consent.failure_codes(c) if hipaa_classes[c]

failure_codes("psychotherapy_notes") := {"HIPAA-PSYNOTES"} | consent.failure_codes("psychotherapy_notes")
