"""The addon's hooks: a dependency on ``sample`` and an approval engine."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from core.approvals import ApprovalEngine, finish_request
from core.context import TenantContext
from core.models import ApprovalRequest
from core.plugins.hookspecs import hookimpl
from core.plugins.manifest import ModuleManifest
from tests.sample_module.plugin import CALLED


class ThresholdEngine:
    """Decides at once: approves requests whose ``fields["ok"]`` is true, rejects the rest."""

    key = "sampleaddon"

    async def submit(
        self, session: AsyncSession, ctx: TenantContext, request: ApprovalRequest
    ) -> None:
        approved = bool(request.fields.get("ok"))
        await finish_request(session, request, approved=approved, comment="decided by the addon")


ENGINE: ApprovalEngine = ThresholdEngine()


@hookimpl
def atrium_module() -> ModuleManifest:
    CALLED.add("atrium_module")
    return ModuleManifest(
        key="sampleaddon", name="Sample add-on", version="1.0.0", depends=("sample",)
    )


@hookimpl
def atrium_approval_engine(ctx: TenantContext) -> ApprovalEngine | None:
    CALLED.add("atrium_approval_engine")
    return ENGINE
