"""ledger append function: on PostgreSQL an append is one statement (one round trip)

An append bumps the chain's head, hashes the entry over the previous hash and inserts it, then
moves the head: three statements that depended on each other's results, so two round trips
plus the transaction's BEGIN/COMMIT. The function does the same server-side, so a vendor read
can append its entry as a single statement that commits itself (consent/ledger.py,
vendor_api/context.py). The hash it computes is the one ``consent.ledger.entry_hash`` defines;
``vault ledger verify`` re-checks every entry in Python, and the ledger tests run against it.
SQLite runs appends in-process and needs nothing.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-04 07:30:00
"""
from alembic import op

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

# canonical = p_before || seq || p_after (the JSON with the seq still to be filled in), and
# entry_hash = sha256(prev \n chain \n seq \n type \n actor \n actor_role \n vendor_app \n at \n || canonical)
FUNCTION = r"""
CREATE OR REPLACE FUNCTION vv_ledger_append(p_chain text, p_type text, p_actor text, p_actor_role text,
    p_vendor_app text, p_at text, p_created_at timestamptz, p_before bytea, p_after bytea)
RETURNS TABLE (new_id bigint, new_seq integer, new_prev_hash text, new_hash text)
LANGUAGE plpgsql AS $fn$
DECLARE
  v_seq integer; v_prev text; v_canonical bytea; v_hash text; v_id bigint;
BEGIN
  -- Lock the chain's head (creating it on a chain's first entry), then write it once, at the end:
  -- one new row version per append, not two, on the hottest row of a busy customer.
  SELECT seq, head_hash INTO v_seq, v_prev FROM ledger_heads WHERE chain = p_chain FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO ledger_heads (chain, seq, head_hash) VALUES (p_chain, 0, repeat('0', 64))
    ON CONFLICT (chain) DO NOTHING;
    SELECT seq, head_hash INTO v_seq, v_prev FROM ledger_heads WHERE chain = p_chain FOR UPDATE;
  END IF;
  v_seq := v_seq + 1;
  v_canonical := p_before || convert_to(v_seq::text, 'UTF8') || p_after;
  v_hash := encode(sha256(convert_to(concat_ws(E'\n', v_prev, p_chain, v_seq::text, p_type, p_actor,
                                               p_actor_role, coalesce(p_vendor_app, ''), p_at, ''), 'UTF8')
                          || v_canonical), 'hex');
  INSERT INTO ledger_entries (chain, seq, prev_hash, entry_hash, canonical, type, actor, actor_role,
                              vendor_app, created_at)
  VALUES (p_chain, v_seq, v_prev, v_hash, v_canonical, p_type, p_actor, p_actor_role, p_vendor_app,
          p_created_at)
  RETURNING id INTO v_id;
  UPDATE ledger_heads SET seq = v_seq, head_hash = v_hash WHERE chain = p_chain;
  RETURN QUERY SELECT v_id, v_seq, v_prev, v_hash;
END
$fn$
"""


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(FUNCTION)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS vv_ledger_append(text, text, text, text, text, text, timestamptz, "
                   "bytea, bytea)")
