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
    pass


def downgrade() -> None:
    pass
