"""``flask --app wsgi vault ...``: operator commands. Each is one transaction, committed at the end."""
from __future__ import annotations

import json
import math
import secrets
import sys

import click
from flask import current_app
from flask.cli import with_appcontext

from vault.db import unit_of_work as db_unit_of_work
from consent import ledger
from vault import accounts, keyops, migrate
from vault.errors import ValidationFailed
from vendor_api.cli import demo_step as vendor_demo_step


@click.group("vault")
def vault_cli():
    """VRM Vault operations."""


def unit_of_work():
    """A session that commits when the command succeeds and rolls back on any error."""
    return db_unit_of_work(current_app.extensions["vrm"].sessions)


def fail(message: str, code: int = 1):
    click.echo(message, err=True)
    sys.exit(code)


# --- database -----------------------------------------------------------------------------

@vault_cli.group("db")
def db_cli():
    """Schema migrations (Alembic)."""


@db_cli.command("upgrade")
@with_appcontext
def db_upgrade():
    inst = current_app.extensions["vrm"]
    migrate.upgrade(inst.engine, keys=inst.keys)
    click.echo("The database is at the newest schema.")


@db_cli.command("revision")
@click.option("-m", "--message", required=True)
@with_appcontext
def db_revision(message):
    """Autogenerate a migration from the models (every package is loaded by the app)."""
    from alembic import command
    with current_app.extensions["vrm"].engine.connect() as conn:
        command.revision(migrate.alembic_config(conn), message=message, autogenerate=True)


# --- keys ---------------------------------------------------------------------------------

@vault_cli.group("keys")
def keys_cli():
    """Key-encryption keys and customers' data keys."""


@keys_cli.command("rotate")
@click.option("--rewrap-only", is_flag=True, help="Do not add a new key; re-wrap under the active one.")
@with_appcontext
def keys_rotate(rewrap_only):
    """Add a new key-encryption key and re-wrap every data key and system key under it (no data
    re-encrypted)."""
    inst = current_app.extensions["vrm"]
    if not rewrap_only:
        kid = inst.keys.provider.rotate()
        click.echo(f"New active key-encryption key: {kid}")
    with unit_of_work() as db:
        count = keyops.rewrap_all(db, inst.keys)
        ledger.record_key_rotation(db, inst, count)
    click.echo(f"Re-wrapped {count} wrapped key(s) under {inst.keys.active_kek_id}.")


@keys_cli.command("check")
@with_appcontext
def keys_check():
    """Prove that every data key and system key unwraps; exits 1 naming each one that does not."""
    inst = current_app.extensions["vrm"]
    with unit_of_work() as db:
        result = keyops.check_data_keys(db, inst.keys)
    for label, reason in result.failures:
        click.echo(f"{label}: {reason}", err=True)
    if not result.ok:
        fail(f"{len(result.failures)} of {result.checked} wrapped key(s) do not unwrap.")
    click.echo(f"All {result.checked} wrapped key(s) unwrap.")


# --- accounts -----------------------------------------------------------------------------

@vault_cli.group("officer")
def officer_cli():
    """Privacy officer accounts (created only here, never by sign-up)."""


@officer_cli.command("create")
@click.argument("email")
@click.option("--password", envvar="VAULT_OFFICER_PASSWORD", help="Default: prompt (hidden).")
@with_appcontext
def officer_create(email, password):
    if not password:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    with unit_of_work() as db:
        try:
            accounts.create_officer(db, email, password)
        except ValidationFailed as exc:
            fail("; ".join(f"{k}: {' '.join(v)}" for k, v in exc.errors.items()))
    click.echo(f"Privacy officer {accounts.normalise_email(email)} created.")


# --- demo ---------------------------------------------------------------------------------

DEMO_CUSTOMER = "demo.customer@example.com"
DEMO_OFFICER = "demo.officer@example.com"
DEMO_PROFILE = {
    "given_name": "Amira", "family_name": "Haddad", "display_name": "Amira H.",
    "emails": [{"address": "amira.haddad@example.org", "primary": True, "verified": True}],
    "phones": [{"number": "+447700900123", "label": "mobile"}],
    "address_shipping": {"line1": "12 Rosemary Lane", "city": "Leeds", "postal_code": "LS1 4AB",
                         "country": "GB"},
    "address_billing": {"line1": "12 Rosemary Lane", "city": "Leeds", "postal_code": "LS1 4AB",
                        "country": "GB"},
    "birth_date": "1988-04-17", "language": "en",
    "notes": "Private note: only I can see this.",
    "channels": ["email", "sms"], "preferred_channel": "email",
    "quiet_hours": {"start": "21:00", "end": "08:00", "timezone": "Europe/London"},
    "max_contacts_per_week": 3, "interests": ["books", "travel", "food_drink"],
    "sizes": {"clothing": "M", "shoe": {"system": "EU", "value": 39}},
}


def demo_password() -> str:
    return "demo-" + secrets.token_urlsafe(12)


