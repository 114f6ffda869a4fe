"""Approval pages under ``/t/{slug}/oa/approvals``: the inbox (to do, done, started by me,
copied to me; filtered, searched and paged, with "Approve selected" in To do), an
approval's page (its steps, its timeline and the buttons of what the viewer may do), and,
for admins, the flow editor of each approval kind with its preview and the workspace's
reminder setting.

Each action posts to a path of its own and comes back to the approval's page; a refusal is
the page again with the reason beside the form (status 4xx, the request rolled back).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlencode

from litestar import Request, Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Redirect, Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.errors import DomainError, NotFound, ValidationFailed
from core.i18n import N_
from core.permissions import Actor
from core.plugins.registry import ModuleRegistry
from modules.oa import permissions as codes
from modules.oa.services import (
    approval_batch,
    approval_inbox,
    approval_reminders,
    engine,
    flows,
    form_requests,
)
from modules.oa.services.flows import Condition, FlowIn, StepIn
from modules.oa.views.common import page
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession, Registry
from web.forms import (
    Refusal,
    answer_form,
    maybe_id,
    read_count,
    read_day,
    read_id,
    required,
    typed_in,
)
from web.htmx import wants_partial
from web.shell import COUNT_CAP, badge
from web.tenancy import requires

TAB = "/oa/approvals"
FLOWS = f"{TAB}/flows"
#: Empty step rows the editor offers below a flow's steps, to add steps.
SPARE_STEPS = 2


@get(TAB, guards=[requires(codes.APPROVAL_READ)])
async def inbox_page(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    box: FromQuery[str] = "todo",
    after: FromQuery[str] = "",
    approved: FromQuery[str] = "",
    not_waiting: FromQuery[str] = "",
) -> Template:
    """A box, narrowed by the filters in the query; with htmx (the filters changed, or
    "More"), only the list; after "Approve selected", what it did."""
    typed = {name: request.query_params.get(name, "") for name in approval_inbox.FILTER_FIELDS}
    batch = (_count(approved), _count(not_waiting)) if approved or not_waiting else None
    return await _inbox(
        session, tenant, actor, registry, box, typed, after, wants_partial(request), batch=batch
    )


def _count(typed: str) -> int:
    return int(typed) if typed.isdigit() else 0


async def _inbox(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    registry: ModuleRegistry,
    box: str,
    typed: dict[str, str],
    after: str = "",
    partial: bool = False,
    *,
    batch: tuple[int, int] | None = None,
    refusal: Refusal | None = None,
) -> Template:
    """The inbox page (or its list alone, ``partial``); a bad filter is said beside the
    filters, with the box unfiltered below it."""
    boxes = approval_inbox.boxes_for(actor)
    chosen = box if box in boxes else "todo"
    filter_error: DomainError | None = None
    try:
        filters = approval_inbox.read_filters(registry, typed)
        found = await approval_inbox.inbox(session, registry, actor, chosen, filters, after=after)
    except ValidationFailed as error:
        filter_error = error
        found = await approval_inbox.inbox(session, registry, actor, chosen)
    kept = {} if filter_error else {k: v for k, v in typed.items() if v}  # what "More" keeps
    shown = {"box": chosen, **kept}
    here = f"/t/{tenant.slug}{TAB}"
    more_url = (
        f"{here}?{urlencode({**shown, 'after': found.next_cursor})}" if found.next_cursor else None
    )
    context: dict[str, Any] = {
        "found": found,
        "box": chosen,
        "more_url": more_url,
        "first_page": not after,
        "statuses": engine.STATUS_LABELS,
        "batch_form": chosen == "todo",
        "filter_error": filter_error,
    }
    if partial:  # "More" adds cards to the list; the filters' request replaces the list
        part = "_inbox_items.html" if after else "_inbox_list.html"
        return page(f"oa/approvals/{part}", tenant, actor, TAB, **context)
    return page(
        "oa/approvals/inbox.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        **context,
        boxes=boxes,
        waiting=badge(await approval_inbox.waiting_count(session, actor.user_id, COUNT_CAP)),
        filters=typed,
        kinds=await flows.flow_kinds(session, registry, tenant.enabled),
        can_manage_flows=actor.can(codes.FLOW_MANAGE),
        members=await flows.members(session),
        delegations=await _delegations(session, actor),
        batch=batch,
        refusal=refusal,
    )


async def _delegations(session: AsyncSession, actor: Actor) -> list[tuple[Any, str]]:
    """The member's delegations not over yet, with their delegate's name."""
    made = await engine.delegations(session, actor.user_id)
    names = await flows.display_names(session, {d.delegate_id for d in made})
    return [(d, names.get(d.delegate_id, "")) for d in made]


@get(f"{TAB}/requests/{{request_id:uuid}}", guards=[requires(codes.APPROVAL_READ)])
async def request_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, request_id: FromPath[uuid.UUID]
) -> Redirect:
    """Where a requesting module links to: the approval running its request."""
    instance = await approval_inbox.instance_of_request(session, actor, request_id)
    return Redirect(f"/t/{tenant.slug}{TAB}/{instance.id}")


async def _instance_page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    registry: ModuleRegistry,
    instance_id: uuid.UUID,
    refusal: Refusal | None = None,
) -> Template:
    return page(
        "oa/approvals/detail.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        view=await approval_inbox.instance_view(session, registry, actor, instance_id),
        # A form request's values (oa/forms/_values.html), after the visibility check
        form_request=await form_requests.shown_for_approval(session, instance_id),
        viewer_id=actor.user_id,
        members=await flows.members(session),
        statuses=engine.STATUS_LABELS,
        actions=engine.ACTION_LABELS,
        task_labels=engine.TASK_LABELS,
        modes=flows.MODES,
        here=f"/t/{tenant.slug}{TAB}/{instance_id}",
        refusal=refusal,
    )


@get(f"{TAB}/{{instance_id:uuid}}", guards=[requires(codes.APPROVAL_READ)])
async def instance_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    instance_id: FromPath[uuid.UUID],
) -> Template:
    return await _instance_page(session, tenant, actor, registry, instance_id)


def _someone(form: dict[str, str]) -> uuid.UUID:
    return required("to_user_id", read_id("to_user_id", form["to_user_id"]), N_("Choose a member."))


def _step_number(form: dict[str, str]) -> int | None:
    typed = form["step"].strip()
    if not typed:
        return None
    if not typed.isdigit():
        raise ValidationFailed("Choose a step.", field="step")
    return int(typed)


Act = Callable[[AsyncSession, uuid.UUID, uuid.UUID, dict[str, str]], Awaitable[Any]]

#: action → (the inputs it reads, what it does with them)
ACTIONS: dict[str, tuple[tuple[str, ...], Act]] = {
    "approve": (
        ("comment",),
        lambda s, i, u, f: engine.decide(s, i, u, approve=True, comment=f["comment"]),
    ),
    "reject": (
        ("comment",),
        lambda s, i, u, f: engine.decide(s, i, u, approve=False, comment=f["comment"]),
    ),
    "transfer": (
        ("to_user_id", "comment"),
        lambda s, i, u, f: engine.transfer(s, i, u, _someone(f), f["comment"]),
    ),
    "add": (
        ("to_user_id", "position", "comment"),
        lambda s, i, u, f: engine.add_signer(
            s, i, u, _someone(f), before=f["position"] == "before", comment=f["comment"]
        ),
    ),
    "return": (
        ("step", "comment"),
        lambda s, i, u, f: engine.return_to(s, i, u, step=_step_number(f), comment=f["comment"]),
    ),
    "resubmit": (("comment",), lambda s, i, u, f: engine.resubmit(s, i, u, f["comment"])),
    "withdraw": (("comment",), lambda s, i, u, f: engine.withdraw(s, i, u, f["comment"])),
    "urge": ((), lambda s, i, u, f: engine.urge(s, i, u)),
}


@post(f"{TAB}/{{instance_id:uuid}}/{{action:str}}", guards=[requires(codes.APPROVAL_READ)])
async def act_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    instance_id: FromPath[uuid.UUID],
    action: FromPath[str],
    data: FormData,
) -> Response[Any]:
    """One of the approval page's forms (:data:`ACTIONS`)."""
    if action not in ACTIONS:
        raise NotFound("No approval action {action}.", action=action)
    fields, run = ACTIONS[action]
    form = typed_in(data, *fields)
    await approval_inbox.visible_instance(session, actor, instance_id)

    async def again(refusal: Refusal) -> Template:
        return await _instance_page(session, tenant, actor, registry, instance_id, refusal)

    return await answer_form(
        session,
        action,
        form,
        lambda: run(session, instance_id, actor.user_id, form),
        back=f"/t/{tenant.slug}{TAB}/{instance_id}",
        refused=again,
    )


