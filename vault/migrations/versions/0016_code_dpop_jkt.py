"""code dpop_jkt: an authorization code may be bound to the client's DPoP key (RFC 9449 §10)

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 16:00:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('oauth_authorization_codes', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dpop_jkt', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('oauth_authorization_codes', schema=None) as batch_op:
        batch_op.drop_column('dpop_jkt')
