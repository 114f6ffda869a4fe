"""JSON API for leads, sales teams, assignment rules and web forms, under
``/api/t/{slug}/crm``.

Leads need ``crm.lead.read`` to read and ``crm.lead.write`` to create, change, assign,
disqualify and convert (a guard answers 403 naming the code); every list and read goes
through the member's ``crm.lead`` scope, so a lead outside it is not listed and not
found (404). A new lead that looks like an existing lead or party is refused with 409
``duplicate_suspected`` and its ``candidates`` until it is sent again with
``"allow_duplicates": true``; so is a conversion whose new company or contact looks like
an existing party. Teams, rules and web forms need ``crm.settings.manage``.
"""

from __future__ import annotations

import uuid
from typing import Any

from litestar import Request, delete, get, patch, post
from litestar.params import FromPath, FromQuery, JSONBody
from litestar.status_codes import HTTP_200_OK

from core.parties.services import DuplicateSuspected
from modules.crm import permissions as codes
from modules.crm.schemas.leads import (
    AssignIn,
    ConversionOut,
    ConvertIn,
    DisqualifyIn,
    DuplicateOut,
    LeadChanges,
    LeadIn,
    LeadOut,
    LeadPage,
    RuleChanges,
    RuleIn,
    RuleOut,
    TeamChanges,
    TeamIn,
    TeamMemberChanges,
    TeamMemberIn,
    TeamOut,
    WebFormChanges,
    WebFormIn,
    WebFormOut,
)
from modules.crm.services import assignment, lead_conversion, leads, web_forms
from web.deps import CurrentActor, DbSession
from web.tenancy import requires

READ, WRITE, SETTINGS = codes.LEAD_READ, codes.LEAD_WRITE, codes.SETTINGS_MANAGE


def _naming_candidates(suspected: DuplicateSuspected) -> DuplicateSuspected:
    """A conversion's refusal with each party's name (when visible) and reasons."""
    suspected.params["candidates"] = [
        {"kind": "party", "id": str(c.party_id), "name": c.name, "reasons": list(c.reasons)}
        for c in suspected.candidates
    ]
    return suspected


# --- leads ------------------------------------------------------------------------------------


@get("/crm/leads", guards=[requires(READ)], summary="Leads, newest first, with search and filters")
async def list_leads(
    session: DbSession,
    actor: CurrentActor,
    q: FromQuery[str | None] = None,
    status: FromQuery[str | None] = None,
    owner: FromQuery[str | None] = None,
    source: FromQuery[str | None] = None,
    after: FromQuery[str | None] = None,
    limit: FromQuery[int] = leads.PAGE_SIZE,
) -> LeadPage:
    """``q`` finds a name, company, number, e-mail address or phone; ``status`` is a status
    or ``open``; ``owner`` is ``me``, ``none`` (unassigned) or a user id. Pass
    ``next_cursor`` back as ``after`` (at most 200 rows a page)."""
    return await leads.list_leads(
        session,
        actor,
        search=q,
        status=status or None,
        owner=owner or None,
        source=source or None,
        after=after or None,
        limit=limit,
    )


@post("/crm/leads", guards=[requires(WRITE)], summary="Create a lead")
async def create_lead(session: DbSession, actor: CurrentActor, data: JSONBody[LeadIn]) -> LeadOut:
    """Without ``owner_id`` the assignment rules place it (it may stay unassigned)."""
    return leads.lead_out(await leads.create_lead(session, actor, data))


@get(
    "/crm/leads/duplicates",
    guards=[requires(READ)],
    summary="Leads and parties that look like the lead being entered",
)
async def find_duplicates(
    session: DbSession,
    actor: CurrentActor,
    name: FromQuery[str] = "",
    company_name: FromQuery[str] = "",
    email: FromQuery[str] = "",
    phone: FromQuery[str] = "",
) -> list[DuplicateOut]:
    """Offered while a lead is entered; a malformed e-mail address or phone is 422."""
    typed = leads.typed(name=name or "-", company_name=company_name, email=email, phone=phone)
    return await leads.find_duplicates(session, actor, await leads.check(session, typed))


