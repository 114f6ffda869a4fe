"""The workspace's company profile and logo: what its documents print in their heading.

The profile lives on ``core_tenant`` (a global table: one row per workspace).
Every field but the name is optional; blank means not given. Every field is
checked before anything is written, so a refused profile changes nothing, and
the first refusal names its input in the error's ``field``. Checks are loose
on purpose, as an SME's paperwork varies:

- a tax number is 5 to 30 letters and digits once spaces, hyphens and dots are
  dropped, upper-cased (a VAT number such as ``DE 123 456 789``); in a
  workspace whose country is CN it is the 18 characters of a 统一社会信用代码
  (digits and capitals without I, O, S, V and Z), its check digit not verified;
- a country is an ISO 3166-1 alpha-2 code (``CN``, ``DE``);
- an e-mail address has one ``@`` and a dotted domain; a website gets
  ``https://`` when typed without a scheme and must name a dotted host.

A change is audited as ``core.settings.profile_changed`` with the fields that
changed (``before``, ``after``); a change that changes nothing writes no entry.

The logo is a PNG, JPEG or WebP image of at most 1 MiB (never SVG: an SVG can
carry scripts), judged by its bytes and kept under ``logos/<tenant id>/<uuid>``
(:mod:`core.records.images`), outside ``attachments/`` so the attachment sweep
leaves it alone.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from typing import BinaryIO
from urllib.parse import urlsplit

from babel import Locale
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit
from core.context import TenantContext
from core.errors import NotFound, ValidationFailed
from core.models import Tenant
from core.records import images
from core.records.attachments import MIB, AttachmentLimits
from core.records.storage import FileStore

LOGO_LIMITS = AttachmentLimits(max_bytes=1 * MIB, allowed=frozenset({"png", "jpeg", "webp"}))
SUBJECT = "core.tenant"

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]+$")
_PHONE = re.compile(r"^\+?[0-9 ()./-]{3,}(?:\s*(?:ext\.?|x|转)\s*[0-9]+)?$", re.IGNORECASE)
_TAX_NOISE = re.compile(r"[\s.\-]")
_TAX_NUMBER = re.compile(r"^[A-Z0-9]{5,30}$")
# GB 32100-2015's alphabet: digits and capitals but I, O, S, V and Z.
_CN_CREDIT_CODE = re.compile(r"^[0-9A-HJ-NPQRTUWXY]{18}$")
_POSTCODE = re.compile(r"^[A-Za-z0-9 -]{2,20}$")


@dataclass(frozen=True, slots=True)
class CompanyProfile:
    """The profile as a form shows and sends it: text, blank for not given."""

    name: str = ""
    legal_name: str = ""
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    region: str = ""
    postcode: str = ""
    country: str = ""
    tax_number: str = ""
    phone: str = ""
    email: str = ""
    website: str = ""


PROFILE_FIELDS = tuple(f.name for f in fields(CompanyProfile))
#: The longest each text may be (the column's length).
MAX_LENGTHS = {
    "name": 200,
    "legal_name": 200,
    "address_line1": 200,
    "address_line2": 200,
    "city": 100,
    "region": 100,
    "postcode": 20,
    "tax_number": 30,
    "phone": 50,
    "email": 320,
    "website": 300,
}


def countries() -> frozenset[str]:
    """ISO 3166-1 alpha-2 codes (Babel's territories also hold regions such as ``001``)."""
    return frozenset(code for code in Locale("en").territories if code.isalpha())


def profile_of(tenant: Tenant) -> CompanyProfile:
    return CompanyProfile(**{name: getattr(tenant, name) or "" for name in PROFILE_FIELDS})


async def get_tenant(session: AsyncSession, ctx: TenantContext) -> Tenant:
    tenant = await session.get(Tenant, ctx.tenant_id)
    if tenant is None:
        raise NotFound("No workspace {slug}.", slug=ctx.slug)
    return tenant


def _tax_number(value: str, country: str | None) -> str:
    number = _TAX_NOISE.sub("", value).upper()
    if country == "CN":
        if not _CN_CREDIT_CODE.match(number):
            raise ValidationFailed(
                "A unified social credit code has 18 digits and capital letters.",
                field="tax_number",
            )
    elif not _TAX_NUMBER.match(number):
        raise ValidationFailed("A tax number has 5 to 30 letters and digits.", field="tax_number")
    return number


def _website(value: str) -> str:
    url = value if re.match(r"^[a-z][a-z0-9+.-]*://", value, re.IGNORECASE) else f"https://{value}"
    parts = urlsplit(url)
    if parts.scheme.lower() not in ("http", "https") or "." not in (parts.hostname or ""):
        raise ValidationFailed("Enter a web address such as https://example.com.", field="website")
    return url


def check_profile(profile: CompanyProfile) -> dict[str, str | None]:
    """The profile's values as they are stored (blank → None), or the first refusal."""
    values: dict[str, str | None] = {}
    for name in PROFILE_FIELDS:
        text = " ".join(getattr(profile, name).split())  # no stray line breaks or runs
        limit = MAX_LENGTHS.get(name)
        if limit is not None and len(text) > limit:
            raise ValidationFailed("This has at most {max} characters.", max=limit, field=name)
        values[name] = text or None
    if values["name"] is None:
        raise ValidationFailed("A workspace needs a name.", field="name")
    country = values["country"]
    if country is not None:
        country = country.upper()
        if country not in countries():
            raise ValidationFailed("Choose a country from the list.", field="country")
        values["country"] = country
    if values["tax_number"] is not None:
        values["tax_number"] = _tax_number(values["tax_number"], country)
    if values["email"] is not None and not _EMAIL.match(values["email"]):
        raise ValidationFailed(
            "{email} is not an e-mail address.", email=values["email"], field="email"
        )
    if values["phone"] is not None and not _PHONE.match(values["phone"]):
        raise ValidationFailed("A phone number has digits, spaces and + - ( ) only.", field="phone")
    if values["postcode"] is not None and not _POSTCODE.match(values["postcode"]):
        raise ValidationFailed(
            "A postcode has letters, digits, spaces and hyphens only.", field="postcode"
        )
    if values["website"] is not None:
        values["website"] = _website(values["website"])
        if len(values["website"]) > MAX_LENGTHS["website"]:
            raise ValidationFailed(
                "This has at most {max} characters.", max=MAX_LENGTHS["website"], field="website"
            )
    return values


async def update_profile(
    session: AsyncSession,
    ctx: TenantContext,
    profile: CompanyProfile,
    *,
    actor_id: uuid.UUID | None = None,
) -> Tenant:
    """Save the whole profile, or, if one field is refused, nothing."""
    values = check_profile(profile)
    tenant = await get_tenant(session, ctx)
    before = {name: getattr(tenant, name) for name in PROFILE_FIELDS}
    changed = [name for name in PROFILE_FIELDS if before[name] != values[name]]
    if not changed:
        return tenant
    for name in changed:
        setattr(tenant, name, values[name])
    await session.flush()
    await audit.record(
        session,
        "core.settings.profile_changed",
        actor_id=actor_id,
        subject_type=SUBJECT,
        subject_id=tenant.id,
        detail={
            "before": {name: before[name] for name in changed},
            "after": {name: values[name] for name in changed},
        },
    )
    return tenant


async def set_logo(
    session: AsyncSession,
    store: FileStore,
    ctx: TenantContext,
    file_name: str,
    data: bytes | BinaryIO,
    *,
    actor_id: uuid.UUID | None = None,
) -> str:
    """Check and store a new logo in place of the old one; returns its key."""
    tenant = await get_tenant(session, ctx)
    key = await images.replace_image(
        session, store, tenant, "logo", f"logos/{tenant.id}", file_name, data, LOGO_LIMITS
    )
    await audit.record(
        session,
        "core.settings.logo_changed",
        actor_id=actor_id,
        subject_type=SUBJECT,
        subject_id=tenant.id,
    )
    return key


async def remove_logo(
    session: AsyncSession, store: FileStore, ctx: TenantContext, *, actor_id: uuid.UUID | None
) -> None:
    """No logo any more; its file is deleted (and nothing is audited if there was none)."""
    tenant = await get_tenant(session, ctx)
    if await images.remove_image(session, store, tenant, "logo"):
        await audit.record(
            session,
            "core.settings.logo_removed",
            actor_id=actor_id,
            subject_type=SUBJECT,
            subject_id=tenant.id,
        )


async def open_logo(
    session: AsyncSession, store: FileStore, ctx: TenantContext
) -> tuple[str, AsyncIterator[bytes]]:
    """The workspace's logo: its content type and bytes; NotFound when it has none."""
    tenant = await get_tenant(session, ctx)
    opened = await images.open_image(store, tenant.logo, LOGO_LIMITS)
    if opened is None:
        raise NotFound("This workspace has no logo.")
    return opened
