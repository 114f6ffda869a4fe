"""CRM settings for leads, under ``/t/{slug}/crm/settings``, for ``crm.settings.manage``:

- ``/teams``: sales teams, who is in each and their daily caps (with what the rules gave
  them today);
- ``/assignment``: the assignment rules, in the order they are tried;
- ``/web-forms``: web-to-lead forms, with the address and the snippet to embed each.

Every form posts to a path of its own and calls the same service as the JSON API inside
a savepoint (``web.forms.attempt``): a refusal writes nothing and comes back on the page
(with the error's status) beside the input it names, with what was typed; an accepted
post is a redirect back to the page with ``?notice=saved``.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from litestar.status_codes import HTTP_303_SEE_OTHER
from sqlalchemy.ext.asyncio import AsyncSession

from core import organisation
from core.context import TenantContext
from core.errors import ValidationFailed
from core.i18n import N_
from core.permissions import Actor
from modules.crm import permissions as codes
from modules.crm.schemas.leads import (
    RuleChanges,
    RuleIn,
    TeamChanges,
    TeamIn,
    TeamMemberChanges,
    TeamMemberIn,
    WebFormChanges,
    WebFormIn,
)
from modules.crm.services import assignment, web_forms
from modules.crm.services.leads import SOURCE_LABELS
from modules.crm.views.common import page
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession
from web.forms import Refusal, attempt, read_id, required_id, typed_in
from web.members import member_page
from web.tenancy import requires

TAB = "/crm/settings"
GUARD = [requires(codes.SETTINGS_MANAGE)]
TEAMS, RULES, FORMS = "teams", "assignment", "web-forms"
TITLES = {TEAMS: N_("Sales teams"), RULES: N_("Assignment rules"), FORMS: N_("Web forms")}
#: The daily caps the team page offers (the API takes any from 0 to MAX_CAP).
CAP_CHOICES = (0, 1, 2, 3, 4, 5, 6, 8, 10, 12, 15, 20, 25, 30, 40, 50, 75, 100, 150, 200)


# --- reading the forms' text -------------------------------------------------------------------


def _whole(value: str, field: str, message: str, **params: Any) -> int | None:
    """A whole number as typed; blank is None."""
    if not value.strip():
        return None
    try:
        return int(value.strip())
    except ValueError:
        raise ValidationFailed(message, **params, field=field) from None


def _cap(value: str) -> int | None:
    return _whole(
        value,
        "daily_cap",
        N_("A daily cap is a whole number from 0 to {max}, or blank for none."),
        max=assignment.MAX_CAP,
    )


def _priority(value: str) -> int:
    priority = _whole(
        value,
        "priority",
        N_("A priority is a whole number from 0 to {max}."),
        max=assignment.MAX_CAP,
    )
    return 100 if priority is None else priority


# --- the pages ---------------------------------------------------------------------------------


async def _context(
    request: Request[Any, Any, Any], session: AsyncSession, section: str
) -> dict[str, Any]:
    teams = await assignment.teams(session)
    team_names = {team.id: team.name for team in teams}
    context: dict[str, Any] = {"teams": teams, "team_names": team_names, "sources": SOURCE_LABELS}
    if section == TEAMS:
        context["caps"] = CAP_CHOICES
        context["departments"] = await organisation.departments(session)
        context["members"] = (await member_page(session, active=True, limit=200)).items
    elif section == RULES:
        context["rules"] = await assignment.rules(session)
    else:
        base = request.app.state.settings.base_url
        context["forms"] = [web_forms.form_out(f, base) for f in await web_forms.forms(session)]
        context["embeds"] = {f.id: web_forms.embed_snippet(f.url) for f in context["forms"]}
    return context


async def _page(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    section: str,
    *,
    refusal: Refusal | None = None,
    notice: str | None = None,
) -> Template:
    return page(
        f"crm/lead_settings/{section.replace('-', '_')}.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        title=TITLES[section],
        here=f"/t/{tenant.slug}/crm/settings/{section}",
        refusal=refusal,
        notice=notice,
        **await _context(request, session, section),
    )


async def _submit(
    request: Request[Any, Any, Any],
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    section: str,
    form: str,
    typed: dict[str, str],
    action: Callable[[], Awaitable[Any]],
) -> Response[Any]:
    """Run a form's action in a savepoint: the page again with the refusal, or back to it."""
    error = await attempt(session, action)
    if error is not None:
        refusal = Refusal.of(form, typed, error)
        return await _page(request, session, tenant, actor, section, refusal=refusal)
    return Redirect(
        f"/t/{tenant.slug}/crm/settings/{section}?notice=saved", status_code=HTTP_303_SEE_OTHER
    )


def _section_page(section: str) -> Any:
    @get(f"/crm/settings/{section}", guards=GUARD, name=f"crm-settings-{section}")
    async def show(
        request: Request[Any, Any, Any],
        session: DbSession,
        tenant: CurrentTenant,
        actor: CurrentActor,
        notice: FromQuery[str | None] = None,
    ) -> Template:
        return await _page(request, session, tenant, actor, section, notice=notice)

    return show


SECTION_PAGES = [_section_page(section) for section in (TEAMS, RULES, FORMS)]


# --- sales teams -------------------------------------------------------------------------------


