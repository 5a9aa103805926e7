"""Translate between flat HTML form fields and the nested values of the vault schemas.

Form field names use dashes for nesting (``emails-0-address``, ``address_home-city``) so a
marshmallow error path maps straight back onto the input it belongs to.
"""
from __future__ import annotations

from werkzeug.datastructures import MultiDict

from vault.schemas import PREFERENCE_FIELDS, PROFILE_FIELDS

EMAIL_ROWS = 3
PHONE_ROWS = 3
ADDRESS_KINDS = ("home", "shipping", "billing")
ADDRESS_PARTS = ("line1", "line2", "city", "region", "postal_code", "country")
SIMPLE_PROFILE = ("given_name", "family_name", "display_name", "birth_date", "language", "notes")


def _text(form: MultiDict, name: str) -> str:
    return (form.get(name) or "").strip()


def _object_or_none(parts: dict) -> dict | None:
    """An all-blank group of inputs means "no value"; a partly filled one is validated as is."""
    filled = {k: v for k, v in parts.items() if v not in ("", None)}
    return filled or None


def profile_from_form(form: MultiDict) -> dict:
    values: dict = {name: (_text(form, name) or None) for name in SIMPLE_PROFILE}
    primary = form.get("emails-primary", "0")
    emails = []
    for i in range(EMAIL_ROWS):
        address = _text(form, f"emails-{i}-address")
        if address:
            emails.append({"address": address, "primary": primary == str(i), "verified": False})
    values["emails"] = emails or None
    phones = []
    for i in range(PHONE_ROWS):
        number = _text(form, f"phones-{i}-number")
        if number:
            phones.append({"number": number, "label": form.get(f"phones-{i}-label") or "mobile"})
    values["phones"] = phones or None
    for kind in ADDRESS_KINDS:
        field = f"address_{kind}"
        values[field] = _object_or_none({p: _text(form, f"{field}-{p}") for p in ADDRESS_PARTS})
    return values


def keep_verified_flags(submitted: dict, stored: dict) -> None:
    """A customer cannot mark an address verified by typing it: only a stored flag survives."""
    verified = {e["address"].lower() for e in stored.get("emails") or [] if e.get("verified")}
    for email in submitted.get("emails") or []:
        email["verified"] = email["address"].strip().lower() in verified


def preferences_from_form(form: MultiDict) -> dict:
    values: dict = {
        "channels": form.getlist("channels") or None,
        "preferred_channel": form.get("preferred_channel") or None,
        "interests": form.getlist("interests") or None,
    }
    cap = _text(form, "max_contacts_per_week")
    values["max_contacts_per_week"] = cap or None
    values["quiet_hours"] = _object_or_none({p: _text(form, f"quiet_hours-{p}")
                                             for p in ("start", "end", "timezone")})
    shoe = _object_or_none({p: _text(form, f"sizes-shoe-{p}") for p in ("system", "value")})
    values["sizes"] = _object_or_none({"clothing": form.get("sizes-clothing") or "", "shoe": shoe})
    return values


def flatten_errors(errors, prefix: str = "") -> dict[str, list[str]]:
    """``{"emails": {0: {"address": ["..."]}}}`` -> ``{"emails-0-address": ["..."]}``."""
    flat: dict[str, list[str]] = {}
    if isinstance(errors, dict):
        for key, value in errors.items():
            name = f"{prefix}-{key}" if prefix else str(key)
            if key == "_schema":
                name = prefix or "_form"
            for k, v in flatten_errors(value, name).items():
                flat.setdefault(k, []).extend(v)
    elif isinstance(errors, list):
        flat[prefix or "_form"] = [str(e) for e in errors if not isinstance(e, (dict, list))]
        for e in errors:
            if isinstance(e, (dict, list)):
                for k, v in flatten_errors(e, prefix).items():
                    flat.setdefault(k, []).extend(v)
    else:
        flat[prefix or "_form"] = [str(errors)]
    return flat


def form_state(values: dict) -> dict[str, str]:
    """Stored values as the flat ``name -> text`` the templates fill inputs from."""
    state: dict[str, object] = {name: values.get(name) or "" for name in SIMPLE_PROFILE}
    for i, email in enumerate((values.get("emails") or [])[:EMAIL_ROWS]):
        state[f"emails-{i}-address"] = email.get("address", "")
        state[f"emails-{i}-verified"] = email.get("verified", False)
        if email.get("primary"):
            state["emails-primary"] = str(i)
    for i, phone in enumerate((values.get("phones") or [])[:PHONE_ROWS]):
        state[f"phones-{i}-number"] = phone.get("number", "")
        state[f"phones-{i}-label"] = phone.get("label", "mobile")
    for kind in ADDRESS_KINDS:
        address = values.get(f"address_{kind}") or {}
        for part in ADDRESS_PARTS:
            state[f"address_{kind}-{part}"] = address.get(part, "")
    state["channels"] = values.get("channels") or []
    state["interests"] = values.get("interests") or []
    state["preferred_channel"] = values.get("preferred_channel") or ""
    cap = values.get("max_contacts_per_week")
    state["max_contacts_per_week"] = "" if cap is None else str(cap)
    quiet = values.get("quiet_hours") or {}
    for part in ("start", "end", "timezone"):
        state[f"quiet_hours-{part}"] = quiet.get(part, "")
    sizes = values.get("sizes") or {}
    state["sizes-clothing"] = sizes.get("clothing", "")
    shoe = sizes.get("shoe") or {}
    state["sizes-shoe-system"] = shoe.get("system", "")
    state["sizes-shoe-value"] = "" if shoe.get("value") is None else f"{shoe['value']:g}"
    return state


def state_from_form(form: MultiDict) -> dict:
    """What the person typed, to refill the form after a validation error."""
    state: dict[str, object] = {k: v for k, v in form.items()}
    state["channels"] = form.getlist("channels")
    state["interests"] = form.getlist("interests")
    return state


SECTIONS = {"profile": PROFILE_FIELDS, "preferences": PREFERENCE_FIELDS}


#: What an unreadable number from a form becomes: a value every service refuses with its own
#: message about the choices on offer (terms, stars, days), so the page shows that message.
UNREADABLE = -1


def form_number(value: str | None, *, blank: int | None = None, max_digits: int = 9) -> int | None:
    """A number one of the portal's own choices sends ("30", "4"): ``blank`` when nothing was
    sent, the number when it is 1 to ``max_digits`` ASCII digits, else :data:`UNREADABLE`.

    Why not ``value.isdigit()``: it is true for "²" and other digits ``int()`` refuses (a 500),
    and a form field can be long enough to make ``int()`` slow or refuse it.
    """
    if not value:
        return blank
    if len(value) <= max_digits and value.isascii() and value.isdecimal():
        return int(value)
    return UNREADABLE
