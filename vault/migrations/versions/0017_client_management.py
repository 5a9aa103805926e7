"""client management (RFC 7592): registration access tokens, retired apps

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-04 21:00:00
"""
from alembic import op
import sqlalchemy as sa

import vault.db

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('registration_token_hash', sa.String(length=64), nullable=True))
    with op.batch_alter_table('vendor_apps', schema=None) as batch_op:
        batch_op.add_column(sa.Column('retired_at', vault.db.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('vendor_apps', schema=None) as batch_op:
        batch_op.drop_column('retired_at')
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.drop_column('registration_token_hash')
