"""Baseline: the state database as opsbot made it with `create_all` before migrations (commit 35d8e8e).

Every table and index is created only if it is missing (IF NOT EXISTS), so the same revision
builds an empty database and stamps one made before migrations without touching its rows; its
SQL (`opsbot migrate --sql`) is safe to apply to either. Later revisions are ordinary ones.

Revision ID: 0001_baseline
Revises:
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001_baseline"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table('alert_rules',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('chat', sa.String(length=200), nullable=False),
        sa.Column('kpi', sa.String(length=40), nullable=False),
        sa.Column('op', sa.String(length=2), nullable=False),
        sa.Column('threshold', sa.Double(), nullable=False),
        sa.Column('by', sa.String(length=64), nullable=True),
        sa.Column('created_by', sa.String(length=200), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        if_not_exists=True,
    )
    op.create_index(op.f('ix_alert_rules_chat'), 'alert_rules', ['chat'], unique=False, if_not_exists=True)
    op.create_table('alerts',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('chat', sa.String(length=200), nullable=False),
        sa.Column('series', sa.String(length=300), nullable=False),
        sa.Column('source', sa.String(length=20), nullable=False),
        sa.Column('day', sa.String(length=10), nullable=False),
        sa.Column('last_day', sa.String(length=10), nullable=False),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('severity', sa.String(length=10), nullable=False),
        sa.Column('score', sa.Double(), nullable=False),
        sa.Column('details', sa.JSON(), nullable=False),
        sa.Column('opened_at', sa.DateTime(), nullable=False),
        sa.Column('notified_at', sa.DateTime(), nullable=True),
        sa.Column('notified_score', sa.Double(), nullable=False),
        sa.Column('acked_by', sa.String(length=200), nullable=True),
        sa.Column('acked_at', sa.DateTime(), nullable=True),
        sa.Column('assignee', sa.String(length=200), nullable=True),
        sa.Column('snoozed_until', sa.DateTime(), nullable=True),
        sa.Column('snoozed_by', sa.String(length=200), nullable=True),
        sa.Column('closed_at', sa.DateTime(), nullable=True),
        sa.Column('note', sa.String(length=200), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        if_not_exists=True,
    )
    op.create_index(op.f('ix_alerts_chat'), 'alerts', ['chat'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_alerts_series'), 'alerts', ['series'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_alerts_status'), 'alerts', ['status'], unique=False, if_not_exists=True)
    op.create_table('audit_log',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('at', sa.DateTime(), nullable=False),
        sa.Column('chat', sa.String(length=200), nullable=False),
        sa.Column('user', sa.String(length=200), nullable=False),
        sa.Column('command', sa.String(length=500), nullable=False),
        sa.Column('outcome', sa.String(length=40), nullable=False),
        sa.Column('duration_ms', sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        if_not_exists=True,
    )
    op.create_index(op.f('ix_audit_log_at'), 'audit_log', ['at'], unique=False, if_not_exists=True)
    op.create_table('blobs',
        sa.Column('sha256', sa.String(length=64), nullable=False),
        sa.Column('data', sa.LargeBinary(), nullable=False),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('sha256'),
        if_not_exists=True,
    )
    op.create_table('campaigns',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('name', sa.String(length=100), nullable=False),
        sa.Column('start', sa.Date(), nullable=False),
        sa.Column('end', sa.Date(), nullable=False),
        sa.Column('channels', sa.JSON(), nullable=False),
        sa.Column('spend', sa.Float(), nullable=True),
        sa.Column('chat', sa.String(length=200), nullable=True),
        sa.Column('created_by', sa.String(length=200), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        if_not_exists=True,
    )
    op.create_index(op.f('ix_campaigns_name'), 'campaigns', ['name'], unique=False, if_not_exists=True)
    op.create_table('chat_settings',
        sa.Column('chat', sa.String(length=200), nullable=False),
        sa.Column('language', sa.String(length=8), nullable=True),
        sa.Column('updated_by', sa.String(length=200), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('chat'),
        if_not_exists=True,
    )
    op.create_table('goals',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('metric', sa.String(length=40), nullable=False),
        sa.Column('kind', sa.String(length=10), nullable=False),
        sa.Column('target', sa.Float(), nullable=False),
        sa.Column('start', sa.Date(), nullable=False),
        sa.Column('end', sa.Date(), nullable=False),
        sa.Column('label', sa.String(length=60), nullable=False),
        sa.Column('chat', sa.String(length=200), nullable=True),
        sa.Column('created_by', sa.String(length=200), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('profile', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        if_not_exists=True,
    )
    op.create_index(op.f('ix_goals_metric'), 'goals', ['metric'], unique=False, if_not_exists=True)
    op.create_table('leases',
        sa.Column('name', sa.String(length=50), nullable=False),
        sa.Column('holder', sa.String(length=100), nullable=False),
        sa.Column('expires_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('name'),
        if_not_exists=True,
    )
    op.create_table('outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=300), nullable=False),
        sa.Column('chat', sa.String(length=200), nullable=False),
        sa.Column('payload', sa.JSON(), nullable=False),
        sa.Column('fingerprint', sa.String(length=64), nullable=True),
        sa.Column('status', sa.String(length=10), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(), nullable=False),
        sa.Column('claimed_by', sa.String(length=100), nullable=True),
        sa.Column('claimed_at', sa.DateTime(), nullable=True),
        sa.Column('message_id', sa.String(length=200), nullable=True),
        sa.Column('sent_chat', sa.String(length=200), nullable=True),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('sent_at', sa.DateTime(), nullable=True),
        sa.Column('edited_at', sa.DateTime(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
        if_not_exists=True,
    )
    op.create_index(op.f('ix_outbox_chat'), 'outbox', ['chat'], unique=False, if_not_exists=True)
    op.create_index(op.f('ix_outbox_status'), 'outbox', ['status'], unique=False, if_not_exists=True)
    op.create_table('subscriptions',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('chat', sa.String(length=200), nullable=False),
        sa.Column('kind', sa.String(length=20), nullable=False),
        sa.Column('cadence', sa.String(length=10), nullable=False),
        sa.Column('weekday', sa.String(length=3), nullable=True),
        sa.Column('at', sa.String(length=5), nullable=False),
        sa.Column('timezone', sa.String(length=64), nullable=False),
        sa.Column('metrics', sa.JSON(), nullable=False),
        sa.Column('by', sa.String(length=64), nullable=True),
        sa.Column('wait_until', sa.String(length=5), nullable=True),
        sa.Column('paused', sa.Boolean(), nullable=False),
        sa.Column('paused_reason', sa.String(length=200), nullable=True),
        sa.Column('source', sa.String(length=10), nullable=False),
        sa.Column('created_by', sa.String(length=200), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        if_not_exists=True,
    )
    op.create_index(op.f('ix_subscriptions_chat'), 'subscriptions', ['chat'], unique=False, if_not_exists=True)
    op.create_table('goal_targets',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('goal_id', sa.Integer(), nullable=False),
        sa.Column('day', sa.Date(), nullable=False),
        sa.Column('units', sa.BigInteger(), nullable=False),
        sa.Column('scale', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['goal_id'], ['goals.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('goal_id', 'day'),
        if_not_exists=True,
    )
    op.create_index(op.f('ix_goal_targets_goal_id'), 'goal_targets', ['goal_id'], unique=False, if_not_exists=True)
    op.create_table('spend_plans',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('start', sa.Date(), nullable=False),
        sa.Column('end', sa.Date(), nullable=False),
        sa.Column('channel', sa.String(length=100), nullable=False),
        sa.Column('amount', sa.Float(), nullable=False),
        sa.Column('objective', sa.String(length=40), nullable=False),
        sa.Column('expected', sa.Float(), nullable=True),
        sa.Column('goal_id', sa.Integer(), nullable=True),
        sa.Column('created_by', sa.String(length=200), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.ForeignKeyConstraint(['goal_id'], ['goals.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
        if_not_exists=True,
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table('spend_plans')
    op.drop_index(op.f('ix_goal_targets_goal_id'), table_name='goal_targets')
    op.drop_table('goal_targets')
    op.drop_index(op.f('ix_subscriptions_chat'), table_name='subscriptions')
    op.drop_table('subscriptions')
    op.drop_index(op.f('ix_outbox_status'), table_name='outbox')
    op.drop_index(op.f('ix_outbox_chat'), table_name='outbox')
    op.drop_table('outbox')
    op.drop_table('leases')
    op.drop_index(op.f('ix_goals_metric'), table_name='goals')
    op.drop_table('goals')
    op.drop_table('chat_settings')
    op.drop_index(op.f('ix_campaigns_name'), table_name='campaigns')
    op.drop_table('campaigns')
    op.drop_table('blobs')
    op.drop_index(op.f('ix_audit_log_at'), table_name='audit_log')
    op.drop_table('audit_log')
    op.drop_index(op.f('ix_alerts_status'), table_name='alerts')
    op.drop_index(op.f('ix_alerts_series'), table_name='alerts')
    op.drop_index(op.f('ix_alerts_chat'), table_name='alerts')
    op.drop_table('alerts')
    op.drop_index(op.f('ix_alert_rules_chat'), table_name='alert_rules')
    op.drop_table('alert_rules')
