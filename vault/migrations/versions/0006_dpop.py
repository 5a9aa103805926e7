"""dpop: DPoP sender-constrained tokens (jkt binding, proof jti replay cache)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 23:20:00
"""
from alembic import op
import sqlalchemy as sa

import vault.db

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('dpop_proofs_seen',
    sa.Column('jti_hash', sa.String(length=64), nullable=False),
    sa.Column('expires_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('jti_hash', name=op.f('pk_dpop_proofs_seen'))
    )
    with op.batch_alter_table('dpop_proofs_seen', schema=None) as batch_op:
        batch_op.create_index('ix_dpop_proofs_seen_expires', ['expires_at'], unique=False)
    with op.batch_alter_table('oauth_tokens', schema=None) as batch_op:
        batch_op.add_column(sa.Column('dpop_jkt', sa.String(length=64), nullable=True))
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.add_column(sa.Column('require_dpop', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('oauth_clients', schema=None) as batch_op:
        batch_op.drop_column('require_dpop')
    with op.batch_alter_table('oauth_tokens', schema=None) as batch_op:
        batch_op.drop_column('dpop_jkt')
    with op.batch_alter_table('dpop_proofs_seen', schema=None) as batch_op:
        batch_op.drop_index('ix_dpop_proofs_seen_expires')
    op.drop_table('dpop_proofs_seen')