@post(f"{TAB}/delegation", guards=[requires(codes.APPROVAL_READ)])
async def delegate_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    data: FormData,
) -> Response[Any]:
    """While away: the member's new tasks go to a colleague for a range of days."""
    form = typed_in(data, "delegate_id", "starts_on", "ends_on")

    async def run() -> None:
        delegate_id = required("delegate_id", read_id("delegate_id", form["delegate_id"]))
        starts = required("starts_on", read_day("starts_on", form["starts_on"]))
        ends = required("ends_on", read_day("ends_on", form["ends_on"]))
        await engine.delegate(session, actor.user_id, delegate_id, starts, ends)

    async def again(refusal: Refusal) -> Template:
        return await _inbox(session, tenant, actor, registry, "todo", {}, refusal=refusal)

    return await answer_form(
        session, "delegation", form, run, back=f"/t/{tenant.slug}{TAB}", refused=again
    )


@post(f"{TAB}/delegation/{{delegation_id:uuid}}/end", guards=[requires(codes.APPROVAL_READ)])
async def end_delegation_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    delegation_id: FromPath[uuid.UUID],
) -> Redirect:
    """Back early: the delegation ends now."""
    await engine.end_delegation(session, actor.user_id, delegation_id)
    return Redirect(f"/t/{tenant.slug}{TAB}", status_code=303)


