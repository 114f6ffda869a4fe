"""The workspace settings pages under ``/t/{slug}/settings``: company, currencies, tax
rates, numbering and security, for members with ``core.settings.manage`` (else 403).

Each section is a tab of its own page and one htmx swap target (``#settings-company``,
``#settings-currencies``, ``#settings-tax-rates``, ``#settings-numbering``,
``#settings-security``). Every form posts to a path of its own and calls the same
service as the JSON API, inside a savepoint: a refusal rolls back what the action wrote
(its audit entry included) and comes back as the section, with the reason beside the
input it is about and what was typed kept. With htmx the section is swapped in (200,
as htmx swaps only 2xx answers); without, a refusal is the whole page with the error's
status (the request rolls back), a success a redirect to the section. The logo is
served to every member (``core.member.read``).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any

from babel.numbers import format_decimal
from litestar import Request, Response, get, post
from litestar.datastructures import UploadFile
from litestar.enums import RequestEncodingType
from litestar.params import Body, FromPath, FromQuery
from litestar.response import Redirect, Stream, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core import i18n, numbering
from core.context import TenantContext
from core.errors import ValidationFailed
from core.exchange.imports import decimal
from core.models import Membership, User
from core.products import currency, tax
from core.products.models import TAX_KINDS
from core.records.attachments import KIB, size_label
from core.records.storage import file_store
from core.workspace import export
from tenants import deletion, services, settings
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession
from web.forms import Refusal, attempt, typed_in
from web.htmx import wants_partial
from web.tenancy import requires

MANAGE = "core.settings.manage"
LOGO_BODY_LIMIT = settings.LOGO_LIMITS.max_bytes + 64 * KIB  # the image plus the envelope
LOGO_HEADERS = {"cache-control": "private, max-age=300", "x-content-type-options": "nosniff"}
MultipartForm = Annotated[dict[str, Any], Body(media_type=RequestEncodingType.MULTI_PART)]
# Offered in the currency inputs' suggestions; any ISO 4217 code is accepted.
COMMON_CURRENCIES = ("CNY", "USD", "EUR", "HKD", "JPY", "GBP", "SGD", "KRW", "TWD", "AUD")


@dataclass(frozen=True, slots=True)
class Section:
    key: str  # the tab's path segment
    label: str  # a msgid
    template: str

    def url(self, slug: str) -> str:
        return f"/t/{slug}/settings/{self.key}"


COMPANY = Section("company", "Company", "settings/_company.html")
CURRENCIES = Section("currencies", "Currencies", "settings/_currencies.html")
TAX_RATES = Section("tax-rates", "Tax rates", "settings/_tax_rates.html")
NUMBERING = Section("numbering", "Numbering", "settings/_numbering.html")
SECURITY = Section("security", "Security", "settings/_security.html")
DATA = Section("data", "Export and deletion", "settings/_data.html")  # web.workspace_data
SECTIONS = (COMPANY, CURRENCIES, TAX_RATES, NUMBERING, SECURITY, DATA)


def exact_rate(rate: Decimal) -> str:
    """A rate with every decimal it was entered with, in the reader's number format."""
    return format_decimal(
        rate, format="#,##0.########", locale=i18n.babel_locale(i18n.current_locale.get())
    )


# --- what each section shows -----------------------------------------------------------------


def _countries() -> list[tuple[str, str]]:
    """Every country's code and name in the reader's language, by name."""
    names = i18n.babel_locale(i18n.current_locale.get()).territories
    return sorted(
        ((code, names.get(code, code)) for code in settings.countries()), key=lambda c: c[1]
    )


async def _company(session: AsyncSession, tenant: TenantContext) -> dict[str, Any]:
    row = await settings.get_tenant(session, tenant)
    return {
        "profile": settings.profile_of(row),
        "logo": row.logo,
        "logo_limit": size_label(settings.LOGO_LIMITS.max_bytes),
        "countries": _countries(),
    }


async def _currencies(session: AsyncSession, tenant: TenantContext) -> dict[str, Any]:
    enabled = await currency.currencies(session)
    return {
        "currencies": enabled,
        "base_currency": next((c.code for c in enabled if c.is_base), None),
        "base_can_change": not await currency.base_currency_in_use(session),
        "rates": {c.code: await currency.rates(session, c.code) for c in enabled if not c.is_base},
        "common_currencies": COMMON_CURRENCIES,
        "exact_rate": exact_rate,
        "today": date.today().isoformat(),
    }


