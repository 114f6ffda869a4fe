"""CRM settings → Pipelines (``/t/{slug}/crm/settings/pipelines``), for members with
``crm.settings.manage``: every pipeline with its stages (rename, win probability, kind,
order, delete), a new stage, a new pipeline, the default one, archiving.

Each form posts to a path of its own and calls the same service as the JSON API inside a
savepoint: a refusal (a name taken, a stage that holds opportunities) is the page again
with the reason beside the form or input it is about and what was typed; a success goes
back to the page (``?notice=saved``).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

from litestar import Response, get, post
from litestar.params import FromPath, FromQuery
from litestar.response import Template
from sqlalchemy.ext.asyncio import AsyncSession

from core.context import TenantContext
from core.errors import ValidationFailed
from core.permissions import Actor
from modules.crm import permissions as codes
from modules.crm.models.sales import STAGE_KINDS
from modules.crm.services import pipelines
from modules.crm.views.common import page
from web.auth import FormData
from web.deps import CurrentActor, CurrentTenant, DbSession
from web.forms import Refusal, answer_form, read_decimal, typed_in
from web.tenancy import requires

PATH = "/crm/settings/pipelines"
GUARD = [requires(codes.SETTINGS_MANAGE)]


async def _page(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    *,
    refusal: Refusal | None = None,
    notice: str | None = None,
) -> Template:
    listed = await pipelines.pipelines(session, include_archived=True)
    stages = await pipelines.stages_of(session, [p.id for p in listed])
    counts = await pipelines.opportunity_counts(
        session, [s.id for found in stages.values() for s in found]
    )
    return page(
        "crm/pipeline_settings/index.html",
        tenant,
        actor,
        "/crm/settings",
        status_code=refusal.error.status_code if refusal else 200,
        pipelines=listed,
        stages=stages,
        counts=counts,
        kinds=STAGE_KINDS,
        refusal=refusal,
        notice=notice,
        here=f"/t/{tenant.slug}{PATH}",
    )


async def _submit(
    session: AsyncSession,
    tenant: TenantContext,
    actor: Actor,
    form: str,
    form_typed: dict[str, str],
    action: Callable[[], Awaitable[Any]],
) -> Response[Any]:
    return await answer_form(
        session,
        form,
        form_typed,
        action,
        back=f"/t/{tenant.slug}{PATH}?notice=saved",
        refused=lambda refusal: _page(session, tenant, actor, refusal=refusal),
    )


def _probability(value: str) -> Decimal:
    probability = read_decimal("probability", value)
    if probability is None:
        raise ValidationFailed(
            "A win probability is a percentage from 0 to 100.", field="probability"
        )
    return probability


@get(PATH, guards=GUARD)
async def pipelines_page(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    notice: FromQuery[str | None] = None,
) -> Template:
    return await _page(session, tenant, actor, notice=notice)


@post(PATH, guards=GUARD)
async def create_pipeline(
    session: DbSession, tenant: CurrentTenant, actor: CurrentActor, data: FormData
) -> Response[Any]:
    form = typed_in(data, "name")
    return await _submit(
        session,
        tenant,
        actor,
        "new-pipeline",
        form,
        lambda: pipelines.create_pipeline(session, actor, form["name"]),
    )


@post(f"{PATH}/{{pipeline_id:uuid}}", guards=GUARD)
async def rename_pipeline(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    pipeline_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    form = typed_in(data, "name")
    return await _submit(
        session,
        tenant,
        actor,
        f"pipeline-{pipeline_id}",
        form,
        lambda: pipelines.update_pipeline(session, actor, pipeline_id, name=form["name"]),
    )


def _pipeline_button(path: str, change: dict[str, bool] | None) -> Any:
    """A button of a pipeline (no typing): make it the default, archive, restore, delete."""

    @post(f"{PATH}/{{pipeline_id:uuid}}/{path}", guards=GUARD, name=f"crm-pipeline-{path}")
    async def button(
        session: DbSession,
        tenant: CurrentTenant,
        actor: CurrentActor,
        pipeline_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        async def act() -> None:
            if change is None:
                await pipelines.delete_pipeline(session, actor, pipeline_id)
            else:
                await pipelines.update_pipeline(session, actor, pipeline_id, **change)

        return await _submit(session, tenant, actor, f"pipeline-{pipeline_id}-actions", {}, act)

    return button


STAGE_FIELDS = ("name", "probability", "kind")


@post(f"{PATH}/{{pipeline_id:uuid}}/stages", guards=GUARD)
async def add_stage(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    pipeline_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    form = typed_in(data, *STAGE_FIELDS)

    async def add() -> None:
        await pipelines.add_stage(
            session,
            actor,
            pipeline_id,
            name=form["name"],
            probability=_probability(form["probability"]),
            kind=form["kind"] or "open",
        )

    return await _submit(session, tenant, actor, f"new-stage-{pipeline_id}", form, add)


@post(f"{PATH}/{{pipeline_id:uuid}}/stages/{{stage_id:uuid}}", guards=GUARD)
async def save_stage(
    session: DbSession,
    tenant: CurrentTenant,
    actor: CurrentActor,
    pipeline_id: FromPath[uuid.UUID],
    stage_id: FromPath[uuid.UUID],
    data: FormData,
) -> Response[Any]:
    form = typed_in(data, *STAGE_FIELDS)

    async def save() -> None:
        await pipelines.get_stage(session, stage_id, pipeline_id)
        await pipelines.update_stage(
            session,
            actor,
            stage_id,
            name=form["name"],
            probability=_probability(form["probability"]),
            kind=form["kind"],
        )

    return await _submit(session, tenant, actor, f"stage-{stage_id}", form, save)


def _stage_button(
    path: str, act: Callable[[AsyncSession, Actor, uuid.UUID], Awaitable[Any]]
) -> Any:
    """A button of a stage (no typing): move it up or down, delete it."""

    @post(
        f"{PATH}/{{pipeline_id:uuid}}/stages/{{stage_id:uuid}}/{path}",
        guards=GUARD,
        name=f"crm-stage-{path}",
    )
    async def button(
        session: DbSession,
        tenant: CurrentTenant,
        actor: CurrentActor,
        pipeline_id: FromPath[uuid.UUID],
        stage_id: FromPath[uuid.UUID],
    ) -> Response[Any]:
        async def run() -> None:
            await pipelines.get_stage(session, stage_id, pipeline_id)
            await act(session, actor, stage_id)

        return await _submit(session, tenant, actor, f"stage-{stage_id}-actions", {}, run)

    return button


async def _up(session: AsyncSession, actor: Actor, stage_id: uuid.UUID) -> Any:
    return await pipelines.move_stage(session, actor, stage_id, -1)


async def _down(session: AsyncSession, actor: Actor, stage_id: uuid.UUID) -> Any:
    return await pipelines.move_stage(session, actor, stage_id, +1)


PAGES = [
    pipelines_page,
    create_pipeline,
    rename_pipeline,
    _pipeline_button("default", {"is_default": True}),
    _pipeline_button("archive", {"active": False}),
    _pipeline_button("restore", {"active": True}),
    _pipeline_button("delete", None),
    add_stage,
    save_stage,
    _stage_button("up", _up),
    _stage_button("down", _down),
    _stage_button("delete", pipelines.delete_stage),
]
