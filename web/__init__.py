"""The application factory: a readable list of ``init_app`` calls.

``create_app(config)`` reads built-in defaults, then ``VAULT_*`` environment variables, then
``config`` (the test suite's override). A configuration that cannot work stops start-up with one
sentence (:class:`StartupError`), never a traceback and never a fresh key over existing data.
"""
from __future__ import annotations

import logging
from typing import Mapping

from flask import Flask, request
from flask_login import current_user

from vault.config import Settings
from vault.errors import ConfigError
from vault.instance import open_instance

from . import limiter_storage, log_redaction
from .paging import RowIdConverter


class VaultFlask(Flask):
    """Flask, with ``ensure_sync`` remembered per function.

    Flask asks ``inspect.iscoroutinefunction`` of every view and hook on every request (17 times
    per API call, ~4% of it; bench/RESULTS.md). Our functions never change between requests,
    so the answer is kept — this is the override point Flask documents for ``ensure_sync``.
    The cache is bounded: a callable made per request (``after_this_request``) cannot grow it
    past ``SYNC_CACHE_SIZE``; views and hooks are a few hundred.
    """

    SYNC_CACHE_SIZE = 2048

    def ensure_sync(self, func):
        cache = self.__dict__.setdefault("_vv_sync", {})
        try:
            return cache[func]
        except KeyError:
            wrapped = super().ensure_sync(func)
            if len(cache) < self.SYNC_CACHE_SIZE:
                cache[func] = wrapped
            return wrapped
        except TypeError:  # unhashable callable: ask every time
            return super().ensure_sync(func)

LANGUAGES = ("en", "ar")


class StartupError(SystemExit):
    """Ends the process with one readable sentence (SystemExit prints no traceback)."""

    def __init__(self, sentence: str):
        super().__init__(f"VRM Vault cannot start: {sentence}")
        self.sentence = sentence


def _configure_logging(level: str) -> None:
    root = logging.getLogger()
    if not root.handlers:
        logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("vault").setLevel(level)
    log_redaction.install()


def select_locale() -> str:
    if current_user and current_user.is_authenticated and current_user.locale in LANGUAGES:
        return current_user.locale
    chosen = request.cookies.get("vv_lang")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES) or "en"


def create_app(config: Mapping[str, object] | None = None) -> Flask:
    config = dict(config or {})
    try:
        settings = Settings.load(overrides=config)
        _configure_logging(settings.log_level)
        inst = open_instance(settings)
    except ConfigError as exc:
        logging.getLogger("vault").critical("%s", exc)
        raise StartupError(str(exc)) from None

    app = VaultFlask(__name__, instance_path=str(settings.instance_path.resolve()))
    app.url_map.converters["int"] = RowIdConverter  # before any route is added
    app.config.update(SECRET_KEY=inst.secret_key, MAX_CONTENT_LENGTH=1024 * 1024,
                      RATELIMIT_STORAGE_URI=limiter_storage.storage_uri(settings.ratelimit_storage_url),
                      RATELIMIT_HEADERS_ENABLED=True,
                      # explicit: the limiter object outlives apps and would keep an earlier app's switch
                      RATELIMIT_ENABLED=True,
                      WTF_CSRF_TIME_LIMIT=None,  # the session's own timeouts bound the token
                      BABEL_DEFAULT_LOCALE="en", BABEL_TRANSLATION_DIRECTORIES="translations")
    app.config.update({k: v for k, v in config.items() if k.isupper() and not k.startswith("VAULT_")})
    app.extensions["vrm"] = inst
    if settings.proxy_hops:
        from werkzeug.middleware.proxy_fix import ProxyFix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=settings.proxy_hops, x_proto=settings.proxy_hops,
                                x_host=settings.proxy_hops)

    from vendor_api import context as db
    from . import errors, security
    from .extensions import babel, csrf, limiter, login_manager

    security.configure_cookies(app, settings)
    db.init_app(app)
    security.init_app(app)
    errors.init_app(app)
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(app, locale_selector=select_locale)
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.session_protection = None  # server-side sessions do the job (web.auth.sessions)

    from . import templating
    templating.init_app(app)

    from .auth import sessions as _sessions  # noqa: F401  (registers the user loader)
    from .auth import two_factor as _two_factor  # noqa: F401 (routes)
    from .auth.views import bp as auth_bp
    from .customer import account as _account, cases as _cases, connections as _connections  # noqa: F401 (routes)
    from .customer import terms as _terms  # noqa: F401 (routes)
    from .customer import intents as _intents  # noqa: F401 (routes)
    from .customer import purchases as _purchases  # noqa: F401 (routes)
    from .customer import notifications as _notifications  # noqa: F401 (routes, nav count)
    from .customer.views import bp as customer_bp
    from .health import bp as health_bp
    from .main import bp as main_bp
    from .privacy import bp as privacy_bp
    from .vendor_console import bp as vendor_console_bp

    app.register_blueprint(health_bp)
    app.register_blueprint(main_bp)
    app.register_blueprint(auth_bp)
    app.register_blueprint(customer_bp, url_prefix="/me")
    app.register_blueprint(privacy_bp, url_prefix="/privacy")
    app.register_blueprint(vendor_console_bp, url_prefix="/console")

    import vendor_api
    from .oauth_consent import bp as oauth_consent_bp
    vendor_api.init_app(app, csrf=csrf, limiter=limiter)
    app.register_blueprint(oauth_consent_bp)

    from .cli import vault_cli
    app.cli.add_command(vault_cli)
    from vendor_api.cli import vendor_cli
    vault_cli.add_command(vendor_cli)
    from .notify_cli import notify_cli
    vault_cli.add_command(notify_cli)
    return app
