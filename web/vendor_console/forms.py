"""The console's forms (Flask-WTF: CSRF on every one) and the translation of service messages.

The forms check shape and give each field its own message in the reader's language; the
services (:mod:`vendor_api.console`, :mod:`vendor_api.clients`, :mod:`vendor_api.webhooks`)
still check every rule themselves, so the CLI and the registration endpoint get the same rules.
Their English messages are translated here when they are known (:func:`service_errors`).
"""
from __future__ import annotations

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, IntegerField, PasswordField, SelectField, SelectMultipleField, StringField, \
    TextAreaField
from wtforms.fields import SelectChoice
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, ValidationError

from consent.scopes import DPV_PURPOSES, SCOPES
from vault import accounts
from vault.passwords import MAX_LENGTH as PASSWORD_MAX
from vendor_api import clients, initial_tokens
from vendor_api.console import NAME_MAX, PURPOSE_MAX, WEBSITE_MAX
from vendor_api.console_models import ORG_ROLES

from ..domain_messages import translate as domain_text

REQUIRED = _l("Please fill this in.")


def _strip(value):
    return value.strip() if isinstance(value, str) else value


def _email(form, field) -> None:
    if field.data and accounts.email_problem(accounts.normalise_email(field.data)):
        raise ValidationError(_("Enter an email address like name@example.com."))


def _web_address(form, field) -> None:
    from urllib.parse import urlsplit
    parts = urlsplit(field.data or "")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValidationError(_("Enter a web address starting with https://, like https://shop.example."))


class VendorSignupForm(FlaskForm):
    org_name = StringField(filters=[_strip], validators=[DataRequired(REQUIRED), Length(max=NAME_MAX)])
    website = StringField(filters=[_strip], validators=[DataRequired(REQUIRED), Length(max=WEBSITE_MAX), _web_address])
    contact_email = EmailField(filters=[_strip], validators=[DataRequired(REQUIRED), _email])
    email = EmailField(filters=[_strip], validators=[DataRequired(REQUIRED), _email])
    password = PasswordField(validators=[DataRequired(REQUIRED), Length(max=PASSWORD_MAX)])
    password_confirm = PasswordField(validators=[EqualTo("password", _l("The two passwords are not the same."))])


# --- apps -------------------------------------------------------------------------------------

def redirect_uri_lines(text: str | None) -> list[str]:
    """One URI per line; blank lines and surrounding spaces do not count."""
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


#: Why a redirect URI was refused (see vendor_api.clients.redirect_uri_problem), in words to translate.
_URI_REASONS = (
    ("must not contain a fragment", _l("a redirect URI must not contain a fragment (#…).")),
    ("only https URLs", _l("only https addresses are allowed (plain http only on 127.0.0.1, [::1] or localhost).")),
    ("plain http is only allowed", _l("plain http is only allowed on 127.0.0.1, [::1] or localhost; use https.")),
    ("wildcards are not allowed", _l("wildcards (*) are not allowed: register each address exactly.")),
    ("credentials in a redirect URI", _l("a user name or password is not allowed in a redirect URI.")),
    ("the host part may hold only", _l("the host may hold only letters, digits, dots, hyphens and a port.")),
    ("is not a valid URL", _l("this is not a valid address.")),
    ("must be an absolute URL", _l("write the full address, like https://shop.example/callback, without spaces.")),
)


def uri_message(uri: str, problem: str) -> str:
    for key, reason in _URI_REASONS:
        if key in problem:
            return _("%(uri)s: %(reason)s", uri=uri, reason=reason)
    return problem


def _redirect_uris(form, field) -> None:
    uris = redirect_uri_lines(field.data)
    if not uris:
        raise ValidationError(_("Enter at least one redirect URI."))
    if len(uris) > 10:
        raise ValidationError(_("Register at most 10 redirect URIs."))
    messages = [uri_message(u, p) for u, p in ((u, clients.redirect_uri_problem(u)) for u in uris) if p]
    if messages:
        field.errors.extend(messages[:-1])
        raise ValidationError(messages[-1])


def scope_choices() -> list[SelectChoice]:
    return [SelectChoice(scope_id) for scope_id in SCOPES]


def purpose_choices(lang: str) -> list[tuple[str, str]]:
    return [(concept, labels.get(lang) or labels["en"]) for concept, labels in DPV_PURPOSES.items()]


