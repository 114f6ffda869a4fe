"""The operator's rules over workspaces: find them, see their size, suspend, grant trials
and complimentary modules.

The operator is platform staff, not a member: every read of a tenant table here runs
as that tenant (``app.tenant_id`` set, so row-level security holds) and returns counts
and module states only, never a record's contents. A list reads the global
``core_tenant`` table and then, per workspace shown, one statement of facts (enabled
modules, last activity) in the same transaction with the tenant switched
(:func:`core.db.set_tenant`). The app role has no cross-tenant view, and that is kept:
the cost is a statement per workspace looked at.

Every change the operator makes is written to the workspace's own audit log
(``operator.*`` actions, the operator as actor) in the transaction that makes it, so
the workspace's admins see it in their log and the console shows it on the tenant's page.

"Last active" is the latest of: a browser session of an active member was used, one of
the workspace's API tokens was used, an entry in its audit log by anyone but the
operator. A person in two workspaces who is signed in counts as activity for both (a
session is not tied to a workspace); that is the price of needing no new column.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Select, func, or_, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from billing import entitlements
from core import audit
from core.db import Database, set_tenant
from core.errors import Conflict, NotFound, TenantSuspended, ValidationFailed
from core.i18n import N_, gettext
from core.models import AuditEntry, Membership, Tenant, TenantModule, User
from core.parties.models import Party
from core.plugins.registry import ModuleRegistry
from core.products.models import Product
from core.records.models import Attachment
from core.tenancy import enabled_modules, tenant_context
from tenants import deletion
from tenants.services import enable_module

ACTIVE, SUSPENDED, DELETED = "active", "suspended", deletion.DELETED
STATUSES = (ACTIVE, SUSPENDED, DELETED)
TRIAL, PAID, GRANTED = entitlements.TRIAL, entitlements.PAID, entitlements.GRANTED
TENANT_SUBJECT = "core.tenant"

TENANT_SUSPENDED = "operator.tenant.suspended"
TENANT_REACTIVATED = "operator.tenant.reactivated"
TENANT_RESTORED = "operator.tenant.restored"  # a workspace its owner deleted, brought back
TRIAL_GRANTED = "operator.module.trial_granted"
TRIAL_EXTENDED = "operator.module.trial_extended"
MODULE_GRANTED = "operator.module.granted"  # complimentary: on for free, no end
MODULE_REVOKED = "operator.module.revoked"
OPERATOR_ACTIONS = (
    TENANT_SUSPENDED,
    TENANT_REACTIVATED,
    TENANT_RESTORED,
    TRIAL_GRANTED,
    TRIAL_EXTENDED,
    MODULE_GRANTED,
    MODULE_REVOKED,
)

#: The prefix of the operator's billing actions (refunds, credits, cancels, trials).
BILLING_ACTIONS = "operator.billing."

PAGE_SIZE, MAX_PAGE_SIZE = 50, 200
SCAN_BATCH = 200  # workspaces read per query while module or activity filters pick some out
ACTIVE_DAYS = 30  # "active tenants": in use within this many days
MAX_TRIAL_DAYS = 366
MAX_REASON = 500
HISTORY_SIZE = 50

SUSPENDED_MESSAGE = N_(
    "This workspace is suspended. Its data is kept, but nobody can use it until it is "
    "reactivated. Contact the workspace's owner or the service's support."
)

#: Labels (msgids) of a workspace's status and of why a module is on.
STATUS_LABELS: dict[str, str] = {
    ACTIVE: N_("Active"),
    SUSPENDED: N_("Suspended"),
    DELETED: N_("Deleted"),
}
SOURCE_LABELS: dict[str, str] = {
    "development": N_("Development"),
    TRIAL: N_("Trial"),
    PAID: N_("Paid"),
    GRANTED: N_("Granted"),
}

#: How recently a workspace was used, as the list filters it: code -> label (msgid).
ACTIVITY_CHOICES: dict[str, str] = {
    "7d": N_("Active in the last 7 days"),
    "30d": N_("Active in the last 30 days"),
    "idle30": N_("Not active for 30 days or more"),
    "never": N_("Never active"),
}

# One statement of a workspace's facts, run as that workspace (RLS holds; the explicit
# tenant_id lets each subquery use its tenant-leading index).
FACTS = text(
    """
    SELECT
      ARRAY(SELECT tm.module_key::text FROM core_tenant_module tm
             WHERE tm.tenant_id = :tenant_id AND tm.enabled
               AND (tm.until IS NULL OR tm.until > now())
             ORDER BY tm.module_key) AS modules,
      GREATEST(
        (SELECT max(s.last_seen_at) FROM core_membership m
           JOIN core_user_session s ON s.user_id = m.user_id
          WHERE m.tenant_id = :tenant_id AND m.active AND s.area = 'workspace'),
        (SELECT max(k.last_used_at) FROM core_api_token k WHERE k.tenant_id = :tenant_id),
        (SELECT max(a.at) FROM core_audit_log a
          WHERE a.tenant_id = :tenant_id AND a.action NOT LIKE 'operator.%')
      ) AS last_active
    """
)


# --- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Facts:
    """What the list shows of a workspace beyond its own row."""

    modules: tuple[str, ...]
    last_active: datetime | None


@dataclass(frozen=True, slots=True)
class TenantFilters:
    """What the tenants list narrows to (None: any). ``created_until`` is exclusive."""

    search: str | None = None
    status: str | None = None
    module: str | None = None
    created_since: datetime | None = None
    created_until: datetime | None = None
    activity: str | None = None  # a key of ACTIVITY_CHOICES

    def check(self) -> TenantFilters:
        if self.status is not None and self.status not in STATUSES:
            raise ValidationFailed("Unknown status {status}.", status=self.status)
        if self.activity is not None and self.activity not in ACTIVITY_CHOICES:
            raise ValidationFailed("Unknown activity filter {activity}.", activity=self.activity)
        return self

    def admits(self, facts: Facts, now: datetime) -> bool:
        if self.module is not None and self.module not in facts.modules:
            return False
        last = facts.last_active
        match self.activity:
            case "7d":
                return last is not None and last >= now - timedelta(days=7)
            case "30d":
                return last is not None and last >= now - timedelta(days=ACTIVE_DAYS)
            case "idle30":
                return last is None or last < now - timedelta(days=ACTIVE_DAYS)
            case "never":
                return last is None
        return True


@dataclass(frozen=True, slots=True)
class Listed:
    tenant: Tenant
    facts: Facts


@dataclass(frozen=True, slots=True)
class TenantPage:
    """Newest first; pass ``next_after`` back as ``after`` for the next page, None at the end."""

    rows: list[Listed]
    next_after: uuid.UUID | None


async def _facts(session: AsyncSession, tenant_id: uuid.UUID) -> Facts:
    await set_tenant(session, tenant_id)
    row = (await session.execute(FACTS, {"tenant_id": tenant_id})).one()
    return Facts(tuple(row.modules), row.last_active)


def _tenants_query(filters: TenantFilters) -> Select[tuple[Tenant]]:
    query = select(Tenant).order_by(Tenant.id.desc())  # ids are time-ordered: newest first
    if filters.search:
        term = filters.search.strip()
        query = query.where(
            or_(
                Tenant.name.icontains(term, autoescape=True),
                Tenant.slug.icontains(term, autoescape=True),
            )
        )
    if filters.status is not None:
        query = query.where(Tenant.status == filters.status)
    if filters.created_since is not None:
        query = query.where(Tenant.created_at >= filters.created_since)
    if filters.created_until is not None:
        query = query.where(Tenant.created_at < filters.created_until)
    return query


async def list_tenants(
    db: Database,
    filters: TenantFilters,
    *,
    after: uuid.UUID | None = None,
    limit: int = PAGE_SIZE,
) -> TenantPage:
    """A page of workspaces, newest first. Name, address, status and creation filter in
    SQL; modules and activity are facts of each workspace, so candidates are read in
    batches until the page is full."""
    filters.check()
    limit = min(max(limit, 1), MAX_PAGE_SIZE)
    now = datetime.now(UTC)
    query = _tenants_query(filters)
    found: list[Listed] = []
    async with db.global_transaction() as session:
        cursor = after
        while len(found) <= limit:
            batch_query = query.limit(SCAN_BATCH)
            if cursor is not None:
                batch_query = batch_query.where(Tenant.id < cursor)
            batch = list(await session.scalars(batch_query))
            for tenant in batch:
                facts = await _facts(session, tenant.id)
                if filters.admits(facts, now):
                    found.append(Listed(tenant, facts))
                    if len(found) > limit:
                        break
            if len(batch) < SCAN_BATCH:
                break
            cursor = batch[-1].id
    more = len(found) > limit
    return TenantPage(found[:limit], found[limit - 1].tenant.id if more else None)


@dataclass(frozen=True, slots=True)
class ModuleState:
    """One module as the workspace has it: ``on`` now (maybe read-only), or switched off or
    run out; a module never enabled has no source and no dates."""

    key: str
    name: str  # the manifest's name (a msgid), or the key of a module no longer installed
    installed: bool
    on: bool
    read_only: bool
    source: str | None
    since: datetime | None
    until: datetime | None

    @property
    def granted(self) -> bool:
        """On as a complimentary module: what revoking takes back."""
        return self.on and self.source == GRANTED


@dataclass(frozen=True, slots=True)
class Usage:
    """How much a workspace holds, in counts: never what it holds."""

    active_members: int
    deactivated_members: int
    parties: int
    products: int
    attachments: int
    storage_bytes: int


@dataclass(frozen=True, slots=True)
class OperatorAction:
    at: datetime
    action: str
    operator: str | None
    detail: dict[str, Any]

    @property
    def label(self) -> str:
        return audit.action_label(self.action)


@dataclass(frozen=True, slots=True)
class TenantSummary:
    tenant: Tenant
    usage: Usage
    modules: list[ModuleState]
    last_active: datetime | None
    history: list[OperatorAction] = field(default_factory=list)

    def trial_choices(self, registry: ModuleRegistry) -> list[tuple[str, str]]:
        """(key, name) of the modules a trial may be granted or extended for: not paid."""
        paid = {m.key for m in self.modules if m.source == PAID}
        return [(k, m.manifest.name) for k, m in registry.modules.items() if k not in paid]

    def grant_choices(self) -> list[tuple[str, str]]:
        """(key, name) of the installed modules that may be made complimentary."""
        return [(m.key, m.name) for m in self.modules if m.installed and not m.granted]

    def revoke_choices(self) -> list[tuple[str, str]]:
        """(key, name) of the complimentary modules."""
        return [(m.key, m.name) for m in self.modules if m.granted]


def _count(model: type[Any], *where: Any) -> Any:
    return select(func.count()).select_from(model).where(*where).scalar_subquery()


async def tenant_summary(
    db: Database, registry: ModuleRegistry, tenant_id: uuid.UUID
) -> TenantSummary:
    """A workspace's page for the operator: counts, module states and the operator's log."""
    async with db.tenant_transaction(tenant_id) as session:
        tenant = await session.get(Tenant, tenant_id)
        if tenant is None:
            raise NotFound("No workspace {id}.", id=str(tenant_id))
        counts = (
            await session.execute(
                select(
                    _count(Membership, Membership.active.is_(True)),
                    _count(Membership, Membership.active.is_(False)),
                    _count(Party),
                    _count(Product),
                    _count(Attachment),
                    select(func.coalesce(func.sum(Attachment.size), 0)).scalar_subquery(),
                )
            )
        ).one()
        rows = {row.module_key: row for row in await session.scalars(select(TenantModule))}
        modules = _module_states(registry, rows, datetime.now(UTC))
        facts = await _facts(session, tenant_id)
        history = await _operator_history(session)
    return TenantSummary(tenant, Usage(*counts), modules, facts.last_active, history)


def _module_states(
    registry: ModuleRegistry, rows: dict[str, TenantModule], now: datetime
) -> list[ModuleState]:
    """Every installed module in install order, then rows of modules no longer installed."""

    def state(key: str) -> ModuleState:
        installed = key in registry.modules
        name = registry.manifest(key).name if installed else key
        row = rows.get(key)
        if row is None:
            return ModuleState(key, name, installed, False, False, None, None, None)
        on = _is_on(row, now)
        read_only = on and (
            row.access == entitlements.READ_ONLY_ACCESS
            or (row.read_only_from is not None and row.read_only_from <= now)
        )
        return ModuleState(key, name, installed, on, read_only, row.source, row.since, row.until)

    return [state(key) for key in [*registry.modules, *sorted(rows.keys() - registry.modules)]]


def _is_on(row: TenantModule, now: datetime) -> bool:
    return row.enabled and (row.until is None or row.until > now)


async def _operator_history(session: AsyncSession) -> list[OperatorAction]:
    rows = await session.execute(
        select(AuditEntry, User.display_name)
        .outerjoin(User, User.id == AuditEntry.actor_id)
        .where(
            or_(
                AuditEntry.action.in_(OPERATOR_ACTIONS),
                AuditEntry.action.startswith(BILLING_ACTIONS),  # billing/console_actions.py
            )
        )
        .order_by(AuditEntry.id.desc())
        .limit(HISTORY_SIZE)
    )
    return [OperatorAction(e.at, e.action, name, e.detail) for e, name in rows]


@dataclass(frozen=True, slots=True)
class PlatformFigures:
    tenants: int
    suspended: int
    active_tenants: int  # active status and used within ACTIVE_DAYS
    modules: list[tuple[str, str, int]]  # (key, name msgid, workspaces with it on)


async def platform_figures(db: Database, registry: ModuleRegistry) -> PlatformFigures:
    """The platform in numbers. Reads every workspace's facts: one statement each."""
    now = datetime.now(UTC)
    recent = now - timedelta(days=ACTIVE_DAYS)
    per_module = dict.fromkeys(registry.modules, 0)
    suspended = active = 0
    async with db.global_transaction() as session:
        statuses = (await session.execute(select(Tenant.id, Tenant.status))).all()
        for tenant_id, status in statuses:
            facts = await _facts(session, tenant_id)
            for key in facts.modules:
                per_module[key] = per_module.get(key, 0) + 1
            if status == SUSPENDED:
                suspended += 1
            elif facts.last_active is not None and facts.last_active >= recent:
                active += 1
    names = {k: m.manifest.name for k, m in registry.modules.items()}
    return PlatformFigures(
        tenants=len(statuses),
        suspended=suspended,
        active_tenants=active,
        modules=[(k, names.get(k, k), n) for k, n in per_module.items()],
    )


