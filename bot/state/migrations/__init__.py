"""Alembic migrations of the state database, shipped inside the package (see bot/state/migrate.py).

`env.py` and `versions/` are what Alembic reads; there is no alembic.ini: bot/state/migrate.py builds
the configuration in code, so an installed wheel migrates as a checkout does.
"""
