"""The scope catalogue: what a vendor can ask for, as data.

Why data and not code: the consent screen, the vendor API's OAuth ``scope`` parameter, the
field filter that decides what leaves the vault, and the receipts all read this one table, so
they cannot disagree about what "profile.email" means. Every scope carries its own English and
Arabic wording because a customer can only consent to what they can read.

The catalogue is checked when the module is imported (``_check_catalogue``): a scope naming an
unknown field, missing a translation, or exposing ``notes`` stops start-up instead of surfacing
later as a data leak or a blank line on a consent screen.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

LANGUAGES = ("en", "ar")
DEFAULT_LANGUAGE = "en"
ACCESS_MODES = ("read", "write")
SENSITIVITY_LEVELS = ("low", "medium", "high")  # ordered, least to most sensitive

#: Fields of the customer's vault record.
VAULT_FIELDS = frozenset({
    "given_name", "family_name", "display_name", "emails", "phones",
    "address_home", "address_shipping", "address_billing", "birth_date", "language", "notes",
    "channels", "preferred_channel", "quiet_hours", "max_contacts_per_week", "interests", "sizes",
})
#: Collections that are not profile fields but are still shared under a scope.
PSEUDO_FIELDS = frozenset({"purchases", "purchase_context", "cases", "intents", "offers"})
#: Fields that no scope may ever include: the customer's private notes stay private.
NEVER_SHARED = frozenset({"notes"})


class UnknownScope(ValueError):
    """A scope id that is not in the catalogue; ``scope_id`` names it."""

    def __init__(self, scope_id: str):
        super().__init__(f"Unknown scope: {scope_id!r}.")
        self.scope_id = scope_id


@dataclass(frozen=True)
class Scope:
    """One grantable permission: which fields, read or write, and how to explain it."""

    id: str
    fields: tuple[str, ...]
    access: str
    sensitivity: str
    labels: Mapping[str, str] = field(hash=False, compare=False)
    explanations: Mapping[str, str] = field(hash=False, compare=False)

    def __post_init__(self) -> None:
        # Read-only views: the catalogue is shared by every request and must not be edited in place.
        object.__setattr__(self, "fields", tuple(self.fields))
        object.__setattr__(self, "labels", MappingProxyType(dict(self.labels)))
        object.__setattr__(self, "explanations", MappingProxyType(dict(self.explanations)))

    def label(self, lang: str = DEFAULT_LANGUAGE) -> str:
        return self.labels.get(lang) or self.labels[DEFAULT_LANGUAGE]

    def explain(self, lang: str = DEFAULT_LANGUAGE) -> str:
        return self.explanations.get(lang) or self.explanations[DEFAULT_LANGUAGE]


def _scope(id, fields, access, sensitivity, *, en, ar) -> Scope:
    """``en``/``ar`` are (short label, one-line explanation) pairs."""
    return Scope(id, tuple(fields), access, sensitivity,
                 labels={"en": en[0], "ar": ar[0]}, explanations={"en": en[1], "ar": ar[1]})


_CATALOGUE = (
    _scope("profile.name", ("given_name", "family_name", "display_name"), "read", "low",
           en=("Your name", "Lets the vendor see your given name, family name and the name you like to be called."),
           ar=("اسمك", "يتيح للشركة الاطلاع على اسمك الأول واسم عائلتك والاسم الذي تفضّل أن تُنادى به.")),
    _scope("profile.email", ("emails",), "read", "medium",
           en=("Email addresses", "Lets the vendor see the email addresses saved in your vault."),
           ar=("عناوين البريد الإلكتروني", "يتيح للشركة الاطلاع على عناوين بريدك الإلكتروني المحفوظة في خزنتك.")),
    _scope("profile.phone", ("phones",), "read", "medium",
           en=("Phone numbers", "Lets the vendor see the phone numbers saved in your vault."),
           ar=("أرقام الهاتف", "يتيح للشركة الاطلاع على أرقام هاتفك المحفوظة في خزنتك.")),
    _scope("profile.birthdate", ("birth_date",), "read", "high",
           en=("Date of birth", "Lets the vendor see your date of birth, which reveals your age and helps identify you."),
           ar=("تاريخ الميلاد", "يتيح للشركة الاطلاع على تاريخ ميلادك، وهو يكشف عمرك ويساعد على تحديد هويتك.")),
    _scope("profile.language", ("language",), "read", "low",
           en=("Preferred language", "Lets the vendor know which language you prefer to be addressed in."),
           ar=("اللغة المفضّلة", "يتيح للشركة معرفة اللغة التي تفضّل أن تُخاطَب بها.")),
    _scope("address.home", ("address_home",), "read", "high",
           en=("Home address", "Lets the vendor see where you live."),
           ar=("عنوان السكن", "يتيح للشركة معرفة مكان سكنك.")),
    _scope("address.shipping", ("address_shipping",), "read", "medium",
           en=("Shipping address", "Lets the vendor see the address where you want your orders delivered."),
           ar=("عنوان الشحن", "يتيح للشركة الاطلاع على العنوان الذي تريد أن تُسلَّم إليه طلباتك.")),
    _scope("address.billing", ("address_billing",), "read", "medium",
           en=("Billing address", "Lets the vendor see the address used on your invoices and payments."),
           ar=("عنوان الفوترة", "يتيح للشركة الاطلاع على العنوان المستخدم في فواتيرك ومدفوعاتك.")),
    _scope("preferences.communication",
           ("channels", "preferred_channel", "quiet_hours", "max_contacts_per_week"), "read", "low",
           en=("How you want to be contacted",
               "Lets the vendor see the channels you accept, your preferred one, your quiet hours "
               "and how many times a week you may be contacted."),
           ar=("تفضيلات التواصل",
               "يتيح للشركة معرفة قنوات التواصل التي تقبلها والقناة المفضّلة لديك وأوقات عدم الإزعاج "
               "والحدّ الأقصى لعدد مرات التواصل معك في الأسبوع.")),
    _scope("preferences.interests", ("interests",), "read", "low",
           en=("Interests", "Lets the vendor see the interests you chose to list, so its offers suit you better."),
           ar=("الاهتمامات", "يتيح للشركة الاطلاع على الاهتمامات التي اخترت إدراجها، لتكون عروضها أنسب لك.")),
    _scope("preferences.sizes", ("sizes",), "read", "low",
           en=("Sizes", "Lets the vendor see the sizes you saved, such as clothing and shoe sizes."),
           ar=("المقاسات", "يتيح للشركة الاطلاع على المقاسات التي حفظتها، مثل مقاسات الملابس والأحذية.")),
    _scope("purchases.read", ("purchases",), "read", "medium",
           en=("Purchase history", "Lets the vendor read the purchase records kept in your vault."),
           ar=("سجلّ المشتريات", "يتيح للشركة قراءة سجلات المشتريات المحفوظة في خزنتك.")),
    _scope("purchases.write", ("purchases",), "write", "low",
           en=("Add purchase records", "Lets the vendor add records of what you buy from it to your vault."),
           ar=("إضافة سجلات المشتريات", "يتيح للشركة إضافة سجلات ما تشتريه منها إلى خزنتك.")),
    _scope("purchases.context", ("purchase_context",), "read", "medium",
           en=("Purchase context",
               "Lets the vendor read the notes you attach to a purchase, such as what you bought it for."),
           ar=("سياق الشراء",
               "يتيح للشركة الاطلاع على الملاحظات التي ترفقها بعملية الشراء، مثل الغرض الذي اشتريت المنتج من أجله.")),
    _scope("cases.read", ("cases",), "read", "medium",
           en=("Support cases", "Lets the vendor read your support cases and their history."),
           ar=("طلبات الدعم", "يتيح للشركة الاطلاع على طلبات الدعم الخاصة بك وسجلّها.")),
    _scope("cases.write", ("cases",), "write", "low",
           en=("Update support cases", "Lets the vendor open support cases in your vault and add updates to them."),
           ar=("تحديث طلبات الدعم", "يتيح للشركة فتح طلبات دعم في خزنتك وإضافة مستجدّاتها إليها.")),
    _scope("intents.read", ("intents",), "read", "low",
           en=("Buying intentions",
               "Lets the vendor read the intentions you publish, such as a product you are looking to buy."),
           ar=("نوايا الشراء", "يتيح للشركة الاطلاع على النوايا التي تعلنها، مثل منتج تبحث عن شرائه.")),
    _scope("offers.write", ("offers",), "write", "low",
           en=("Send offers", "Lets the vendor place offers in your vault in reply to your intentions."),
           ar=("إرسال العروض", "يتيح للشركة إرسال عروض إلى خزنتك ردًّا على نواياك.")),
)

SCOPES: Mapping[str, Scope] = MappingProxyType({s.id: s for s in _CATALOGUE})


def _frozen_labels(table: dict[str, dict[str, str]]) -> Mapping[str, Mapping[str, str]]:
    return MappingProxyType({k: MappingProxyType(dict(v)) for k, v in table.items()})


# W3C Data Privacy Vocabulary (https://w3id.org/dpv) purpose concepts a vendor may declare.
DPV_PURPOSES: Mapping[str, Mapping[str, str]] = _frozen_labels({
    "dpv:ServiceProvision": {"en": "Providing the service", "ar": "تقديم الخدمة"},
    "dpv:RequestedServiceProvision": {"en": "Providing a service you asked for", "ar": "تقديم خدمة طلبتها"},
    "dpv:CustomerManagement": {"en": "Managing the customer relationship", "ar": "إدارة العلاقة مع العملاء"},
    "dpv:CustomerCare": {"en": "Customer care", "ar": "رعاية العملاء"},
    "dpv:CustomerOrderManagement": {"en": "Managing your orders", "ar": "إدارة طلباتك"},
    "dpv:DeliveryOfGoods": {"en": "Delivering goods", "ar": "توصيل البضائع"},
    "dpv:PaymentManagement": {"en": "Managing payments", "ar": "إدارة المدفوعات"},
    "dpv:Personalisation": {"en": "Personalisation", "ar": "التخصيص"},
    "dpv:ServicePersonalisation": {"en": "Personalising the service", "ar": "تخصيص الخدمة"},
    "dpv:ProvidePersonalisedRecommendations": {"en": "Personalised recommendations", "ar": "تقديم توصيات مخصّصة"},
    "dpv:Marketing": {"en": "Marketing", "ar": "التسويق"},
    "dpv:DirectMarketing": {"en": "Direct marketing", "ar": "التسويق المباشر"},
})

LAWFUL_BASES: Mapping[str, Mapping[str, str]] = _frozen_labels({
    "dpv:Consent": {"en": "Consent", "ar": "الموافقة"},
    "dpv:Contract": {"en": "Contract", "ar": "العقد"},
    "dpv:LegitimateInterest": {"en": "Legitimate interest", "ar": "المصلحة المشروعة"},
})


def get_scope(scope_id: str) -> Scope:
    try:
        return SCOPES[scope_id]
    except (KeyError, TypeError):
        raise UnknownScope(scope_id) from None


def parse_scope_string(value: str) -> tuple[str, ...]:
    """Split an OAuth ``scope`` value (RFC 6749 §3.3: space-separated) into known scope ids.

    Order of first appearance is kept, duplicates are dropped, runs of spaces are tolerated.
    Any token that is not a catalogue id (including ones glued together by tabs or newlines)
    raises :class:`UnknownScope` naming it, so a typo is never silently ignored.
    """
    if not isinstance(value, str):
        raise TypeError("scope must be a string")
    seen: dict[str, None] = {}
    for token in value.split(" "):
        if token:
            get_scope(token)
            seen.setdefault(token, None)
    return tuple(seen)


def fields_for(scope_ids: Iterable[str] | str, access: str = "read") -> frozenset[str]:
    """The fields the given scopes allow for ``access`` ("read" or "write").

    A read scope never implies write and vice versa. A plain string is parsed as an OAuth
    scope value rather than iterated character by character.
    """
    if access not in ACCESS_MODES:
        raise ValueError(f"access must be one of {ACCESS_MODES}, not {access!r}")
    ids = parse_scope_string(scope_ids) if isinstance(scope_ids, str) else scope_ids
    allowed: set[str] = set()
    for scope_id in ids:
        scope = get_scope(scope_id)
        if scope.access == access:
            allowed.update(scope.fields)
    return frozenset(allowed)


def max_sensitivity(scope_ids: Iterable[str]) -> str | None:
    """Highest sensitivity among the scopes (None for none): drives warnings and receipts."""
    levels = [SENSITIVITY_LEVELS.index(get_scope(s).sensitivity) for s in scope_ids]
    return SENSITIVITY_LEVELS[max(levels)] if levels else None


def _check_catalogue() -> None:
    known = VAULT_FIELDS | PSEUDO_FIELDS
    for scope in SCOPES.values():
        problems = []
        if scope.access not in ACCESS_MODES:
            problems.append(f"access {scope.access!r}")
        if scope.sensitivity not in SENSITIVITY_LEVELS:
            problems.append(f"sensitivity {scope.sensitivity!r}")
        if not scope.fields or not set(scope.fields) <= known:
            problems.append(f"fields {sorted(set(scope.fields) - known)}")
        if set(scope.fields) & NEVER_SHARED:
            problems.append("includes a never-shared field")
        for lang in LANGUAGES:
            if not scope.labels.get(lang, "").strip() or not scope.explanations.get(lang, "").strip():
                problems.append(f"missing {lang} text")
        if problems:
            raise RuntimeError(f"Scope catalogue entry {scope.id!r} is invalid: {', '.join(problems)}.")
    for table in (DPV_PURPOSES, LAWFUL_BASES):
        for concept, labels in table.items():
            if not concept.startswith("dpv:") or any(not labels.get(lang) for lang in LANGUAGES):
                raise RuntimeError(f"DPV label table entry {concept!r} is incomplete.")


_check_catalogue()