async def _tax_rates(session: AsyncSession, tenant: TenantContext) -> dict[str, Any]:
    return {
        "tax_rates": await tax.tax_rates(session, include_inactive=True),
        "kinds": TAX_KINDS,
        "percent": tax.percent_label,
    }


async def _numbering(session: AsyncSession, tenant: TenantContext) -> dict[str, Any]:
    series = await numbering.all_series(session)
    return {
        "series": [(s, await numbering.preview(session, s)) for s in series],
        "fields": "{prefix}, {year}, {month}, {seq}",
    }


async def _security(session: AsyncSession, tenant: TenantContext) -> dict[str, Any]:
    row = await settings.get_tenant(session, tenant)
    without = await session.scalar(
        select(func.count())
        .select_from(Membership)
        .join(User, User.id == Membership.user_id)
        .where(Membership.active, User.totp_enabled_at.is_(None))
    )
    return {"require_two_factor": row.require_two_factor, "without_two_factor": without}


async def _data(session: AsyncSession, tenant: TenantContext) -> dict[str, Any]:
    latest = await export.latest_export(session)
    return {
        "export": latest,
        "downloadable": export.is_downloadable(latest, datetime.now(UTC)),
        "keep_days": export.KEEP_FOR.days,
        "is_owner": await deletion.is_owner(session, tenant.user_id),
        "grace_days": deletion.GRACE.days,
    }


_CONTEXTS: dict[str, Callable[[AsyncSession, TenantContext], Awaitable[dict[str, Any]]]] = {
    COMPANY.key: _company,
    CURRENCIES.key: _currencies,
    TAX_RATES.key: _tax_rates,
    NUMBERING.key: _numbering,
    SECURITY.key: _security,
    DATA.key: _data,
}


async def _section_context(
    session: AsyncSession,
    tenant: TenantContext,
    section: Section,
    *,
    refusal: Refusal | None = None,
    notice: str | None = None,
) -> dict[str, Any]:
    return {
        "slug": tenant.slug,
        "section": section,
        "sections": SECTIONS,
        "refusal": refusal,
        "notice": notice,
        **await _CONTEXTS[section.key](session, tenant),
    }