# --- inbox: approve selected, the reminder setting -------------------------------------------


@post(f"{TAB}/batch/approve", guards=[requires(codes.APPROVAL_READ)])
async def approve_selected(
    request: Request[Any, Any, Any],
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
) -> Response[Any]:
    """The To do box's "Approve selected": each checked approval on its own; the box then
    says how many went through and how many no longer waited for the member."""
    posted = await request.form()
    chosen = posted.getall("ids", [])
    form = {"comment": str(posted.get("comment", "")), "ids": ",".join(map(str, chosen))}
    ids = [i for value in chosen if (i := maybe_id(str(value)))]
    try:
        done = await approval_batch.approve_all(session, actor, ids, form["comment"])
    except ValidationFailed as error:
        # Nothing was approved (the comment, or no choice, refuses the whole batch).
        refusal = Refusal.of("batch", form, error)
        return await _inbox(session, tenant, actor, registry, "todo", {}, refusal=refusal)
    query = urlencode(
        {"box": "todo", "approved": len(done.approved), "not_waiting": len(done.not_waiting)}
    )
    return Redirect(f"/t/{tenant.slug}{TAB}?{query}", status_code=303)


async def _settings_page(
    session: AsyncSession, tenant: TenantContext, actor: Actor, refusal: Refusal | None = None
) -> Template:
    return page(
        "oa/approvals/settings.html",
        tenant,
        actor,
        TAB,
        status_code=refusal.error.status_code if refusal else 200,
        reminders=await approval_reminders.reminders(session),
        most=approval_reminders.MOST_HOURS,
        refusal=refusal,
    )


@get(f"{TAB}/settings", guards=[requires(codes.FLOW_MANAGE)])
async def settings_page(session: DbSession, tenant: CurrentTenant, actor: CurrentActor) -> Template:
    return await _settings_page(session, tenant, actor)


@post(f"{TAB}/settings", guards=[requires(codes.FLOW_MANAGE)])
async def save_settings_from_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, data: FormData
) -> Response[Any]:
    """After how many hours a waiting step reminds its approver (0: never), and how often
    again (0: once)."""
    form = typed_in(data, "remind_after_hours", "remind_every_hours")

    async def run() -> None:
        wanted = approval_reminders.Reminders(
            read_count("remind_after_hours", form["remind_after_hours"]),
            read_count("remind_every_hours", form["remind_every_hours"]),
        )
        await approval_reminders.save_reminders(session, actor, wanted)

    return await answer_form(
        session,
        "settings",
        form,
        run,
        back=f"/t/{tenant.slug}{TAB}/settings",
        refused=lambda refusal: _settings_page(session, tenant, actor, refusal),
    )


# --- the flow editor ------------------------------------------------------------------------


@get(FLOWS, guards=[requires(codes.FLOW_MANAGE)])
async def flows_page(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, registry: Registry
) -> Template:
    kinds = await flows.flow_kinds(session, registry, tenant.enabled)  # the forms too
    versions = {kind.code: await flows.current_version(session, kind.code) for kind in kinds}
    return page("oa/approvals/flows.html", tenant, actor, TAB, kinds=kinds, versions=versions)


def _typed_flow(form: dict[str, str], rows: int) -> FlowIn:
    """The editor's rows that name a step, in order; a blank row is no step."""
    steps = []
    for row in range(1, rows + 1):
        name = form.get(f"name_{row}", "").strip()
        if not name:
            continue
        field = form.get(f"cond_field_{row}", "")
        condition = (
            Condition(field, form.get(f"cond_op_{row}", ""), form.get(f"cond_value_{row}", ""))
            if field
            else None
        )
        levels = form.get(f"levels_{row}", "1").strip() or "1"
        if not levels.isdigit():
            raise ValidationFailed(
                "Step {step}: type a number of levels.", step=row, field=f"step_{row}"
            )
        steps.append(
            StepIn(
                name=name,
                approvers=form.get(f"approvers_{row}", ""),
                mode=form.get(f"mode_{row}", "any"),
                member_ids=_ids(form.get(f"members_{row}", "")),
                role=form.get(f"role_{row}", ""),
                levels=int(levels),
                condition=condition,
            )
        )
    return FlowIn(
        steps=tuple(steps),
        cc_ids=_ids(form.get("cc", "")),
        missing_approver=form.get("missing", ""),
        auto_approve_repeat=form.get("auto_approve_repeat", "") == "on",
    )


