"""console: vendor console (member invitations, initial access tokens for RFC 7591 registration)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 23:20:00
"""
from alembic import op
import sqlalchemy as sa

import vault.db

revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('vendor_invites',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('email', sa.String(length=254), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('invited_by', sa.Integer(), nullable=True),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('accepted_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['invited_by'], ['accounts.id'], name=op.f('fk_vendor_invites_invited_by_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['org_id'], ['vendor_orgs.id'], name=op.f('fk_vendor_invites_org_id_vendor_orgs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_vendor_invites')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_vendor_invites_token_hash'))
    )
    with op.batch_alter_table('vendor_invites', schema=None) as batch_op:
        batch_op.create_index('ix_vendor_invites_org', ['org_id', 'created_at'], unique=False)

    op.create_table('oauth_initial_access_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('org_id', sa.Integer(), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('label', sa.String(length=80), nullable=False),
    sa.Column('created_by', sa.Integer(), nullable=True),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('max_uses', sa.Integer(), nullable=False),
    sa.Column('uses', sa.Integer(), nullable=False),
    sa.Column('last_used_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by'], ['accounts.id'], name=op.f('fk_oauth_initial_access_tokens_created_by_accounts'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['org_id'], ['vendor_orgs.id'], name=op.f('fk_oauth_initial_access_tokens_org_id_vendor_orgs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_initial_access_tokens')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_oauth_initial_access_tokens_token_hash'))
    )
    with op.batch_alter_table('oauth_initial_access_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_oauth_initial_access_tokens_org', ['org_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('oauth_initial_access_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_oauth_initial_access_tokens_org')
    op.drop_table('oauth_initial_access_tokens')
    with op.batch_alter_table('vendor_invites', schema=None) as batch_op:
        batch_op.drop_index('ix_vendor_invites_org')
    op.drop_table('vendor_invites')
