"""One module per schema change of the state database, oldest first (Alembic skips this file)."""
