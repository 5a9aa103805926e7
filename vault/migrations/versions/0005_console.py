"""console: vendor console (org/app fields the console edits)

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
    pass


def downgrade() -> None:
    pass
