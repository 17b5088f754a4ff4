# 42 CFR Part 2 (regulations.md 2): bases for part2 data. Part 2 follows Part 2 even where
# HIPAA would permit: no treatment basis without consent, no threat exception, and never
# against the patient without a 2.65 order or a consent for exactly that purpose.
package consent_gateway.part2

import data.consent_gateway.common
import data.consent_gateway.consent
import rego.v1

requested if common.classes.part2

tpo_purposes := {"TREAT", "ETREAT", "COC", "HPAYMT", "HOPERAT"}

# P2-EMERGENCY-251: medical personnel in a bona fide medical emergency.
emergency_basis if {
	requested
	common.content_action
	common.is_medical
	common.emergency
	{"ETREAT", "TREAT"}[common.purpose]
}

basis contains {
	"class": "part2", "code": "P2-EMERGENCY-251", "rank": 10,
	"obligations": ["DOCUMENT_P2_EMERGENCY", "MINIMUM_NECESSARY"], "also": [],
} if emergency_basis

# P2-COURT-ORDER-265: an issued 2.65 order, for a criminal investigation (purpose LAW).
order_265 if {
	order := common.court_order
	is_object(order)
	order.type == "2.65"
	order.issued == true
	common.purpose == "LAW"
}

basis contains {
	"class": "part2", "code": "P2-COURT-ORDER-265", "rank": 20,
	"obligations": ["LIMIT_TO_ORDER_SCOPE", "RECORD_ACCOUNTING"], "also": ["P2-ACCOUNTING"],
} if {
	requested
	common.content_action
	order_265
}

# P2-CONSENT-231: a complete Part 2 consent that applies; for LAW it must be a consent for
# exactly that use (P2-NO-USE-AGAINST-PATIENT-212D).
consent_applies(k) if {
	object.get(k, "part2_elements_complete", false) == true
	not against_patient_blocked(k)
}

against_patient_blocked(k) if {
	common.purpose == "LAW"
	consent.field(k, "purposes") != ["LAW"]
}

consents_used := [k | some k in consent.applying("part2"); consent_applies(k)]

basis contains {
	"class": "part2", "code": "P2-CONSENT-231", "rank": 50,
	"obligations": ["ATTACH_P2_NOTICE", "RECORD_ACCOUNTING"], "also": consent_also,
} if {
	requested
	common.content_action
	not common.is_admin
	count(consents_used) > 0
}

consent_also := ["P2-NOTICE-232", "P2-ACCOUNTING", "P2-TPO-233"] if {
	not common.is_le
	some k in consents_used
	every p in consent.field(k, "purposes") {
		tpo_purposes[p]
	}
} else := ["P2-NOTICE-232", "P2-ACCOUNTING"]

# Why part2 was removed: always P2-CONSENT-231 and the consent code, plus what else was tried.
failure_codes("part2") := ({"P2-CONSENT-231", "P2-REDISCLOSURE"} | consent.failure_codes("part2")) | tried_and_failed

tried_and_failed contains "P2-NO-USE-AGAINST-PATIENT-212D" if {
	common.purpose == "LAW"
	not order_265
}

tried_and_failed contains "P2-COURT-ORDER-265" if {
	common.has_court_order
	not order_265
}

tried_and_failed contains "P2-EMERGENCY-251" if {
	common.emergency
	not emergency_basis
}
