"""webhooks: outbox, webhook deliveries, deletion confirmations

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 23:20:00
"""
from alembic import op
import sqlalchemy as sa

import vault.db

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('app_events',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=40), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('type', sa.String(length=40), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=True),
    sa.Column('chain', sa.String(length=64), nullable=True),
    sa.Column('data_json', sa.Text(), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('in_feed', sa.Boolean(), server_default=sa.true(), nullable=False),
    sa.Column('position', sa.BigInteger(), nullable=True),
    sa.ForeignKeyConstraint(['app_id'], ['vendor_apps.id'], name=op.f('fk_app_events_app_id_vendor_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_app_events')),
    sa.UniqueConstraint('app_id', 'position', name=op.f('uq_app_events_app_id')),
    sa.UniqueConstraint('public_id', name=op.f('uq_app_events_public_id'))
    )
    with op.batch_alter_table('app_events', schema=None) as batch_op:
        batch_op.create_index('ix_app_events_app_subject', ['app_id', 'subject'], unique=False)

    op.create_table('app_event_counters',
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('last_position', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['vendor_apps.id'], name=op.f('fk_app_event_counters_app_id_vendor_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', name=op.f('pk_app_event_counters'))
    )
    op.create_table('webhook_endpoints',
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=500), nullable=False),
    sa.Column('kek_id', sa.String(length=64), nullable=False),
    sa.Column('secret_sealed', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['vendor_apps.id'], name=op.f('fk_webhook_endpoints_app_id_vendor_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', name=op.f('pk_webhook_endpoints'))
    )
    op.create_table('webhook_deliveries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('next_attempt_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('claimed_until', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_attempt_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_status_code', sa.Integer(), nullable=True),
    sa.Column('last_error', sa.String(length=200), nullable=True),
    sa.Column('delivered_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['app_id'], ['vendor_apps.id'], name=op.f('fk_webhook_deliveries_app_id_vendor_apps'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['app_events.id'], name=op.f('fk_webhook_deliveries_event_id_app_events'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_webhook_deliveries'))
    )
    with op.batch_alter_table('webhook_deliveries', schema=None) as batch_op:
        batch_op.create_index('ix_webhook_deliveries_app', ['app_id', 'created_at'], unique=False)
        batch_op.create_index('ix_webhook_deliveries_due', ['state', 'next_attempt_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_webhook_deliveries_event_id'), ['event_id'], unique=False)

    op.create_table('deletion_confirmations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=40), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('event_id', sa.Integer(), nullable=True),
    sa.Column('deleted_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('note', sa.String(length=500), nullable=True),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['vendor_apps.id'], name=op.f('fk_deletion_confirmations_app_id_vendor_apps'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['event_id'], ['app_events.id'], name=op.f('fk_deletion_confirmations_event_id_app_events'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_deletion_confirmations')),
    sa.UniqueConstraint('public_id', name=op.f('uq_deletion_confirmations_public_id'))
    )
    with op.batch_alter_table('deletion_confirmations', schema=None) as batch_op:
        batch_op.create_index('ix_deletion_confirmations_app_subject', ['app_id', 'subject', 'created_at'], unique=False)


def downgrade() -> None:
    op.drop_table('deletion_confirmations')
    op.drop_table('webhook_deliveries')
    op.drop_table('webhook_endpoints')
    op.drop_table('app_event_counters')
    op.drop_table('app_events')
