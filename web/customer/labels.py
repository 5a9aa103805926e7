"""Human labels for the vault's option lists, translated at render time."""
from __future__ import annotations

from babel import Locale
from flask_babel import get_locale, lazy_gettext as _l

from vault.schemas import CLOTHING_SIZES, SUPPORTED_LANGUAGES

CHANNEL_LABELS = {"email": _l("Email"), "sms": _l("Text message (SMS)"), "phone": _l("Phone call"),
                  "post": _l("Post"), "chat": _l("Chat")}

INTEREST_LABELS = {
    "books": _l("Books"), "electronics": _l("Electronics"), "fashion": _l("Fashion"),
    "travel": _l("Travel"), "home_garden": _l("Home and garden"), "sports_outdoors": _l("Sports and outdoors"),
    "food_drink": _l("Food and drink"), "health_beauty": _l("Health and beauty"), "toys_games": _l("Toys and games"),
    "music": _l("Music"), "film_tv": _l("Film and TV"), "automotive": _l("Cars and motoring"),
    "finance": _l("Money and finance"), "education": _l("Learning"), "pets": _l("Pets"),
    "art_crafts": _l("Art and crafts"), "gaming": _l("Video games"), "software": _l("Software"),
    "baby_kids": _l("Babies and children"), "jewellery": _l("Jewellery"),
}


def language_choices() -> list[tuple[str, str]]:
    here = get_locale() or Locale("en")
    return [(code, Locale.parse(code).get_display_name(here) or code) for code in SUPPORTED_LANGUAGES]


def option_lists() -> dict:
    return {
        "channel_labels": CHANNEL_LABELS,
        "channel_choices": list(CHANNEL_LABELS.items()),
        "interest_labels": INTEREST_LABELS,
        "clothing_choices": [(s, s) for s in CLOTHING_SIZES],
        "language_choices": language_choices(),
    }


FIELD_LABELS = {
    "given_name": _l("Given name"), "family_name": _l("Family name"), "display_name": _l("Display name"),
    "emails": _l("Email addresses"), "phones": _l("Phone numbers"), "address_home": _l("Home address"),
    "address_shipping": _l("Shipping address"), "address_billing": _l("Billing address"),
    "birth_date": _l("Date of birth"), "language": _l("Preferred language"), "notes": _l("Private notes"),
    "channels": _l("Contact channels"), "preferred_channel": _l("Preferred channel"),
    "quiet_hours": _l("Quiet hours"), "max_contacts_per_week": _l("Contacts per week"),
    "interests": _l("Interests"), "sizes": _l("Sizes"), "purchases": _l("Purchases"),
    "purchase_context": _l("Notes on purchases"), "cases": _l("Service cases"), "intents": _l("Intents"),
    "offers": _l("Offers"),
}

EVENT_LABELS = {
    "grant": _l("Consent given"), "narrow": _l("Sharing narrowed"), "widen": _l("Sharing widened"),
    "renew": _l("Consent renewed"), "revoke": _l("Consent withdrawn"), "expire": _l("Consent expired"),
    "read": _l("Read by the vendor"), "write": _l("Written by the vendor"), "export": _l("Data exported"),
    "erase": _l("Vault erased"), "login": _l("Logged in"), "officer_view": _l("Viewed by a privacy officer"),
    "key_rotation": _l("Keys rotated"), "token_reuse": _l("Stolen token blocked"),
    "deletion_confirmed": _l("Deletion confirmed by the vendor"),
}


def field_label(name: str) -> str:
    return str(FIELD_LABELS.get(name, name))


def event_label(name: str) -> str:
    return str(EVENT_LABELS.get(name, name))


def vault_value(value) -> str:
    """A vault value as one line of text, for previews (the consent screen, connection pages)."""
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(vault_value(v) for v in value)
    if isinstance(value, dict):
        if "address" in value:
            return value["address"]
        if "number" in value:
            return value["number"]
        if "line1" in value:
            parts = [value.get(k) for k in ("line1", "line2", "city", "region", "postal_code", "country")]
            return ", ".join(p for p in parts if p)
        if "start" in value and "end" in value:
            return f"{value['start']}–{value['end']} ({value.get('timezone', '')})"
        return ", ".join(f"{k}: {vault_value(v)}" for k, v in value.items() if v not in (None, ""))
    if isinstance(value, str) and value in CHANNEL_LABELS:
        return str(CHANNEL_LABELS[value])
    if isinstance(value, str) and value in INTEREST_LABELS:
        return str(INTEREST_LABELS[value])
    return str(value)
