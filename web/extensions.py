"""Flask extensions, created unbound and attached in create_app (the flaskr pattern)."""
from flask import request
from flask_babel import Babel
from flask_limiter import Limiter
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect


def client_address() -> str:
    """The caller's address as seen by us (behind a proxy, configure ProxyFix, not headers)."""
    return request.remote_addr or "unknown"


login_manager = LoginManager()
csrf = CSRFProtect()
limiter = Limiter(key_func=client_address, default_limits=[], headers_enabled=True)
babel = Babel()
