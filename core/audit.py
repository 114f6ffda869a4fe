"""The audit log: security- and finance-relevant actions, append-only.

Services call :func:`record` inside the transaction that does the action,
so an action and its entry commit together. The app role may insert and
read ``core_audit_log`` but not change or delete it (``ensure_app_role``
revokes UPDATE and DELETE); tenant admins read it through :func:`entries` (the JSON
API) and :func:`page` (the audit log page and its export, which add who acted and on
whom, by name).

Core's actions have readable names (:data:`ACTIONS`); a module's action is shown by its
code. Times are UTC, as ``when`` shows them, so a day filter means a UTC day.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.i18n import N_, gettext
from core.models import AuditEntry, Membership, User

PAGE_SIZE = 50
MEMBERSHIP = "core.membership"

#: Core's action codes -> their readable names (msgids).
ACTIONS: dict[str, str] = {
    "core.api_token.created": N_("API token created"),
    "core.api_token.revoked": N_("API token revoked"),
    "core.module.enabled": N_("Module enabled"),
    "core.module.disabled": N_("Module disabled"),
    "core.demo.loaded": N_("Demo data loaded"),
    "operator.tenant.suspended": N_("Workspace suspended by the operator"),
    "operator.tenant.reactivated": N_("Workspace reactivated by the operator"),
    "operator.tenant.restored": N_("Deleted workspace restored by the operator"),
    "core.workspace.deleted": N_("Workspace deleted"),
    "core.workspace.export_requested": N_("Workspace export requested"),
    "operator.module.trial_granted": N_("Module trial granted by the operator"),
    "operator.module.trial_extended": N_("Module trial changed by the operator"),
    "billing.trial.started": N_("Module trial started"),
    "billing.trial.ended": N_("Module trial ended"),
    "operator.module.granted": N_("Module granted free of charge by the operator"),
    "operator.module.revoked": N_("Complimentary module revoked by the operator"),
    "billing.module.subscribed": N_("Module subscribed"),
    "billing.module.removal_scheduled": N_("Module set to end with the billing period"),
    "billing.module.kept": N_("Module kept after all"),
    "billing.module.removed": N_("Module removed from the subscription"),
    "operator.billing.trial_extended": N_("Billing trial extended by the operator"),
    "operator.billing.subscription_canceled": N_("Subscription canceled by the operator"),
    "operator.billing.refunded": N_("Payment refunded by the operator"),
    "operator.billing.credited": N_("Credit given by the operator"),
    "operator.billing.payment_recorded": N_("Payment recorded by the operator"),
    "core.currency.enabled": N_("Currency enabled"),
    "core.currency.disabled": N_("Currency disabled"),
    "core.currency.base_changed": N_("Base currency changed"),
    "core.exchange_rate.set": N_("Exchange rate set"),
    "core.exchange_rate.deleted": N_("Exchange rate deleted"),
    "core.tax_rate.created": N_("Tax rate created"),
    "core.tax_rate.changed": N_("Tax rate changed"),
    "core.data.imported": N_("Spreadsheet imported"),
    "core.party.merged": N_("Parties merged"),
    "core.department.created": N_("Department created"),
    "core.department.changed": N_("Department changed"),
    "core.department.deleted": N_("Department deleted"),
    "core.position.created": N_("Position created"),
    "core.position.changed": N_("Position changed"),
    "core.position.deleted": N_("Position deleted"),
    "core.member.invited": N_("Member invited"),
    "core.member.invitation_revoked": N_("Invitation withdrawn"),
    "core.member.joined": N_("Member joined"),
    "core.member.deactivated": N_("Member deactivated"),
    "core.member.reactivated": N_("Member reactivated"),
    "core.member.placed": N_("Member's department, manager or position changed"),
    "core.member.roles_changed": N_("Member's roles changed"),
    "core.role.created": N_("Role created"),
    "core.role.changed": N_("Role changed"),
    "core.role.deleted": N_("Role deleted"),
    "core.settings.two_factor_required": N_("Two-factor sign-in required"),
    "core.settings.two_factor_optional": N_("Two-factor sign-in made optional"),
    "core.settings.profile_changed": N_("Company profile changed"),
    "core.settings.logo_changed": N_("Company logo changed"),
    "core.settings.logo_removed": N_("Company logo removed"),
    "core.number_series.changed": N_("Numbering changed"),
}

#: Core's subject types -> their readable names (msgids).
SUBJECTS: dict[str, str] = {
    "core.api_token": N_("API token"),
    "core.currency": N_("Currency"),
    "core.exchange_rate": N_("Exchange rate"),
    "core.tax_rate": N_("Tax rate"),
    "core.party": N_("Customer or supplier"),
    "core.product": N_("Product"),
    "core.department": N_("Department"),
    "core.position": N_("Position"),
    "core.invitation": N_("Invitation"),
    MEMBERSHIP: N_("Member"),
    "core.role": N_("Role"),
    "core.tenant": N_("Workspace"),
    "core.number_series": N_("Numbering series"),
}


def action_label(code: str) -> str:
    """The action's name in the current language; a module's action by its code."""
    return gettext(ACTIONS[code]) if code in ACTIONS else code


def subject_label(code: str | None) -> str:
    if code is None:
        return ""
    return gettext(SUBJECTS[code]) if code in SUBJECTS else code


async def record(
    session: AsyncSession,
    action: str,
    *,
    actor_id: uuid.UUID | None = None,
    subject_type: str | None = None,
    subject_id: uuid.UUID | None = None,
    detail: dict[str, Any] | None = None,
    ip: str | None = None,
) -> AuditEntry:
    """Append one entry for the session's tenant, in the session's transaction."""
    entry = AuditEntry(
        action=action,
        actor_id=actor_id,
        subject_type=subject_type,
        subject_id=subject_id,
        detail=detail or {},
        ip=ip,
    )
    session.add(entry)
    await session.flush()
    return entry


async def entries(
    session: AsyncSession,
    *,
    action: str | None = None,
    actor_id: uuid.UUID | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    before: uuid.UUID | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """The tenant's entries, newest first, filtered; ``before`` is the keyset cursor (an id)."""
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(min(max(limit, 1), 500))
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if actor_id is not None:
        query = query.where(AuditEntry.actor_id == actor_id)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    if before is not None:
        query = query.where(AuditEntry.id < before)
    return list(await session.scalars(query))


