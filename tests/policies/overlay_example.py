"""An example state overlay used by the tests (and shown in README)."""

# A stricter state mental-health statute: mental-health records reach police only with an
# attested threat, and every mental-health disclosure is accounted.
STATE_MH = """\
package consent_gateway.overlay.example_state

import data.consent_gateway.common
import rego.v1

deny contains {
	"code": "STATE-EX-MH-1",
	"citation": "Example State Mental Health Confidentiality Act s. 1 (unverified)",
	"text": "Mental-health records reach law enforcement only under an attested imminent threat.",
} if {
	common.is_le
	common.classes.mental_health
	not common.imminent_threat
}

obligations contains "RECORD_ACCOUNTING" if common.classes.mental_health
"""
