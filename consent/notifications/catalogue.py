"""The notification catalogue: every event a customer can be told about, as data, in English and Arabic.

Why data and not gettext: the texts are rendered by the worker (no request, no Flask: this
package may not import it) and by the portal, in the language of the *recipient*, not of the
current request. Keeping both languages next to each other, as :mod:`consent.scopes` does,
makes a missing translation an import-time error (``_check``) instead of an English mail to an
Arabic reader. Texts are ``str.format`` templates over the event's params; params never hold
vault values (names of vendors, public ids, dates, counts), because they are stored in plain.
"""
from __future__ import annotations

from dataclasses import dataclass
from string import Formatter
from types import MappingProxyType

LANGUAGES = ("en", "ar")
CHANNELS = ("email", "sms", "portal")
#: Channels a customer may switch; the portal centre always gets every event.
OPTIONAL_CHANNELS = ("email", "sms")
EXPIRY_NOTICE_DAYS = 7


@dataclass(frozen=True)
class Event:
    id: str
    #: Security-relevant events go by email unless the customer turns it off.
    security: bool
    #: Required params, and the portal path the message links to (a template over them).
    params: tuple[str, ...]
    link: str | None
    titles: MappingProxyType
    subjects: MappingProxyType
    bodies: MappingProxyType
    #: "customer" events are listed on the customer's settings page; "vendor" ones only go by
    #: email to a vendor's contact (notify_address), so a customer has nothing to choose there.
    audience: str = "customer"

    @property
    def default_channels(self) -> frozenset[str]:
        return frozenset({"portal", "email"} if self.security else {"portal"})


def _event(id, *, security, params, link, en, ar, audience="customer") -> Event:
    """``en``/``ar``: (title for settings, subject, body)."""
    return Event(id, security, tuple(params), link,
                 MappingProxyType({"en": en[0], "ar": ar[0]}),
                 MappingProxyType({"en": en[1], "ar": ar[1]}),
                 MappingProxyType({"en": en[2], "ar": ar[2]}), audience)


