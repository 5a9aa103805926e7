"""notifications: notification preferences, outbox, in-portal notifications

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 23:20:00
"""
from alembic import op
import sqlalchemy as sa

import vault.db

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('notification_choices',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('email', sa.Boolean(), nullable=False),
    sa.Column('sms', sa.Boolean(), nullable=False),
    sa.Column('updated_at', vault.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_notification_choices_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', 'event', name=op.f('pk_notification_choices'))
    )
    op.create_table('notifications',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('email_to', sa.String(length=254), nullable=True),
    sa.Column('event', sa.String(length=32), nullable=False),
    sa.Column('params_json', sa.Text(), nullable=False),
    sa.Column('locale', sa.String(length=8), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(), nullable=False),
    sa.Column('read_at', vault.db.UTCDateTime(), nullable=True),
    sa.Column('once_key', sa.String(length=120), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_notifications_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notifications')),
    sa.UniqueConstraint('once_key', name=op.f('uq_notifications_once_key')),
    sa.UniqueConstraint('public_id', name=op.f('uq_notifications_public_id'))
    )
    op.create_index('ix_notifications_account', 'notifications', ['account_id', 'created_at'], unique=False)
    op.create_table('notification_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('notification_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('state', sa.String(length=12), nullable=False),
    sa.Column('due_at', vault.db.UTCDateTime(), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('claim', sa.String(length=32), nullable=True),
    sa.Column('lease_until', vault.db.UTCDateTime(), nullable=True),
    sa.Column('sent_at', vault.db.UTCDateTime(), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.ForeignKeyConstraint(['notification_id'], ['notifications.id'], name=op.f('fk_notification_deliveries_notification_id_notifications'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_notification_deliveries')),
    sa.UniqueConstraint('notification_id', 'channel', name=op.f('uq_notification_deliveries_notification_id'))
    )
    op.create_index('ix_notification_deliveries_due', 'notification_deliveries', ['state', 'due_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_notification_deliveries_due', table_name='notification_deliveries')
    op.drop_table('notification_deliveries')
    op.drop_index('ix_notifications_account', table_name='notifications')
    op.drop_table('notifications')
    op.drop_table('notification_choices')
