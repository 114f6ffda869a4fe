"""Approval flow templates (审批流程), one per approval kind, and how a flow resolves to
the people of one request.

A flow is saved as a new version each time (``ApprovalFlowVersion``); a running approval
keeps the plan it started with. A step names its approvers by member, by role, by the
requester's department head, or by the requester's manager chain N levels up (one step
per level, as DingTalk's 连续多级主管); its mode is all-must-approve (会签) or any-one
(或签); a condition on a form field includes it only when it holds.

The department head is not stored by core: here it is the active members of the
requester's department who report to no one in that department (the top of its reporting
lines); when that is the requester, the parent department's head is asked instead.

A step that resolves to nobody follows the flow's policy: skipped, or sent to the
workspace's owners and admins.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core import audit, organisation
from core.approvals import APPROVER_ROLES
from core.db import Database
from core.errors import NotFound, ValidationFailed
from core.i18n import N_, gettext
from core.models import Department, MemberRole, Membership, Role, User
from core.plugins.manifest import ApprovalKind
from core.plugins.registry import ModuleRegistry, installed
from core.roles import BUILT_IN_ROLES
from modules.oa.models import ApprovalFlow, ApprovalFlowVersion, Form
from modules.oa.services import forms

APPROVER_KINDS = {
    "member": N_("Named members"),
    "role": N_("Everyone with a role"),
    "head": N_("The requester's department head"),
    "manager": N_("The requester's managers, level by level"),
}
MODES = {"any": N_("Any one approves (或签)"), "all": N_("Everyone approves (会签)")}
MISSING = {
    "admins": N_("Send it to the workspace's admins"),
    "skip": N_("Skip the step"),
}
NUMBER_OPERATORS = (">", ">=", "<", "<=", "=", "≠")
MAX_STEPS = 20
MAX_LEVELS = 5
MAX_NAME = 100


@dataclass(frozen=True, slots=True)
class Condition:
    """``field op value``: the step applies only when it holds."""

    field: str
    op: str
    value: str


@dataclass(frozen=True, slots=True)
class StepIn:
    """One step as the editor sends it."""

    name: str
    approvers: str  # a key of APPROVER_KINDS
    mode: str = "any"
    member_ids: tuple[uuid.UUID, ...] = ()
    role: str = ""  # owner | admin | member, or a custom role's id
    levels: int = 1
    condition: Condition | None = None


@dataclass(frozen=True, slots=True)
class FlowIn:
    steps: tuple[StepIn, ...]
    cc_ids: tuple[uuid.UUID, ...] = ()
    missing_approver: str = "admins"
    auto_approve_repeat: bool = True


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """A step as it applies to one request: its people (user ids), or skipped."""

    name: str
    mode: str
    approver_ids: tuple[uuid.UUID, ...]
    to_admins: bool = False  # nobody resolved: the workspace's admins stand in

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "mode": self.mode,
            "approver_ids": [str(i) for i in self.approver_ids],
            "to_admins": self.to_admins,
        }

    @classmethod
    def of(cls, data: dict[str, Any]) -> PlannedStep:
        return cls(
            name=data["name"],
            mode=data["mode"],
            approver_ids=tuple(uuid.UUID(i) for i in data["approver_ids"]),
            to_admins=data.get("to_admins", False),
        )


#: The flow of a kind nobody has configured: what a DingTalk user expects of an unset
#: form — the requester's direct manager decides, and with no manager the admins do.
DEFAULT_FLOW = FlowIn(
    steps=(StepIn(name=N_("Direct manager"), approvers="manager", levels=1),),
    missing_approver="admins",
)


def approval_kinds(registry: ModuleRegistry, enabled: frozenset[str]) -> list[ApprovalKind]:
    """The approval kinds the workspace's enabled modules declare, in install order."""
    return [
        kind
        for key, module in registry.modules.items()
        if key in enabled
        for kind in module.manifest.approval_kinds
    ]


