"""Credentials out of access logs.

Most credentials travel in headers and bodies, which no access log records; one travels in a
path: the console's invitation link (``/console/invite/vv_inv_…``), and whatever a client puts
in a query string by mistake. The request line is what the development server (logger
``werkzeug``) and gunicorn's access log (``gunicorn.access``, when an operator turns it on)
write, so every ``vv_…_`` credential in their records is cut to its prefix. Our own loggers
never format a credential in the first place.
"""
from __future__ import annotations

import logging
import re

#: Every credential the vault hands out starts with vv_<kind>_ (vendor_api.credentials, console).
_CREDENTIAL = re.compile(r"\b(vv_[a-z]{2,4}_)[A-Za-z0-9_\-]+")
ACCESS_LOGGERS = ("werkzeug", "gunicorn.access")


class RedactCredentials(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        redacted = _CREDENTIAL.sub(r"\1[redacted]", message)
        if redacted != message:
            record.msg, record.args = redacted, None
        return True


def install() -> None:
    """Idempotent: one filter per access logger, however many apps a process builds."""
    for name in ACCESS_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, RedactCredentials) for f in logger.filters):
            logger.addFilter(RedactCredentials())
