"""Audit: an append-only RFC 6962 Merkle log with signed checkpoints (DESIGN.md 10).

- `merkle`: tree hashing, compact ranges, inclusion and consistency proofs (pure).
- `record`: audit records as RFC 8785 (JCS) leaf bytes; strict parsing (pure).
- `checkpoint`: C2SP signed-note checkpoints with Ed25519 (pure).
- `bundle`: the export directory format; `verify`: the offline verifier of an export.
"""