def declared_kind(registry: ModuleRegistry, kind: str) -> ApprovalKind:
    declared = registry.approval_kind(kind)
    if declared is None:
        raise NotFound("Unknown approval kind {kind}.", kind=kind)
    return declared


# --- forms' flows ----------------------------------------------------------------------------
# Each approval form has a flow of its own, keyed ``oa.form:<code>`` (``forms.flow_key``):
# the flows of a workspace are its modules' kinds (less the generic ``oa.form``) and its
# active forms; a form's flow tests the amount and the form's numbers, money and choices.


async def flow_kinds(
    session: AsyncSession, registry: ModuleRegistry, enabled: frozenset[str]
) -> list[ApprovalKind]:
    """What has a flow: the enabled modules' approval kinds, then every active form."""
    kinds = [kind for kind in approval_kinds(registry, enabled) if kind.code != forms.KIND]
    for form in await forms.list_forms(session, active_only=True):
        kinds.append(_form_kind(form, await forms.current_fields(session, form)))
    return kinds


def _form_kind(form: Form, fields: list[dict[str, Any]]) -> ApprovalKind:
    # A built-in form's name is a msgid; a designed form's, typed text, gettext leaves as is.
    return ApprovalKind(forms.flow_key(form.code), gettext(form.name), forms.flow_fields(fields))


async def flow_kind(session: AsyncSession, registry: ModuleRegistry, key: str) -> ApprovalKind:
    """The kind a flow key names: a module's kind, or a form's (``oa.form:<code>``)."""
    code = forms.code_of_flow(key)
    if code is None:
        return declared_kind(registry, key)
    form = await session.scalar(select(Form).where(Form.code == code))
    if form is None:
        raise NotFound("Unknown approval kind {kind}.", kind=key)
    return _form_kind(form, await forms.current_fields(session, form))


async def kind_labels(
    session: AsyncSession, kinds: Iterable[str], registry: ModuleRegistry | None = None
) -> dict[str, str]:
    """What people call each kind an instance runs under (a module's kind, or a form's
    flow key ``oa.form:<code>``), untranslated: a module's label and a built-in form's name
    are msgids, a designed form's name is typed text (gettext leaves it as it is). Without
    ``registry`` (the engine's notifications, a job), the registry as the app loads it."""
    if registry is None:
        settings = Database.of(session).settings
        registry = installed(settings.extra_modules, settings.modules_allow)
    wanted = set(kinds)
    codes = {code for kind in wanted if (code := forms.code_of_flow(kind))}
    named: dict[str, str] = {}
    if codes:
        found = await session.execute(select(Form.code, Form.name).where(Form.code.in_(codes)))
        named = dict(found.all())
    labels = {}
    for kind in wanted:
        code = forms.code_of_flow(kind)
        declared = None if code else registry.approval_kind(kind)
        labels[kind] = named.get(code, kind) if code else (declared.label if declared else kind)
    return labels


async def every_kind_label(session: AsyncSession, registry: ModuleRegistry) -> dict[str, str]:
    """Every kind an instance may run under, with its label (as :func:`kind_labels`): the
    installed modules' kinds and every form of the workspace (for searching by label)."""
    labels = {
        kind.code: kind.label
        for module in registry.modules.values()
        for kind in module.manifest.approval_kinds
        if kind.code != forms.KIND
    }
    found = await session.execute(select(Form.code, Form.name))
    labels |= {forms.flow_key(code): name for code, name in found.all()}
    return labels


def flow_key_of(kind: str, fields: dict[str, Any]) -> str:
    """The flow a request runs under: its form's for a form request, else its kind's."""
    if kind == forms.KIND and fields.get("form"):
        return forms.flow_key(str(fields["form"]))
    return kind


# --- reading and saving flows ---------------------------------------------------------------


async def current_version(session: AsyncSession, kind: str) -> ApprovalFlowVersion | None:
    """The kind's flow as it is now; None when the kind has no flow of its own."""
    return await session.scalar(
        select(ApprovalFlowVersion)
        .join(ApprovalFlow, ApprovalFlow.id == ApprovalFlowVersion.flow_id)
        .where(ApprovalFlow.kind == kind, ApprovalFlowVersion.version == ApprovalFlow.version)
    )


