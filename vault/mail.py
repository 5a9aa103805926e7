"""Outgoing mail: an SMTP server, or a folder of ``.eml`` files when none is configured.

The notification outbox (:mod:`consent.notifications`) decides what to send and when; this
module only hands one finished message to a server. Its errors say whether trying again later
can help (:attr:`MailError.transient`): a 4xx reply or a dropped connection can, a 5xx refusal
cannot. Nothing here logs a message body, an address or a credential.
"""
from __future__ import annotations

import logging
import os
import re
import smtplib
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Protocol

from .config import Settings

log = logging.getLogger("vault.mail")


class MailError(Exception):
    """Sending failed; ``reason`` is safe to store and log (an SMTP code, an error class)."""

    def __init__(self, reason: str, *, transient: bool):
        super().__init__(reason)
        self.reason = reason
        self.transient = transient


class Mailer(Protocol):
    def send(self, message: EmailMessage) -> None: ...


def _is_transient(code: int) -> bool:
    return 400 <= code < 500


@dataclass(frozen=True)
class SmtpMailer:
    """One SMTP connection per message: simple, and a worker sends few enough for it to be fine."""

    host: str
    port: int = 587
    user: str = ""
    password: str = ""
    starttls: bool = True
    timeout: float = 30.0

    def send(self, message: EmailMessage) -> None:
        try:
            with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as smtp:
                if self.starttls:
                    smtp.starttls(context=ssl.create_default_context())
                if self.user:
                    smtp.login(self.user, self.password)
                smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _text in exc.recipients.values()]
            raise MailError(f"recipient refused ({', '.join(map(str, codes))})",
                            transient=all(_is_transient(c) for c in codes)) from None
        except smtplib.SMTPResponseException as exc:
            raise MailError(f"SMTP {exc.smtp_code}", transient=_is_transient(exc.smtp_code)) from None
        except (smtplib.SMTPException, OSError) as exc:
            raise MailError(type(exc).__name__, transient=True) from None


_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class FileOutbox:
    """Writes each message to ``<folder>/<message id>.eml`` (mode 0600: it holds addresses).

    The file name comes from the Message-ID, so a retried message replaces its own file instead
    of appearing twice; the write goes through a temporary file and a rename, so a crash never
    leaves half a message.
    """

    folder: Path

    def send(self, message: EmailMessage) -> None:
        name = _UNSAFE.sub("_", (message["Message-ID"] or "").strip("<>")) or "message"
        try:
            self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            target = self.folder / f"{name}.eml"
            tmp = self.folder / f".{name}.tmp"
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as f:
                f.write(message.as_bytes())
            os.replace(tmp, target)
        except OSError as exc:
            raise MailError(type(exc).__name__, transient=True) from None
        log.info("Mail %s written to the local outbox %s (no SMTP host is configured).",
                 message["Message-ID"], self.folder)


def outbox_folder(settings: Settings) -> Path:
    return settings.instance_path / "outbox"


def mailer_for(settings: Settings) -> Mailer:
    """SMTP when ``VAULT_SMTP_HOST`` is set, else the local file outbox."""
    if settings.smtp_host:
        return SmtpMailer(settings.smtp_host, settings.smtp_port, settings.smtp_user,
                          settings.smtp_password, settings.smtp_starttls)
    if settings.production:
        log.warning("VAULT_SMTP_HOST is not set: notification mail goes to %s, not to people.",
                    outbox_folder(settings))
    return FileOutbox(outbox_folder(settings))
