"""The webhook replay benchmark: Stripe's events, shuffled and duplicated, through the real path.

``python -m bench.webhook_replay`` (from the repository root) builds 1,000 workspaces and,
for each, a Stripe history of about nine events (subscriptions created, updated with
modules added and removed, trials, failed and paid invoices, the bank asking to confirm,
unpaid, deleted and a new subscription after it, plus events Atrium does not handle).
Then it delivers 10,000 events: every event once in a shuffled order, and 10 % of them
again (duplicates, at random places), through :func:`billing.webhooks.process`, the
function the endpoint calls once the signature is verified. Every event is stored once by
its id and handled in one transaction: the workspace found by its customer, the account
locked, the subscription fetched and recorded by :func:`billing.state.record`, every
module's access written by :func:`billing.entitlements.apply`, dunning and its mail.

**Stripe is a dictionary here** (:class:`ReplayStripe`, the provider's ``subscription``
and ``customer``): 10,000 fetches from localstripe would measure localstripe. It holds
each subscription's history; a fetch answers the state as of the newest event delivered
so far (an event cannot arrive before it happened, so Stripe is at least that far), which
is what a late event's handler finds at Stripe: a state newer than its own. Mail goes to a
counter. Neither is what is measured; everything in Atrium is real, on PostgreSQL.

**Checked**: after the replay, each workspace's modules (``core_tenant_module``, read as
the owner) are compared with :func:`billing.entitlements.derive` of its final subscription
(the last one it had; its items' modules, the others off). Target: 0 mismatches. Also:
duplicates skipped = duplicates sent, one stored row per distinct event.

**The ratio**: the same distinct events, in Stripe's order and without duplicates, each
fetching the state as of itself (a punctual stream), on a copy of the same database made
before either run; replay events/s ÷ punctual events/s. Above 1, the shuffled and
duplicated stream costs less per event than a punctual one: a duplicate stops at the
unique key, and a late event finds its workspace already as Stripe has it now, so it
writes nothing new. It is a benchmark, not a test: it exits 0 either way and says MISSED
next to a missed target.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import text, update
from sqlalchemy.engine import URL

from bench.database import (
    BENCH_EMAIL,
    Environment,
    bench_settings,
    create_database,
    drop_databases,
    registry,
    start_environment,
    stop_environment,
    url_string,
)

MODULES = ("crm", "sample")  # independent of each other: no dependency to follow
GRACE = 7
TRIAL = timedelta(days=14)
UNHANDLED = ("invoice.created", "customer.updated", "payment_intent.succeeded")
ENDED = frozenset({"canceled", "incomplete_expired"})


def price_id(module: str) -> str:
    return f"price_{module}_monthly"


# --- Stripe's side: the histories and the provider that serves them --------------------------


@dataclass
class Sent:
    """One Stripe event (``seq``: its place in Stripe's own order)."""

    seq: int
    event: dict[str, Any]


@dataclass
class Workspace:
    tenant_id: uuid.UUID
    customer: str
    final: dict[str, Any] | None = None  # its last subscription, as it ends up


@dataclass
class History:
    """Every subscription's states in Stripe's order, and the events that told of them."""

    now: datetime
    events: list[Sent] = field(default_factory=list)
    states: dict[str, list[tuple[int, dict[str, Any]]]] = field(default_factory=dict)
    customers: dict[str, dict[str, Any]] = field(default_factory=dict)
    workspaces: list[Workspace] = field(default_factory=list)


def _subscription(
    sub_id: str, customer: str, status: str, items: list[str], now: datetime
) -> dict[str, Any]:
    return {
        "id": sub_id,
        "object": "subscription",
        "customer": customer,
        "status": status,
        "current_period_end": int((now + timedelta(days=30)).timestamp()),
        "cancel_at_period_end": False,
        "trial_end": int((now + TRIAL).timestamp()) if status == "trialing" else None,
        "items": {
            "object": "list",
            "data": [
                {"id": f"si_{sub_id}_{m}", "price": {"id": price_id(m)}, "quantity": 1}
                for m in items
            ],
        },
    }


def build_history(tenants: list[uuid.UUID], distinct: int, seed: int, now: datetime) -> History:
    """``distinct`` events over the workspaces, each workspace's in its own plausible order,
    the workspaces interleaved at random (Stripe's order)."""
    rng = random.Random(seed)
    history = History(now)
    per_tenant = [distinct // len(tenants)] * len(tenants)
    for i in rng.sample(range(len(tenants)), distinct % len(tenants)):
        per_tenant[i] += 1
    streams: list[list[tuple[str, dict[str, Any], dict[str, Any] | None]]] = []
    for i, tenant_id in enumerate(tenants):
        customer = f"cus_bench_{i:04d}"
        history.customers[customer] = {
            "id": customer,
            "object": "customer",
            "metadata": {"atrium_tenant": str(tenant_id)},
        }
        workspace = Workspace(tenant_id, customer)
        history.workspaces.append(workspace)
        streams.append(_tenant_stream(rng, i, customer, per_tenant[i], workspace, now))
    # Interleave: repeatedly take the next event of a workspace chosen at random.
    cursors = [0] * len(streams)
    pending = [i for i, s in enumerate(streams) if s]
    seq = 0
    while pending:
        pick = rng.randrange(len(pending))
        i = pending[pick]
        event_type, obj, snapshot = streams[i][cursors[i]]
        cursors[i] += 1
        if cursors[i] == len(streams[i]):
            pending[pick] = pending[-1]
            pending.pop()
        if snapshot is not None:
            history.states.setdefault(snapshot["id"], []).append((seq, snapshot))
        event = {
            "id": f"evt_bench_{seq:06d}",
            "object": "event",
            "type": event_type,
            "created": int(now.timestamp()) - 86_400 + seq,
            "data": {"object": obj},
        }
        history.events.append(Sent(seq, event))
        seq += 1
    return history


def _tenant_stream(
    rng: random.Random,
    index: int,
    customer: str,
    count: int,
    workspace: Workspace,
    now: datetime,
) -> list[tuple[str, dict[str, Any], dict[str, Any] | None]]:
    """One workspace's events: (type, the event's object, the subscription after it)."""
    out: list[tuple[str, dict[str, Any], dict[str, Any] | None]] = []
    generation, invoices = 1, 0
    sub_id = f"sub_bench_{index:04d}_{generation}"
    status = rng.choice(("active", "active", "trialing"))
    items = sorted(rng.sample(MODULES, rng.randint(1, len(MODULES))))

    def snap() -> dict[str, Any]:
        return _subscription(sub_id, customer, status, items, now)

    def invoice() -> dict[str, Any]:
        nonlocal invoices
        invoices += 1
        return {
            "id": f"in_bench_{index:04d}_{invoices}",
            "object": "invoice",
            "customer": customer,
            "subscription": sub_id,
            "hosted_invoice_url": f"https://invoice.stripe.test/i/{index}/{invoices}",
        }

    current = snap()
    out.append(("customer.subscription.created", current, current))
    while len(out) < count:
        roll = rng.random()
        if status in ENDED:  # a new subscription after the old one ended
            generation += 1
            sub_id = f"sub_bench_{index:04d}_{generation}"
            status = rng.choice(("active", "trialing"))
            items = sorted(rng.sample(MODULES, rng.randint(1, len(MODULES))))
            current = snap()
            out.append(("customer.subscription.created", current, current))
        elif roll < 0.25:  # a module added or removed
            items = sorted(set(items) ^ {rng.choice(MODULES)}) or [rng.choice(MODULES)]
            current = snap()
            out.append(("customer.subscription.updated", current, current))
        elif roll < 0.45:
            status = "past_due"
            current = snap()
            out.append(("invoice.payment_failed", invoice(), current))
        elif roll < 0.50:
            status = "past_due"
            current = snap()
            out.append(("invoice.payment_action_required", invoice(), current))
        elif roll < 0.68:
            status = "active"
            current = snap()
            paid = rng.choice(("invoice.paid", "invoice.payment_succeeded"))
            out.append((paid, invoice(), current))
        elif roll < 0.74:
            status = "unpaid" if status == "past_due" else status
            current = snap()
            out.append(("customer.subscription.updated", current, current))
        elif roll < 0.80 and status == "trialing":
            out.append(("customer.subscription.trial_will_end", current, None))
        elif roll < 0.88:
            status = "canceled"
            current = snap()
            out.append(("customer.subscription.deleted", current, current))
        else:
            kind = rng.choice(UNHANDLED)
            out.append((kind, {"id": f"obj_{index}_{len(out)}", "customer": customer}, None))
    workspace.final = current
    return out


class ReplayStripe:
    """The provider's reading side over the histories: a subscription as of ``clock``."""

    label = "replay"
    external = True

    def __init__(self, history: History) -> None:
        self.history = history
        self.clock = -1

    async def subscription(self, subscription_id: str) -> dict[str, Any]:
        states = self.history.states[subscription_id]
        found = states[0][1]
        for seq, snapshot in states:
            if seq > self.clock:
                break
            found = snapshot
        return found

    async def customer(self, customer_id: str) -> dict[str, Any]:
        return self.history.customers[customer_id]


class CountingMailer:
    def __init__(self) -> None:
        self.sent = 0

    async def send(self, message: Any) -> None:
        self.sent += 1


# --- the runs --------------------------------------------------------------------------------


@dataclass
class Run:
    name: str
    events: int
    seconds: float
    outcomes: Counter[str]
    stored: int
    mismatches: list[str]
    mails: int
    per_event_ms: list[float]

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def delivery_order(history: History, duplicates: int, seed: int) -> list[Sent]:
    rng = random.Random(seed + 1)
    order = list(history.events)
    rng.shuffle(order)
    for original in rng.choices(history.events, k=duplicates):
        order.insert(rng.randrange(len(order) + 1), original)
    return order


async def replay(
    name: str,
    url: URL,
    history: History,
    order: list[Sent],
    *,
    concurrency: int,
    punctual: bool,
) -> Run:
    """Deliver ``order`` through ``billing.webhooks.process``, ``concurrency`` at a time.

    ``punctual``: Stripe is exactly as far as the event being delivered (in order, on
    time); otherwise as far as the newest event delivered so far."""
    from billing import dunning, webhooks
    from core.db import Database

    settings = bench_settings(url_string(url))
    db = Database.connect(settings, owner=url, pool_size=concurrency + 2, max_overflow=0)
    stripe = ReplayStripe(history)
    mailer = CountingMailer()
    handling = webhooks.Handling(
        db=db,
        registry=registry(),
        provider=stripe,
        notices=dunning.Notices(mailer=mailer, base_url=settings.base_url, grace_days=GRACE),
    )
    queue: asyncio.Queue[Sent] = asyncio.Queue()
    for sent in order:
        queue.put_nowait(sent)
    outcomes: Counter[str] = Counter()
    costs: list[float] = []

    async def worker() -> None:
        while not queue.empty():
            sent = queue.get_nowait()
            stripe.clock = sent.seq if punctual else max(stripe.clock, sent.seq)
            began = time.perf_counter()
            outcome = await webhooks.process(handling, sent.event, now=history.now)
            costs.append((time.perf_counter() - began) * 1000)
            outcomes[outcome.outcome] += 1

    began = time.perf_counter()
    try:
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - began
        from core import mail

        await mail.drain()
    finally:
        await db.dispose()
    stored, mismatches = await check(url, history)
    return Run(name, len(order), seconds, outcomes, stored, mismatches, mailer.sent, costs)


def expected(history: History, workspace: Workspace) -> dict[str, tuple[str, str | None, Any]]:
    """Module → (level, source, read-only from) that ``derive`` gives the final state."""
    from billing.entitlements import Level, SubscriptionState, derive
    from billing.state import moment

    final = workspace.final
    assert final is not None
    status = final["status"]
    items = {item["price"]["id"] for item in final["items"]["data"]} if status not in ENDED else ()
    state = SubscriptionState(
        status,
        past_due_since=history.now if status == "past_due" else None,
        trial_end=moment(final.get("trial_end")),
    )
    wanted = {}
    for module in MODULES:
        if price_id(module) in items:
            access = derive(state, history.now, GRACE)
            wanted[module] = (access.level.value, access.source, access.read_only_from)
        else:
            wanted[module] = (Level.OFF.value, None, None)
    return wanted


async def check(url: URL, history: History) -> tuple[int, list[str]]:
    """The stored events, and every workspace whose modules differ from ``expected``."""
    from billing.entitlements import Level
    from billing.state import level_of
    from core.db import owner_engine

    engine = owner_engine(url)  # the owner: every workspace's rows at once
    try:
        async with engine.connect() as conn:
            stored = (
                await conn.execute(text("SELECT count(*) FROM billing_webhook_event"))
            ).scalar()
            rows = (
                await conn.execute(
                    text(
                        "SELECT tenant_id, module_key, enabled, until, access, read_only_from,"
                        " source FROM core_tenant_module"
                    )
                )
            ).all()
    finally:
        await engine.dispose()
    actual: dict[uuid.UUID, dict[str, tuple[str, str | None, Any]]] = {}
    for row in rows:
        level = level_of(row, history.now)  # type: ignore[arg-type]
        shown = (level.value, None, None)
        if level is not Level.OFF:
            read_only_from = row.read_only_from if level is Level.ON else None
            shown = (level.value, row.source, read_only_from)
        actual.setdefault(row.tenant_id, {})[row.module_key] = shown
    mismatches = []
    for workspace in history.workspaces:
        want = expected(history, workspace)
        have = actual.get(workspace.tenant_id, {})
        for module in MODULES:
            got = have.get(module, (Level.OFF.value, None, None))
            if got != want[module]:
                mismatches.append(f"{workspace.customer} {module}: got {got}, want {want[module]}")
    return int(stored or 0), mismatches


# --- setup -----------------------------------------------------------------------------------


async def prepare(env: Environment, tenants: int) -> tuple[URL, list[uuid.UUID], dict[str, Any]]:
    """A migrated database with the prices (as if synced to Stripe) and ``tenants``
    workspaces with no module on, owned by the bench user."""
    from billing import catalogue
    from billing.models import BillingPrice
    from core import migrate
    from core.db import Database
    from tenants.services import create_tenant_with_modules

    stamp = f"{uuid.uuid4().hex[:8]}"
    url = await create_database(env, f"atrium_bench_hooks_{stamp}")
    modules = registry()
    settings = bench_settings(url_string(url))
    facts: dict[str, Any] = {}
    began = time.perf_counter()
    await migrate.upgrade(url, modules, settings)
    facts["migrate_s"] = time.perf_counter() - began
    db = Database.connect(settings, owner=url, pool_size=4, max_overflow=0)
    ids: list[uuid.UUID] = []
    try:
        async with db.global_transaction() as session:
            for module in MODULES:
                change = catalogue.PriceChange(module, "month", "USD", Decimal("10"))
                price = await catalogue.set_price(session, modules, change, operator_id=None)
                await session.execute(
                    update(BillingPrice)
                    .where(BillingPrice.id == price.id)
                    .values(stripe_price_id=price_id(module), stripe_product_id=f"atrium_{module}")
                )
        began = time.perf_counter()
        for i in range(tenants):
            ctx = await create_tenant_with_modules(
                db,
                modules,
                slug=f"hooks-{i:04d}",
                name=f"Hooks {i:04d}",
                owner_email=BENCH_EMAIL,
                seed=False,
            )
            ids.append(ctx.tenant_id)
        facts["tenants_s"] = time.perf_counter() - began
    finally:
        await db.dispose()
    return url, ids, facts


# --- the report ------------------------------------------------------------------------------


def _line(run: Run) -> str:
    costs = sorted(run.per_event_ms)
    p95 = costs[int(len(costs) * 0.95) - 1] if costs else 0.0
    return (
        f"{run.name:<9} {run.events:>6} events in {run.seconds:6.1f} s = {run.rate:7.1f} events/s"
        f" (per event: median {statistics.median(costs):.1f} ms, p95 {p95:.1f} ms);"
        f" outcomes {dict(sorted(run.outcomes.items()))}; stored {run.stored};"
        f" mails {run.mails}; mismatches {len(run.mismatches)}"
    )


def _derive_loop(history: History, rounds: int = 20) -> float:
    """µs per ``expected`` (one derive per module): the pure part, for scale."""
    began = time.perf_counter()
    for _ in range(rounds):
        for workspace in history.workspaces:
            expected(history, workspace)
    return (time.perf_counter() - began) / (rounds * len(history.workspaces)) * 1e6


async def main_async(args: argparse.Namespace) -> None:
    env = start_environment()
    try:
        print(f"== setup ({env.where}): {args.tenants} workspaces", flush=True)
        url, tenants, facts = await prepare(env, args.tenants)
        copy = await create_database(env, f"{url.database}_punctual", template=url.database)
        print(f"   migrate {facts['migrate_s']:.1f} s, workspaces {facts['tenants_s']:.1f} s")
        duplicates = round(args.events * args.duplicates)
        now = datetime.now(UTC).replace(microsecond=0)
        history = build_history(tenants, args.events - duplicates, args.seed, now)
        kinds = Counter(sent.event["type"] for sent in history.events)
        print(f"   {len(history.events)} distinct events: {dict(sorted(kinds.items()))}")
        order = delivery_order(history, duplicates, args.seed)

        print(f"== replay: {len(order)} events, {duplicates} duplicates, shuffled", flush=True)
        messy = await replay(
            "replay", url, history, order, concurrency=args.concurrency, punctual=False
        )
        print(_line(messy), flush=True)
        print("== punctual: the distinct events in Stripe's order, once each", flush=True)
        clean = await replay(
            "punctual", copy, history, history.events, concurrency=args.concurrency, punctual=True
        )
        print(_line(clean), flush=True)

        print("== results")
        distinct = len(history.events)
        for run in (messy, clean):
            for mismatch in run.mismatches[:10]:
                print(f"   {run.name} mismatch: {mismatch}")
        skipped = messy.outcomes["duplicate"]
        print(
            f"duplicates skipped: {skipped} of {duplicates} sent"
            f" {'ok' if skipped == duplicates else 'MISSED'}; stored {messy.stored} rows for"
            f" {distinct} distinct events {'ok' if messy.stored == distinct else 'MISSED'}"
        )
        for run in (messy, clean):
            verdict = "ok" if not run.mismatches else "MISSED"
            print(f"mismatches ({run.name}): {len(run.mismatches)} (target 0) {verdict}")
        print(f"events/s: replay {messy.rate:.1f}, punctual {clean.rate:.1f}")
        print(
            f"ratio replay/punctual: {messy.rate / clean.rate:.2f} (above 1: the shuffled,"
            " duplicated stream costs less per event than a punctual one)"
        )
        print(
            f"for scale: derive alone takes {_derive_loop(history):.1f} µs per workspace (two"
            f" modules); the replay took {1e6 / messy.rate:.0f} µs of wall time per event"
        )
    finally:
        await drop_databases(env)
        stop_environment(env)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m bench.webhook_replay",
        description="Stripe webhook events, shuffled and duplicated, through the real handler.",
    )
    parser.add_argument("--tenants", type=int, default=1_000)
    parser.add_argument("--events", type=int, default=10_000, help="delivered, duplicates included")
    parser.add_argument("--duplicates", type=float, default=0.10, help="share of the deliveries")
    parser.add_argument("--concurrency", type=int, default=4, help="events handled at once")
    parser.add_argument("--seed", type=int, default=1)
    asyncio.run(main_async(parser.parse_args(argv)))


if __name__ == "__main__":
    main()
