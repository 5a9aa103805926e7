"""Flask extensions, created unbound and attached in create_app (the flaskr pattern)."""
from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect


def client_address() -> str:
    """The caller's address as seen by us (behind a proxy, configure ProxyFix, not headers)."""
    return request.remote_addr or "unknown"


class FilteredLimiter(Limiter):
    """Flask-Limiter whose request filters skip its before-request hook outright.

    A filtered request is exempt from every limit, yet the stock hook still identifies the
    view and resolves exemption scopes first (~20 µs, bench/RESULTS.md). The vendor API, which
    limits its callers itself (``vendor_api.throttle``), is filtered on each of its calls.
    """

    def __init__(self, *args, **kwargs):
        self._skip_when: list = []
        super().__init__(*args, **kwargs)

    def request_filter(self, fn):
        self._skip_when.append(fn)
        return super().request_filter(fn)

    def _check_request_limit(self, callable_name=None, in_middleware=True):
        if in_middleware and any(skip() for skip in self._skip_when):
            return None
        return super()._check_request_limit(callable_name, in_middleware)


login_manager = LoginManager()
csrf = CSRFProtect()
limiter = FilteredLimiter(key_func=client_address, default_limits=[], headers_enabled=True)
babel = Babel()
