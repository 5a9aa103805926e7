"""Validation schemas for the values a customer keeps in their vault.

These schemas are the single gatekeeper between whatever a customer (or a form,
or an API client acting for them) sends and what gets stored. They are plain
marshmallow 4 so that the web layer, the vendor API and background jobs can all
share them without pulling in Flask or SQLAlchemy.

Design choices worth knowing:

* Every vault field is optional, and ``None`` means "clear this field".
* Loading returns JSON-ready Python values (dates as ISO strings, no ``date``
  objects), so callers can ``json.dumps`` the result directly; dumping a loaded
  value and loading it again gives the same value.
* Error messages are written for the customer, not for developers, because the
  web layer shows them next to the form field as they are.
* Nested objects (an address, quiet hours, sizes, ...) are always validated as
  a whole, even in a partial load: a half-filled address is never stored.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import Any

from marshmallow import (
    RAISE,
    Schema,
    ValidationError,
    fields,
    validate,
    validates_schema,
)

__all__ = [
    "CHANNELS",
    "CLOTHING_SIZES",
    "COUNTRY_CODES",
    "INTEREST_CATEGORIES",
    "PHONE_LABELS",
    "PREFERENCE_FIELDS",
    "PROFILE_FIELDS",
    "SHOE_SIZE_SYSTEMS",
    "SUPPORTED_LANGUAGES",
    "VAULT_FIELDS",
    "AddressSchema",
    "EmailSchema",
    "PhoneSchema",
    "PreferencesSchema",
    "ProfileSchema",
    "QuietHoursSchema",
    "ShoeSizeSchema",
    "SizesSchema",
    "UNPRINTABLE_MESSAGE",
    "UnprintableText",
    "VaultValuesSchema",
    "printable",
    "validate_values",
]

# ---------------------------------------------------------------------------
# Public constants
# ---------------------------------------------------------------------------

PROFILE_FIELDS: tuple[str, ...] = (
    "given_name",
    "family_name",
    "display_name",
    "emails",
    "phones",
    "address_home",
    "address_shipping",
    "address_billing",
    "birth_date",
    "language",
    "notes",
)
PREFERENCE_FIELDS: tuple[str, ...] = (
    "channels",
    "preferred_channel",
    "quiet_hours",
    "max_contacts_per_week",
    "interests",
    "sizes",
)
VAULT_FIELDS: tuple[str, ...] = PROFILE_FIELDS + PREFERENCE_FIELDS

CHANNELS: tuple[str, ...] = ("email", "sms", "phone", "post", "chat")

INTEREST_CATEGORIES: tuple[str, ...] = (
    "books",
    "electronics",
    "fashion",
    "travel",
    "home_garden",
    "sports_outdoors",
    "food_drink",
    "health_beauty",
    "toys_games",
    "music",
    "film_tv",
    "automotive",
    "finance",
    "education",
    "pets",
    "art_crafts",
    "gaming",
    "software",
    "baby_kids",
    "jewellery",
)

#: BCP-47 primary language subtags a customer may choose as their language.
SUPPORTED_LANGUAGES: tuple[str, ...] = (
    "en",
    "ar",
    "fr",
    "de",
    "es",
    "it",
    "nl",
    "pt",
    "tr",
    "ur",
    "hi",
    "zh",
    "ja",
    "pl",
    "ro",
    "pa",
    "bn",
    "gu",
)

PHONE_LABELS: tuple[str, ...] = ("mobile", "home", "work", "other")
CLOTHING_SIZES: tuple[str, ...] = ("XXS", "XS", "S", "M", "L", "XL", "XXL", "XXXL")
SHOE_SIZE_SYSTEMS: tuple[str, ...] = ("EU", "UK", "US")

#: The 249 officially assigned ISO 3166-1 alpha-2 codes. Embedded rather than
#: taken from a library so validation cannot change under us with an upgrade.
#: User-assigned codes such as XK (Kosovo) are deliberately not included.
COUNTRY_CODES: frozenset[str] = frozenset(
    """
    AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ
    BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ
    CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ
    DE DJ DK DM DO DZ
    EC EE EG EH ER ES ET
    FI FJ FK FM FO FR
    GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY
    HK HM HN HR HT HU
    ID IE IL IM IN IO IQ IR IS IT
    JE JM JO JP
    KE KG KH KI KM KN KP KR KW KY KZ
    LA LB LC LI LK LR LS LT LU LV LY
    MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ
    NA NC NE NF NG NI NL NO NP NR NU NZ
    OM
    PA PE PF PG PH PK PL PM PN PR PS PT PW PY
    QA
    RE RO RS RU RW
    SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ
    TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ
    UA UG UM US UY UZ
    VA VC VE VG VI VN VU
    WF WS
    YE YT
    ZA ZM ZW
    """.split()
)

# ---------------------------------------------------------------------------
# Rules and messages
# ---------------------------------------------------------------------------

MAX_EMAILS = 10
MAX_PHONES = 10
MAX_INTERESTS = 20
MINIMUM_AGE = 13
EARLIEST_BIRTH_DATE = dt.date(1900, 1, 1)

#: "+" then 8-15 ASCII digits, the first of which is not 0 (ITU-T E.164).
_E164 = re.compile(r"\+[1-9][0-9]{7,14}")
#: Separators people type inside phone numbers: whitespace, parentheses and
#: the hyphen plus its Unicode look-alikes (pasted numbers often contain them).
_PHONE_SEPARATORS = re.compile(r"[\s()\-\u2010-\u2015]")
#: "+44 (0)20 ..." means "drop the 0 when dialling from abroad"; keeping it
#: would store a different, wrong number.
_OPTIONAL_TRUNK_PREFIX = "(0)"
_CLOCK_TIME = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]")
#: Keys that ZoneInfo loads but which are not places: "localtime" is whatever
#: clock the server runs on, the others are tzdata internals.
_NOT_A_PLACE = frozenset({"localtime", "posixrules", "Factory"})

PHONE_MESSAGE = "Enter a phone number in international format, like +447700900123."
EMAIL_MESSAGE = "Enter an email address like name@example.com."
BLANK_MESSAGE = "This can't be left blank."
TOO_LONG_MESSAGE = "Use {max} characters or fewer."
DUPLICATE_MESSAGE = "You've already added this."
UNPRINTABLE_MESSAGE = "Remove the invisible control characters from this text."


# ---------------------------------------------------------------------------
# Printable text: the one definition every module that stores a person's text uses
# ---------------------------------------------------------------------------

#: What no stored text may contain: the C0 controls, DEL and the C1 controls
#: (NUL and terminal escapes among them); the bidirectional embeddings and
#: overrides U+202A-U+202E and isolates U+2066-U+2069, which make text display
#: as something other than what it is (a "\u202e" turns "gpj.exe" around); and
#: surrogate code points, which are never text on their own (a JSON "\ud800").
#: Ordinary direction marks (U+200E, U+200F, U+061C) stay allowed: Arabic
#: and Hebrew writers use them.
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
#: The same for text meant to run over several lines: line feeds and tabs may stay.
_UNPRINTABLE_MULTILINE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_LINE_BREAK = re.compile(r"\r\n?")


class UnprintableText(ValueError):
    """The text holds a character :func:`printable` refuses; ``str()`` is the message for people."""

    def __init__(self) -> None:
        super().__init__(UNPRINTABLE_MESSAGE)


def printable(text: str, *, multiline: bool = False) -> str:
    r"""``text`` if it holds only printable characters, else :class:`UnprintableText`.

    With ``multiline`` (notes, descriptions, messages: text typed into a text
    area) line feeds and tabs are allowed, and the carriage returns browsers
    send in every line break ("\r\n") are made plain "\n" first; a one-line
    value (a name, a title, a city) has neither.
    """
    if multiline:
        text = _LINE_BREAK.sub("\n", text)
    if (_UNPRINTABLE_MULTILINE if multiline else _UNPRINTABLE).search(text):
        raise UnprintableText()
    return text


# ---------------------------------------------------------------------------
# Small helpers
# ---------------------------------------------------------------------------


def _normalise_email(address: str) -> str:
    """Lower-case the domain only: domains are case-insensitive, but the part
    before the "@" may legally be case-sensitive, so we keep it as typed."""
    local, at, domain = address.rpartition("@")
    return f"{local}@{domain.lower()}" if at else address


def _normalise_phone(number: str) -> str:
    """Reduce what people type ("+44 (0)7700 900-123") to bare E.164.

    Non-ASCII decimal digits (e.g. Arabic-Indic numerals typed on an Arabic or
    Urdu keyboard) are mapped to 0-9 so they are not rejected for their script.
    """
    number = _PHONE_SEPARATORS.sub("", number.replace(_OPTIONAL_TRUNK_PREFIX, ""))
    return "".join(
        str(unicodedata.decimal(char)) if char.isdecimal() else char for char in number
    )


def _duplicate_indexes(keys: Iterable[Hashable]) -> list[int]:
    """Indexes of items whose key appeared earlier in the list, so the error
    points at the repeat and the first occurrence stays valid."""
    seen: set[Hashable] = set()
    repeats = []
    for index, key in enumerate(keys):
        if key in seen:
            repeats.append(index)
        seen.add(key)
    return repeats


def _validate_e164(number: str) -> None:
    if not _E164.fullmatch(number):
        raise ValidationError(PHONE_MESSAGE)


def _validate_clock_time(value: str) -> None:
    if not _CLOCK_TIME.fullmatch(value):
        raise ValidationError("Enter a time on the 24-hour clock, like 07:30 or 22:00.")


def _validate_timezone(name: str) -> None:
    """Accept only names the IANA database knows, checked with ZoneInfo so the
    value can later be used to compute the quiet window without surprises."""
    message = "Choose a time zone by its place name, like Europe/London."
    if name in _NOT_A_PLACE:
        raise ValidationError(message)
    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError, OSError) as error:
        raise ValidationError(message) from error


def _age_on(today: dt.date, born: dt.date) -> int:
    """Whole years between two dates (someone born on 29 February turns a year
    older on 1 March in non-leap years)."""
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _validate_birth_date(value: str) -> None:
    """Birth dates must be plausible and the customer at least MINIMUM_AGE,
    the youngest age at which we may hold their data without a guardian."""
    born = dt.date.fromisoformat(value)
    today = dt.date.today()
    if born > today:
        raise ValidationError("Your date of birth can't be in the future.")
    if born < EARLIEST_BIRTH_DATE:
        raise ValidationError("Enter a date of birth from 1900 onwards.")
    if _age_on(today, born) < MINIMUM_AGE:
        raise ValidationError(f"You must be at least {MINIMUM_AGE} years old to add a date of birth.")


def _validate_half_step(value: float) -> None:
    if not (value * 2).is_integer():
        raise ValidationError("Enter a whole or half size, like 42 or 8.5.")


# ---------------------------------------------------------------------------
# Fields with customer-friendly messages
# ---------------------------------------------------------------------------


class _FriendlyMessages:
    """Mixin replacing marshmallow's developer-oriented generic messages.

    marshmallow merges ``default_error_messages`` along the MRO, so listing
    this mixin before the marshmallow field class overrides "required",
    "null" and "validator_failed" for every field type we use.
    """

    default_error_messages = {
        "required": "Please fill this in.",
        "null": "Please fill this in.",
        "validator_failed": "Please check this value.",
    }


class Text(_FriendlyMessages, fields.String):
    """A string with surrounding whitespace removed, optionally normalised.

    Stripping happens before validators run, so "   " counts as blank and
    length limits apply to what is actually stored. What would be stored is
    refused if it holds a character :func:`printable` refuses (checked after
    ``normalise``, so the tab a pasted phone number may hold, which the phone
    normaliser removes, is no reason to refuse it); only a ``multiline`` field
    (one typed into a text area) may hold line feeds and tabs.
    """

    default_error_messages = {
        "invalid": "Enter this as text.",
        "invalid_utf8": "This text contains characters we can't read.",
        "unprintable": UNPRINTABLE_MESSAGE,
    }

    def __init__(self, *, normalise: Callable[[str], str] | None = None, multiline: bool = False, **kwargs: Any):
        super().__init__(**kwargs)
        self.normalise = normalise
        self.multiline = multiline

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        text = super()._deserialize(value, attr, data, **kwargs).strip()
        if self.normalise:
            text = self.normalise(text)
        try:
            return printable(text, multiline=self.multiline)
        except UnprintableText:
            raise self.make_error("unprintable") from None


class WholeNumber(_FriendlyMessages, fields.Integer):
    """An integer that refuses 2.5 instead of silently truncating it to 2
    (marshmallow's non-strict Integer truncates), while still accepting "3"
    or 3.0 as sent by forms."""

    default_error_messages = {"invalid": "Enter a whole number.", "too_large": "Enter a smaller number."}

    def _validated(self, value: Any) -> int:
        if isinstance(value, float) and not value.is_integer():
            raise self.make_error("invalid", input=value)
        return super()._validated(value)


class Number(_FriendlyMessages, fields.Float):
    default_error_messages = {
        "invalid": "Enter a number.",
        "too_large": "Enter a smaller number.",
        "special": "Enter a number.",
    }


class Flag(_FriendlyMessages, fields.Boolean):
    default_error_messages = {"invalid": "Choose yes or no."}


class IsoDate(_FriendlyMessages, fields.Date):
    """A calendar date kept as an ISO "YYYY-MM-DD" string.

    Loading yields a string (not ``datetime.date``) so results can go straight
    to ``json.dumps``; dumping accepts either form so round trips are stable.
    Validators receive the ISO string.
    """

    default_error_messages = {
        "invalid": "Enter a date as year-month-day, like 1990-04-25.",
        "format": "Enter a date as year-month-day, like 1990-04-25.",
    }

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> str:
        # A datetime is a date subclass; its time part would leak into the
        # ISO string, so it is refused rather than guessed at.
        if isinstance(value, dt.datetime):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs).isoformat()

    def _serialize(self, value: Any, attr: Any, obj: Any, **kwargs: Any) -> str | None:
        if isinstance(value, str):
            return value
        return super()._serialize(value, attr, obj, **kwargs)


class Object(_FriendlyMessages, fields.Nested):
    """A nested object that is always validated whole.

    marshmallow passes ``partial`` down to nested schemas, which would let a
    partial update store an address without a city. A vault value is replaced
    as a unit, so the nested schema's required fields always apply.
    """

    default_error_messages = {"type": "This should be a group of details."}

    def _deserialize(self, value: Any, attr: Any, data: Any, partial: Any = None, **kwargs: Any) -> Any:
        return super()._deserialize(value, attr, data, partial=None, **kwargs)


class ListOf(_FriendlyMessages, fields.List):
    default_error_messages = {"invalid": "This should be a list."}


class UniqueList(ListOf):
    """A list of simple values where each may appear only once."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[Any]:
        items = super()._deserialize(value, attr, data, **kwargs)
        repeats = _duplicate_indexes(items)
        if repeats:
            raise ValidationError({index: [DUPLICATE_MESSAGE] for index in repeats})
        return items


class EmailList(ListOf):
    """The customer's email addresses: no repeats, exactly one primary.

    Addresses are compared case-insensitively because mail providers treat
    them that way in practice. If none is marked primary the first one
    becomes primary, so there is always a default address to contact.
    """

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[dict[str, Any]]:
        emails = super()._deserialize(value, attr, data, **kwargs)
        errors: defaultdict[int, dict[str, list[str]]] = defaultdict(dict)
        for index in _duplicate_indexes(email["address"].casefold() for email in emails):
            errors[index]["address"] = ["You've already added this email address."]
        primaries = [index for index, email in enumerate(emails) if email["primary"]]
        for index in primaries[1:]:
            errors[index]["primary"] = ["Only one email address can be your primary address."]
        if errors:
            raise ValidationError(dict(errors))
        if emails and not primaries:
            emails[0]["primary"] = True
        return emails


class PhoneList(ListOf):
    """The customer's phone numbers, each at most once.

    Numbers are compared as stored, in E.164, so "+44 7700 900123" repeats
    "+447700900123" however each was typed.
    """

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> list[dict[str, Any]]:
        phones = super()._deserialize(value, attr, data, **kwargs)
        repeats = _duplicate_indexes(phone["number"] for phone in phones)
        if repeats:
            message = "You've already added this phone number."
            raise ValidationError({index: {"number": [message]} for index in repeats})
        return phones


def _text(max_length: int, *, blank_ok: bool = False, **kwargs: Any) -> Text:
    """A stripped text field of at most ``max_length`` characters."""
    rules = [validate.Length(max=max_length, error=TOO_LONG_MESSAGE)]
    if not blank_ok:
        rules.insert(0, validate.Length(min=1, error=BLANK_MESSAGE))
    return Text(validate=rules, **kwargs)


def _choice(options: Sequence[str], error: str, *, case: Callable[[str], str] = str.lower, **kwargs: Any) -> Text:
    """A text field restricted to ``options``; input case is normalised with
    ``case`` so "Email" or "xl" still match "email" or "XL"."""
    return Text(normalise=case, validate=validate.OneOf(options, error=error), **kwargs)


# ---------------------------------------------------------------------------
# Schemas
# ---------------------------------------------------------------------------


class _Schema(Schema):
    """Base for every schema here: refuse anything we don't know how to store."""

    class Meta:
        unknown = RAISE

    error_messages = {
        "unknown": "This isn't something your vault can store.",
        "type": "This should be a group of details.",
    }


class _ClearableSchema(_Schema):
    """Top-level vault schemas: every field is optional and ``None`` clears it.

    Done in ``on_bind_field`` so no field can forget ``allow_none=True``.
    """

    def on_bind_field(self, field_name: str, field_obj: fields.Field) -> None:
        field_obj.allow_none = True


class EmailSchema(_Schema):
    address = Text(
        required=True,
        normalise=_normalise_email,
        validate=[validate.Length(max=254, error=TOO_LONG_MESSAGE), validate.Email(error=EMAIL_MESSAGE)],
    )
    primary = Flag(load_default=False)
    verified = Flag(load_default=False)


class PhoneSchema(_Schema):
    number = Text(required=True, normalise=_normalise_phone, validate=_validate_e164)
    label = _choice(PHONE_LABELS, "Choose mobile, home, work or other.", load_default="mobile")


class AddressSchema(_Schema):
    line1 = _text(200, required=True)
    line2 = _text(200, blank_ok=True, allow_none=True)
    city = _text(100, required=True)
    region = _text(100, blank_ok=True, allow_none=True)
    postal_code = _text(20, blank_ok=True, allow_none=True)
    country = _choice(
        tuple(sorted(COUNTRY_CODES)),
        "Enter the two-letter country code, like GB, FR or US.",
        case=str.upper,
        required=True,
    )


class QuietHoursSchema(_Schema):
    """A daily window with no contact. It may cross midnight (22:00-07:00),
    so the only impossible window is one that starts and ends together."""

    start = Text(required=True, validate=_validate_clock_time)
    end = Text(required=True, validate=_validate_clock_time)
    timezone = Text(required=True, validate=_validate_timezone)

    @validates_schema
    def _window_has_length(self, data: dict[str, Any], **kwargs: Any) -> None:
        if data["start"] == data["end"]:
            raise ValidationError("Quiet hours must end at a different time from when they start.", "end")


class ShoeSizeSchema(_Schema):
    system = _choice(SHOE_SIZE_SYSTEMS, "Choose EU, UK or US sizing.", case=str.upper, required=True)
    value = Number(
        required=True,
        validate=[
            validate.Range(min=1, max=60, error="Enter a shoe size between {min} and {max}."),
            _validate_half_step,
        ],
    )


class SizesSchema(_Schema):
    clothing = _choice(
        CLOTHING_SIZES, "Choose a clothing size from XXS to XXXL.", case=str.upper, allow_none=True
    )
    shoe = Object(ShoeSizeSchema, allow_none=True)


def _address() -> Object:
    return Object(AddressSchema)


class ProfileSchema(_ClearableSchema):
    """Who the customer is and how to reach them."""

    given_name = _text(100)
    family_name = _text(100)
    display_name = _text(100)
    emails = EmailList(
        Object(EmailSchema),
        validate=validate.Length(max=MAX_EMAILS, error="You can add up to {max} email addresses."),
    )
    phones = PhoneList(
        Object(PhoneSchema),
        validate=validate.Length(max=MAX_PHONES, error="You can add up to {max} phone numbers."),
    )
    address_home = _address()
    address_shipping = _address()
    address_billing = _address()
    birth_date = IsoDate(validate=_validate_birth_date)
    language = _choice(SUPPORTED_LANGUAGES, "Choose one of the languages we support: {choices}.")
    notes = _text(5000, blank_ok=True, multiline=True)


_CHANNEL_ERROR = "Choose from email, sms, phone, post or chat."


class PreferencesSchema(_ClearableSchema):
    """How, when and about what the customer agrees to be contacted."""

    channels = UniqueList(_choice(CHANNELS, _CHANNEL_ERROR))
    preferred_channel = _choice(CHANNELS, _CHANNEL_ERROR)
    quiet_hours = Object(QuietHoursSchema)
    max_contacts_per_week = WholeNumber(
        validate=validate.Range(min=0, max=100, error="Enter a number from {min} to {max}.")
    )
    interests = UniqueList(
        _choice(INTEREST_CATEGORIES, "Choose from the listed interests."),
        validate=validate.Length(max=MAX_INTERESTS, error="You can choose up to {max} interests."),
    )
    sizes = Object(SizesSchema)

    @validates_schema
    def _preferred_channel_is_allowed(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Only checked when both arrive together: a partial update of one of
        them cannot see the stored other, and the caller must merge first.
        Sending ``channels: None`` (clear all) counts as allowing none."""
        preferred = data.get("preferred_channel")
        if preferred is None or "channels" not in data:
            return
        if preferred not in (data["channels"] or ()):
            raise ValidationError(
                "Your preferred way to be contacted must be one of the ways you allow.",
                "preferred_channel",
            )


class VaultValuesSchema(PreferencesSchema, ProfileSchema):
    """Every vault field; hooks (such as the preferred-channel rule) are
    inherited from both parents.

    The bases are listed Preferences-first on purpose: marshmallow collects
    inherited fields from the far end of the MRO, so this order yields
    profile fields first, matching ``VAULT_FIELDS``.
    """


_VAULT_SCHEMA = VaultValuesSchema()


def validate_values(data: dict[str, Any], *, partial: bool = True) -> tuple[dict[str, Any], dict[str, Any]]:
    """Validate vault values, returning ``(clean_values, errors)``.

    All or nothing: on any error ``clean_values`` is ``{}``, so a caller can
    never store half of what the customer sent. ``errors`` is marshmallow's
    message dict (``{}`` when valid), keyed by field and, for list items, by
    index. ``partial`` is passed to marshmallow; since every vault field is
    already optional it does not relax nested objects (see ``Object``).
    """
    try:
        return _VAULT_SCHEMA.load(data, partial=partial), {}
    except ValidationError as error:
        return {}, error.normalized_messages()