@dataclass(frozen=True, slots=True)
class Filters:
    """What the audit log page and its export narrow the log to (None: any)."""

    action: str | None = None
    actor_id: uuid.UUID | None = None
    since: datetime | None = None
    until: datetime | None = None


@dataclass(frozen=True, slots=True)
class Shown:
    """An entry with the names the page and the export show: who acted and, for a member,
    on whom (None when there is no one to name)."""

    entry: AuditEntry
    actor: str | None
    subject_name: str | None

    @property
    def action(self) -> str:
        return action_label(self.entry.action)

    @property
    def subject(self) -> str:
        label = subject_label(self.entry.subject_type)
        if not self.subject_name:
            return label
        return gettext("{kind}: {name}").format(kind=label, name=self.subject_name)

    @property
    def details(self) -> list[tuple[str, str]]:
        """The detail as (key, value) pairs, nested values flattened into text."""
        return [(key, detail_text(value)) for key, value in self.entry.detail.items()]


@dataclass(frozen=True, slots=True)
class Page:
    """One page, newest first; pass ``next_before`` back as ``before``, None at the end."""

    rows: list[Shown]
    next_before: uuid.UUID | None


def detail_text(value: Any) -> str:
    """A detail value as one line: ``name: Clerks; permissions: a, b``."""
    if isinstance(value, dict):
        return "; ".join(f"{key}: {detail_text(inner)}" for key, inner in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(detail_text(item) for item in value)
    if isinstance(value, bool):
        return gettext("Yes") if value else gettext("No")
    return "" if value is None else str(value)


async def page(
    session: AsyncSession,
    filters: Filters,
    *,
    before: uuid.UUID | None = None,
    limit: int = PAGE_SIZE,
) -> Page:
    """A page of :func:`entries` (the query the JSON API uses) with the names to show."""
    limit = min(max(limit, 1), 499)  # one more than the page tells whether there is a next
    found = await entries(
        session,
        action=filters.action,
        actor_id=filters.actor_id,
        since=filters.since,
        until=filters.until,
        before=before,
        limit=limit + 1,
    )
    rows = await _shown(session, found[:limit])
    return Page(rows, rows[-1].entry.id if len(found) > limit else None)


async def every_entry(session: AsyncSession, filters: Filters) -> AsyncIterator[Shown]:
    """Every entry that matches, newest first, read page by page (for the export)."""
    before: uuid.UUID | None = None
    while True:
        found = await page(session, filters, before=before, limit=499)
        for row in found.rows:
            yield row
        if found.next_before is None:
            return
        before = found.next_before


async def _shown(session: AsyncSession, found: Sequence[AuditEntry]) -> list[Shown]:
    actor_ids = {e.actor_id for e in found if e.actor_id is not None}
    member_ids = {e.subject_id for e in found if e.subject_type == MEMBERSHIP and e.subject_id}
    actors: dict[uuid.UUID, str] = {}
    if actor_ids:
        rows = await session.execute(
            select(User.id, User.display_name).where(User.id.in_(actor_ids))
        )
        actors = dict(rows.all())
    members: dict[uuid.UUID, str] = {}
    if member_ids:
        rows = await session.execute(
            select(Membership.id, User.display_name)
            .join(User, User.id == Membership.user_id)
            .where(Membership.id.in_(member_ids))
        )
        members = dict(rows.all())
    return [
        Shown(
            entry,
            actors.get(entry.actor_id) if entry.actor_id else None,
            members.get(entry.subject_id)
            if entry.subject_type == MEMBERSHIP and entry.subject_id
            else None,
        )
        for entry in found
    ]


async def actions_present(session: AsyncSession) -> list[str]:
    """The action codes the tenant's log holds, by code."""
    return list(await session.scalars(select(AuditEntry.action).distinct().order_by("action")))


async def members(session: AsyncSession) -> list[tuple[uuid.UUID, str]]:
    """The workspace's members (deactivated ones too) as (user id, name), by name: who
    may appear as the actor of an entry."""
    rows = await session.execute(
        select(User.id, User.display_name)
        .join(Membership, Membership.user_id == User.id)
        .order_by(func.lower(User.display_name), User.id)
    )
    return [(user_id, name) for user_id, name in rows]