def flow_of(version: ApprovalFlowVersion | None) -> FlowIn:
    """A saved version read back as the editor's input (the default flow without one)."""
    if version is None:
        return DEFAULT_FLOW
    return FlowIn(
        steps=tuple(_step_of(step) for step in version.steps),
        cc_ids=tuple(uuid.UUID(i) for i in version.cc_ids),
        missing_approver=version.missing_approver,
        auto_approve_repeat=version.auto_approve_repeat,
    )


def _step_of(data: dict[str, Any]) -> StepIn:
    condition = data.get("condition")
    return StepIn(
        name=data["name"],
        approvers=data["approvers"],
        mode=data["mode"],
        member_ids=tuple(uuid.UUID(i) for i in data.get("member_ids", ())),
        role=data.get("role", ""),
        levels=data.get("levels", 1),
        condition=Condition(**condition) if condition else None,
    )


def _step_json(step: StepIn) -> dict[str, Any]:
    condition = step.condition
    return {
        "name": step.name,
        "approvers": step.approvers,
        "mode": step.mode,
        "member_ids": [str(i) for i in step.member_ids],
        "role": step.role,
        "levels": step.levels,
        "condition": None
        if condition is None
        else {"field": condition.field, "op": condition.op, "value": condition.value},
    }


async def save_flow(
    session: AsyncSession,
    registry: ModuleRegistry,
    kind: str,
    flow: FlowIn,
    *,
    actor_id: uuid.UUID | None = None,
) -> ApprovalFlowVersion:
    """Save ``flow`` as the kind's next version (audited); running approvals keep theirs."""
    declared = await flow_kind(session, registry, kind)
    await check_flow(session, declared, flow)
    template = await session.scalar(
        select(ApprovalFlow).where(ApprovalFlow.kind == kind).with_for_update()
    )
    if template is None:
        template = ApprovalFlow(kind=kind, version=0)
        session.add(template)
    template.version += 1
    await session.flush()
    version = ApprovalFlowVersion(
        flow_id=template.id,
        version=template.version,
        steps=[_step_json(step) for step in flow.steps],
        cc_ids=[str(i) for i in flow.cc_ids],
        missing_approver=flow.missing_approver,
        auto_approve_repeat=flow.auto_approve_repeat,
        created_by=actor_id,
    )
    session.add(version)
    await session.flush()
    await audit.record(
        session,
        "oa.approval_flow.saved",
        actor_id=actor_id,
        subject_type="oa.approval_flow",
        subject_id=template.id,
        detail={"kind": kind, "version": version.version},
    )
    return version


async def check_flow(session: AsyncSession, kind: ApprovalKind, flow: FlowIn) -> None:
    """Refuse a flow that cannot run: each refusal names the step and what is wrong."""
    if not 1 <= len(flow.steps) <= MAX_STEPS:
        raise ValidationFailed("A flow has 1 to {count} steps.", count=MAX_STEPS, field="steps")
    if flow.missing_approver not in MISSING:
        raise ValidationFailed("Choose what happens when a step has nobody.", field="missing")
    members = await _active_user_ids(session)
    for number, step in enumerate(flow.steps, start=1):
        _check_step(number, step, kind, members)
    if any(user_id not in members for user_id in flow.cc_ids):
        raise ValidationFailed("Copies go to active members only.", field="cc")