async def suspension(session: AsyncSession) -> TenantSuspended:
    """The error a suspended workspace answers its members with; the reason comes along
    when the operator chose to show it. ``session`` is scoped to that workspace."""
    entry = await session.scalar(
        select(AuditEntry)
        .where(AuditEntry.action == TENANT_SUSPENDED)
        .order_by(AuditEntry.at.desc(), AuditEntry.id.desc())
        .limit(1)
    )
    if entry is not None and entry.detail.get("shown_to_members"):
        return TenantSuspended(SUSPENDED_MESSAGE, reason=entry.detail.get("reason", ""))
    return TenantSuspended(SUSPENDED_MESSAGE)


# --- changing ----------------------------------------------------------------------------------


def _reason(reason: str) -> str:
    reason = reason.strip()
    if not reason:
        raise ValidationFailed("Give a reason: it is kept in the workspace's audit log.")
    if len(reason) > MAX_REASON:
        raise ValidationFailed("A reason has at most {limit} characters.", limit=MAX_REASON)
    return reason


async def _locked_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant:
    tenant = await session.scalar(select(Tenant).where(Tenant.id == tenant_id).with_for_update())
    if tenant is None:
        raise NotFound("No workspace {id}.", id=str(tenant_id))
    return tenant


async def suspend(
    db: Database,
    tenant_id: uuid.UUID,
    *,
    operator_id: uuid.UUID,
    reason: str,
    show_to_members: bool,
    ip: str | None = None,
) -> None:
    """Close the workspace to its members (every page and API call), keeping its data."""
    reason = _reason(reason)
    async with db.tenant_transaction(tenant_id) as session:
        tenant = await _locked_tenant(session, tenant_id)
        if tenant.status == SUSPENDED:
            raise Conflict("This workspace is already suspended.")
        tenant.status = SUSPENDED
        await audit.record(
            session,
            TENANT_SUSPENDED,
            actor_id=operator_id,
            subject_type=TENANT_SUBJECT,
            subject_id=tenant_id,
            detail={"reason": reason, "shown_to_members": show_to_members},
            ip=ip,
        )