class AppForm(FlaskForm):
    name = StringField(filters=[_strip], validators=[DataRequired(REQUIRED), Length(max=NAME_MAX)])
    website = StringField(filters=[_strip], validators=[DataRequired(REQUIRED), Length(max=WEBSITE_MAX), _web_address])
    purpose = TextAreaField(filters=[_strip], validators=[DataRequired(REQUIRED), Length(max=PURPOSE_MAX)])
    purpose_category = SelectField(choices=[SelectChoice(k) for k in DPV_PURPOSES], default="dpv:ServiceProvision")
    scopes = SelectMultipleField(choices=scope_choices(),
                                 validators=[DataRequired(_l("Choose at least one kind of data."))])
    redirect_uris = TextAreaField(validators=[_redirect_uris])



class WebhookForm(FlaskForm):
    url = StringField(filters=[_strip], validators=[DataRequired(REQUIRED), Length(max=500)])


# --- organisation -----------------------------------------------------------------------------

class InviteForm(FlaskForm):
    email = EmailField(filters=[_strip], validators=[DataRequired(REQUIRED), _email])
    role = SelectField(choices=[SelectChoice(r) for r in ORG_ROLES], default="member")


class AcceptInviteForm(FlaskForm):
    password = PasswordField(validators=[DataRequired(REQUIRED), Length(max=PASSWORD_MAX)])
    password_confirm = PasswordField(validators=[EqualTo("password", _l("The two passwords are not the same."))])


class InitialTokenForm(FlaskForm):
    label = StringField(filters=[_strip], validators=[DataRequired(REQUIRED), Length(max=initial_tokens.LABEL_MAX)])
    hours = SelectField(coerce=int, choices=[SelectChoice(h, str(h)) for h in initial_tokens.LIFETIMES_HOURS],
                        default=24)
    max_uses = IntegerField(default=1, validators=[
        InputRequired(_l("Enter a whole number.")),
        NumberRange(1, initial_tokens.MAX_USES, _l("Enter a number from %(min)s to %(max)s."))])


# --- messages -----------------------------------------------------------------------------------

#: Sentences of vendor_api's services a person can meet here, with their translations.
_SERVICE_MESSAGES = {
    "This person is already a member.": _l("This person is already a member."),
    "An organisation needs at least one owner.": _l("An organisation needs at least one owner."),
    "Choose owner or member.": _l("Choose owner or member."),
    "Set a webhook URL first.": _l("Set a webhook URL first."),
    "This is not a valid URL.": _l("This is not a valid address."),
    "The webhook URL must start with https://.": _l("The webhook URL must start with https://."),
    "The webhook URL must not contain a user name or password.":
        _l("The webhook URL must not contain a user name or password."),
    "The webhook URL must not contain a fragment (#...).": _l("The webhook URL must not contain a fragment (#…)."),
    "The webhook URL must use https (plain http only on 127.0.0.1, [::1] or localhost).":
        _l("The webhook URL must use https (plain http only on 127.0.0.1, [::1] or localhost)."),
    "The webhook URL must not point into a private network.":
        _l("The webhook URL must not point into a private network."),
    "The webhook URL's host name is not valid.": _l("The webhook URL's host name is not valid."),
    "Write the webhook URL's IP address in its usual dotted form, or use a host name.":
        _l("Write the webhook URL's IP address in its usual dotted form, or use a host name."),
    "No such delivery for this app.": _l("No such delivery for this app."),
    "Give a URL of at most 500 characters.": _l("Give an address of at most 500 characters."),
}


def message(text: str) -> str:
    """A service's sentence in the reader's language (as it is when it is not known here)."""
    known = _SERVICE_MESSAGES.get(str(text))
    if known is not None:
        return str(known)
    if " is not an http(s) URL" in str(text):
        return _("Enter a web address starting with https://, like https://shop.example.")
    return domain_text(text)


def service_errors(errors: dict[str, list[str]]) -> dict[str, list[str]]:
    """A service's ``{field: [messages]}`` for the page: translated, redirect URIs explained."""
    out: dict[str, list[str]] = {}
    for name, messages in errors.items():
        for text in messages:
            if name == "redirect_uris" and ":" in text and "://" in text:
                uri = text.split(": ", 1)[0] if ": " in text else ""
                out.setdefault(name, []).append(uri_message(uri, text))
            else:
                out.setdefault(name, []).append(message(text))
    return out


def field_state(form: FlaskForm) -> dict[str, object]:
    """What the macros fill inputs from: every field's current value (never a password)."""
    return {name: ("" if field.type == "PasswordField" else (field.data if field.data is not None else ""))
            for name, field in form._fields.items() if name != "csrf_token"}