def _check_step(number: int, step: StepIn, kind: ApprovalKind, members: set[uuid.UUID]) -> None:
    where = {"step": number, "field": f"step_{number}"}
    if not step.name.strip() or len(step.name) > MAX_NAME:
        raise ValidationFailed("Step {step}: a name has 1 to 100 characters.", **where)
    if step.approvers not in APPROVER_KINDS:
        raise ValidationFailed("Step {step}: choose who approves.", **where)
    if step.mode not in MODES:
        raise ValidationFailed("Step {step}: choose how its approvers decide.", **where)
    if step.approvers == "member" and (
        not step.member_ids or any(m not in members for m in step.member_ids)
    ):
        raise ValidationFailed("Step {step}: name one or more active members.", **where)
    if step.approvers == "role" and not step.role:
        raise ValidationFailed("Step {step}: choose the role.", **where)
    if step.approvers == "manager" and not 1 <= step.levels <= MAX_LEVELS:
        raise ValidationFailed(
            "Step {step}: managers go 1 to {levels} levels up.", levels=MAX_LEVELS, **where
        )
    condition = step.condition
    if condition is None:
        return
    if condition.field not in kind.fields:
        raise ValidationFailed(
            "Step {step}: a condition tests one of {fields}.",
            fields=", ".join(kind.fields),
            **where,
        )
    if condition.op not in NUMBER_OPERATORS:
        raise ValidationFailed("Step {step}: choose a comparison.", **where)
    if condition.op != "=" and condition.op != "≠" and _number(condition.value) is None:
        raise ValidationFailed("Step {step}: compare with a number.", **where)


async def _active_user_ids(session: AsyncSession) -> set[uuid.UUID]:
    return set(await session.scalars(select(Membership.user_id).where(Membership.active)))


# --- conditions -----------------------------------------------------------------------------


def _number(value: Any) -> Decimal | None:
    try:
        number = Decimal(str(value).strip())
    except InvalidOperation:
        return None
    return number if number.is_finite() else None


def holds(condition: Condition | None, fields: dict[str, Any]) -> bool:
    """Whether a step's condition holds for the request's fields (a missing field: no).
    Numbers compare as Decimals; ``=`` and ``≠`` compare other values (choices) as text."""
    if condition is None:
        return True
    if fields.get(condition.field) is None:
        return False
    given, wanted = _number(fields[condition.field]), _number(condition.value)
    if given is None or wanted is None:
        same = str(fields[condition.field]).strip() == condition.value.strip()
        return {"=": same, "≠": not same}.get(condition.op, False)
    return {
        ">": given > wanted,
        ">=": given >= wanted,
        "<": given < wanted,
        "<=": given <= wanted,
        "=": given == wanted,
        "≠": given != wanted,
    }[condition.op]


# --- resolving people -----------------------------------------------------------------------


async def plan(
    session: AsyncSession, flow: FlowIn, requester_id: uuid.UUID, fields: dict[str, Any]
) -> list[PlannedStep]:
    """The steps that apply to this request, in order, each with its people (nobody: the
    step is skipped)."""
    requester = await session.scalar(select(Membership).where(Membership.user_id == requester_id))
    planned: list[PlannedStep] = []
    for step in flow.steps:
        if not holds(step.condition, fields):
            continue
        for name, people in await _people(session, step, requester):
            if people:
                planned.append(PlannedStep(name, step.mode, people))
            elif flow.missing_approver == "admins":
                planned.append(PlannedStep(name, "any", await admins(session), to_admins=True))
            else:  # kept with nobody, to be skipped on the timeline
                planned.append(PlannedStep(name, step.mode, ()))
    return planned


async def _people(
    session: AsyncSession, step: StepIn, requester: Membership | None
) -> list[tuple[str, tuple[uuid.UUID, ...]]]:
    """(step name, user ids) — several for a manager chain, one step per level."""
    if step.approvers == "member":
        return [(step.name, await _active(session, step.member_ids))]
    if step.approvers == "role":
        return [(step.name, await _role_holders(session, step.role))]
    if requester is None:
        return [(step.name, ())]
    if step.approvers == "head":
        return [(step.name, await department_head(session, requester))]
    chain = await organisation.manager_chain(session, requester.id, step.levels)
    users = dict(
        (
            await session.execute(
                select(Membership.id, Membership.user_id).where(
                    Membership.id.in_(chain), Membership.active
                )
            )
        ).all()
    )
    levels = [(users.get(manager_id),) for manager_id in chain]
    steps = [(step.name, tuple(u for u in level if u)) for level in levels]
    # With fewer managers than levels the missing levels have nobody.
    steps += [(step.name, ())] * (step.levels - len(chain))
    return steps


