"""Stripe's webhooks: ``POST /api/billing/stripe/webhook``, verified, stored once, handled.

**Verified** (:func:`verify`): ``stripe.Webhook.construct_event`` with the settings'
``STRIPE_WEBHOOK_SECRET`` and the SDK's tolerance (300 s). A missing or wrong signature,
a timestamp outside the tolerance or a body that is not a Stripe event answers 400
(``webhook_refused``) and stores nothing; with no secret configured the endpoint answers
503 (``webhooks_not_configured``), so Stripe keeps the events and retries them once the
operator sets it.

**Stored once, handled in the same transaction** (:func:`process`): the event's row is
inserted first (``billing_webhook_event``, ``stripe_event_id`` unique, ``ON CONFLICT DO
NOTHING``), then handled, then its outcome noted, and all of it commits together. A
duplicate delivery finds the key taken and answers 200 ``{"duplicate": true}`` having
done nothing; one that arrives while the first is being handled waits on the key and
then does the same. A handler that fails (Stripe unreachable, say) rolls back the row
with everything else and answers 500, so Stripe's retry handles the event afresh.

**Whose event** (:func:`_workspace`): the event's object names a Stripe customer. The
customer is fetched from Stripe and its ``metadata.atrium_tenant``
(:data:`billing.provider.WORKSPACE_METADATA`, set on every customer Atrium makes) names
the workspace; the transaction is then scoped to it (``core.db.set_tenant``: billing's
tables have row-level security) and its ``billing_account`` must have that customer, or
none yet. Anything else is stored as ``ignored`` with the reason.

**Handled**: each locks the workspace's account, *then* fetches Stripe's current
subscription and records it (:func:`billing.state.record`, in :func:`billing.state.refresh`'s
order), never trusting the event's copy, so the order events arrive in does not matter:

| event | what |
| --- | --- |
| ``checkout.session.completed`` | the customer noted on the account, then refresh |
| ``customer.subscription.created`` / ``updated`` / ``deleted`` | refresh |
| ``customer.subscription.trial_will_end`` | refresh; the owners mailed once per trial end |
| ``invoice.paid`` (and ``invoice.payment_succeeded``, localstripe's name) | refresh |
| ``invoice.payment_failed`` | refresh; dunning (:func:`billing.dunning.payment_failed`) |
| ``invoice.payment_action_required`` | refresh; the hosted invoice link (dunning) |

After every refresh :func:`billing.dunning.settle` clears a dunning Stripe no longer owes.
Any other type, an object without a customer or a subscription, an unknown customer:
stored as ``ignored``, 200.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import stripe
from litestar import Request, Response, post
from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from billing import dunning, notify, state
from billing.models import BillingWebhookEvent
from billing.provider import WORKSPACE_METADATA, BillingProvider, provider_for
from core.context import TenantContext
from core.db import Database, set_tenant
from core.errors import DomainError
from core.i18n import N_, when
from core.models import Tenant
from core.plugins.registry import ModuleRegistry
from core.tenancy import tenant_context
from web.errors import unexpected_error

ROUTE = "/api/billing/stripe/webhook"
HANDLED, IGNORED, DUPLICATE = "handled", "ignored", "duplicate"

CHECKOUT_COMPLETED = "checkout.session.completed"
SUBSCRIPTION_EVENTS = frozenset(
    {
        "customer.subscription.created",
        "customer.subscription.updated",
        "customer.subscription.deleted",
        "customer.subscription.trial_will_end",
    }
)
TRIAL_WILL_END = "customer.subscription.trial_will_end"
# localstripe (and Stripe's older API versions) name a paid invoice invoice.payment_succeeded.
INVOICE_PAID = frozenset({"invoice.paid", "invoice.payment_succeeded"})
INVOICE_EVENTS = INVOICE_PAID | {dunning.PAYMENT_FAILED, dunning.ACTION_REQUIRED}
HANDLED_TYPES = SUBSCRIPTION_EVENTS | INVOICE_EVENTS | {CHECKOUT_COMPLETED}

NOT_CONFIGURED = N_(
    "Stripe webhooks are not configured: set STRIPE_WEBHOOK_SECRET to the endpoint's "
    "signing secret."
)
BAD_SIGNATURE = N_("The Stripe signature is missing, wrong or too old: {reason}")
NOT_AN_EVENT = N_("The request's body is not a Stripe event.")

TRIAL_END_SUBJECT = N_("The free trial of {workspace}'s subscription ends on {date}")
TRIAL_END_BODY = N_(
    "Hello {name},\n\n"
    "The free trial of the subscription of {workspace} ends on {date}. Then the "
    "subscription starts and the card on file is charged.\n\n"
    "To change the card or cancel, open the billing page: {link}\n\n"
    "Atrium"
)


class WebhookRefused(DomainError):
    """A request that is not a genuine, fresh Stripe event: nothing is stored."""

    status_code = 400
    code = "webhook_refused"


class WebhooksNotConfigured(DomainError):
    """No signing secret: no event can be verified (503, so Stripe retries later)."""

    status_code = 503
    code = "webhooks_not_configured"


def verify(payload: bytes, signature: str | None, secret: str | None) -> dict[str, Any]:
    """The event in ``payload`` as a plain dict, once its signature is checked."""
    if not secret:
        raise WebhooksNotConfigured(NOT_CONFIGURED)
    try:
        stripe.Webhook.construct_event(payload, signature, secret)
    except stripe.SignatureVerificationError as error:
        raise WebhookRefused(BAD_SIGNATURE, reason=str(error)) from error
    except (ValueError, AttributeError, TypeError) as error:  # signed, but not an event
        raise WebhookRefused(NOT_AN_EVENT) from error
    event = json.loads(payload)
    data = event.get("data")
    if not (
        isinstance(event.get("id"), str)
        and isinstance(event.get("type"), str)
        and isinstance(event.get("created"), int)
        and isinstance(data, dict)
        and isinstance(data.get("object"), dict)
    ):
        raise WebhookRefused(NOT_AN_EVENT)
    return event


@dataclass(frozen=True, slots=True)
class Handling:
    """What handling an event needs besides the event: the app's, or a benchmark's."""

    db: Database
    registry: ModuleRegistry
    provider: BillingProvider
    notices: dunning.Notices


@dataclass(frozen=True, slots=True)
class Outcome:
    outcome: str  # handled, ignored or duplicate
    workspace_id: uuid.UUID | None = None
    detail: dict[str, Any] = field(default_factory=dict)


def _ignored(reason: str, workspace_id: uuid.UUID | None = None, **detail: Any) -> Outcome:
    return Outcome(IGNORED, workspace_id, {"reason": reason, **detail})


def _id(value: object) -> str | None:
    """A Stripe reference, which is an id or (expanded) the object with its id."""
    if isinstance(value, Mapping):
        value = value.get("id")
    return value if isinstance(value, str) and value else None


def _subscription_of(event_type: str, obj: Mapping[str, Any]) -> str | None:
    if event_type in SUBSCRIPTION_EVENTS:
        return _id(obj.get("id"))
    if event_type == CHECKOUT_COMPLETED:
        return _id(obj.get("subscription")) if obj.get("mode") == "subscription" else None
    # An invoice: ``subscription`` in older API versions, ``parent`` in newer ones.
    parent = (obj.get("parent") or {}).get("subscription_details") or {}
    return _id(obj.get("subscription")) or _id(parent.get("subscription"))


async def process(
    handling: Handling, event: Mapping[str, Any], *, now: datetime | None = None
) -> Outcome:
    """Store ``event`` (verified) once and handle it, in one transaction; see the module
    doc. Raises whatever the handling raised, having stored nothing."""
    async with handling.db.session() as session, session.begin():
        stored = await session.scalar(
            insert(BillingWebhookEvent)
            .values(
                stripe_event_id=event["id"],
                type=event["type"],
                stripe_created=state.moment(event["created"]),
                outcome=HANDLED,
                detail={},
            )
            .on_conflict_do_nothing(index_elements=[BillingWebhookEvent.stripe_event_id])
            .returning(BillingWebhookEvent.id)
        )
        if stored is None:
            return Outcome(DUPLICATE)
        outcome = await _handle(session, handling, event, now or datetime.now(UTC))
        await session.execute(
            update(BillingWebhookEvent)
            .where(BillingWebhookEvent.id == stored)
            .values(
                outcome=outcome.outcome, workspace_id=outcome.workspace_id, detail=outcome.detail
            )
        )
    return outcome


async def _workspace(
    session: AsyncSession, provider: BillingProvider, customer_id: str
) -> TenantContext | str:
    """The workspace the customer's metadata names, the session scoped to it; or why not."""
    customer = await provider.customer(customer_id)
    named = (customer.get("metadata") or {}).get(WORKSPACE_METADATA)
    try:
        tenant_id = uuid.UUID(str(named))
    except ValueError:
        return "unknown customer"
    if await session.get(Tenant, tenant_id) is None:
        return "unknown workspace"
    await set_tenant(session, tenant_id)
    return await tenant_context(session, tenant_id)