@get("/crm/leads/{lead_id:uuid}", guards=[requires(READ)], summary="A lead")
async def get_lead(
    session: DbSession, actor: CurrentActor, lead_id: FromPath[uuid.UUID]
) -> LeadOut:
    return leads.lead_out(await leads.get_lead(session, actor, lead_id))


@patch("/crm/leads/{lead_id:uuid}", guards=[requires(WRITE)], summary="Change a lead")
async def update_lead(
    session: DbSession,
    actor: CurrentActor,
    lead_id: FromPath[uuid.UUID],
    data: JSONBody[LeadChanges],
) -> LeadOut:
    """Fields left out stay; ``status`` is new, contacted or qualified."""
    return leads.lead_out(await leads.update_lead(session, actor, lead_id, data))


@post(
    "/crm/leads/{lead_id:uuid}/assign",
    guards=[requires(WRITE)],
    status_code=HTTP_200_OK,
    summary="Give a lead to a member",
)
async def assign_lead(
    session: DbSession, actor: CurrentActor, lead_id: FromPath[uuid.UUID], data: JSONBody[AssignIn]
) -> LeadOut:
    return leads.lead_out(await leads.assign_lead(session, actor, lead_id, data.owner_id))


@post(
    "/crm/leads/{lead_id:uuid}/disqualify",
    guards=[requires(WRITE)],
    status_code=HTTP_200_OK,
    summary="Disqualify a lead, saying why",
)
async def disqualify_lead(
    session: DbSession,
    actor: CurrentActor,
    lead_id: FromPath[uuid.UUID],
    data: JSONBody[DisqualifyIn],
) -> LeadOut:
    return leads.lead_out(await leads.disqualify(session, actor, lead_id, data.reason))


@post(
    "/crm/leads/{lead_id:uuid}/convert",
    guards=[requires(WRITE)],
    status_code=HTTP_200_OK,
    summary="Convert a lead into a customer, a contact and an opportunity",
)
async def convert_lead(
    session: DbSession,
    actor: CurrentActor,
    lead_id: FromPath[uuid.UUID],
    data: JSONBody[ConvertIn],
) -> ConversionOut:
    """All or nothing; converting a lead twice is 409."""
    try:
        done = await lead_conversion.convert(session, actor, lead_id, data)
    except DuplicateSuspected as suspected:
        raise _naming_candidates(suspected) from None
    return ConversionOut(
        lead=leads.lead_out(done.lead),
        customer_id=done.customer_id,
        contact_id=done.contact_id,
        opportunity_id=done.opportunity_id,
    )


# --- sales teams --------------------------------------------------------------------------


async def _team_out(session: DbSession, team_id: uuid.UUID) -> TeamOut:
    return next(t for t in await assignment.teams(session) if t.id == team_id)


@get("/crm/teams", guards=[requires(SETTINGS)], summary="Sales teams with their members")
async def list_teams(session: DbSession) -> list[TeamOut]:
    return await assignment.teams(session)


@post("/crm/teams", guards=[requires(SETTINGS)], summary="Create a sales team")
async def create_team(session: DbSession, actor: CurrentActor, data: JSONBody[TeamIn]) -> TeamOut:
    team = await assignment.create_team(session, actor, data)
    return await _team_out(session, team.id)


@patch("/crm/teams/{team_id:uuid}", guards=[requires(SETTINGS)], summary="Change a sales team")
async def update_team(
    session: DbSession,
    actor: CurrentActor,
    team_id: FromPath[uuid.UUID],
    data: JSONBody[TeamChanges],
) -> TeamOut:
    await assignment.update_team(session, actor, team_id, data)
    return await _team_out(session, team_id)


@post(
    "/crm/teams/{team_id:uuid}/members",
    guards=[requires(SETTINGS)],
    summary="Put a member in a sales team",
)
async def add_team_member(
    session: DbSession,
    actor: CurrentActor,
    team_id: FromPath[uuid.UUID],
    data: JSONBody[TeamMemberIn],
) -> TeamOut:
    await assignment.add_member(session, actor, team_id, data)
    return await _team_out(session, team_id)


