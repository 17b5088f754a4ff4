"""Policies: Rego rules (HIPAA, 42 CFR Part 2, CJIS) and the engine adapters that evaluate them.

Today it holds the shared vocabulary (`policies.vocabulary`); the engine arrives with the
policy-engine issue.
"""