async def _active(session: AsyncSession, user_ids: tuple[uuid.UUID, ...]) -> tuple[uuid.UUID, ...]:
    active = await _active_user_ids(session)
    return tuple(u for u in dict.fromkeys(user_ids) if u in active)


async def _role_holders(session: AsyncSession, role: str) -> tuple[uuid.UUID, ...]:
    if role in BUILT_IN_ROLES:
        query = select(Membership.user_id).where(Membership.role == role, Membership.active)
    else:
        try:
            role_id = uuid.UUID(role)
        except ValueError:
            return ()
        query = (
            select(Membership.user_id)
            .join(MemberRole, MemberRole.membership_id == Membership.id)
            .where(MemberRole.role_id == role_id, Membership.active)
        )
    return tuple(sorted(set(await session.scalars(query))))


async def admins(session: AsyncSession) -> tuple[uuid.UUID, ...]:
    """The workspace's active owners and admins: who stands in for a step with nobody."""
    rows = await session.scalars(
        select(Membership.user_id).where(Membership.role.in_(APPROVER_ROLES), Membership.active)
    )
    return tuple(sorted(set(rows)))


async def department_head(session: AsyncSession, requester: Membership) -> tuple[uuid.UUID, ...]:
    """The head of the requester's department (see the module's docstring)."""
    department_id = requester.department_id
    while department_id is not None:
        placed = list(
            await session.scalars(
                select(Membership).where(
                    Membership.department_id == department_id, Membership.active
                )
            )
        )
        inside = {m.id for m in placed}
        heads = [m for m in placed if m.manager_id not in inside]
        if heads and requester.id not in {m.id for m in heads}:
            return tuple(sorted(m.user_id for m in heads))
        department_id = await session.scalar(
            select(Department.parent_id).where(Department.id == department_id)
        )
    return ()


# --- preview --------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PreviewStep:
    name: str
    mode: str
    people: list[str]  # display names
    to_admins: bool


async def preview(
    session: AsyncSession,
    registry: ModuleRegistry,
    kind: str,
    flow: FlowIn | None,
    requester_id: uuid.UUID,
    fields: dict[str, Any],
) -> list[PreviewStep]:
    """Who would approve a request of ``requester_id`` with ``fields``: under ``flow`` as
    typed (checked, not saved), or the kind's current flow when ``flow`` is None."""
    declared = await flow_kind(session, registry, kind)
    if flow is None:
        flow = flow_of(await current_version(session, kind))
    else:
        await check_flow(session, declared, flow)
    planned = await plan(session, flow, requester_id, fields)
    names = await display_names(session, {u for step in planned for u in step.approver_ids})
    return [
        PreviewStep(step.name, step.mode, [names[u] for u in step.approver_ids], step.to_admins)
        for step in planned
    ]


async def display_names(session: AsyncSession, user_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    if not user_ids:
        return {}
    rows = await session.execute(select(User.id, User.display_name).where(User.id.in_(user_ids)))
    return dict(rows.all())


# --- the editor's choices -------------------------------------------------------------------


async def members(session: AsyncSession) -> list[tuple[uuid.UUID, str]]:
    """Active members by name: (user id, display name)."""
    rows = await session.execute(
        select(User.id, User.display_name)
        .join(Membership, Membership.user_id == User.id)
        .where(Membership.active)
        .order_by(User.display_name, User.id)
    )
    return [(user_id, name) for user_id, name in rows]


async def role_choices(session: AsyncSession) -> list[tuple[str, str]]:
    """The roles a step may name: the built-in ones (a msgid), then the custom ones."""
    built_in = [("owner", N_("Owner")), ("admin", N_("Admin")), ("member", N_("Member"))]
    custom = await session.execute(select(Role.id, Role.name).order_by(Role.name))
    return built_in + [(str(role_id), name) for role_id, name in custom]
