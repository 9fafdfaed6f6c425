"""The state database (SQLAlchemy; SQLite or PostgreSQL): `store` (the models and the main store:
subscriptions, chat settings, audit, outbox rows), `alerts` and `planning` (the stores of alert
rules and of goals, budgets, campaigns), `shared` (what several instances share: rate limits,
replay guard, the answer cache), `keys` (the canonical keys of rows that exist once), `migrate`
with `migrations/` (Alembic) and `transfer` (`opsbot state export/import`).

May import: `bot.config`, `bot.errors`, `metrics` values. Never handlers, adapters or a platform SDK."""
