"""Parties in and out of spreadsheets: the import spec behind ``create_party`` and the export
of the party list.

Decisions:

- A row is one company or person with at most one e-mail address, one phone
  number and one address (a customer list in Excel has one of each); tags are
  separated by commas, semicolons or "、".
- The type is a company unless the row says person (个人); the role is
  customer, supplier or both (客户, 供应商, 两者), and blank means neither, as
  a new party in a form.
- Duplicate detection applies as on the form: a row that looks like a party
  the workspace has (or a row above it) is refused, naming it, so importing a
  file twice creates nothing twice.
- The export has the same columns under the same headers, so an exported file
  imports back (into another workspace, say) with the mapping suggested whole.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from functools import lru_cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ValidationFailed
from core.exchange.exports import Column, export_rows
from core.exchange.imports import (
    Field,
    ImportSpec,
    Prepared,
    Unique,
    choice,
    folded,
)
from core.i18n import N_, SUPPORTED, babel_locale, gettext
from core.parties.normalise import normalise_email, normalise_name, normalise_phone
from core.parties.schemas import AddressIn, ContactPointIn, PartyIn, PartySummary
from core.parties.services import WRITE as PARTY_WRITE
from core.parties.services import DuplicateSuspected, create_party, export_parties
from core.permissions import Actor

KINDS = {
    "company": (N_("Company"), "公司", "企业", "单位", "organisation", "organization"),
    "person": (N_("Person"), "个人", "individual", "contact"),
}
ROLES = {
    "customer": (N_("Customer"), "客户", "client"),
    "supplier": (N_("Supplier"), "供应商", "供货商", "vendor"),
    "both": (N_("Both"), "两者", "客户和供应商", "customer and supplier"),
}
_TAG_SEPARATORS = re.compile(r"[,，;；、|]")


# Checked here as well as by create_party, so that a bad one is reported against its column.


def _email(value: str) -> str:
    normalise_email(value)
    return value


def _phone(value: str) -> str:
    normalise_phone(value)
    return value


@lru_cache(maxsize=1)
def _countries() -> dict[str, str]:
    """ISO codes and country names in every supported language (CN, 中国, China), folded ->
    the ISO code."""
    names: dict[str, str] = {}
    for locale in SUPPORTED:
        for code, name in babel_locale(locale).territories.items():
            if len(code) == 2 and code.isalpha():  # not "001" (the world) and the like
                names[folded(name)] = names[folded(code)] = code
    return names


def _country(value: str) -> str:
    found = _countries().get(folded(value))
    if found is None:
        raise ValidationFailed(
            "{value} is not a country; use a two-letter code such as CN.", value=value
        )
    return found


def _tags(value: str) -> tuple[str, ...]:
    return tuple(tag.strip() for tag in _TAG_SEPARATORS.split(value) if tag.strip())


def _same_party(values: Mapping[str, Any]) -> tuple[str, str, str] | None:
    """Rows naming the same party: kind, normalised name and the phone's digits."""
    if "name" not in values:
        return None
    digits = re.sub(r"\D", "", values.get("phone", ""))
    return values.get("kind", "company"), normalise_name(values["name"]), digits


async def _prepare(session: AsyncSession, actor: Actor, dry_run: bool) -> Prepared:
    async def write(values: Mapping[str, Any]) -> None:
        points = [
            ContactPointIn(kind=kind, value=values[kind])
            for kind in ("email", "phone")
            if kind in values
        ]
        address_parts = ("address", "city", "region", "postcode", "country")
        addresses: tuple[AddressIn, ...] = ()
        if any(part in values for part in address_parts):
            addresses = (
                AddressIn(
                    line1=values.get("address", ""),
                    city=values.get("city", ""),
                    region=values.get("region", ""),
                    postcode=values.get("postcode", ""),
                    country=values.get("country", ""),
                ),
            )
        role = values.get("role")
        data = PartyIn(
            kind=values.get("kind", "company"),
            name=values["name"],
            is_customer=role in ("customer", "both"),
            is_supplier=role in ("supplier", "both"),
            tax_id=values.get("tax_id"),
            website=values.get("website"),
            notes=values.get("notes", ""),
            contact_points=tuple(points),
            addresses=addresses,
            tags=values.get("tags", ()),
        )
        try:
            await create_party(session, actor, data)
        except DuplicateSuspected as suspected:
            seen = [c.name for c in suspected.candidates if c.name is not None]
            if not seen:
                raise  # a party the member may not see: say a duplicate exists, not whose
            raise ValidationFailed(
                "This looks like {name}, which already exists.", name=seen[0]
            ) from None

    return Prepared(write=write)


