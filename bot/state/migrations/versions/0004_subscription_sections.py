"""subscription_sections: a digest's optional sections (issue 19's `with stock`)

A table of its own rather than a column of subscriptions: subscriptions' rows stay exactly as they
were (an upgrade adds a table, never touches a row), and a subscription without sections has no
row here.

Revision ID: 0004_subscription_sections
Revises: 0003_shared_state
Create Date: 2026-12-10
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_subscription_sections"
down_revision: str | Sequence[str] | None = "0003_shared_state"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "subscription_sections",
        sa.Column("subscription_id", sa.Integer(), nullable=False),
        sa.Column("sections", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["subscription_id"], ["subscriptions.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("subscription_id"),
    )


def downgrade() -> None:
    op.drop_table("subscription_sections")
