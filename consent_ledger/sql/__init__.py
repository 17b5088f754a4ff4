"""The SQL adapter of the consent ledger (SQLite and PostgreSQL through SQLAlchemy Core)."""
