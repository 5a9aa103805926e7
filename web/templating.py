"""Template globals and filters shared by every page."""
from __future__ import annotations

from datetime import datetime

from babel.lists import format_list
from flask import Flask
from flask_babel import format_datetime, format_decimal, get_locale

from .customer.labels import event_label, field_label, vault_value
from .domain_messages import translate as domain_text


def _datetime(value) -> str:
    """A moment in the page's locale; ISO strings (as kept in receipts and agreements) too."""
    if not value:
        return ""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    return format_datetime(value, "medium")


def _number(value) -> str:
    return format_decimal(value) if value is not None else ""


def _listing(items) -> str:
    """``a, b and c`` / ``أ وب وج``: the locale's own list pattern and comma."""
    items = [str(item) for item in items]
    return format_list(items, locale=get_locale() or "en") if items else ""


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(get_locale=get_locale, field_label=field_label, event_label=event_label)
    app.jinja_env.filters.update(datetimeformat=_datetime, field_label=field_label, vault_value=vault_value,
                                 domain_text=domain_text, number=_number,
                                 listing=_listing)