_EVENTS = (
    _event("vendor_connected", security=True, params=("vendor", "grant"), link="/me/connections/{grant}",
           en=("A vendor is connected", "{vendor} is now connected to your vault",
               "You allowed {vendor} to read data from your vault. If this was not you, withdraw the consent "
               "at once and change your password."),
           ar=("ربط شركة بخزنتك", "أصبحت {vendor} مرتبطة بخزنتك",
               "سمحت لـ {vendor} بقراءة بيانات من خزنتك. إن لم تكن أنت من فعل ذلك، فاسحب الموافقة فورًا "
               "وغيّر كلمة المرور.")),
    _event("grant_expiring", security=True, params=("vendor", "grant", "date"),
           link="/me/notifications/renew/{grant}",
           en=("Consent about to expire", "Your consent for {vendor} ends on {date}",
               "Your consent for {vendor} expires on {date}. Renew it with one click, or let it end: "
               "{vendor} then reads nothing more."),
           ar=("موافقة على وشك الانتهاء", "تنتهي موافقتك لـ {vendor} في {date}",
               "تنتهي موافقتك لـ {vendor} في {date}. جدّدها بنقرة واحدة أو دعها تنتهي، "
               "وعندها لن تقرأ {vendor} أي شيء بعد ذلك.")),
    _event("grant_expired", security=False, params=("vendor", "grant"), link="/me/connections/{grant}",
           en=("Consent expired", "Your consent for {vendor} has expired",
               "Your consent for {vendor} has ended. {vendor} can no longer read your vault."),
           ar=("انتهت الموافقة", "انتهت موافقتك لـ {vendor}",
               "انتهت موافقتك لـ {vendor}، ولم يعد بإمكانها قراءة خزنتك.")),
    _event("grant_revoked", security=True, params=("vendor", "grant"), link="/me/connections/{grant}",
           en=("Consent withdrawn", "Consent for {vendor} was withdrawn",
               "The consent for {vendor} was withdrawn. {vendor} can no longer read your vault. If this was "
               "not you, change your password."),
           ar=("سحب الموافقة", "سُحبت الموافقة الممنوحة لـ {vendor}",
               "سُحبت الموافقة الممنوحة لـ {vendor}، ولم يعد بإمكانها قراءة خزنتك. إن لم تكن أنت من فعل "
               "ذلك، فغيّر كلمة المرور.")),
    _event("app_retired", security=False, params=("vendor", "grant"), link="/me/connections/{grant}",
           en=("A vendor retired its app", "{vendor} retired the app you shared data with",
               "{vendor} retired the app you shared data with, so your consent to it has ended and it can no "
               "longer read your vault. The connection's page shows whether it has confirmed deleting your data."),
           ar=("شركة أوقفت تطبيقها", "أوقفت {vendor} التطبيق الذي شاركت معه بياناتك",
               "أوقفت {vendor} التطبيق الذي شاركت معه بياناتك، لذا انتهت موافقتك عليه ولم يعد بإمكانه قراءة "
               "خزنتك. تُظهر صفحة الاتصال ما إذا كانت قد أكدت حذف بياناتك.")),
    _event("read_volume_jump", security=False, params=("vendor", "grant", "count", "usual"),
           link="/me/connections/{grant}",
           en=("A vendor reads much more than usual", "{vendor} is reading more of your data than usual",
               "{vendor} read your vault {count} times in the last day; usually it is about {usual}. "
               "Check its access history, and narrow or withdraw the consent if that is not right."),
           ar=("شركة تقرأ أكثر من المعتاد", "تقرأ {vendor} بياناتك أكثر من المعتاد",
               "قرأت {vendor} خزنتك {count} مرة خلال اليوم الأخير، والمعتاد نحو {usual}. راجع سجل "
               "وصولها، وقلّص الموافقة أو اسحبها إن لم يكن ذلك صحيحًا.")),
    _event("offer_received", security=False, params=("vendor", "intent"), link="/me/intents/{intent}",
           en=("A new offer on your request", "{vendor} made an offer on your request",
               "{vendor} answered your request with an offer. Compare it with the others and accept or decline."),
           ar=("عرض جديد على طلبك", "قدّمت {vendor} عرضًا على طلبك",
               "ردّت {vendor} على طلبك بعرض. قارنه بالعروض الأخرى ثم اقبله أو ارفضه.")),
    _event("case_updated", security=False, params=("vendor", "reference"), link="/me/cases/{reference}",
           en=("A service case changed", "Your case {reference} with {vendor} was updated",
               "There is news on your case {reference} with {vendor}."),
           ar=("تحديث على طلب خدمة", "تحديث على طلبك {reference} لدى {vendor}",
               "هناك جديد في طلبك {reference} لدى {vendor}.")),
    _event("case_escalated_vendor", security=False, params=("vendor", "reference", "target"), link=None,
           audience="vendor",
           en=("A customer's case is overdue", "Case {reference} for {vendor} is overdue",
               "Case {reference}, opened by a customer of {vendor} through VRM Vault, is past its {target} "
               "target. Please answer it through the vendor API."),
           ar=("طلب عميل متأخر", "الطلب {reference} لدى {vendor} متأخر",
               "تجاوز الطلب {reference}، الذي فتحه عميل لـ {vendor} عبر خزنة VRM، الوقت المحدد ({target}). "
               "يُرجى الرد عليه عبر واجهة برمجة التطبيقات للشركات.")),
    _event("case_escalated", security=False, params=("vendor", "reference"), link="/me/cases/{reference}",
           en=("A service case is late", "Your case {reference} with {vendor} is overdue",
               "{vendor} missed its promised time on your case {reference}. We marked it overdue and told "
               "their escalation contact."),
           ar=("تأخر طلب خدمة", "تأخر طلبك {reference} لدى {vendor}",
               "تجاوزت {vendor} الوقت الذي وعدت به لطلبك {reference}. علّمناه متأخرًا وأبلغنا جهة "
               "التصعيد لديها.")),
    _event("deletion_confirmed", security=True, params=("vendor", "date"), link=None,
           en=("A vendor deleted your data", "{vendor} confirmed it deleted your data",
               "On {date} {vendor} confirmed that it deleted the data it held about you. The confirmation is "
               "kept in your activity record."),
           ar=("شركة حذفت بياناتك", "أكّدت {vendor} حذف بياناتك",
               "في {date} أكّدت {vendor} أنها حذفت البيانات التي كانت لديها عنك. يُحفظ هذا التأكيد في "
               "سجل نشاطك.")),
)

EVENTS: MappingProxyType = MappingProxyType({e.id: e for e in _EVENTS})
#: What a customer can be told about, and so choose channels for.
CUSTOMER_EVENTS: MappingProxyType = MappingProxyType({e.id: e for e in _EVENTS if e.audience == "customer"})


class UnknownEvent(ValueError):
    pass


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str
    #: Site-relative path the message points to, or None.
    link: str | None


def _lang(lang: str | None) -> str:
    return lang if lang in LANGUAGES else "en"


def render(event_id: str, params: dict, lang: str | None) -> Rendered:
    """The message in ``lang`` (English for anything unsupported); missing params show as ``?``."""
    event = EVENTS[event_id]
    lang = _lang(lang)
    values = {name: str(params.get(name, "?")) for name in event.params}
    return Rendered(event.subjects[lang].format(**values), event.bodies[lang].format(**values),
                    event.link.format(**values) if event.link else None)


def title(event_id: str, lang: str | None) -> str:
    return EVENTS[event_id].titles[_lang(lang)]


def _check() -> None:
    for event in _EVENTS:
        for texts in (event.titles, event.subjects, event.bodies):
            if set(texts) != set(LANGUAGES) or not all(texts.values()):
                raise RuntimeError(f"notification {event.id!r} lacks a translation")
            for text in list(texts.values()) + [event.link or ""]:
                used = {name for _lit, name, _spec, _conv in Formatter().parse(text) if name}
                if used - set(event.params):
                    raise RuntimeError(f"notification {event.id!r} uses unknown params {used - set(event.params)}")


_check()

#: The last lines of every email: where the choices are made.
FOOTER = MappingProxyType({
    "en": "You get this message because of your notification settings: {url}",
    "ar": "تصلك هذه الرسالة وفق إعدادات التنبيهات لديك: {url}",
})
SETTINGS_PATH = "/me/notifications/settings"
