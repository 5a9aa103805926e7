"""Access logs never carry a credential from a request line (the invitation link is one)."""
from __future__ import annotations

import logging

from web import log_redaction


def test_a_credential_in_a_request_line_is_cut_to_its_prefix(app, caplog):
    log_redaction.install()
    log_redaction.install()  # idempotent
    assert sum(isinstance(f, log_redaction.RedactCredentials) for f in logging.getLogger("werkzeug").filters) == 1
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        logging.getLogger("werkzeug").info('%s - - "%s" %s -', "127.0.0.1",
                                           "GET /console/invite/vv_inv_S3cretInv1te-token_x HTTP/1.1", "200")
        logging.getLogger("werkzeug").info("plain %s", "GET /healthz HTTP/1.1")
    assert "S3cretInv1te" not in caplog.text
    assert "/console/invite/vv_inv_[redacted] HTTP/1.1" in caplog.text and "plain GET /healthz" in caplog.text


def test_gunicorns_access_log_with_its_dict_arguments_is_redacted_too(caplog):
    log_redaction.install()
    with caplog.at_level(logging.INFO, logger="gunicorn.access"):
        logging.getLogger("gunicorn.access").info('%(h)s "%(r)s" %(s)s', {
            "h": "10.0.0.1", "r": "GET /oauth/x?access_token=vv_at_abcDEF123 HTTP/1.1", "s": "401"})
    assert "abcDEF123" not in caplog.text and "access_token=vv_at_[redacted]" in caplog.text
