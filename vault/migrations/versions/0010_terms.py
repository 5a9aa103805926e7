"""terms: proffered personal terms (IEEE 7012 spirit), app acceptances, the agreement on each grant

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 23:20:00
"""
from alembic import op
import sqlalchemy as sa

import vault.db

revision = '0010'
down_revision = '0009'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('proffered_terms',
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('term_id', sa.String(length=64), nullable=False),
    sa.Column('chosen_at', vault.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_proffered_terms_account_id_accounts'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('account_id', name=op.f('pk_proffered_terms'))
    )
    op.create_table('terms_acceptances',
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('term_id', sa.String(length=64), nullable=False),
    sa.Column('accepted_at', vault.db.UTCDateTime(), nullable=False),
    sa.ForeignKeyConstraint(['app_id'], ['vendor_apps.id'], name=op.f('fk_terms_acceptances_app_id_vendor_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', 'term_id', name=op.f('pk_terms_acceptances'))
    )
    with op.batch_alter_table('grants') as batch:
        batch.add_column(sa.Column('terms_json', sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('grants') as batch:
        batch.drop_column('terms_json')
    op.drop_table('terms_acceptances')
    op.drop_table('proffered_terms')
