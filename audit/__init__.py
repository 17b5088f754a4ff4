"""Audit: an append-only RFC 6962 Merkle log with signed checkpoints (DESIGN.md 10).

Arrives with the audit-log issue; this package exists now so the dependency rules hold.
"""
