"""ledger: hash-chained entries, chain heads, signed checkpoints; append-only triggers

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23 19:40:00

The triggers refuse UPDATE, DELETE (and on PostgreSQL TRUNCATE) of entries and checkpoints, so
no code path, ORM slip or SQL console session can rewrite history; ``ledger_heads`` stays
updatable because appends move it. They stop mistakes and a role without DDL rights: the table
owner can still disable them, which is why ``consent.ledger.verify`` exists (SECURITY.md 26).
Run the application as a role that does not own these tables.

SQLite gets the same guard (RAISE(ABORT)). A later batch ("move and copy") migration of these
tables on SQLite would drop the triggers: recreate them there.
"""
from alembic import op
import sqlalchemy as sa

import vault.db

revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

#: Code-point order on PostgreSQL whatever the database locale (see consent.ledger._CHAIN_TYPE).
CHAIN = sa.String(length=64).with_variant(sa.String(length=64, collation='C'), 'postgresql')
APPEND_ONLY = ("ledger_entries", "ledger_checkpoints")

PG_FUNCTION = """
CREATE FUNCTION ledger_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'The ledger is append-only: % on % is refused.', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'Ledger entries and checkpoints are never updated or deleted.';
END
$$
"""


def _create_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        op.execute(PG_FUNCTION)
        for table in APPEND_ONLY:
            op.execute(f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                       "FOR EACH ROW EXECUTE FUNCTION ledger_refuse_change()")
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                       "FOR EACH STATEMENT EXECUTE FUNCTION ledger_refuse_change()")
    elif dialect == "sqlite":
        for table in APPEND_ONLY:
            for event in ("UPDATE", "DELETE"):
                op.execute(f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                           f"BEGIN SELECT RAISE(ABORT, 'The ledger is append-only: {event} on {table} "
                           "is refused.'); END")


def _drop_triggers() -> None:
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        for table in APPEND_ONLY:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS ledger_refuse_change()")
    elif dialect == "sqlite":
        for table in APPEND_ONLY:
            for event in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}")


def upgrade() -> None:
    op.create_table('ledger_entries',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), autoincrement=True, nullable=False),
    sa.Column('chain', CHAIN, nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('prev_hash', sa.String(length=64), nullable=False),
    sa.Column('entry_hash', sa.String(length=64), nullable=False),
    sa.Column('canonical', sa.LargeBinary(), nullable=False),
    sa.Column('type', sa.String(length=32), nullable=False),
    sa.Column('actor', sa.String(length=80), nullable=False),
    sa.Column('actor_role', sa.String(length=16), nullable=False),
    sa.Column('vendor_app', sa.String(length=80), nullable=True),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entries')),
    sa.UniqueConstraint('chain', 'seq', name=op.f('uq_ledger_entries_chain'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index('ix_ledger_entries_created', ['created_at'], unique=False)
        batch_op.create_index('ix_ledger_entries_vendor', ['vendor_app', 'created_at'], unique=False)
        batch_op.create_index('ix_ledger_entries_type', ['type', 'created_at'], unique=False)

    op.create_table('ledger_heads',
    sa.Column('chain', CHAIN, nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('head_hash', sa.String(length=64), nullable=False),
    sa.PrimaryKeyConstraint('chain', name=op.f('pk_ledger_heads'))
    )
    op.create_table('ledger_checkpoints',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('created_at', vault.db.UTCDateTime(timezone=True), nullable=False),
    sa.Column('kid', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.LargeBinary(), nullable=False),
    sa.Column('payload', sa.LargeBinary(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_checkpoints'))
    )
    _create_triggers()


def downgrade() -> None:
    _drop_triggers()
    op.drop_table('ledger_checkpoints')
    op.drop_table('ledger_heads')
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_entries_type')
        batch_op.drop_index('ix_ledger_entries_vendor')
        batch_op.drop_index('ix_ledger_entries_created')
    op.drop_table('ledger_entries')
