"""FHIR R4 (JSON) → Envelopes: validation via fhir.resources R4B models."""
