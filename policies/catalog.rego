# The rule book: every code a decision may name, with its citation and one plain sentence
# (regulations.md). `enforced_by` says where each rule lives: the engine decides per request;
# a few are checked at ingest, at start-up, by the audit log, or by people.
package consent_gateway.catalog

import rego.v1

rules := {
	"HIPAA-TPO": {
		"citation": "45 CFR 164.506(a), (c)(1)-(2)",
		"text": "A health care provider may receive PHI for treatment, payment or operations without authorization.",
		"family": "hipaa", "enforced_by": "engine",
	},
	"HIPAA-MIN-NEC": {
		"citation": "45 CFR 164.502(b), 164.514(d)",
		"text": "Only the minimum necessary may be disclosed; law enforcement receives operational flags only.",
		"family": "hipaa", "enforced_by": "engine",
	},
	"HIPAA-AUTH-508": {
		"citation": "45 CFR 164.508(a)(1), (b), (c)",
		"text": "A disclosure not otherwise permitted needs a valid, unrevoked, unexpired authorization naming the recipient and purpose.",
		"family": "hipaa", "enforced_by": "engine",
	},
	"HIPAA-PSYNOTES": {
		"citation": "45 CFR 164.508(a)(2), 164.508(b)(3)(ii)",
		"text": "Psychotherapy notes are disclosed only under an authorization for psychotherapy notes alone, and never to law enforcement.",
		"family": "hipaa", "enforced_by": "engine",
	},
	"HIPAA-LE-512F": {
		"citation": "45 CFR 164.512(f)",
		"text": "Legal process for health information is not automated: the request goes to the privacy officer for manual review.",
		"family": "hipaa", "enforced_by": "engine",
	},
	"HIPAA-THREAT-512J": {
		"citation": "45 CFR 164.512(j)(1)(i), (j)(4)",
		"text": "A disclosure is permitted to someone able to prevent or lessen a serious and imminent threat attested by a covered entity.",
		"family": "hipaa", "enforced_by": "engine",
	},
	"HIPAA-ACCOUNTING": {
		"citation": "45 CFR 164.528",
		"text": "Disclosures outside treatment, payment, operations and authorizations are recorded for the individual's accounting of disclosures.",
		"family": "hipaa", "enforced_by": "engine",
	},
	"HIPAA-PATIENT-ACCESS-524": {
		"citation": "45 CFR 164.524",
		"text": "Patient access to the designated record set is served by the source EHR; the gateway serves patients only accountings.",
		"family": "hipaa", "enforced_by": "engine",
	},
	"HIPAA-BREAK-GLASS": {
		"citation": "45 CFR 164.312(a)(2)(ii), 164.312(b)",
		"text": "Emergency access is for clinicians treating an emergency, with multi-factor authentication, and is reviewed afterwards.",
		"family": "hipaa", "enforced_by": "engine",
	},
	"HIPAA-RETENTION": {
		"citation": "45 CFR 164.316(b)(2)(i), 164.530(j)(2)",
		"text": "Audit entries that serve as accountings are kept at least six years.",
		"family": "hipaa", "enforced_by": "audit_log",
	},
	"P2-SCOPE": {
		"citation": "42 CFR 2.11, 2.12(a), 2.12(c)",
		"text": "Records from a federally assisted substance use disorder program are protected by Part 2, including the fact of being a patient.",
		"family": "part2", "enforced_by": "ingest",
	},
	"P2-CONSENT-231": {
		"citation": "42 CFR 2.31(a)",
		"text": "Part 2 records are disclosed only under a complete written Part 2 consent naming the recipient and purpose.",
		"family": "part2", "enforced_by": "engine",
	},
	"P2-TPO-233": {
		"citation": "42 CFR 2.33(a)-(b)",
		"text": "Under a treatment, payment and operations consent a health care recipient may use Part 2 records as HIPAA permits.",
		"family": "part2", "enforced_by": "engine",
	},
	"P2-NOTICE-232": {
		"citation": "42 CFR 2.32(a)",
		"text": "Every disclosure of Part 2 records made with consent carries the Part 2 notice prohibiting redisclosure.",
		"family": "part2", "enforced_by": "engine",
	},
	"P2-REDISCLOSURE": {
		"citation": "42 CFR 2.12(d), 2.32, 2.33",
		"text": "Nothing derived from Part 2 records reaches a recipient the consent does not name, not even by inference.",
		"family": "part2", "enforced_by": "engine",
	},
	"P2-NO-USE-AGAINST-PATIENT-212D": {
		"citation": "42 U.S.C. 290dd-2(c); 42 CFR 2.12(d)(1), 2.13(a)",
		"text": "Part 2 records may not be used to investigate or prosecute the patient without a 2.65 order or a separate consent for that use.",
		"family": "part2", "enforced_by": "engine",
	},
	"P2-EMERGENCY-251": {
		"citation": "42 CFR 2.51",
		"text": "Part 2 records may be disclosed to medical personnel to meet a bona fide medical emergency, and the disclosure is documented.",
		"family": "part2", "enforced_by": "engine",
	},
	"P2-AUDIT-EVAL-253": {
		"citation": "42 CFR 2.53",
		"text": "External audits and evaluations of Part 2 records need a written no-redisclosure agreement; they are handled outside the gateway.",
		"family": "part2", "enforced_by": "manual",
	},
	"P2-COURT-ORDER-265": {
		"citation": "42 CFR 2.61-2.67",
		"text": "Only an issued 2.65 court order authorizes Part 2 records for a criminal investigation; a subpoena alone never does.",
		"family": "part2", "enforced_by": "engine",
	},
	"P2-CJ-REFERRAL-235": {
		"citation": "42 CFR 2.35",
		"text": "Disclosures to a criminal justice referral source are reviewed manually, not automated.",
		"family": "part2", "enforced_by": "manual",
	},
	"P2-ACCOUNTING": {
		"citation": "42 CFR 2.24, 2.25",
		"text": "Disclosures of Part 2 records made with consent are recorded for the patient's list of disclosures.",
		"family": "part2", "enforced_by": "engine",
	},
	"CJIS-ADDENDUM": {
		"citation": "CJIS Security Policy 5.1.1.4, 5.1.1.5",
		"text": "A requester outside a criminal justice agency needs a CJIS Security Addendum or Management Control Agreement on file.",
		"family": "cjis", "enforced_by": "engine",
	},
	"CJIS-TRAINING": {
		"citation": "CJIS Security Policy 5.2",
		"text": "CJIS security training must be current (annual).",
		"family": "cjis", "enforced_by": "engine",
	},
	"CJIS-SCREENING": {
		"citation": "CJIS Security Policy 5.12.1",
		"text": "A fingerprint-based background check must be on file before access to CJI.",
		"family": "cjis", "enforced_by": "engine",
	},
	"CJIS-MFA": {
		"citation": "CJIS Security Policy 5.6.2.2",
		"text": "Access to CJI (and break-glass access) requires multi-factor authentication.",
		"family": "cjis", "enforced_by": "engine",
	},
	"CJIS-AUDIT": {
		"citation": "CJIS Security Policy 5.4",
		"text": "Every access to CJI is written to the audit log.",
		"family": "cjis", "enforced_by": "engine",
	},
	"CJIS-ENCRYPTION": {
		"citation": "CJIS Security Policy 5.10.1.2",
		"text": "CJI is encrypted in transit and at rest; a deployment invariant checked at start-up, not per request.",
		"family": "cjis", "enforced_by": "startup",
	},
	"CJIS-ACCESS": {
		"citation": "CJIS Security Policy 5.5; 28 CFR 20.33",
		"text": "CJI is released only for the administration of criminal justice (coordination of care or law enforcement) to screened, trained personnel.",
		"family": "cjis", "enforced_by": "engine",
	},
	"CONSENT-MISSING": {
		"citation": "45 CFR 164.508(a)(1); 42 CFR 2.31",
		"text": "No consent is on file for this person.",
		"family": "consent", "enforced_by": "engine",
	},
	"CONSENT-REVOKED": {
		"citation": "45 CFR 164.508(b)(5); 42 CFR 2.31(a)(6)",
		"text": "The consent that would apply has been revoked.",
		"family": "consent", "enforced_by": "engine",
	},
	"CONSENT-EXPIRED": {
		"citation": "45 CFR 164.508(b)(2)(i); 42 CFR 2.31(a)(7)",
		"text": "The consent that would apply has expired.",
		"family": "consent", "enforced_by": "engine",
	},
	"CONSENT-NOT-EXECUTED": {
		"citation": "45 CFR 164.508(b)(2)(ii); 42 CFR 2.31(a)(8)",
		"text": "The consent that would apply is a draft that has not been signed.",
		"family": "consent", "enforced_by": "engine",
	},
	"CONSENT-RECIPIENT": {
		"citation": "45 CFR 164.508(c)(1)(iii); 42 CFR 2.31(a)(4)",
		"text": "No consent names this organisation or its class of recipients.",
		"family": "consent", "enforced_by": "engine",
	},
	"CONSENT-PURPOSE": {
		"citation": "45 CFR 164.508(c)(1)(iv); 42 CFR 2.31(a)(5)",
		"text": "The consent naming this recipient does not cover this purpose.",
		"family": "consent", "enforced_by": "engine",
	},
	"CONSENT-SCOPE": {
		"citation": "45 CFR 164.508(c)(1)(i); 42 CFR 2.31(a)(3)",
		"text": "The consent does not cover this class of information, so it is withheld.",
		"family": "consent", "enforced_by": "engine",
	},
	"GW-LE-FLAGS-ONLY": {
		"citation": "45 CFR 164.502(b), 164.514(d); 42 CFR 2.12(d)",
		"text": "Law enforcement receives only permitted operational flags, never records.",
		"family": "gateway", "enforced_by": "engine",
	},
	"AUDIT-ACCESS": {
		"citation": "45 CFR 164.308(a)(1)(ii)(D), 164.312(b); 42 CFR 2.53",
		"text": "Only compliance officers, for oversight or a patient's accounting request, may query the audit log.",
		"family": "gateway", "enforced_by": "engine",
	},
	"PUSH-INGEST": {
		"citation": "45 CFR 164.502(e); 42 CFR 2.12(c)(4)",
		"text": "A health care organisation may push its own records under its business associate or QSO agreement; police push only their own CJI.",
		"family": "gateway", "enforced_by": "engine",
	},
	"AUDIT-ALL": {
		"citation": "45 CFR 164.312(b); CJIS Security Policy 5.4",
		"text": "Every decision, permit or deny, is written to the tamper-evident log before any data is released.",
		"family": "gateway", "enforced_by": "audit_log",
	},
	"STATE-OVERLAY": {
		"citation": "45 CFR 160.203(b); 42 CFR 2.20",
		"text": "A stricter state law, configured as an overlay, adds a denial or an obligation.",
		"family": "gateway", "enforced_by": "engine",
	},
	"CONSENT-MANAGE": {
		"citation": "45 CFR 164.508(b)(5), 164.530(j); 42 CFR 2.31",
		"text": "Consents are recorded and revoked by clinicians and interface accounts of the organisations that obtain them.",
		"family": "gateway", "enforced_by": "engine",
	},
	"DEFAULT-DENY": {
		"citation": "45 CFR 164.502(a)",
		"text": "Nothing permits this request, so it is denied.",
		"family": "gateway", "enforced_by": "engine",
	},
}

# Obligations the engine may return; a permit is valid only if the gateway fulfils each one.
obligations := {
	"REDACT_PART2", "REDACT_PSYNOTES", "REDACT_MENTAL_HEALTH", "REDACT_PHI", "ATTACH_P2_NOTICE",
	"RECORD_ACCOUNTING", "DOCUMENT_P2_EMERGENCY", "RECORD_BREAK_GLASS", "MINIMUM_NECESSARY",
	"MINIMUM_NECESSARY_FLAGS_ONLY", "LIMIT_TO_ORDER_SCOPE", "CJIS_AUDIT_LOG", "TAG_SECURITY_LABELS",
	"NOTIFY_PRIVACY_OFFICER",
}

reason(code) := {"code": code, "citation": rules[code].citation, "text": rules[code].text}
