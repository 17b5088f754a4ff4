# FBI CJIS Security Policy (regulations.md 3): whenever cji is requested, every check must
# pass or the whole request is denied (no redaction).
package consent_gateway.cjis

import data.consent_gateway.common
import rego.v1

requested if common.classes.cji

criminal_justice_agency if common.org_type == "police"

hard_deny contains "CJIS-ADDENDUM" if {
	requested
	not criminal_justice_agency
	not common.is_true(common.cjis, "security_addendum")
}

hard_deny contains "CJIS-TRAINING" if {
	requested
	not common.is_true(common.cjis, "training_current")
}

hard_deny contains "CJIS-SCREENING" if {
	requested
	not common.is_true(common.cjis, "background_check")
}

hard_deny contains "CJIS-MFA" if {
	requested
	not common.mfa
}

# CJI only for the administration of criminal justice (COC or LAW), except oversight of the
# log by a compliance officer (regulations.md 6a.3).
hard_deny contains "CJIS-ACCESS" if {
	requested
	not purpose_allowed
}

purpose_allowed if {"COC", "LAW"}[common.purpose]

purpose_allowed if {
	common.action == "query_audit"
	common.role == "compliance_officer"
	{"HOVERSIGHT", "PATRQT"}[common.purpose]
}

# Failed attempts are logged too (5.4).
obligations contains "CJIS_AUDIT_LOG" if requested

cleared if {
	requested
	count(hard_deny) == 0
}

reasons contains code if {
	cleared
	some code in ["CJIS-ACCESS", "CJIS-AUDIT"]
}

basis contains {
	"class": "cji", "code": "CJIS-ACCESS", "rank": 10,
	"obligations": ["CJIS_AUDIT_LOG"], "also": ["CJIS-AUDIT"],
} if {
	common.content_action
	cleared
}