async def reactivate(
    db: Database,
    tenant_id: uuid.UUID,
    *,
    operator_id: uuid.UUID,
    reason: str,
    ip: str | None = None,
) -> None:
    """Open a suspended workspace again, or restore one its owner deleted (before it is
    purged): its members' next request gets in."""
    reason = _reason(reason)
    async with db.tenant_transaction(tenant_id) as session:
        tenant = await _locked_tenant(session, tenant_id)
        if tenant.status not in (SUSPENDED, DELETED):
            raise Conflict("This workspace is not suspended.")
        restoring = tenant.status == DELETED
        if restoring:
            deletion.restore(session, tenant, operator_id=operator_id, ip=ip)
        tenant.status = ACTIVE
        await audit.record(
            session,
            TENANT_RESTORED if restoring else TENANT_REACTIVATED,
            actor_id=operator_id,
            subject_type=TENANT_SUBJECT,
            subject_id=tenant_id,
            detail={"reason": reason},
            ip=ip,
        )


async def grant_trial(
    db: Database,
    registry: ModuleRegistry,
    tenant_id: uuid.UUID,
    module_key: str,
    *,
    until: datetime,
    operator_id: uuid.UUID,
    ip: str | None = None,
) -> str:
    """Put ``module_key`` on trial until ``until`` (a new trial, or one extended or
    shortened); returns the audit action written.

    A paid module is refused: its period is billing's. What the module depends on comes
    along: modules off are switched on as the same trial, dependencies on a trial that
    ends sooner end with it; other dependencies are left as they are.
    """
    if module_key not in registry.modules:
        raise NotFound("There is no module {module}.", module=module_key)
    now = datetime.now(UTC)
    if until <= now:
        raise ValidationFailed("A trial ends in the future.")
    if until > now + timedelta(days=MAX_TRIAL_DAYS):
        raise ValidationFailed("A trial ends within a year.")
    needed = registry.closure(module_key)
    async with db.tenant_transaction(tenant_id) as session:
        await _locked_tenant(session, tenant_id)  # one operator change at a time per workspace
        rows = {
            row.module_key: row
            for row in await session.scalars(
                select(TenantModule).where(TenantModule.module_key.in_(needed))
            )
        }
        main = rows.get(module_key)
        if main is not None and main.source == PAID:
            raise Conflict(
                "The module {module} is paid for: its period changes through billing, "
                "not as a trial.",
                module=module_key,
            )
        before = await enabled_modules(session)
        if any(key not in before for key in needed):
            ctx = await tenant_context(session, tenant_id)
            await enable_module(session, registry, ctx, module_key, source=TRIAL, until=until)
        for key in _trial_followers(needed, module_key, rows, before, until):
            rows[key].source, rows[key].until = TRIAL, until
        action = TRIAL_EXTENDED if main is not None and main.source == TRIAL else TRIAL_GRANTED
        await audit.record(
            session,
            action,
            actor_id=operator_id,
            subject_type=TENANT_SUBJECT,
            subject_id=tenant_id,
            detail={
                "module": module_key,
                "until": until.isoformat(),
                "previous_source": main.source if main else None,
                "previous_until": main.until.isoformat() if main and main.until else None,
            },
            ip=ip,
        )
    return action