def _ids(joined: str) -> tuple[uuid.UUID, ...]:
    return tuple(i for value in joined.split(",") if (i := read_id("members", value.strip())))


async def _form_of(request: Request[Any, Any, Any]) -> dict[str, str]:
    """What the editor posted; a multiple choice (members, cc) is joined with commas."""
    posted = await request.form()
    return {key: ",".join(str(v) for v in posted.getall(key)) for key in posted}


def _form_from(flow: FlowIn) -> dict[str, str]:
    """A saved flow as the editor's inputs."""
    form = {
        "cc": ",".join(str(i) for i in flow.cc_ids),
        "missing": flow.missing_approver,
        "auto_approve_repeat": "on" if flow.auto_approve_repeat else "",
    }
    for row, step in enumerate(flow.steps, start=1):
        form |= {
            f"name_{row}": step.name,
            f"approvers_{row}": step.approvers,
            f"mode_{row}": step.mode,
            f"members_{row}": ",".join(str(i) for i in step.member_ids),
            f"role_{row}": step.role,
            f"levels_{row}": str(step.levels),
            f"cond_field_{row}": step.condition.field if step.condition else "",
            f"cond_op_{row}": step.condition.op if step.condition else "",
            f"cond_value_{row}": step.condition.value if step.condition else "",
        }
    return form


async def _editor(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    registry: ModuleRegistry,
    kind: str,
    form: dict[str, str] | None = None,
    *,
    previewed: list[flows.PreviewStep] | None = None,
    error: DomainError | None = None,
) -> Template:
    declared = await flows.flow_kind(session, registry, kind)  # a module's kind or a form's
    version = await flows.current_version(session, kind)
    saved = flows.flow_of(version)
    form = form if form is not None else _form_from(saved)
    rows = max(len(saved.steps), _rows(form)) + SPARE_STEPS
    return page(
        "oa/approvals/flow_edit.html",
        tenant,
        actor,
        TAB,
        status_code=error.status_code if error else 200,
        kind=declared,
        version=version,
        form=form,
        rows=range(1, rows + 1),
        row_count=rows,
        members=await flows.members(session),
        roles=await flows.role_choices(session),
        approver_kinds=flows.APPROVER_KINDS,
        modes=flows.MODES,
        missing=flows.MISSING,
        operators=flows.NUMBER_OPERATORS,
        previewed=previewed,
        error=error,
        here=f"/t/{tenant.slug}{FLOWS}/{kind}",
    )


def _rows(form: dict[str, str]) -> int:
    return max((int(k[5:]) for k in form if k.startswith("name_") and k[5:].isdigit()), default=0)


@get(f"{FLOWS}/{{kind:str}}", guards=[requires(codes.FLOW_MANAGE)])
async def flow_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    kind: FromPath[str],
) -> Template:
    return await _editor(session, tenant, actor, registry, kind)


@post(f"{FLOWS}/{{kind:str}}", guards=[requires(codes.FLOW_MANAGE)])
async def save_flow_from_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    registry: Registry,
    request: Request[Any, Any, Any],
    kind: FromPath[str],
) -> Response[Any]:
    """Save the flow as a new version (``do=save``), or show its preview for a requester
    and field values (``do=preview``) without saving."""
    form = await _form_of(request)
    declared = await flows.flow_kind(session, registry, kind)  # a module's kind or a form's
    try:
        async with session.begin_nested():
            flow = _typed_flow(form, _rows(form))
            if form.get("do") == "preview":
                requester = required(
                    "requester",
                    read_id("requester", form.get("requester", "")),
                    N_("Choose a member."),
                )
                fields = {
                    name: form[f"field_{name}"]
                    for name in declared.fields
                    if form.get(f"field_{name}", "").strip()
                }
                previewed = await flows.preview(session, registry, kind, flow, requester, fields)
                return await _editor(
                    session, tenant, actor, registry, kind, form, previewed=previewed
                )
            await flows.save_flow(session, registry, kind, flow, actor_id=actor.user_id)
    except DomainError as error:
        return await _editor(session, tenant, actor, registry, kind, form, error=error)
    return Redirect(f"/t/{tenant.slug}{FLOWS}/{kind}", status_code=303)


PAGES = [
    inbox_page,
    approve_selected,
    settings_page,
    save_settings_from_page,
    request_page,
    flows_page,
    flow_page,
    save_flow_from_page,
    delegate_from_page,
    end_delegation_from_page,
    instance_page,
    act_from_page,
]
