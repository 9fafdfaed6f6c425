"""Alembic's environment for the state database: run by bot/state/migrate.py, never by the `alembic` CLI.

The connection comes from `config.attributes["connection"]` (online: bot/state/migrate.py holds the
migration lock on it) or the URL in `sqlalchemy.url` (offline, `opsbot migrate --sql`).
"""

from __future__ import annotations

from alembic import context

import bot.state.planning  # noqa: F401  (its models join Base.metadata)
from bot.state.migrate import VERSION_TABLE, include_object
from bot.state.store import Base

config = context.config
# SQLite cannot ALTER most things: batch mode copies the table instead, so every later revision
# can change a column the same way on both backends
OPTIONS = {"target_metadata": Base.metadata, "include_object": include_object, "render_as_batch": True,
           "compare_type": True, "version_table": VERSION_TABLE}


def run_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


def run_online() -> None:
    connection = config.attributes["connection"]
    context.configure(connection=connection, **OPTIONS)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_offline()
else:
    run_online()
