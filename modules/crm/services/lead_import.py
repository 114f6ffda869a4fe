"""Leads from a spreadsheet, through core's import pages and API (kind ``crm.leads``).

Columns: name (required), company, job title, e-mail, phone, source (its label in either
language, or a common word for it), region, notes. Each row is a lead a member enters
(:func:`~modules.crm.services.leads.create_lead`): numbered and placed by the assignment
rules, and refused, naming it, when it looks like a lead or a party the workspace has, so
a file imported twice creates nothing twice. Two rows with the same e-mail address or
phone are refused too. A dry run draws no numbers (it is rolled back, and numbers are
drawn outside the transaction), so trying a file leaves no gaps.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.errors import ValidationFailed
from core.exchange.imports import Field, ImportSpec, Prepared, Unique, choice
from core.i18n import N_
from core.orm import uuid7
from core.parties.normalise import fold, normalise_email, normalise_phone
from core.permissions import Actor
from modules.crm import permissions as codes
from modules.crm.schemas.leads import LeadIn
from modules.crm.services.leads import RECORD, SOURCE_LABELS, LeadDuplicateSuspected, create_lead


def _email(value: str) -> str:
    normalise_email(value)  # checked here too, so a bad one is reported against its column
    return value


def _phone(value: str) -> str:
    normalise_phone(value)
    return value


def _same_contact(kind: str) -> Any:
    def key(values: Mapping[str, Any]) -> str | None:
        value = values.get(kind)
        if not value:
            return None
        return fold(value) if kind == "email" else re.sub(r"\D", "", value)

    return key


async def _prepare_import(session: AsyncSession, actor: Actor, dry_run: bool) -> Prepared:
    async def write(values: Mapping[str, Any]) -> None:
        data = LeadIn(
            name=values["name"],
            company_name=values.get("company_name", ""),
            title=values.get("title", ""),
            email=values.get("email", ""),
            phone=values.get("phone", ""),
            source=values.get("source", "import"),
            region=values.get("region", ""),
            notes=values.get("notes", ""),
        )
        # A dry run is rolled back: it draws no numbers, so it leaves no gaps behind.
        number = f"DRY-RUN-{uuid7().hex[-12:]}" if dry_run else None
        try:
            await create_lead(session, actor, data, number=number)
        except LeadDuplicateSuspected as suspected:
            seen = [c.number or c.name for c in suspected.candidates if c.name is not None]
            if not seen:
                raise  # one the member may not see: say a duplicate exists, not whose
            raise ValidationFailed(
                "This looks like {name}, which already exists.", name=seen[0]
            ) from None

    return Prepared(write=write)


#: What a spreadsheet may call each source: its label in any language, or these words.
SOURCES = {
    "manual": (SOURCE_LABELS["manual"], "manual", "手工录入", "手动"),
    "web_form": (SOURCE_LABELS["web_form"], "web", "website", "官网", "网站", "表单"),
    "import": (SOURCE_LABELS["import"], "导入"),
    "referral": (SOURCE_LABELS["referral"], "转介绍", "推荐", "介绍"),
    "exhibition": (SOURCE_LABELS["exhibition"], "exhibition", "fair", "展会", "展览会"),
    "advertising": (SOURCE_LABELS["advertising"], "ad", "ads", "广告", "投放"),
    "other": (SOURCE_LABELS["other"], "其他"),
}

LEAD_IMPORT = ImportSpec(
    key=RECORD,
    permission=codes.LEAD_WRITE,
    label=N_("Leads"),
    list_path="/crm/leads",
    fields=(
        Field(
            "name",
            N_("Contact name"),
            required=True,
            aliases=("Name", "名称", "Contact", "Full name", "姓名", "联系人", "名字", "客户姓名"),
        ),
        Field(
            "company_name",
            N_("Company"),
            aliases=("Company name", "Organisation", "Organization", "公司", "公司名称", "单位"),
        ),
        Field("title", N_("Job title"), aliases=("Title", "Position", "职位", "职务", "头衔")),
        Field("email", N_("E-mail"), _email, aliases=("Email address", "Mail", "邮箱", "电子邮件")),
        Field(
            "phone",
            N_("Phone"),
            _phone,
            aliases=("Telephone", "Tel", "Mobile", "电话", "手机", "手机号", "联系电话"),
        ),
        Field(
            "source",
            N_("Source"),
            choice(SOURCES, N_("{value} is not a lead source Atrium knows.")),
            aliases=("Lead source", "来源", "线索来源", "渠道"),
        ),
        Field("region", N_("Region"), aliases=("Area", "Province", "地区", "区域", "省份")),
        Field("notes", N_("Notes"), aliases=("Note", "Remarks", "Comment", "备注", "说明")),
    ),
    prepare=_prepare_import,
    unique=(Unique(("email",), _same_contact("email")), Unique(("phone",), _same_contact("phone"))),
)
