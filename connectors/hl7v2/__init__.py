"""HL7 v2 (ER7, versions 2.3-2.8): MLLP framing, parsing, envelopes and acknowledgements."""
