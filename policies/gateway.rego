# Gateway rules (regulations.md 5): who may push, manage consents and query the audit log,
# and what law enforcement may pull. Actions that are not content releases are decided here
# as a whole (`request_basis`) rather than class by class.
package consent_gateway.gateway

import data.consent_gateway.common
import data.consent_gateway.part2
import rego.v1

# --- GW-LE-FLAGS-ONLY -------------------------------------------------------------------------

hard_deny contains "GW-LE-FLAGS-ONLY" if {
	common.action == "lookup_record"
	common.is_le
	not part2.order_265
}

obligations contains "MINIMUM_NECESSARY_FLAGS_ONLY" if {
	common.action == "pull_flags"
	common.is_le
}

reasons contains code if {
	common.action == "pull_flags"
	common.is_le
	some code in ["GW-LE-FLAGS-ONLY", "HIPAA-MIN-NEC"]
}

# --- AUDIT-ACCESS (separation of duties) -------------------------------------------------------

audit_allowed if {
	common.action == "query_audit"
	common.role == "compliance_officer"
	{"HOVERSIGHT", "PATRQT"}[common.purpose]
}

hard_deny contains "AUDIT-ACCESS" if {
	common.action == "query_audit"
	not audit_allowed
}

request_basis contains "AUDIT-ACCESS" if audit_allowed

reasons contains "HIPAA-ACCOUNTING" if {
	audit_allowed
	common.purpose == "PATRQT"
}

# --- PUSH-INGEST -------------------------------------------------------------------------------

health_push_org_types := {"hospital", "clinic", "part2_program", "ems"}

push_roles := {"system", "admin", "clinician", "coresponder_clinician"}

health_classes := {"phi", "mental_health", "psychotherapy_notes", "part2"}

pushing if common.action == "push_record"

push_problem if {
	pushing
	object.get(common.resource, "source_org", "") != common.org_id
}

push_problem if {
	pushing
	not push_roles[common.role]
}

push_problem if {
	pushing
	count(common.classes) == 0
}

# Police push only their own CJI; health orgs push health records, never CJI.
push_problem if {
	pushing
	common.org_type == "police"
	some c in common.classes
	health_classes[c]
}

push_problem if {
	pushing
	common.org_type != "police"
	not health_push_org_types[common.org_type]
}

push_problem if {
	pushing
	common.org_type != "police"
	common.classes.cji
}

hard_deny contains "PUSH-INGEST" if push_problem

request_basis contains "PUSH-INGEST" if {
	pushing
	not push_problem
}

obligations contains "TAG_SECURITY_LABELS" if {
	pushing
	not push_problem
}

# --- CONSENT-MANAGE ----------------------------------------------------------------------------

manage_org_types := {"hospital", "clinic", "part2_program", "co_responder_team"}

manage_roles := {"clinician", "coresponder_clinician", "system", "admin"}

manage_allowed if {
	common.action == "manage_consent"
	manage_org_types[common.org_type]
	manage_roles[common.role]
}

hard_deny contains "CONSENT-MANAGE" if {
	common.action == "manage_consent"
	not manage_allowed
}

request_basis contains "CONSENT-MANAGE" if manage_allowed
