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
