"""Notifications: tell customers what happens to their consent, cases and offers.

``notify`` (in the caller's transaction) writes an item for the portal's notification centre
and one outbox row per channel the customer chose; ``deliver_due`` (the worker) sends them,
honouring quiet hours; ``scan_expiring`` (the worker) announces grants about to expire.
"""
from .catalogue import EVENTS, render
from .models import Delivery, Notification, NotificationChoice
from .outbox import Transports, claim_due, deliver_due
from .service import (choices, list_for, mark_all_read, mark_read, notify, notify_address, on_grant_change,
                      scan_expiring, set_choices, unread_count)
from .worker import run_round

__all__ = ["EVENTS", "Delivery", "Notification", "NotificationChoice", "Transports", "choices", "claim_due",
           "deliver_due", "list_for", "mark_all_read", "mark_read", "notify", "notify_address",
           "on_grant_change", "render", "run_round", "scan_expiring", "set_choices", "unread_count"]
