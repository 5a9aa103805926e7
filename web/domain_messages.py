"""Translations for the sentences the framework-free core writes for people.

``vault`` and ``consent`` never import Flask, so their validation and error messages are plain
English (``"Use 100 characters or fewer."``). Each one is listed here as a pattern, marked for
extraction like any other portal string; ``{name}`` stands for a value the core fills in. At
render time :func:`translate` finds the pattern a message came from, translates it, and puts the
values back; a message it does not know is shown as it is.
"""
from __future__ import annotations

import re
from functools import lru_cache

from flask_babel import gettext, lazy_gettext as _l

PATTERNS = (
    # vault.schemas: field validation
    _l("Please fill this in."), _l("Please check this value."), _l("Enter this as text."),
    _l("This text contains characters we can't read."), _l("Enter a whole number."), _l("Enter a smaller number."),
    _l("Enter a number."), _l("Choose yes or no."), _l("Enter a date as year-month-day, like 1990-04-25."),
    _l("This should be a group of details."), _l("This should be a list."),
    _l("This isn't something your vault can store."), _l("This can't be left blank."),
    _l("Use {max} characters or fewer."), _l("You've already added this."),
    _l("You've already added this email address."), _l("You've already added this phone number."),
    _l("Remove the invisible control characters from this text."),
    _l("Enter a phone number in international format, like +447700900123."),
    _l("Enter an email address like name@example.com."),
    _l("Enter a time on the 24-hour clock, like 07:30 or 22:00."),
    _l("Your date of birth can't be in the future."), _l("Enter a date of birth from 1900 onwards."),
    _l("You must be at least {age} years old to add a date of birth."),
    _l("Enter a whole or half size, like 42 or 8.5."), _l("Choose EU, UK or US sizing."),
    _l("Choose a clothing size from XXS to XXXL."), _l("Choose a time zone by its place name, like Europe/London."),
    _l("Choose from email, sms, phone, post or chat."), _l("Choose from the listed interests."),
    _l("Choose mobile, home, work or other."), _l("Choose one of the languages we support: {choices}."),
    _l("Enter a number from {min} to {max}."), _l("Enter a shoe size between {min} and {max}."),
    _l("Enter the two-letter country code, like GB, FR or US."),
    _l("Only one email address can be your primary address."),
    _l("Quiet hours must end at a different time from when they start."),
    _l("You can add up to {max} email addresses."), _l("You can add up to {max} phone numbers."),
    _l("You can choose up to {max} interests."),
    _l("Your preferred way to be contacted must be one of the ways you allow."),
    # vault.accounts and vault.passwords
    _l("That email and password do not match an account."), _l("Your current password is not right."),
    _l("Use at least {n} characters."), _l("Use at most {n} characters."),
    _l("Do not use your email address in your password."),
    _l("This password is too common or too easy to guess; choose another."),
    # consent.grants: changes a customer asks for
    _l("Choose an expiry of 30, 90 or 365 days, or until you revoke it."),
    _l("Choose at least one kind of data to share, or deny the request."),
    _l("Narrowing cannot add fields: the vendor must ask you again."),
    _l("Narrowing cannot add scopes: the vendor must ask you again."),
    _l("No such connection."), _l("This connection is no longer active."),
    _l("You withdrew this consent; the vendor must ask you again."),
    _l("{app} did not ask for {scopes}."), _l("Fields outside the chosen scopes: {fields}."),
    # consent.intents and consent.purchases: limits a form normally keeps a person within
    _l("Choose at most {n} vendors."), _l("At most {n} items."), _l("At most {n} characters."),
    _l("One of {choices}."),
    # consent.cases: a customer's service cases
    _l("Write something."), _l("Choose a kind of request."), _l("Choose a priority."), _l("From 1 to 5 stars."),
    _l("This case is closed."), _l("This case is already closed."),
    _l("You can open a case only with a vendor you are connected to."),
)

_PLACEHOLDER = re.compile(r"\\\{(\w+)\\\}")


@lru_cache(maxsize=None)
def _compiled() -> tuple[tuple[re.Pattern, str], ...]:
    out = []
    for lazy in PATTERNS:
        msgid = lazy._args[0]
        regex = _PLACEHOLDER.sub(lambda m: f"(?P<{m.group(1)}>.+?)", re.escape(msgid))
        out.append((re.compile(regex + r"\Z", re.S), msgid))
    return tuple(out)


def translate(message) -> str:
    """``message`` in the current language if it is one of the core's sentences, else as it is."""
    text = str(message)
    for regex, msgid in _compiled():
        found = regex.match(text)
        if found:
            translated = gettext(msgid)
            return translated.format(**found.groupdict()) if found.groupdict() else translated
    return text
