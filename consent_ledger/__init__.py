"""Consent ledger: each person's consents as versioned, append-only FHIR Consent (DESIGN.md 7, 11).

Arrives with the consent-ledger issue; this package exists now so the dependency rules hold.
"""