PARTY_IMPORT = ImportSpec(
    key="core.party",
    permission=PARTY_WRITE,
    fields=(
        Field(
            "kind",
            N_("Type"),
            choice(KINDS, N_("{value} is neither a company nor a person.")),
            aliases=("Kind", "Company or person", "类型", "类别", "公司/个人"),
        ),
        Field(
            "name",
            N_("Name"),
            required=True,
            aliases=(
                "Company",
                "Company name",
                "Customer name",
                "Supplier name",
                "名称",
                "名字",
                "姓名",
                "公司名称",
                "单位名称",
                "客户名称",
                "供应商名称",
            ),
        ),
        Field(
            "role",
            N_("Role"),
            choice(ROLES, N_("{value} is not customer, supplier or both.")),
            aliases=("Customer or supplier", "角色", "客户/供应商", "往来类型"),
        ),
        Field(
            "email",
            N_("E-mail"),
            _email,
            aliases=("Email address", "Mail", "邮箱", "电子邮箱", "电子邮件", "邮件"),
        ),
        Field(
            "phone",
            N_("Phone"),
            _phone,
            aliases=(
                "Telephone",
                "Tel",
                "Mobile",
                "Phone number",
                "电话",
                "手机",
                "手机号",
                "手机号码",
                "联系电话",
                "电话号码",
            ),
        ),
        Field(
            "tax_id",
            N_("Tax number"),
            aliases=("Tax ID", "VAT", "VAT number", "税号", "纳税人识别号", "统一社会信用代码"),
        ),
        Field("website", N_("Website"), aliases=("Web", "URL", "网站", "网址", "主页")),
        Field("address", N_("Address"), aliases=("Street", "地址", "详细地址", "街道")),
        Field("city", N_("City"), aliases=("Town", "城市", "市")),
        Field(
            "region",
            N_("Province or state"),
            aliases=("Region", "Province", "State", "省", "省份", "地区"),
        ),
        Field(
            "postcode",
            N_("Postcode"),
            aliases=("Postal code", "Zip", "ZIP code", "邮编", "邮政编码"),
        ),
        Field("country", N_("Country"), _country, aliases=("Country code", "国家", "国家/地区")),
        Field("tags", N_("Tags"), _tags, aliases=("Tag", "标签", "分组")),
        Field("notes", N_("Notes"), aliases=("Note", "Remarks", "Comment", "备注", "说明")),
    ),
    prepare=_prepare,
    label=N_("Customers and suppliers"),
    list_path="/parties",
    unique=(Unique(("name", "phone"), _same_party),),
)


def _role_label(party: PartySummary) -> str:
    if party.is_customer and party.is_supplier:
        return gettext(ROLES["both"][0])
    if party.is_customer:
        return gettext(ROLES["customer"][0])
    if party.is_supplier:
        return gettext(ROLES["supplier"][0])
    return ""


PARTY_COLUMNS: tuple[Column[PartySummary], ...] = (
    Column("kind", PARTY_IMPORT.field("kind").label, lambda p: gettext(KINDS[p.kind][0])),
    Column("name", PARTY_IMPORT.field("name").label, lambda p: p.name),
    Column("role", PARTY_IMPORT.field("role").label, _role_label),
    Column("email", PARTY_IMPORT.field("email").label, lambda p: p.email),
    Column("phone", PARTY_IMPORT.field("phone").label, lambda p: p.phone),
)


async def export_party_list(
    session: AsyncSession,
    actor: Actor,
    file_format: str,
    *,
    search: str | None = None,
    role: str | None = None,
    tag: str | None = None,
    kind: str | None = None,
    active: bool | None = True,
) -> bytes:
    """The party list as the member sees it (their data scope, these filters), as a file."""
    rows = export_parties(
        session, actor, search=search, role=role, tag=tag, kind=kind, active=active
    )
    return await export_rows(PARTY_COLUMNS, rows, file_format, title=gettext("Parties"))
