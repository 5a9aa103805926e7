"""consent: vendor orgs and apps, grants, receipts

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23 19:45:15.195320
"""
from alembic import op
import sqlalchemy as sa

import vault.db

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('vendor_orgs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('website', sa.String(length=300), nullable=False),
    sa.Column('contact_email', sa.String(length=254), nullable=False),
    sa.Column('jurisdiction', sa.String(length=8), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vendor_orgs'))
    )
    op.create_table('vendor_apps',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.String(length=64), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=120), nullable=False),
    sa.Column('website', sa.String(length=300), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('purpose_category', sa.String(length=64), nullable=False),
    sa.Column('lawful_basis', sa.String(length=64), nullable=False),
    sa.Column('requested_scopes_json', sa.Text(), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('is_active', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['org_id'], ['vendor_orgs.id'], name=op.f('fk_vendor_apps_org_id_vendor_orgs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vendor_apps')),
    sa.UniqueConstraint('client_id', name=op.f('uq_vendor_apps_client_id'))
    )
    with op.batch_alter_table('vendor_apps', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vendor_apps_org_id'), ['org_id'], unique=False)

    op.create_table('vendor_members',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_vendor_members_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['org_id'], ['vendor_orgs.id'], name=op.f('fk_vendor_members_org_id_vendor_orgs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vendor_members')),
    sa.UniqueConstraint('org_id', 'account_id', name=op.f('uq_vendor_members_org_id'))
    )
    with op.batch_alter_table('vendor_members', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_vendor_members_account_id'), ['account_id'], unique=False)

    op.create_table('grants',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=40), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('subject', sa.String(length=64), nullable=False),
    sa.Column('scopes_json', sa.Text(), nullable=False),
    sa.Column('fields_json', sa.Text(), nullable=True),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('purpose_category', sa.String(length=64), nullable=False),
    sa.Column('lawful_basis', sa.String(length=64), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('term_days', sa.Integer(), nullable=True),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('granted_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_access_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_grants_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['vendor_apps.id'], name=op.f('fk_grants_app_id_vendor_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_grants')),
    sa.UniqueConstraint('account_id', 'app_id', name=op.f('uq_grants_account_id')),
    sa.UniqueConstraint('app_id', 'subject', name=op.f('uq_grants_app_id')),
    sa.UniqueConstraint('public_id', name=op.f('uq_grants_public_id'))
    )
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.create_index('ix_grants_app_status', ['app_id', 'status'], unique=False)
        batch_op.create_index('ix_grants_status_expires', ['status', 'expires_at'], unique=False)

    op.create_table('consent_receipts',
    sa.Column('id', sa.String(length=36), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=16), nullable=False),
    sa.Column('language', sa.String(length=8), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('facts_json', sa.Text(), nullable=False),
    sa.Column('kantara_jws', sa.Text(), nullable=False),
    sa.Column('dpv_jws', sa.Text(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_consent_receipts_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_consent_receipts_grant_id_grants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_consent_receipts'))
    )
    with op.batch_alter_table('consent_receipts', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_consent_receipts_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_consent_receipts_grant', ['grant_id', 'created_at'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('consent_receipts', schema=None) as batch_op:
        batch_op.drop_index('ix_consent_receipts_grant')
        batch_op.drop_index(batch_op.f('ix_consent_receipts_account_id'))

    op.drop_table('consent_receipts')
    with op.batch_alter_table('grants', schema=None) as batch_op:
        batch_op.drop_index('ix_grants_status_expires')
        batch_op.drop_index('ix_grants_app_status')

    op.drop_table('grants')
    with op.batch_alter_table('vendor_members', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vendor_members_account_id'))

    op.drop_table('vendor_members')
    with op.batch_alter_table('vendor_apps', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_vendor_apps_org_id'))

    op.drop_table('vendor_apps')
    op.drop_table('vendor_orgs')
