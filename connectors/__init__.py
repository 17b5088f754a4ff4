"""Connectors: external formats (FHIR R4, HL7 v2, police incidents) → the common Envelope.

Pure library: bytes in, objects out. No HTTP framework, no SQL (DESIGN.md 2-3). The parsers
arrive with the EHR-ingest issue; this package exists now so the dependency rules hold from
the first commit.
"""
