"""SQL storage for the gateway's own tables (org registry, metadata) and migration plumbing."""
