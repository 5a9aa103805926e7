"""token purge index: dead tokens are found through an index, not a scan of every token

The hourly purge (vendor_api/housekeeping.py) deletes tokens whose refresh token (else access
token) expired more than a day ago. Without an index on that instant it read the whole
``oauth_tokens`` table each round to find a batch; at scale that is millions of rows an hour
per process. ``coalesce(refresh_expires_at, expires_at)`` is the instant a row stops being
usable (vendor_api.models.USABLE_UNTIL), and the purge asks for it in exactly that form.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 15:30:00
"""
from alembic import op
import sqlalchemy as sa

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_oauth_tokens_usable_until', 'oauth_tokens',
                    [sa.text('coalesce(refresh_expires_at, expires_at)')], unique=False)


def downgrade() -> None:
    op.drop_index('ix_oauth_tokens_usable_until', table_name='oauth_tokens')
