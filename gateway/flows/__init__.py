"""Use cases with no HTTP: shared by the API, the MLLP listener and the CLI."""
