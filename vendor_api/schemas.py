"""Output schemas of the vendor API: explicit whitelists, one per audience.

These are dump-only descriptions of what a vendor may receive. A field missing from the data
is omitted from the output (never ``null``), which is how "not granted" looks to a vendor.
The customer's private ``notes`` have no field here at all, so even a bug upstream could not
serialise them.
"""
from __future__ import annotations

from datetime import timezone

from marshmallow import Schema, fields


class Instant(fields.AwareDateTime):
    """An aware timestamp that exists in UTC. Year 1 at +05:00 is year 0 in UTC, which Python
    cannot represent: converting it raised OverflowError (a 500). Narrower limits belong to each
    service (an offer's validity, a contact "ahead of ours"), which answer them after the checks
    that decide whether the request concerns anything at all (404 before 422)."""

    default_error_messages = {"range": "Must be a time that exists in UTC: 0001-01-01T00:00:00Z to "
                                       "9999-12-31T23:59:59Z."}

    def _deserialize(self, value, attr, data, **kwargs):
        parsed = super()._deserialize(value, attr, data, **kwargs)
        try:
            parsed.astimezone(timezone.utc)
        except OverflowError:
            raise self.make_error("range") from None
        return parsed


class _Out(Schema):
    class Meta:
        ordered = True


class EmailOut(_Out):
    address = fields.String()
    primary = fields.Boolean()
    verified = fields.Boolean()


class PhoneOut(_Out):
    number = fields.String()
    label = fields.String()


class AddressOut(_Out):
    line1 = fields.String()
    line2 = fields.String(allow_none=True)
    city = fields.String()
    region = fields.String(allow_none=True)
    postal_code = fields.String(allow_none=True)
    country = fields.String()


class QuietHoursOut(_Out):
    start = fields.String()
    end = fields.String()
    timezone = fields.String()


class ShoeSizeOut(_Out):
    system = fields.String()
    value = fields.Float()


class SizesOut(_Out):
    clothing = fields.String(allow_none=True)
    shoe = fields.Nested(ShoeSizeOut, allow_none=True)


class MeSchema(_Out):
    """``GET /api/v1/me``: the consented, filled fields of one customer, and their pairwise id."""

    sub = fields.String(required=True, metadata={"description": "This customer's id at your app (pairwise)."})
    given_name = fields.String()
    family_name = fields.String()
    display_name = fields.String()
    emails = fields.List(fields.Nested(EmailOut))
    phones = fields.List(fields.Nested(PhoneOut))
    address_home = fields.Nested(AddressOut)
    address_shipping = fields.Nested(AddressOut)
    address_billing = fields.Nested(AddressOut)
    birth_date = fields.String(metadata={"format": "date"})
    language = fields.String()
    channels = fields.List(fields.String())
    preferred_channel = fields.String()
    quiet_hours = fields.Nested(QuietHoursOut)
    max_contacts_per_week = fields.Integer()
    interests = fields.List(fields.String())
    sizes = fields.Nested(SizesOut)


class ConsentSchema(_Out):
    """``GET /api/v1/me/consent``: what this app holds from the customer."""

    sub = fields.String(required=True)
    status = fields.String(required=True)
    scopes = fields.List(fields.String(), required=True)
    fields_ = fields.List(fields.String(), data_key="fields", attribute="fields", required=True,
                          metadata={"description": "Vault fields readable with this token."})
    write_fields = fields.List(fields.String(), required=True)
    purpose = fields.String(required=True)
    purpose_category = fields.String(required=True)
    granted_at = fields.DateTime(required=True)
    expires_at = fields.DateTime(allow_none=True, required=True,
                                 metadata={"description": "null: until the customer revokes it."})


class GrantCountsOut(_Out):
    active = fields.Integer()
    revoked = fields.Integer()
    expired = fields.Integer()


class AppSchema(_Out):
    """``GET /api/v1/app``: the calling app's own registration (client-credentials token)."""

    client_id = fields.String()
    name = fields.String()
    organisation = fields.String()
    website = fields.String()
    purpose = fields.String()
    purpose_category = fields.String()
    lawful_basis = fields.String()
    requested_scopes = fields.List(fields.String())
    redirect_uris = fields.List(fields.String())
    grant_types = fields.List(fields.String())
    token_endpoint_auth_method = fields.String()
    created_at = fields.DateTime()
    grants = fields.Nested(GrantCountsOut)


class ProblemSchema(_Out):
    """RFC 9457 problem details (``application/problem+json``)."""

    type = fields.String()
    title = fields.String()
    status = fields.Integer()
    detail = fields.String()
    errors = fields.Dict(keys=fields.String(), metadata={
        "description": "On 422: the invalid request parts and fields, each with its messages."})


class TermsAgreementOut(_Out):
    terms_id = fields.String(required=True, metadata={"description": "A term of /.well-known/vrm-terms."})
    terms_version = fields.Integer(required=True)
    terms_title = fields.String()
    terms_digest = fields.String(required=True, metadata={"description": "sha256 of the term's document."})
    obligations = fields.Dict(keys=fields.String(), metadata={"description": "What your app agreed to."})
    proffered_at = fields.String(required=True, metadata={"description": "When the customer chose these terms."})
    accepted_at = fields.String(required=True, metadata={"description": "When your app declared it accepts them."})
    agreed_at = fields.String(required=True, metadata={"description": "When the consent fixed the agreement."})
    agreement_hash = fields.String(required=True)


class TermsSchema(_Out):
    """``GET /api/v1/me/terms``: the customer's own terms your app agreed to, if any."""

    sub = fields.String(required=True)
    agreed = fields.Boolean(required=True)
    agreement = fields.Nested(TermsAgreementOut, allow_none=True, required=True)

