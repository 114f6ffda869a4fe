"""Demo data: a believable small company in a workspace, for trying Atrium out.

What it adds, in the workspace's language (zh-CN: Chinese names, +86 phones; en: English
names, US phones), with prices in the base currency (CNY for a new zh-CN workspace):

- four departments in a tree (the head office with sales, purchasing and finance below);
- five members with positions, each placed in a department with a manager. They are
  users at ``<name>@<slug>.demo.atrium.test`` (``.test`` is a reserved top-level domain:
  no mail reaches it) with no password, so nobody signs in as them; the slug keeps one
  workspace's demo people apart from another's (an address is unique across Atrium);
- fifteen parties tagged ``demo``: customers, suppliers, one that is both, and contacts
  working for some of them, owned by the demo salespeople and buyer;
- twelve products (goods, consumables and services) with units, prices, costs and tax
  rates (the workspace's own rates where they match, else one is created);
- then each enabled module's ``demo_data`` hook (its manifest), in install order.

Everything goes through the services (validation, data scopes, the audit log), in the
caller's transaction, so a failure leaves nothing behind. Running it again adds nothing:
core's part is skipped once a demo member exists (the marker is the reserved domain),
and a module's hook runs once per workspace, remembered in the ``core.demo.loaded``
audit entries (which modules each run loaded), so a module enabled later still gets its
demo data on the next run.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from billing.members import members_changed
from core import audit, organisation, roles
from core.context import TenantContext
from core.db import Database, set_tenant
from core.errors import Conflict, NotFound
from core.i18n import gettext, use_locale
from core.identity.accounts import by_email
from core.models import AuditEntry, Department, Membership, Position, Tenant, User
from core.parties import services as parties
from core.parties.schemas import AddressIn, ContactPointIn, PartyIn
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from core.products import services as products
from core.products import tax
from core.products.models import TaxRate, UnitOfMeasure
from core.tenancy import tenant_context
from tenants.demo_company import COMPANIES, EN, Company, Person

DEMO_DOMAIN = "demo.atrium.test"
DEMO_TAG = "demo"
LOADED = "core.demo.loaded"


def demo_domain(slug: str) -> str:
    """Where a workspace's demo people have their addresses."""
    return f"{slug}.{DEMO_DOMAIN}"


# --- loading ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DemoResult:
    """What a run added: core's company (or not, when it was there), and modules' data."""

    core: bool
    modules: list[str]


async def demo_members(session: AsyncSession) -> int:
    """How many of the workspace's members are demo people (the marker of core's part)."""
    count = await session.scalar(
        select(func.count())
        .select_from(Membership)
        .join(User, User.id == Membership.user_id)
        .where(func.lower(User.email).endswith(f".{DEMO_DOMAIN}"))
    )
    return count or 0


async def modules_loaded(session: AsyncSession) -> set[str]:
    """The modules whose demo data an earlier run loaded here."""
    details = await session.scalars(select(AuditEntry.detail).where(AuditEntry.action == LOADED))
    return {key for detail in details for key in detail.get("modules", [])}


async def load(
    session: AsyncSession, registry: ModuleRegistry, ctx: TenantContext, actor: Actor
) -> DemoResult:
    """Fill the workspace with the demo company, then the enabled modules' demo data.

    ``actor`` creates the parties (it needs ``core.party.write``, scope all, as owners and
    admins have) and is named in the audit log.
    """
    # Two clicks at once: the second waits, then finds the first's work and adds nothing.
    await session.execute(
        text("SELECT pg_advisory_xact_lock(hashtext('demo:' || current_setting('app.tenant_id')))")
    )
    company = COMPANIES.get(ctx.locale, EN)
    core_part = await demo_members(session) == 0
    if core_part:
        with use_locale(ctx.locale):  # units made now are named in the workspace's language
            await products.seed_defaults(session, ctx.locale)
            people = await _organisation(session, ctx, company, actor)
            await members_changed(session)  # the demo people are members: billed as such
            await _parties(session, company, actor, people)
            await _products(session, company, actor)
    done = await modules_loaded(session)
    modules = []
    for key, loaded in registry.modules.items():  # install order
        fill = loaded.manifest.demo_data
        if key in ctx.enabled and fill is not None and key not in done:
            await fill(session, ctx, registry)
            modules.append(key)
    if core_part or modules:
        await audit.record(
            session,
            LOADED,
            actor_id=actor.user_id,
            subject_type="core.tenant",
            subject_id=ctx.tenant_id,
            detail={"core": core_part, "modules": modules},
        )
    await session.flush()
    return DemoResult(core_part, modules)


async def load_by_slug(db: Database, registry: ModuleRegistry, slug: str) -> DemoResult:
    """:func:`load` for ``atrium demo SLUG``, in one transaction, as the workspace's first
    active owner (the person a demo run is done for)."""
    async with db.global_transaction() as session:
        tenant = await session.scalar(select(Tenant).where(Tenant.slug == slug))
        if tenant is None:
            raise NotFound("No workspace at this address.")
        await set_tenant(session, tenant.id)
        ctx = await tenant_context(session, tenant.id)
        owner = await first_owner(session)
        if owner is None:
            raise Conflict("The workspace {slug} has no owner to load demo data for.", slug=slug)
        actor = await roles.member_actor(session, registry, owner)
        return await load(session, registry, ctx, actor)