async def _handle(
    session: AsyncSession, handling: Handling, event: Mapping[str, Any], now: datetime
) -> Outcome:
    event_type, obj = event["type"], event["data"]["object"]
    if event_type not in HANDLED_TYPES:
        return _ignored("not handled")
    subscription_id = _subscription_of(event_type, obj)
    if subscription_id is None:
        return _ignored("no subscription")
    customer_id = _id(obj.get("customer"))
    if customer_id is None:
        return _ignored("no customer")
    ctx = await _workspace(session, handling.provider, customer_id)
    if isinstance(ctx, str):
        return _ignored(ctx, customer=customer_id)
    # refresh()'s order, by hand because the trial's mail reads the subscription too: the
    # account locked first, then Stripe's current subscription fetched, then recorded.
    acct = await state.ensure_account(session)
    if acct.stripe_customer_id not in (None, customer_id):
        return _ignored("another customer", ctx.tenant_id, customer=customer_id)
    acct.stripe_customer_id = customer_id
    subscription = await handling.provider.subscription(subscription_id)
    notices = handling.notices
    changes = await state.record(
        session, handling.registry, ctx, subscription, grace_days=notices.grace_days, now=now
    )
    detail: dict[str, Any] = {
        "customer": customer_id,
        "subscription": subscription_id,
        "status": acct.status,
        "changes": [[c.module_key, c.before, c.after] for c in changes],
    }
    if event_type == dunning.PAYMENT_FAILED:
        at = state.moment(event["created"]) or now
        detail |= await dunning.payment_failed(session, ctx, acct, notices, obj, at)
    elif event_type == dunning.ACTION_REQUIRED:
        detail |= await dunning.action_required(session, ctx, acct, notices, obj)
    elif event_type == TRIAL_WILL_END:
        detail |= await _trial_will_end(session, ctx, notices, subscription)
    if dunning.settle(acct):
        detail["dunning_cleared"] = True
    return Outcome(HANDLED, ctx.tenant_id, detail)


