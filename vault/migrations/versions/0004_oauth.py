"""oauth: clients, authorization codes, tokens (hashes only), consent-screen decisions

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 21:10:00
"""
from alembic import op
import sqlalchemy as sa

import vault.db

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('oauth_clients',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('client_secret_hash', sa.String(length=64), nullable=False),
    sa.Column('redirect_uris_json', sa.Text(), nullable=False),
    sa.Column('grant_types_json', sa.Text(), nullable=False),
    sa.Column('token_endpoint_auth_method', sa.String(length=32), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('secret_rotated_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['app_id'], ['vendor_apps.id'], name=op.f('fk_oauth_clients_app_id_vendor_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_clients')),
    sa.UniqueConstraint('app_id', name=op.f('uq_oauth_clients_app_id'))
    )
    op.create_table('oauth_authorization_codes',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('client_pk', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=False),
    sa.Column('redirect_uri', sa.Text(), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('code_challenge', sa.String(length=128), nullable=True),
    sa.Column('code_challenge_method', sa.String(length=8), nullable=True),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('used_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_oauth_authorization_codes_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['client_pk'], ['oauth_clients.id'], name=op.f('fk_oauth_authorization_codes_client_pk_oauth_clients'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_oauth_authorization_codes_grant_id_grants'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_authorization_codes')),
    sa.UniqueConstraint('code_hash', name=op.f('uq_oauth_authorization_codes_code_hash'))
    )
    with op.batch_alter_table('oauth_authorization_codes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_authorization_codes_account_id'), ['account_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_authorization_codes_grant_id'), ['grant_id'], unique=False)
        batch_op.create_index('ix_oauth_authorization_codes_expires', ['expires_at'], unique=False)

    op.create_table('oauth_tokens',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('access_token_hash', sa.String(length=64), nullable=False),
    sa.Column('refresh_token_hash', sa.String(length=64), nullable=True),
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('grant_id', sa.Integer(), nullable=True),
    sa.Column('account_id', sa.Integer(), nullable=True),
    sa.Column('code_id', sa.Integer(), nullable=True),
    sa.Column('family_id', sa.String(length=32), nullable=False),
    sa.Column('rotated_from_id', sa.Integer(), nullable=True),
    sa.Column('grant_type', sa.String(length=32), nullable=False),
    sa.Column('scope', sa.Text(), nullable=False),
    sa.Column('issued_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('refresh_expires_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('rotated_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_oauth_tokens_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['vendor_apps.id'], name=op.f('fk_oauth_tokens_app_id_vendor_apps'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['code_id'], ['oauth_authorization_codes.id'], name=op.f('fk_oauth_tokens_code_id_oauth_authorization_codes'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['grant_id'], ['grants.id'], name=op.f('fk_oauth_tokens_grant_id_grants'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['rotated_from_id'], ['oauth_tokens.id'], name=op.f('fk_oauth_tokens_rotated_from_id_oauth_tokens'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_tokens')),
    sa.UniqueConstraint('access_token_hash', name=op.f('uq_oauth_tokens_access_token_hash')),
    sa.UniqueConstraint('refresh_token_hash', name=op.f('uq_oauth_tokens_refresh_token_hash'))
    )
    with op.batch_alter_table('oauth_tokens', schema=None) as batch_op:
        batch_op.create_index('ix_oauth_tokens_app', ['app_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_oauth_tokens_code_id'), ['code_id'], unique=False)
        batch_op.create_index('ix_oauth_tokens_family', ['family_id'], unique=False)
        batch_op.create_index('ix_oauth_tokens_grant', ['grant_id'], unique=False)

    op.create_table('oauth_authorization_decisions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('outcome', sa.String(length=16), nullable=False),
    sa.Column('requested_json', sa.Text(), nullable=False),
    sa.Column('approved_json', sa.Text(), nullable=False),
    sa.Column('refused_json', sa.Text(), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_oauth_authorization_decisions_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['vendor_apps.id'], name=op.f('fk_oauth_authorization_decisions_app_id_vendor_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_oauth_authorization_decisions'))
    )
    with op.batch_alter_table('oauth_authorization_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_oauth_authorization_decisions_account_id'), ['account_id'], unique=False)
        batch_op.create_index('ix_oauth_authorization_decisions_app', ['app_id', 'created_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('oauth_authorization_decisions', schema=None) as batch_op:
        batch_op.drop_index('ix_oauth_authorization_decisions_app')
        batch_op.drop_index(batch_op.f('ix_oauth_authorization_decisions_account_id'))
    op.drop_table('oauth_authorization_decisions')
    with op.batch_alter_table('oauth_tokens', schema=None) as batch_op:
        batch_op.drop_index('ix_oauth_tokens_grant')
        batch_op.drop_index('ix_oauth_tokens_family')
        batch_op.drop_index(batch_op.f('ix_oauth_tokens_code_id'))
        batch_op.drop_index('ix_oauth_tokens_app')
    op.drop_table('oauth_tokens')
    with op.batch_alter_table('oauth_authorization_codes', schema=None) as batch_op:
        batch_op.drop_index('ix_oauth_authorization_codes_expires')
        batch_op.drop_index(batch_op.f('ix_oauth_authorization_codes_grant_id'))
        batch_op.drop_index(batch_op.f('ix_oauth_authorization_codes_account_id'))
    op.drop_table('oauth_authorization_codes')
    op.drop_table('oauth_clients')