def ensure_account(db, email: str, role: str, password: str):
    """Reuse the account if it exists (with a fresh password), else create it."""
    from vault.passwords import hash_password
    account = accounts.find_by_email(db, email)
    if account is None:
        return accounts.sign_up(db, email, password, role=role)
    account.password_hash = hash_password(password)
    return account


@vault_cli.command("demo")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object instead of prose.")
@with_appcontext
def demo(as_json):
    """Create (or reuse) a demo customer with a filled vault and a privacy officer."""
    from vault import records
    inst = current_app.extensions["vrm"]
    out = {}
    with unit_of_work() as db:
        customer_pw, officer_pw = demo_password(), demo_password()
        customer = ensure_account(db, DEMO_CUSTOMER, "customer", customer_pw)
        records.write_fields(db, inst.keys, customer, DEMO_PROFILE)
        ensure_account(db, DEMO_OFFICER, "officer", officer_pw)
        out.update(customer_email=DEMO_CUSTOMER, customer_password=customer_pw,
                   officer_email=DEMO_OFFICER, officer_password=officer_pw)
        out.update(vendor_demo_step(db, inst, customer))
    if as_json:
        click.echo(json.dumps(out, indent=2))
        return
    click.echo("Demo accounts are ready. Start the portal (flask --app wsgi run) and log in at /login:")
    click.echo(f"  customer: {out['customer_email']} / {out['customer_password']}")
    click.echo(f"  privacy officer: {out['officer_email']} / {out['officer_password']}")
    for key, value in out.items():
        if key not in ("customer_email", "customer_password", "officer_email", "officer_password"):
            click.echo(f"  {key}: {value}")


# --- ledger -------------------------------------------------------------------------------

@vault_cli.group("ledger")
def ledger_cli():
    """The tamper-evident ledger: verify the chains and checkpoints, sign a checkpoint."""


@ledger_cli.command("verify")
@click.option("--customer", "public_id", default=None, help="Verify only this customer's chain (public id).")
@click.option("--walk", is_flag=True, help="Hash entry by entry in this process even on PostgreSQL "
                                           "(slower; the database then only hands over the bytes).")
@with_appcontext
def ledger_verify(public_id, walk):
    """Recompute every hash and check every signed checkpoint; exits 1 naming the first bad entry."""
    signing = current_app.extensions["vrm"].signing
    with unit_of_work() as db:
        chains = ledger.verify(db, chain=public_id, walk=walk)
        checkpoints = ledger.verify_checkpoints(db, signing, chain=public_id) if chains.ok else None
    if public_id is not None and chains.chains == 0:
        fail(f"No ledger chain {public_id}: give a customer's public id (c_...) or 'system'.")
    problem = chains.first_problem or checkpoints.first_problem
    if problem is not None:
        where = (f"chain {problem.chain}, entry {problem.seq}" if problem.chain
                 else f"checkpoint {problem.checkpoint_id}")
        fail(f"Ledger broken at {where}: {problem.kind}. {problem.sentence}")
    click.echo(f"Ledger intact: {chains.checked} entries in {chains.chains} chains; "
               f"{checkpoints.checked} checkpoints verified.")


@ledger_cli.command("checkpoint")
@with_appcontext
def ledger_checkpoint():
    """Sign the current head of every chain (run it regularly, e.g. hourly from cron)."""
    with unit_of_work() as db:
        cp = ledger.checkpoint(db, current_app.extensions["vrm"].signing)
        summary = cp.data
    click.echo(f"Checkpoint {cp.id} signed over {summary['chains']} chain heads "
               f"({summary['entries']} entries) with key {cp.kid}.")


# --- background worker ----------------------------------------------------------------------

def _finite(_ctx, _param, value: float) -> float:
    """A click callback: FloatRange lets NaN through (every comparison with it is false)."""
    if not math.isfinite(value):
        raise click.BadParameter("must be a number of seconds.")
    return value


@vault_cli.command("worker")
@click.option("--once", is_flag=True, help="Run one round and exit (for tests and cron).")
@click.option("--interval", default=5.0, show_default=True, type=click.FloatRange(0, 3600),
              callback=_finite, help="Seconds between rounds.")
@with_appcontext
def worker(once, interval):
    """Send webhooks, seal the change feed, expire due grants and end retired apps' grants; safe to run
    several at once."""
    from vendor_api.cli import demo_context
    from vendor_api.housekeeping import purge_round
    from vendor_api.webhooks import run_worker
    from consent import intents
    from consent.cases import escalate_round
    from consent.notifications import Transports, run_round
    inst = current_app.extensions["vrm"]
    transports = Transports.for_instance(inst)
    run_worker(inst.sessions, inst.keys, demo_context(inst), interval=interval, once=once,
               also=(lambda: run_round(inst.sessions, transports), lambda: escalate_round(inst.sessions),
                     lambda: intents.expire_round(inst.sessions), lambda: purge_round(inst.sessions)))
    if once:
        click.echo("Worker round done.")
