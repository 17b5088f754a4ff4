# The decision (regulations.md 6): validate, apply hard denies, find a basis per class, then
# permit with the union of obligations or deny. Default deny; deny overrides permit.
#
# Overlays (STATE-OVERLAY) live in packages under consent_gateway.overlay.<jurisdiction> and
# are read only through `deny` (reason objects) and `obligations`: they can add denials and
# obligations, never a permit. The loader refuses overlay modules in any other package.
package consent_gateway.decision

import data.consent_gateway.cjis
import data.consent_gateway.common
import data.consent_gateway.gateway
import data.consent_gateway.hipaa
import data.consent_gateway.part2
import rego.v1

# --- 1. validate ---------------------------------------------------------------------------------

actions := {"push_record", "pull_flags", "lookup_record", "query_audit", "manage_consent"}

purposes := {"TREAT", "ETREAT", "HPAYMT", "HOPERAT", "COC", "LAW", "PUBHLTH", "HOVERSIGHT", "PATRQT"}

org_types := {"hospital", "clinic", "part2_program", "police", "ems", "co_responder_team", "compliance"}

roles := {
	"clinician", "officer", "dispatcher", "coresponder_clinician",
	"compliance_officer", "admin", "system",
}

class_names := {"phi", "mental_health", "psychotherapy_notes", "part2", "cji"}

statuses := {"active", "revoked", "expired", "draft"}

order_types := {"2.65", "2.64", "judicial", "subpoena_only"}

problems contains "action" if not actions[common.action]

problems contains "purpose_of_use" if not purposes[common.purpose]

problems contains "requester" if not is_object(input.requester)

problems contains "requester.org_type" if not org_types[common.org_type]

problems contains "requester.role" if not roles[common.role]

problems contains "requester.org_id" if not is_string(common.org_id)

problems contains "resource.data_classes" if not is_array(common.resource.data_classes)

problems contains "resource.data_classes" if {
	some c in common.resource.data_classes
	not class_names[c]
}

problems contains "consents" if {
	cs := object.get(input, "consents", [])
	not is_array(cs)
}

problems contains "consents" if {
	some k in common.consents
	not valid_consent(k)
}

problems contains "context.court_order" if {
	common.has_court_order
	not valid_order(common.court_order)
}

valid_consent(k) if {
	is_object(k)
	statuses[object.get(k, "status", "")]
}

valid_order(o) if {
	is_object(o)
	order_types[object.get(o, "type", "")]
}

valid if count(problems) == 0

# --- 2. hard denies ------------------------------------------------------------------------------

hard_denies := ((hipaa.hard_deny | cjis.hard_deny) | gateway.hard_deny) if valid else := set()

overlay_denials := [r | some name; some r in data.consent_gateway.overlay[name].deny]

overlay_obligations := {o | some name; some o in data.consent_gateway.overlay[name].obligations}

# --- 3. a basis per class --------------------------------------------------------------------------

bases := (hipaa.basis | part2.basis) | cjis.basis if valid else := set()

best_rank(c) := min({b.rank | some b in bases; b.class == c})

chosen := {c: b | some b in bases; c := b.class; b.rank == best_rank(c)}

granted := {c | chosen[c]}

removed := common.classes - granted if {
	valid
	common.content_action
} else := set()

redaction := {
	"phi": "REDACT_PHI",
	"mental_health": "REDACT_MENTAL_HEALTH",
	"psychotherapy_notes": "REDACT_PSYNOTES",
	"part2": "REDACT_PART2",
}

failure_codes(c) := hipaa.failure_codes(c)

failure_codes("part2") := part2.failure_codes("part2")

failure_codes("cji") := {"CJIS-ACCESS"}

failures := {c: failure_codes(c) | some c in removed}

request_bases := gateway.request_basis if {
	valid
	not common.content_action
} else := set()

# --- 4. the decision -------------------------------------------------------------------------------

has_basis if {
	common.content_action
	count(granted) > 0
}

has_basis if count(request_bases) > 0

permitted if {
	valid
	count(hard_denies) == 0
	count(overlay_denials) == 0
	has_basis
}

decision := "permit" if permitted else := "deny"

reason_codes contains "DEFAULT-DENY" if not valid

reason_codes contains "DEFAULT-DENY" if {
	valid
	not has_basis
	common.content_action
}

# A push, consent change or audit query refused by its own rule names that rule alone.
reason_codes contains "DEFAULT-DENY" if {
	valid
	not has_basis
	not common.content_action
	count(hard_denies) == 0
}

reason_codes contains code if some code in hard_denies

reason_codes contains code if some code in request_bases

reason_codes contains code if {
	some b in chosen
	some code in array.concat([b.code], b.also)
}

reason_codes contains code if {
	some codes in failures
	some code in codes
}

reason_codes contains code if {
	valid
	some code in ((hipaa.reasons | cjis.reasons) | gateway.reasons)
}

reason_codes contains "STATE-OVERLAY" if count(overlay_denials) + count(overlay_obligations) > 0

obligation_set contains o if {
	some b in chosen
	some o in b.obligations
}

obligation_set contains redaction[c] if some c in removed

obligation_set contains o if {
	valid
	some o in ((hipaa.obligations | cjis.obligations) | gateway.obligations)
}

obligation_set contains o if some o in overlay_obligations

# Codes only: the adapters add each code's citation and text from policies/catalog.json, so
# the per-request evaluation does not rebuild the rule book. Overlay reasons carry their own.
overlay_reasons := [overlay_reason(r) | some r in overlay_denials]

overlay_reason(r) := {"code": r.code, "citation": r.citation, "text": r.text} if {
	is_string(r.code)
	is_string(r.citation)
	is_string(r.text)
} else := {"code": "STATE-OVERLAY"}

# Which rules fired, for `?explain=full`: every applicable basis (used or not), every hard
# deny, every removal, and the overlays that spoke.
fired := array.concat(
	array.concat(
		[{"rule": b.code, "class": b.class, "effect": effect(b)} | some b in bases],
		[{"rule": code, "effect": "deny"} | some code in hard_denies],
	),
	array.concat(
		[{"rule": code, "class": c, "effect": "remove"} | some c in removed; some code in failures[c]],
		[{"rule": "STATE-OVERLAY", "overlay": name, "effect": "deny"} |
			some name
			count(object.get(data.consent_gateway.overlay[name], "deny", [])) > 0
		],
	),
)

effect(b) := "grant" if chosen[b.class] == b else := "applicable"

result := {
	"decision": decision,
	"obligations": sort(obligation_set),
	"reason_codes": sort(reason_codes),
	"overlay_reasons": overlay_reasons,
}

explained := object.union(result, {"fired": fired, "problems": sort(problems)})
