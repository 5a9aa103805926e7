"""vendor_data: purchases, contacts, change feed

Purchases written back by vendors or added by the customer (sealed with the customer's data
key: only ids, app, status and row timestamps are plain), and the contacts apps report so a
customer's weekly cap can be counted.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 23:20:00
"""
from alembic import op
import sqlalchemy as sa

import vault.db

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('purchases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=True),
    sa.Column('order_id', sa.String(length=64), nullable=True),
    sa.Column('source', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', vault.db.UTCDateTime(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.Column('context', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_purchases_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['vendor_apps.id'], name=op.f('fk_purchases_app_id_vendor_apps'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_purchases')),
    sa.UniqueConstraint('app_id', 'account_id', 'order_id', name=op.f('uq_purchases_app_id')),
    sa.UniqueConstraint('public_id', name=op.f('uq_purchases_public_id'))
    )
    op.create_index('ix_purchases_account', 'purchases', ['account_id', 'id'], unique=False)
    op.create_table('vendor_contacts',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('channel', sa.String(length=8), nullable=False),
    sa.Column('at', vault.db.UTCDateTime(), nullable=False),
    sa.Column('recorded_at', vault.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_vendor_contacts_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['vendor_apps.id'], name=op.f('fk_vendor_contacts_app_id_vendor_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vendor_contacts'))
    )
    op.create_index('ix_vendor_contacts_window', 'vendor_contacts', ['account_id', 'app_id', 'at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_vendor_contacts_window', table_name='vendor_contacts')
    op.drop_table('vendor_contacts')
    op.drop_index('ix_purchases_account', table_name='purchases')
    op.drop_table('purchases')
