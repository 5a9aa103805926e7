"""sealed login emails: addresses of accounts and invitations stored as a keyed hash and sealed

Before this revision ``accounts.email`` and ``vendor_invites.email`` held addresses in the clear,
so a database dump alone yielded every customer's login address (SECURITY.md 25). This revision
adds ``system_keys`` (instance-wide keys wrapped by the KEK), replaces each ``email`` column with
``email_lookup`` (HMAC-SHA256, unique on accounts) and ``email_sealed`` (AES-256-GCM), seals the
addresses already stored, and drops the plaintext columns (see vault/login_emails.py).

Sealing needs the keys, so an existing database with rows is upgraded by the application
(start-up or ``flask --app wsgi vault db upgrade``), which hands its key service to the
migration; an empty database needs none. Downgrading opens the addresses again, also with keys.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-04 15:00:00
"""
from alembic import context, op
import sqlalchemy as sa

import vault.db
from vault.keyops import system_key
from vault.login_emails import KEY_NAME, LoginEmails

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None

#: (table, what the sealed address is bound to, the column that names the row)
_TABLES = (("accounts", "account|", "public_id"), ("vendor_invites", "invite|", "token_hash"))


def _login_emails(conn, table: str, *, create: bool = True) -> LoginEmails | None:
    """The instance's LoginEmails, or None when ``table`` holds no row (nothing to convert)."""
    if conn.execute(sa.text(f"SELECT 1 FROM {table} LIMIT 1")).first() is None:
        return None
    keys = context.config.attributes.get("keys")
    if keys is None:
        raise RuntimeError(f"Revision 0014 converts the login addresses in {table} and needs the keyring: "
                           "run it through the application (`flask --app wsgi vault db upgrade`).")
    return LoginEmails(system_key(conn, keys, KEY_NAME, create=create))


def upgrade() -> None:
    op.create_table('system_keys',
    sa.Column('name', sa.String(length=40), nullable=False),
    sa.Column('kek_id', sa.String(length=64), nullable=False),
    sa.Column('wrapped', sa.LargeBinary(), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('rewrapped_at', vault.db.UTCDateTime(timezone=True), nullable=True),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_system_keys'))
    )
    conn = op.get_bind()
    for table, prefix, ref_column in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('email_lookup', sa.String(length=64), nullable=True))
            batch_op.add_column(sa.Column('email_sealed', sa.LargeBinary(), nullable=True))
            if table == "accounts":
                batch_op.drop_constraint(op.f('uq_accounts_email'), type_='unique')
        emails = _login_emails(conn, table)
        if emails is not None:
            rows = conn.execute(sa.text(f"SELECT id, {ref_column}, email FROM {table}")).all()
            for row_id, ref, address in rows:
                # The address is blanked in the same update: PostgreSQL's DROP COLUMN below does not
                # rewrite rows, so the live row version must not hold it (README: VACUUM FULL).
                conn.execute(sa.text(f"UPDATE {table} SET email_lookup = :lookup, email_sealed = :sealed, "
                                     "email = '' WHERE id = :id"),
                             {"id": row_id, "lookup": emails.lookup(address),
                              "sealed": emails.seal(prefix + ref, address)})
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table == "accounts":
                batch_op.create_unique_constraint(op.f('uq_accounts_email_lookup'), ['email_lookup'])
            batch_op.alter_column('email_lookup', existing_type=sa.String(length=64), nullable=False)
            batch_op.alter_column('email_sealed', existing_type=sa.LargeBinary(), nullable=False)
            batch_op.drop_column('email')


def downgrade() -> None:
    conn = op.get_bind()
    for table, prefix, ref_column in _TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column('email', sa.String(length=254), nullable=True))
        emails = _login_emails(conn, table, create=False)
        if emails is not None:
            rows = conn.execute(sa.text(f"SELECT id, {ref_column}, email_sealed FROM {table}")).all()
            for row_id, ref, sealed in rows:
                conn.execute(sa.text(f"UPDATE {table} SET email = :email WHERE id = :id"),
                             {"id": row_id, "email": emails.open(prefix + ref, sealed)})
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table == "accounts":
                batch_op.drop_constraint(op.f('uq_accounts_email_lookup'), type_='unique')
                batch_op.create_unique_constraint(op.f('uq_accounts_email'), ['email'])
            batch_op.alter_column('email', existing_type=sa.String(length=254), nullable=False)
            batch_op.drop_column('email_sealed')
            batch_op.drop_column('email_lookup')
    op.drop_table('system_keys')