def _trial_followers(
    needed: Sequence[str],
    module_key: str,
    rows: dict[str, TenantModule],
    before: frozenset[str],
    until: datetime,
) -> list[str]:
    """The modules already on whose row takes the trial's end: the module itself, and
    its dependencies on a trial that would end sooner."""

    def ends_sooner(row: TenantModule) -> bool:
        return row.source == TRIAL and row.until is not None and row.until < until

    return [
        key
        for key in needed
        if key in before and key in rows and (key == module_key or ends_sooner(rows[key]))
    ]


# --- complimentary modules -------------------------------------------------------------------


async def _changeable_tenant(session: AsyncSession, tenant_id: uuid.UUID) -> Tenant:
    """The workspace, locked, if it is active: a suspended or deleted one keeps its modules
    as they are until it is reactivated or restored."""
    tenant = await _locked_tenant(session, tenant_id)
    if tenant.status == SUSPENDED:
        raise Conflict("This workspace is suspended: reactivate it before changing its modules.")
    if tenant.status == DELETED:
        raise Conflict(
            "This workspace was deleted by its owner: restore it before changing its modules."
        )
    return tenant


def _known_module(registry: ModuleRegistry, module_key: str) -> None:
    if module_key not in registry.modules:
        raise NotFound("There is no module {module}.", module=module_key)


