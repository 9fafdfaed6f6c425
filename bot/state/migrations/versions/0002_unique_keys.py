"""unique_keys: what must exist only once (issue 24's UniqueKey model)

Revision ID: 0002_unique_keys
Revises: 0001_baseline
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_unique_keys"
down_revision: str | Sequence[str] | None = "0001_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "unique_keys",
        sa.Column("key", sa.String(length=100), nullable=False),
        sa.Column("ref", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("unique_keys")