async def first_owner(session: AsyncSession) -> Membership | None:
    """The workspace's first active owner: whom demo work that needs an owner is done as."""
    return await session.scalar(
        select(Membership)
        .where(Membership.role == roles.OWNER, Membership.active.is_(True))
        .order_by(Membership.id)  # time-ordered ids: the first owner
        .limit(1)
    )


async def demo_people(
    session: AsyncSession, registry: ModuleRegistry, slug: str
) -> dict[str, Actor]:
    """Core's demo members still active in the workspace, by login (the address's local
    part), with their rights now: whom modules' demo data does each person's work as."""
    domain = f"@{demo_domain(slug)}"
    people = await session.execute(
        select(User.email, Membership)
        .join(Membership, Membership.user_id == User.id)
        .where(User.email.endswith(domain), Membership.active.is_(True))
    )
    return {
        email.removesuffix(domain): await roles.member_actor(session, registry, member)
        for email, member in people.all()
    }


async def _organisation(
    session: AsyncSession, ctx: TenantContext, company: Company, actor: Actor
) -> dict[str, Membership]:
    """Departments, positions and the five people; returns their memberships by login."""
    departments: list[Department] = []
    for name, parent in company.departments:
        parent_id = None if parent is None else departments[parent].id
        departments.append(await _department(session, name, parent_id, actor))
    people: dict[str, Membership] = {}
    for person in company.people:  # managers come before the people reporting to them
        member = await _member(session, ctx, person)
        await organisation.place_member(
            session,
            member.id,
            department_id=departments[person.department].id,
            manager_id=people[person.manager].id if person.manager else None,
            position_id=(await _position(session, person.position, actor)).id,
            actor_id=actor.user_id,
        )
        people[person.login] = member
    return people


async def _department(session: AsyncSession, name: str, parent_id: Any, actor: Actor) -> Department:
    """The workspace's department of that name at that place, else a new one."""
    existing = await session.scalar(
        select(Department).where(
            Department.name == name,
            Department.parent_id.is_(None)
            if parent_id is None
            else Department.parent_id == parent_id,
        )
    )
    return existing or await organisation.create_department(
        session, name, parent_id, actor_id=actor.user_id
    )


async def _position(session: AsyncSession, name: str, actor: Actor) -> Position:
    existing = await session.scalar(select(Position).where(Position.name == name))
    return existing or await organisation.create_position(session, name, actor_id=actor.user_id)


async def _member(session: AsyncSession, ctx: TenantContext, person: Person) -> Membership:
    """A demo person: a user without a password at the workspace's demo domain, a member."""
    email = f"{person.login}@{demo_domain(ctx.slug)}"
    user = await by_email(session, email)
    if user is None:
        user = User(email=email, display_name=person.name, locale=ctx.locale)
        session.add(user)
        await session.flush()
    member = Membership(user_id=user.id, role=roles.MEMBER)
    session.add(member)
    await session.flush()
    return member


async def _parties(
    session: AsyncSession, company: Company, actor: Actor, people: dict[str, Membership]
) -> None:
    made: dict[str, Any] = {}
    for data in company.parties:  # companies come before the people working for them
        owner = people[data.owner]
        points = [ContactPointIn(kind="email", value=data.email, is_primary=True)]
        points.append(ContactPointIn(kind="phone", value=data.phone, is_primary=True))
        addresses = ()
        if data.line1:
            addresses = (AddressIn(line1=data.line1, city=data.city, country=company.country),)
        party = await parties.create_party(
            session,
            actor,
            PartyIn(
                kind=data.kind,
                name=data.name,
                is_customer="c" in data.roles,
                is_supplier="s" in data.roles,
                company_id=made[data.works_for].id if data.works_for else None,
                contact_points=tuple(points),
                addresses=addresses,
                tags=(DEMO_TAG,),
                owner_id=owner.user_id,
                department_id=owner.department_id,
            ),
            allow_duplicates=True,  # the workspace's own data may hold a namesake
        )
        made[data.name] = party


async def _products(session: AsyncSession, company: Company, actor: Actor) -> None:
    rates: dict[str, TaxRate] = {}
    for data in company.products:
        if data.tax not in rates:
            rates[data.tax] = await _tax_rate(session, company, data.tax, actor)
        await products.create_product(
            session,
            sku=data.sku,
            name=data.name,
            uom_id=(await _unit(session, data.unit)).id,
            kind=data.kind,
            sale_price=Decimal(data.price),
            standard_cost=Decimal(data.cost),
            tax_rate_id=rates[data.tax].id,
        )


async def _tax_rate(session: AsyncSession, company: Company, rate: str, actor: Actor) -> TaxRate:
    """The workspace's active rate of that size, else a new one named for the demo."""
    wanted = Decimal(rate)
    for existing in await tax.tax_rates(session):
        if existing.rate == wanted:
            return existing
    return await tax.create_tax_rate(
        session, company.tax_names[rate], wanted, actor_id=actor.user_id
    )


async def _unit(session: AsyncSession, code: str) -> UnitOfMeasure:
    """A seeded unit by code; a workspace that made its own units gets the missing one."""
    try:
        return await products.unit_by_code(session, code)
    except NotFound:
        name, dimension = next((n, d) for c, n, d in products.DEFAULT_UNITS if c == code)
        return await products.create_unit(session, code, gettext(name), dimension)
