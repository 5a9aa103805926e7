"""cases: service cases, their messages, service targets per app

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 23:30:00
"""
from alembic import op
import sqlalchemy as sa

import vault.db

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('service_targets',
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('first_response_hours', sa.Integer(), nullable=False),
    sa.Column('resolution_hours', sa.Integer(), nullable=False),
    sa.Column('escalation_email', sa.String(length=254), nullable=True),
    sa.ForeignKeyConstraint(['app_id'], ['vendor_apps.id'], name=op.f('fk_service_targets_app_id_vendor_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('app_id', name=op.f('pk_service_targets'))
    )
    op.create_table('case_counters',
    sa.Column('year', sa.Integer(), autoincrement=False, nullable=False),
    sa.Column('last', sa.Integer(), nullable=False),
    sa.PrimaryKeyConstraint('year', name=op.f('pk_case_counters'))
    )
    op.create_table('service_cases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('reference', sa.String(length=24), nullable=False),
    sa.Column('account_id', sa.Integer(), nullable=False),
    sa.Column('app_id', sa.Integer(), nullable=False),
    sa.Column('category', sa.String(length=16), nullable=False),
    sa.Column('priority', sa.String(length=8), nullable=False),
    sa.Column('status', sa.String(length=24), nullable=False),
    sa.Column('opened_at', vault.db.UTCDateTime(), nullable=False),
    sa.Column('updated_at', vault.db.UTCDateTime(), nullable=False),
    sa.Column('due_first_response_at', vault.db.UTCDateTime(), nullable=False),
    sa.Column('due_resolution_at', vault.db.UTCDateTime(), nullable=False),
    sa.Column('first_response_at', vault.db.UTCDateTime(), nullable=True),
    sa.Column('resolved_at', vault.db.UTCDateTime(), nullable=True),
    sa.Column('closed_at', vault.db.UTCDateTime(), nullable=True),
    sa.Column('escalations_json', sa.Text(), nullable=False),
    sa.Column('rating', sa.Integer(), nullable=True),
    sa.Column('rating_comment', sa.LargeBinary(), nullable=True),
    sa.ForeignKeyConstraint(['account_id'], ['accounts.id'], name=op.f('fk_service_cases_account_id_accounts'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['app_id'], ['vendor_apps.id'], name=op.f('fk_service_cases_app_id_vendor_apps'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_service_cases')),
    sa.UniqueConstraint('reference', name=op.f('uq_service_cases_reference'))
    )
    op.create_index('ix_service_cases_account', 'service_cases', ['account_id', 'opened_at'], unique=False)
    op.create_index('ix_service_cases_app_status', 'service_cases', ['app_id', 'status'], unique=False)
    op.create_index('ix_service_cases_open_due', 'service_cases', ['status', 'due_resolution_at'], unique=False)
    op.create_table('case_messages',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=32), nullable=False),
    sa.Column('case_id', sa.Integer(), nullable=False),
    sa.Column('author', sa.String(length=16), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(), nullable=False),
    sa.Column('body', sa.LargeBinary(), nullable=False),
    sa.ForeignKeyConstraint(['case_id'], ['service_cases.id'], name=op.f('fk_case_messages_case_id_service_cases'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_case_messages')),
    sa.UniqueConstraint('public_id', name=op.f('uq_case_messages_public_id'))
    )
    op.create_index('ix_case_messages_case', 'case_messages', ['case_id', 'id'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_case_messages_case', table_name='case_messages')
    op.drop_table('case_messages')
    op.drop_index('ix_service_cases_open_due', table_name='service_cases')
    op.drop_index('ix_service_cases_app_status', table_name='service_cases')
    op.drop_index('ix_service_cases_account', table_name='service_cases')
    op.drop_table('service_cases')
    op.drop_table('case_counters')
    op.drop_table('service_targets')