async def _page(
    session: AsyncSession,
    tenant: TenantContext,
    section: Section,
    *,
    refusal: Refusal | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Template:
    context = await _section_context(session, tenant, section, refusal=refusal, notice=notice)
    return Template("settings/page.html", context=context, status_code=status_code)


async def _submit(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    tenant: TenantContext,
    section: Section,
    form: str,
    typed: dict[str, str],
    action: Callable[[], Awaitable[Any]],
) -> Response[Any]:
    """Run a form's action in a savepoint; answer with the section (htmx) or the page."""
    error = await attempt(session, action)
    if error is not None:
        refusal = Refusal.of(form, typed, error)
        if wants_partial(request):
            context = await _section_context(session, tenant, section, refusal=refusal)
            return Template(section.template, context=context)
        return await _page(session, tenant, section, refusal=refusal, status_code=error.status_code)
    if wants_partial(request):
        context = await _section_context(session, tenant, section, notice="saved")
        return Template(section.template, context=context)
    return Redirect(f"{section.url(tenant.slug)}?notice=saved", status_code=HTTP_303_SEE_OTHER)


def _read(field: str, read: Callable[[], Any]) -> Any:
    """A value read from the form's text; a refusal names its input."""
    try:
        return read()
    except ValidationFailed as error:
        raise ValidationFailed(error.message, **{**error.params, "field": field}) from None


async def _awaited(field: str, action: Callable[[], Awaitable[Any]]) -> Any:
    """A service call whose refusal belongs beside one input."""
    try:
        return await action()
    except ValidationFailed as error:
        raise ValidationFailed(error.message, **{**error.params, "field": field}) from None


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed("Enter a date such as 2026-03-05.") from None


# --- the pages -------------------------------------------------------------------------------


@get("/settings", guards=[requires(MANAGE)])
async def settings_home(session: DbSession, tenant: CurrentTenant) -> Template:
    """The overview: each section with what it holds now."""
    row = await settings.get_tenant(session, tenant)
    return Template(
        "settings/home.html",
        context={
            "slug": tenant.slug,
            "sections": SECTIONS,
            "section": None,
            "tenant": row,
            "base_currency": next(
                (c.code for c in await currency.currencies(session) if c.is_base), None
            ),
            "tax_rate_count": len(await tax.tax_rates(session)),
            "series_count": len(await numbering.all_series(session)),
        },
    )


def _section_page(section: Section) -> Any:
    @get(f"/settings/{section.key}", guards=[requires(MANAGE)], name=f"settings-{section.key}")
    async def show(
        session: DbSession, tenant: CurrentTenant, notice: FromQuery[str | None] = None
    ) -> Template:
        return await _page(session, tenant, section, notice=notice)

    return show


SECTION_PAGES = [_section_page(section) for section in SECTIONS]


# --- company ---------------------------------------------------------------------------------


@post("/settings/company", guards=[requires(MANAGE)])
async def save_company(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    data: FormData,
) -> Response[Any]:
    typed = typed_in(data, *settings.PROFILE_FIELDS)
    profile = settings.CompanyProfile(**typed)
    return await _submit(
        request,
        session,
        tenant,
        COMPANY,
        "profile",
        typed,
        lambda: settings.update_profile(session, tenant, profile, actor_id=actor.user_id),
    )


@post("/settings/logo", guards=[requires(MANAGE)], request_max_body_size=LOGO_BODY_LIMIT)
async def upload_logo(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    data: MultipartForm,
) -> Response[Any]:
    upload = data.get("logo")

    async def store_logo() -> None:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise ValidationFailed("Choose an image to upload.", field="logo")
        try:
            await settings.set_logo(
                session,
                file_store(request.app.state.settings),
                tenant,
                upload.filename,
                upload.file,
                actor_id=actor.user_id,
            )
        except ValidationFailed as error:  # not an image, too large, disguised
            raise ValidationFailed(error.message, **{**error.params, "field": "logo"}) from None

    return await _submit(request, session, tenant, COMPANY, "logo", {"logo": ""}, store_logo)


@post("/settings/logo/remove", guards=[requires(MANAGE)])
async def remove_logo(
    request: Request[Any, Any, Any], session: DbSession, tenant: CurrentTenant, actor: CurrentActor
) -> Response[Any]:
    store = file_store(request.app.state.settings)
    return await _submit(
        request,
        session,
        tenant,
        COMPANY,
        "logo",
        {},
        lambda: settings.remove_logo(session, store, tenant, actor_id=actor.user_id),
    )


@get("/settings/logo", guards=[requires("core.member.read")])
async def logo(
    request: Request[Any, Any, Any], session: DbSession, tenant: CurrentTenant
) -> Stream:
    """The workspace's logo, typed by its bytes; 404 when it has none."""
    store = file_store(request.app.state.settings)
    content_type, chunks = await settings.open_logo(session, store, tenant)
    return Stream(chunks, media_type=content_type, headers=LOGO_HEADERS)


# --- currencies and exchange rates -----------------------------------------------------------


@post("/settings/currencies/base", guards=[requires(MANAGE)])
async def set_base(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    data: FormData,
) -> Response[Any]:
    typed = typed_in(data, "code")

    async def change() -> None:
        code = _read("code", lambda: currency.check_code(typed["code"]))
        await currency.set_base_currency(session, code, actor_id=actor.user_id)

    return await _submit(request, session, tenant, CURRENCIES, "base", typed, change)


@post("/settings/currencies", guards=[requires(MANAGE)])
async def enable_currency(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    data: FormData,
) -> Response[Any]:
    typed = typed_in(data, "code")

    async def enable() -> None:
        code = _read("code", lambda: currency.check_code(typed["code"]))
        await currency.enable_currency(session, code, actor_id=actor.user_id)

    return await _submit(request, session, tenant, CURRENCIES, "enable", typed, enable)


@post("/settings/currencies/{code:str}/disable", guards=[requires(MANAGE)])
async def disable_currency(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    code: FromPath[str],
) -> Response[Any]:
    return await _submit(
        request,
        session,
        tenant,
        CURRENCIES,
        f"disable-{code}",
        {},
        lambda: currency.disable_currency(session, code, actor_id=actor.user_id),
    )


@post("/settings/currencies/{code:str}/rates", guards=[requires(MANAGE)])
async def add_rate(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    code: FromPath[str],
    data: FormData,
) -> Response[Any]:
    typed = typed_in(data, "valid_on", "rate")

    async def add() -> None:
        day = _read("valid_on", lambda: _day(typed["valid_on"]))
        rate: Decimal = _read("rate", lambda: decimal(typed["rate"]))
        await _awaited(
            "rate", lambda: currency.set_rate(session, code, day, rate, actor_id=actor.user_id)
        )

    return await _submit(request, session, tenant, CURRENCIES, f"rate-{code}", typed, add)


@post("/settings/currencies/{code:str}/rates/{day:date}/delete", guards=[requires(MANAGE)])
async def delete_rate(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    code: FromPath[str],
    day: FromPath[date],
) -> Response[Any]:
    return await _submit(
        request,
        session,
        tenant,
        CURRENCIES,
        f"rate-{code}",
        {},
        lambda: currency.delete_rate(session, code, day, actor_id=actor.user_id),
    )


# --- tax rates -------------------------------------------------------------------------------


def _fraction(percent: str) -> Decimal:
    """A rate typed in percent ("13", "1.5") as the fraction it is stored as."""
    return decimal(percent.replace("%", "")) / 100


@post("/settings/tax-rates", guards=[requires(MANAGE)])
async def create_tax_rate(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    data: FormData,
) -> Response[Any]:
    typed = typed_in(data, "name", "percent", "kind", "is_default")

    async def create() -> None:
        rate = _read("percent", lambda: tax.check_rate(_fraction(typed["percent"])))
        await _awaited(
            "name",
            lambda: tax.create_tax_rate(
                session,
                typed["name"],
                rate,
                kind=typed["kind"] or "both",
                is_default=bool(typed["is_default"]),
                actor_id=actor.user_id,
            ),
        )

    return await _submit(request, session, tenant, TAX_RATES, "new-tax", typed, create)


def _tax_change(**change: bool) -> Any:
    async def handler(
        request: Request[Any, Any, Any],
        session: DbSession,
        tenant: CurrentTenant,
        actor: CurrentActor,
        tax_rate_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        return await _submit(
            request,
            session,
            tenant,
            TAX_RATES,
            f"tax-{tax_rate_id}",
            {},
            lambda: tax.update_tax_rate(session, tax_rate_id, **change, actor_id=actor.user_id),
        )

    return handler


archive_tax_rate = post(
    "/settings/tax-rates/{tax_rate_id:uuid}/archive",
    guards=[requires(MANAGE)],
    name="settings-tax-archive",
)(_tax_change(active=False, is_default=False))
default_tax_rate = post(
    "/settings/tax-rates/{tax_rate_id:uuid}/default",
    guards=[requires(MANAGE)],
    name="settings-tax-default",
)(_tax_change(is_default=True))


# --- numbering and security ------------------------------------------------------------------


@post("/settings/numbering/{doc_type:str}", guards=[requires(MANAGE)])
async def save_series(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    doc_type: FromPath[str],
    data: FormData,
) -> Response[Any]:
    typed = typed_in(data, "prefix", "pattern")
    return await _submit(
        request,
        session,
        tenant,
        NUMBERING,
        f"series-{doc_type}",
        typed,
        lambda: numbering.update_series(
            session,
            doc_type,
            prefix=typed["prefix"],
            pattern=typed["pattern"],
            actor_id=actor.user_id,
        ),
    )


@post("/settings/security", guards=[requires(MANAGE)])
async def save_security(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    data: FormData,
) -> Response[Any]:
    required = bool(data.get("require_two_factor"))
    return await _submit(
        request,
        session,
        tenant,
        SECURITY,
        "security",
        {},
        lambda: services.require_two_factor(session, tenant, required, actor_id=actor.user_id),
    )


PAGES = [
    settings_home,
    *SECTION_PAGES,
    save_company,
    upload_logo,
    remove_logo,
    logo,
    set_base,
    enable_currency,
    disable_currency,
    add_rate,
    delete_rate,
    create_tax_rate,
    archive_tax_rate,
    default_tax_rate,
    save_series,
    save_security,
]
