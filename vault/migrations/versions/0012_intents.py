"""intents: intents (personal requests for proposals) and offers

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-23 23:30:00
"""
from alembic import op
import sqlalchemy as sa

import vault.db

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('intents',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=40), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('budget_min', sa.String(length=20), nullable=True),
    sa.Column('budget_max', sa.String(length=20), nullable=True),
    sa.Column('currency', sa.String(length=3), nullable=True),
    sa.Column('needed_by', sa.Date(), nullable=True),
    sa.Column('country', sa.String(length=2), nullable=True),
    sa.Column('visibility', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(), nullable=False),
    sa.Column('expires_at', vault.db.UTCDateTime(), nullable=False),
    sa.Column('closed_at', vault.db.UTCDateTime(), nullable=True),
    sa.Column('accepted_offer_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_intents_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intents')),
    sa.UniqueConstraint('public_id', name=op.f('uq_intents_public_id'))
    )
    op.create_index('ix_intents_account', 'intents', ['account_id', 'created_at'], unique=False)
    op.create_index('ix_intents_open', 'intents', ['status', 'category', 'expires_at'], unique=False)
    op.create_table('intent_audience',
    sa.Column('intent_id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['intent_id'], ['intents.id'], name=op.f('fk_intent_audience_intent_id_intents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['vendor_apps.id'], name=op.f('fk_intent_audience_app_id_vendor_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('intent_id', 'app_id', name=op.f('pk_intent_audience'))
    )
    op.create_index(op.f('ix_intent_audience_app_id'), 'intent_audience', ['app_id'], unique=False)
    op.create_table('intent_views',
    sa.Column('intent_id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('first_seen_at', vault.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['intent_id'], ['intents.id'], name=op.f('fk_intent_views_intent_id_intents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['vendor_apps.id'], name=op.f('fk_intent_views_app_id_vendor_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('intent_id', 'app_id', name=op.f('pk_intent_views'))
    )
    op.create_table('app_intent_categories',
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['vendor_apps.id'], name=op.f('fk_app_intent_categories_app_id_vendor_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'category', name=op.f('pk_app_intent_categories'))
    )
    op.create_table('intent_offers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=40), nullable=False),
    sa.Column('intent_id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('price', sa.String(length=20), nullable=False),
    sa.Column('currency', sa.String(length=3), nullable=False),
    sa.Column('valid_until', vault.db.UTCDateTime(), nullable=False),
    sa.Column('content', sa.LargeBinary(), nullable=False),
    sa.Column('scopes_json', sa.Text(), nullable=False),
    sa.Column('redirect_uri', sa.Text(), nullable=True),
    sa.Column('code_challenge', sa.String(length=128), nullable=True),
    sa.Column('state', sa.String(length=200), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['intent_id'], ['intents.id'], name=op.f('fk_intent_offers_intent_id_intents'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['vendor_apps.id'], name=op.f('fk_intent_offers_app_id_vendor_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_intent_offers')),
    sa.UniqueConstraint('public_id', name=op.f('uq_intent_offers_public_id'))
    )
    op.create_index('ix_intent_offers_intent_app', 'intent_offers', ['intent_id', 'app_id'], unique=False)
    op.create_index(op.f('ix_intent_offers_app_id'), 'intent_offers', ['app_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_intent_offers_app_id'), table_name='intent_offers')
    op.drop_index('ix_intent_offers_intent_app', table_name='intent_offers')
    op.drop_table('intent_offers')
    op.drop_table('app_intent_categories')
    op.drop_table('intent_views')
    op.drop_index(op.f('ix_intent_audience_app_id'), table_name='intent_audience')
    op.drop_table('intent_audience')
    op.drop_index('ix_intents_open', table_name='intents')
    op.drop_index('ix_intents_account', table_name='intents')
    op.drop_table('intents')