async def _trial_will_end(
    session: AsyncSession,
    ctx: TenantContext,
    notices: dunning.Notices,
    subscription: Mapping[str, Any],
) -> dict[str, Any]:
    """Mail the owners that the subscription's trial ends, once per trial end: Stripe's
    current one (a trial extended since has a new end, and is mailed about again)."""
    trial_end = state.moment(subscription.get("trial_end"))
    if subscription.get("status") != "trialing" or trial_end is None:
        return {"stale": True}
    trial = f"{subscription['id']}:{subscription['trial_end']}"
    if await notify.mailed_before(session, ctx, TRIAL_WILL_END, trial):
        return {"about": trial, "mailed": 0}
    sent = await notify.mail_owners(
        session,
        ctx,
        notices.mailer,
        TRIAL_END_SUBJECT,
        TRIAL_END_BODY,
        link=f"{notices.base_url}/t/{ctx.slug}/billing",
        localised=lambda: {"date": when(trial_end)},
    )
    return {"about": trial, "mailed": len(sent)}


@post(ROUTE, tags=["billing"], summary="Stripe's webhook endpoint")
async def stripe_webhook(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """Stripe's events: verified, stored once by id, handled in the same transaction.

    200 for a handled, ignored or duplicate event; 400 for a bad signature, an old
    timestamp or a body that is not an event; 503 without a signing secret; 500 when
    handling failed (nothing was stored: Stripe retries)."""
    settings = request.app.state.settings
    event = verify(
        await request.body(),
        request.headers.get("stripe-signature"),
        settings.stripe.webhook_secret,
    )
    handling = Handling(
        db=request.app.state.db,
        registry=request.app.state.registry,
        provider=provider_for(settings),
        notices=dunning.Notices(
            mailer=request.app.state.mailer,
            base_url=settings.base_url,
            grace_days=settings.billing_grace_days,
        ),
    )
    try:
        outcome = await process(handling, event)
    except Exception as error:  # nothing was stored: Stripe's retry handles it afresh
        return unexpected_error(request, error)
    if outcome.outcome == DUPLICATE:
        return Response({"received": True, "duplicate": True}, status_code=200)
    return Response({"received": True, "outcome": outcome.outcome}, status_code=200)


ROUTES = [stripe_webhook]