@post("/crm/settings/teams", guards=GUARD)
async def create_team(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    data: FormData,
) -> Response[Any]:
    typed = typed_in(data, "name", "department_id")

    async def create() -> None:
        department = read_id("department_id", typed["department_id"])
        await assignment.create_team(
            session, actor, TeamIn(name=typed["name"], department_id=department)
        )

    return await _submit(request, session, tenant, actor, TEAMS, "new-team", typed, create)


@post("/crm/settings/teams/{team_id:uuid}", guards=GUARD)
async def update_team(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    team_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    typed = typed_in(data, "name", "department_id", "active")

    async def update() -> None:
        changes = TeamChanges(
            name=typed["name"],
            department_id=read_id("department_id", typed["department_id"]),
            active=bool(typed["active"]),
        )
        await assignment.update_team(session, actor, team_id, changes)

    return await _submit(request, session, tenant, actor, TEAMS, f"team-{team_id}", typed, update)


@post("/crm/settings/teams/{team_id:uuid}/members", guards=GUARD)
async def add_team_member(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    team_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    typed = typed_in(data, "user_id", "daily_cap")

    async def add() -> None:
        member = TeamMemberIn(
            user_id=required_id("user_id", typed["user_id"]), daily_cap=_cap(typed["daily_cap"])
        )
        await assignment.add_member(session, actor, team_id, member)

    form = f"add-member-{team_id}"
    return await _submit(request, session, tenant, actor, TEAMS, form, typed, add)


@post("/crm/settings/teams/{team_id:uuid}/members/{member_id:uuid}", guards=GUARD)
async def update_team_member(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    team_id: FromPath[uuid.UUID],
    member_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    typed = typed_in(data, "daily_cap", "active")

    async def update() -> None:
        changes = TeamMemberChanges(
            daily_cap=_cap(typed["daily_cap"]), active=bool(typed["active"])
        )
        await assignment.update_member(session, actor, team_id, member_id, changes)

    form = f"member-{member_id}"
    return await _submit(request, session, tenant, actor, TEAMS, form, typed, update)


@post("/crm/settings/teams/{team_id:uuid}/members/{member_id:uuid}/remove", guards=GUARD)
async def remove_team_member(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    team_id: FromPath[uuid.UUID],
    member_id: FromPath[uuid.UUID],
) -> Response[Any]:
    return await _submit(
        request,
        session,
        tenant,
        actor,
        TEAMS,
        f"member-{member_id}",
        {},
        lambda: assignment.remove_member(session, actor, team_id, member_id),
    )


# --- assignment rules --------------------------------------------------------------------------

RULE_FIELDS = ("name", "priority", "source", "region", "team_id")


def _rule(typed: dict[str, str]) -> dict[str, Any]:
    """A rule's fields as the service takes them (a blank source or region: any)."""
    return {
        "name": typed["name"],
        "priority": _priority(typed["priority"]),
        "source": typed["source"] or None,
        "region": typed["region"] or None,
        "team_id": required_id("team_id", typed["team_id"]),
    }


@post("/crm/settings/assignment", guards=GUARD)
async def create_rule(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    data: FormData,
) -> Response[Any]:
    typed = typed_in(data, *RULE_FIELDS)

    async def create() -> None:
        await assignment.create_rule(session, actor, RuleIn(**_rule(typed)))

    return await _submit(request, session, tenant, actor, RULES, "new-rule", typed, create)


@post("/crm/settings/assignment/{rule_id:uuid}", guards=GUARD)
async def update_rule(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    rule_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    typed = typed_in(data, *RULE_FIELDS, "active")

    async def update() -> None:
        changes = RuleChanges(**_rule(typed), active=bool(typed["active"]))
        await assignment.update_rule(session, actor, rule_id, changes)

    return await _submit(request, session, tenant, actor, RULES, f"rule-{rule_id}", typed, update)


@post("/crm/settings/assignment/{rule_id:uuid}/delete", guards=GUARD)
async def delete_rule(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    rule_id: FromPath[uuid.UUID],
) -> Response[Any]:
    return await _submit(
        request,
        session,
        tenant,
        actor,
        RULES,
        f"rule-{rule_id}",
        {},
        lambda: assignment.delete_rule(session, actor, rule_id),
    )


# --- web forms ---------------------------------------------------------------------------------


@post("/crm/settings/web-forms", guards=GUARD)
async def create_web_form(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    data: FormData,
) -> Response[Any]:
    typed = typed_in(data, "name", "source", "team_id")

    async def create() -> None:
        form = WebFormIn(
            name=typed["name"],
            source=typed["source"] or "web_form",
            team_id=read_id("team_id", typed["team_id"]),
        )
        await web_forms.create_form(session, actor, form)

    return await _submit(request, session, tenant, actor, FORMS, "new-form", typed, create)


@post("/crm/settings/web-forms/{form_id:uuid}", guards=GUARD)
async def update_web_form(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    form_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    typed = typed_in(data, "name", "source", "team_id", "active")

    async def update() -> None:
        changes = WebFormChanges(
            name=typed["name"],
            source=typed["source"],
            team_id=read_id("team_id", typed["team_id"]),
            active=bool(typed["active"]),
        )
        await web_forms.update_form(session, actor, form_id, changes)

    return await _submit(request, session, tenant, actor, FORMS, f"form-{form_id}", typed, update)


PAGES = [
    *SECTION_PAGES,
    create_team,
    update_team,
    add_team_member,
    update_team_member,
    remove_team_member,
    create_rule,
    update_rule,
    delete_rule,
    create_web_form,
    update_web_form,
]
