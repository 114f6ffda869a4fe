"""Billing's mail to a workspace's owners: each active owner, in their own language.

Trials (the end is near), dunning (a payment failed, the bank asks to confirm) and the
Stripe trial's end all tell the same people the same way: :func:`mail_owners` composes one
message per active owner in ``core_user.locale`` and hands it to
:func:`core.mail.send_after_commit`, so a transaction that rolls back mails nobody.

What a webhook mailed about is noted in its own row of the webhook log
(``billing_webhook_event.detail``: ``about``, what the mail was about, and ``mailed``, how
many owners): :func:`mailed_before` reads it, so Stripe's several events about one thing
(every retry of one invoice's payment) mail once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from billing.models import BillingWebhookEvent
from core import mail
from core.context import TenantContext
from core.i18n import use_locale
from core.models import Membership, Tenant, User
from core.roles import OWNER


async def owners(session: AsyncSession) -> list[User]:
    """The session's workspace's active owners, by e-mail."""
    return list(
        await session.scalars(
            select(User)
            .join(Membership, Membership.user_id == User.id)
            .where(Membership.role == OWNER, Membership.active)
            .order_by(User.email)
        )
    )


async def mail_owners(
    session: AsyncSession,
    ctx: TenantContext,
    mailer: mail.Mailer,
    subject: str,
    body: str,
    *,
    localised: Callable[[], dict[str, Any]] = dict,
    **params: Any,
) -> list[str]:
    """Mail ``subject`` and ``body`` (msgids) to every active owner of ``ctx``'s workspace
    once the transaction commits; returns their addresses.

    Besides ``params``, the texts get ``name`` (the owner's) and ``workspace`` (its name);
    ``localised`` is called in each owner's language for what must be said in it (a
    module's name, a date).
    """
    workspace = await session.get(Tenant, ctx.tenant_id)
    assert workspace is not None  # the session's own workspace
    sent = []
    for owner in await owners(session):
        with use_locale(owner.locale):
            in_their_language = localised()
        message = mail.compose(
            owner.email,
            owner.locale,
            subject,
            body,
            name=owner.display_name,
            workspace=workspace.name,
            **params,
            **in_their_language,
        )
        mail.send_after_commit(session, mailer, message)
        sent.append(owner.email)
    return sent


async def mailed_before(
    session: AsyncSession, ctx: TenantContext, event_type: str, about: str
) -> bool:
    """Whether an earlier ``event_type`` webhook mailed ``ctx``'s owners about ``about``
    (an invoice's id, a trial's end): call it with the workspace's account locked, so two
    events handled at once see each other."""
    found = await session.scalar(
        select(BillingWebhookEvent.id)
        .where(
            BillingWebhookEvent.workspace_id == ctx.tenant_id,
            BillingWebhookEvent.type == event_type,
            BillingWebhookEvent.detail["about"].astext == about,
            BillingWebhookEvent.detail["mailed"].as_integer() > 0,
        )
        .limit(1)
    )
    return found is not None