async def _module_rows(session: AsyncSession, keys: Sequence[str]) -> dict[str, TenantModule]:
    query = select(TenantModule).where(TenantModule.module_key.in_(keys))
    return {row.module_key: row for row in await session.scalars(query)}


def _grant_follows(row: TenantModule | None, now: datetime) -> bool:
    """Whether a dependency of a module being granted is granted with it: when it is off,
    or would stop (a trial's end, read-only); not when it is paid (billing's), nor when it
    is on for good already."""
    if row is None or not _is_on(row, now):
        return True
    if row.source == PAID:
        return False
    return (
        row.until is not None
        or row.read_only_from is not None
        or row.access == entitlements.READ_ONLY_ACCESS
    )


async def grant_module(
    db: Database,
    registry: ModuleRegistry,
    tenant_id: uuid.UUID,
    module_key: str,
    *,
    operator_id: uuid.UUID,
    ip: str | None = None,
) -> list[str]:
    """Make ``module_key`` complimentary: on, writable, with no end and no payment
    (source ``granted``, through :func:`billing.entitlements.apply`), whatever it was (off,
    ended, on trial, read-only, paid). Returns the modules granted, dependencies first.

    The modules it depends on come along when they are off or would stop (a trial, a
    read-only one); paid ones and ones on for good are left as they are.
    """
    _known_module(registry, module_key)
    needed = registry.closure(module_key)
    now = datetime.now(UTC)
    async with db.tenant_transaction(tenant_id) as session:
        await _changeable_tenant(session, tenant_id)
        rows = await _module_rows(session, needed)
        main = rows.get(module_key)
        if main is not None and _is_on(main, now) and main.source == GRANTED:
            raise Conflict("The module {module} is complimentary already.", module=module_key)
        granted = [k for k in needed if k == module_key or _grant_follows(rows.get(k), now)]
        previous = main is not None and _is_on(main, now)
        detail = {
            "module": module_key,
            "also": [k for k in granted if k != module_key],
            "previous_source": main.source if main is not None and previous else None,
            "previous_until": main.until.isoformat() if main and previous and main.until else None,
        }
        ctx = await tenant_context(session, tenant_id)
        complimentary = entitlements.Access(entitlements.Level.ON, GRANTED)
        for key in granted:
            ctx = await entitlements.apply(session, registry, ctx, key, complimentary)
        await audit.record(
            session,
            MODULE_GRANTED,
            actor_id=operator_id,
            subject_type=TENANT_SUBJECT,
            subject_id=tenant_id,
            detail=detail,
            ip=ip,
        )
    return granted


