"""Text messages through a gateway: an HTTP adapter for a real provider, a log adapter for development.

Like :mod:`vault.mail`, this only sends what the notification outbox hands it. Logs name the
message id and a masked number, never the text: a text may say which vendor a customer uses.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

import requests

from .config import Settings

log = logging.getLogger("vault.sms")


class SmsError(Exception):
    """Sending failed; ``reason`` is safe to store and log (an HTTP status, an error class)."""

    def __init__(self, reason: str, *, transient: bool):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


class SmsGateway(Protocol):
    def send(self, number: str, text: str, *, message_id: str) -> None: ...


def mask_number(number: str) -> str:
    """``+447700900123`` -> ``+44*******23``: enough to tell numbers apart in a log, not to dial."""
    if len(number) <= 5:
        return "*" * len(number)
    return number[:3] + "*" * (len(number) - 5) + number[-2:]


class LogSmsGateway:
    """Sends nothing: logs that a text would have gone to a masked number."""

    def send(self, number: str, text: str, *, message_id: str) -> None:
        log.info("SMS %s sent to %s (log gateway: not delivered).", message_id, mask_number(number))


@dataclass(frozen=True)
class HttpSmsGateway:
    """POSTs ``{"to", "text", "reference"}`` as JSON with a bearer key.

    ``reference`` (also sent as ``Idempotency-Key``) is stable per notification, so a provider
    that honours it drops the duplicate when a retry follows a lost reply.
    """

    url: str
    key: str
    timeout: float = 10.0

    def send(self, number: str, text: str, *, message_id: str) -> None:
        try:
            response = requests.post(self.url, json={"to": number, "text": text, "reference": message_id},
                                     headers={"Authorization": f"Bearer {self.key}",
                                              "Idempotency-Key": message_id},
                                     timeout=self.timeout)
        except requests.RequestException as exc:
            raise SmsError(type(exc).__name__, transient=True) from None
        status = response.status_code
        if status >= 400:
            raise SmsError(f"HTTP {status}", transient=status == 429 or status >= 500)
        log.info("SMS %s sent to %s.", message_id, mask_number(number))


def gateway_for(settings: Settings) -> SmsGateway:
    if settings.sms_gateway == "http":
        return HttpSmsGateway(settings.sms_url, settings.sms_key)
    return LogSmsGateway()