@patch(
    "/crm/teams/{team_id:uuid}/members/{member_id:uuid}",
    guards=[requires(SETTINGS)],
    summary="Change a team member's daily cap, or pause them",
)
async def update_team_member(
    session: DbSession,
    actor: CurrentActor,
    team_id: FromPath[uuid.UUID],
    member_id: FromPath[uuid.UUID],
    data: JSONBody[TeamMemberChanges],
) -> TeamOut:
    await assignment.update_member(session, actor, team_id, member_id, data)
    return await _team_out(session, team_id)


@delete(
    "/crm/teams/{team_id:uuid}/members/{member_id:uuid}",
    guards=[requires(SETTINGS)],
    summary="Take a member out of a sales team",
)
async def remove_team_member(
    session: DbSession,
    actor: CurrentActor,
    team_id: FromPath[uuid.UUID],
    member_id: FromPath[uuid.UUID],
) -> None:
    await assignment.remove_member(session, actor, team_id, member_id)


# --- assignment rules --------------------------------------------------------------------


@get("/crm/assignment-rules", guards=[requires(SETTINGS)], summary="Rules, in the order tried")
async def list_rules(session: DbSession) -> list[RuleOut]:
    return [assignment.rule_out(rule) for rule in await assignment.rules(session)]


@post("/crm/assignment-rules", guards=[requires(SETTINGS)], summary="Create an assignment rule")
async def create_rule(session: DbSession, actor: CurrentActor, data: JSONBody[RuleIn]) -> RuleOut:
    return assignment.rule_out(await assignment.create_rule(session, actor, data))


@patch(
    "/crm/assignment-rules/{rule_id:uuid}",
    guards=[requires(SETTINGS)],
    summary="Change an assignment rule",
)
async def update_rule(
    session: DbSession,
    actor: CurrentActor,
    rule_id: FromPath[uuid.UUID],
    data: JSONBody[RuleChanges],
) -> RuleOut:
    return assignment.rule_out(await assignment.update_rule(session, actor, rule_id, data))


@delete(
    "/crm/assignment-rules/{rule_id:uuid}",
    guards=[requires(SETTINGS)],
    summary="Delete an assignment rule",
)
async def delete_rule(
    session: DbSession, actor: CurrentActor, rule_id: FromPath[uuid.UUID]
) -> None:
    await assignment.delete_rule(session, actor, rule_id)


# --- web forms ---------------------------------------------------------------------------


def _base_url(request: Request[Any, Any, Any]) -> str:
    return request.app.state.settings.base_url


@get("/crm/web-forms", guards=[requires(SETTINGS)], summary="Web-to-lead forms")
async def list_web_forms(request: Request[Any, Any, Any], session: DbSession) -> list[WebFormOut]:
    base = _base_url(request)
    return [web_forms.form_out(form, base) for form in await web_forms.forms(session)]


@post("/crm/web-forms", guards=[requires(SETTINGS)], summary="Create a web-to-lead form")
async def create_web_form(
    request: Request[Any, Any, Any],
    session: DbSession,
    actor: CurrentActor,
    data: JSONBody[WebFormIn],
) -> WebFormOut:
    form = await web_forms.create_form(session, actor, data)
    return web_forms.form_out(form, _base_url(request))


@patch(
    "/crm/web-forms/{form_id:uuid}",
    guards=[requires(SETTINGS)],
    summary="Change a web-to-lead form, or switch it off",
)
async def update_web_form(
    request: Request[Any, Any, Any],
    session: DbSession,
    actor: CurrentActor,
    form_id: FromPath[uuid.UUID],
    data: JSONBody[WebFormChanges],
) -> WebFormOut:
    form = await web_forms.update_form(session, actor, form_id, data)
    return web_forms.form_out(form, _base_url(request))


API = [
    list_leads,
    create_lead,
    find_duplicates,
    get_lead,
    update_lead,
    assign_lead,
    disqualify_lead,
    convert_lead,
    list_teams,
    create_team,
    update_team,
    add_team_member,
    update_team_member,
    remove_team_member,
    list_rules,
    create_rule,
    update_rule,
    delete_rule,
    list_web_forms,
    create_web_form,
    update_web_form,
]
