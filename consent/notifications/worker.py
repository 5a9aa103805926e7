"""One round of notification work, for whichever loop runs it (``vault worker``, ``vault notify``)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import sessionmaker

from vault.clock import utcnow

from .outbox import Transports, deliver_due
from .service import scan_expiring, scan_read_jumps


def run_round(sessions: sessionmaker, transports: Transports, now: datetime | None = None) -> dict:
    """Announce grants about to expire (committed), then send what is due. Safe beside other workers:
    the scan is idempotent per grant and expiry, and the outbox is claimed row by row."""
    now = now or utcnow()
    db = sessions()
    try:
        announced = len(scan_expiring(db, now)) + len(scan_read_jumps(db, now))
        db.commit()
        outcome = deliver_due(db, transports, now)
    except BaseException:
        db.rollback()
        raise
    finally:
        db.close()
    return {"announced": announced, "notified": outcome.sent, "deferred": outcome.deferred,
            "retrying": outcome.retrying, "failed": outcome.failed}
