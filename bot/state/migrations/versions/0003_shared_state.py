"""seen_events, button_tokens, rate_windows, kept_answers: what instances share (issue 16)

Slack event de-duplication, long button tokens, rate-limit windows and the kept answers of slow
commands move from one process's memory into the state database, so every instance sees them.
Only new tables: existing rows are untouched.

Revision ID: 0003_shared_state
Revises: 0002_unique_keys
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_shared_state"
down_revision: str | Sequence[str] | None = "0002_unique_keys"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# each table's timestamp, indexed: the nightly housekeeping deletes by it
_STAMPS = (("seen_events", "seen_at"), ("button_tokens", "created_at"), ("rate_windows", "updated_at"),
           ("kept_answers", "computed_at"))


def upgrade() -> None:
    op.create_table(
        "seen_events",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("seen_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "button_tokens",
        sa.Column("token", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("token"),
    )
    op.create_table(
        "rate_windows",
        sa.Column("key", sa.String(length=300), nullable=False),
        sa.Column("hits", sa.JSON(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    op.create_table(
        "kept_answers",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("version", sa.Text(), nullable=False),
        sa.Column("computed_at", sa.DateTime(), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    for table, stamp in _STAMPS:
        op.create_index(f"ix_{table}_{stamp}", table, [stamp], unique=False)


def downgrade() -> None:
    for table, stamp in reversed(_STAMPS):
        op.drop_index(f"ix_{table}_{stamp}", table_name=table)
        op.drop_table(table)
