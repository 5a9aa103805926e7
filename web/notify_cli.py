"""``flask --app wsgi vault notify [--once]``: announce expiring grants and send due notifications.

``vault worker`` runs the same round among its others; this command runs only notifications
(useful to flush the outbox by hand, or from cron).
"""
from __future__ import annotations

import logging
import time

import click
from flask import current_app
from flask.cli import with_appcontext

from consent.notifications import Transports, run_round

log = logging.getLogger("vault")


@click.command("notify")
@click.option("--once", is_flag=True, help="Run one round and exit.")
@click.option("--interval", default=30.0, show_default=True, help="Seconds between rounds.")
@with_appcontext
def notify_cli(once, interval):
    """Announce grants expiring within 7 days and send due email/SMS notifications."""
    inst = current_app.extensions["vrm"]
    transports = Transports.for_instance(inst)
    while True:
        try:
            summary = run_round(inst.sessions, transports)
        except Exception:  # a bad round must not stop the loop; the next one retries
            if once:
                raise
            log.exception("Notification round failed; retrying in %s s.", interval)
        else:
            if once:
                click.echo("Notifications: {announced} expiring grant(s) announced, {notified} sent, "
                           "{deferred} deferred (quiet hours), {retrying} to retry, {failed} failed.".format(**summary))
                return
        time.sleep(interval)