async def revoke_module(
    db: Database,
    registry: ModuleRegistry,
    tenant_id: uuid.UUID,
    module_key: str,
    *,
    operator_id: uuid.UUID,
    ip: str | None = None,
) -> None:
    """Take back a complimentary module: it goes off, its data kept, as disabling does.

    Without the grant the workspace has no claim to it until billing's subscriptions exist
    (a subscription then puts it back on). Refused while an enabled module depends on it:
    revoke or disable that one first. Dependencies granted along with it stay granted.
    """
    _known_module(registry, module_key)
    now = datetime.now(UTC)
    async with db.tenant_transaction(tenant_id) as session:
        await _changeable_tenant(session, tenant_id)
        row = (await _module_rows(session, [module_key])).get(module_key)
        if row is None or not _is_on(row, now) or row.source != GRANTED:
            raise Conflict(
                "The module {module} is not complimentary: there is no grant to revoke.",
                module=module_key,
            )
        ctx = await tenant_context(session, tenant_id)
        needing = [k for k in registry.dependents(module_key) if k in ctx.enabled]
        if needing:
            raise Conflict(
                "Revoke or disable {dependents} first: they depend on {module}.",
                dependents=", ".join(gettext(registry.manifest(k).name) for k in needing),
                module=gettext(registry.manifest(module_key).name),
            )
        off = entitlements.Access(entitlements.Level.OFF, GRANTED)
        await entitlements.apply(session, registry, ctx, module_key, off)
        await audit.record(
            session,
            MODULE_REVOKED,
            actor_id=operator_id,
            subject_type=TENANT_SUBJECT,
            subject_id=tenant_id,
            detail={"module": module_key},
            ip=ip,
        )
