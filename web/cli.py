"""The ``atrium`` command: serve, worker, db, modules, tenants, operators.

With no DATABASE_URL every command that needs a database starts the
embedded PostgreSQL in DATA_DIR first (or reuses the one running there); a
server a command started stops when the command ends, one that was already
running is left running.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from functools import wraps
from typing import Any, TypeVar

import click
from sqlalchemy import select

from core import logging as atrium_logging
from core import migrate
from core.db import Database, embedded_server_started, owner_url, stop_embedded_server
from core.plugins.registry import ModuleRegistry, PluginError
from core.settings import Settings, SettingsError

T = TypeVar("T")


class Env:
    """What every command shares: settings and the validated module registry."""

    def __init__(self) -> None:
        try:
            self.settings = Settings.from_env()
            self.registry = ModuleRegistry.load(
                self.settings.extra_modules, self.settings.modules_allow
            )
        except (SettingsError, PluginError) as exc:
            raise click.ClickException(str(exc)) from exc
        atrium_logging.configure(self.settings.log_level)


@contextlib.asynccontextmanager
async def connected(env: Env) -> AsyncIterator[Database]:
    """The app-role database for one command, disposed when it ends."""
    db = Database.connect(env.settings)
    try:
        yield db
    finally:
        await db.dispose()


def run_async(fn: Callable[..., Awaitable[T]]) -> Callable[..., T]:
    @wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> T:
        return asyncio.run(fn(*args, **kwargs))

    return wrapper


@click.group(help="Atrium: a multi-tenant business suite for small and medium enterprises.")
@click.pass_context
def main(ctx: click.Context) -> None:
    ctx.obj = Env()


# --- serve and worker ----------------------------------------------------------------------


@main.command(help="Start the web app (and one in-process worker), migrating first.")
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=8000, show_default=True, type=int)
@click.option("--no-worker", is_flag=True, help="Do not run a worker inside the web process.")
@click.pass_obj
def serve(env: Env, host: str, port: int, no_worker: bool) -> None:
    """With no DATABASE_URL, an embedded PostgreSQL this command started is stopped when it
    exits (Ctrl+C, SIGTERM, SIGHUP); one that was already running is left running."""
    import uvicorn

    from web.app import create_app

    embedded = not env.settings.database_url  # as owner_url decides
    owner = owner_url(env.settings)
    try:
        with _graceful_exit():
            asyncio.run(migrate.upgrade(owner, env.registry, env.settings))
            app = create_app(env.settings, registry=env.registry, run_worker=not no_worker)
            where = f"PostgreSQL at {owner.render_as_string(hide_password=True)}"
            if embedded:
                started = embedded_server_started(env.settings.data_dir)
                fate = "started, stopped on exit" if started else "already running, left running"
                where = f"embedded PostgreSQL in {env.settings.data_dir}, {fate}"
            click.echo(f"Atrium is running at http://{host}:{port}/  ({where})")
            uvicorn.run(app, host=host, port=port, log_config=None, access_log=False)
    finally:
        if embedded:
            stop_embedded_server(env.settings.data_dir)


@contextlib.contextmanager
def _graceful_exit() -> Iterator[None]:
    """SIGINT, SIGTERM and SIGHUP end the command through its ``finally`` blocks.

    uvicorn shuts down on SIGINT and SIGTERM and then raises the signal again
    for the handler that was there before it: with Python's defaults, SIGTERM
    (and SIGHUP, which uvicorn does not handle) would end the process on the
    spot, skipping every cleanup. Here SIGHUP asks for the same shutdown as
    SIGTERM, and the signal raised again ends the command with exit status 0.
    """

    def finish(_signum: int, _frame: object) -> None:
        raise SystemExit(0)

    def as_sigterm(_signum: int, _frame: object) -> None:
        signal.raise_signal(signal.SIGTERM)  # uvicorn's handler while it serves, else finish

    wanted = {signal.SIGINT: finish, signal.SIGTERM: finish}
    if hasattr(signal, "SIGHUP"):  # not on Windows
        wanted[signal.SIGHUP] = as_sigterm
    before = {sig: signal.signal(sig, handler) for sig, handler in wanted.items()}
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)


@main.command(help="Deliver outbox events and run scheduled jobs until stopped.")
@click.option("--batch-size", default=50, show_default=True, type=int)
@click.option("--lease-seconds", default=60, show_default=True, type=int)
@click.option("--poll-interval", default=1.0, show_default=True, type=float)
@click.option("--once", is_flag=True, help="Deliver one batch and exit.")
@click.pass_obj
@run_async
async def worker(
    env: Env, batch_size: int, lease_seconds: int, poll_interval: float, once: bool
) -> None:
    from core.worker import Worker

    async with connected(env) as db:
        runner = Worker(
            db,
            env.registry,
            batch_size=batch_size,
            lease_seconds=lease_seconds,
            poll_interval=poll_interval,
        )
        if once:
            click.echo(f"delivered {await runner.run_once()} events")
            return
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await runner.run(stop)


# --- events ------------------------------------------------------------------------------


@main.group(help="The outbox: dead letters and retries.")
def events() -> None:
    pass


@events.command(name="dead-letters", help="Handlers that gave up on an event, newest first.")
@click.option("--limit", default=100, show_default=True, type=int)
@click.pass_obj
@run_async
async def list_dead_letters(env: Env, limit: int) -> None:
    from core.worker import dead_letters

    async with connected(env) as db:
        rows = await dead_letters(db, limit=limit)
    if not rows:
        click.echo("No dead letters.")
    for row in rows:
        click.echo(
            f"{row.failed_at:%Y-%m-%d %H:%M} {row.tenant_slug or row.tenant_id} "
            f"{row.tenant_id} {row.event_id} {row.event_type} {row.handler} "
            f"after {row.attempts} attempts: {row.last_error}"
        )


@events.command(name="retry", help="Give an event's dead handlers a fresh set of attempts.")
@click.argument("tenant_id", type=click.UUID)
@click.argument("event_id", type=click.UUID)
@click.pass_obj
@run_async
async def retry_event(env: Env, tenant_id: uuid.UUID, event_id: uuid.UUID) -> None:
    from core.worker import retry_dead_letter

    async with connected(env) as db:
        revived = await retry_dead_letter(db, tenant_id, event_id)
    if not revived:
        raise click.ClickException(f"Event {event_id} has no dead handlers in that workspace.")
    click.echo(f"{revived} handler(s) will be tried again")


# --- db ------------------------------------------------------------------------------------


@main.group(help="Migrations: core's branch and one per installed module.")
def db() -> None:
    pass


@db.command(help="Bring core and every installed module to head; create the app role.")
@click.pass_obj
@run_async
async def upgrade(env: Env) -> None:
    owner = owner_url(env.settings)
    await migrate.upgrade(owner, env.registry, env.settings)
    click.echo(f"at head: {', '.join(sorted(await migrate.current_heads(owner, env.registry)))}")


@db.command(help="Downgrade to TARGET (default: base, an empty schema).")
@click.argument("target", default="base")
@click.pass_obj
@run_async
async def downgrade(env: Env, target: str) -> None:
    await migrate.downgrade(owner_url(env.settings), env.registry, target)
    click.echo(f"downgraded to {target}")


@db.command(help="Write a new migration into a module's branch (autogenerated).")
@click.option("--module", "module_key", required=True, help="Module key, or 'core'.")
@click.option("-m", "--message", required=True)
@click.option("--empty", is_flag=True, help="Write an empty revision instead of autogenerating.")
@click.pass_obj
def revision(env: Env, module_key: str, message: str, empty: bool) -> None:
    if module_key != migrate.CORE_BRANCH and module_key not in env.registry.modules:
        raise click.ClickException(f"No installed module {module_key!r}")
    owner = owner_url(env.settings)
    for script in migrate.revision(
        owner, env.registry, module_key, message, autogenerate=not empty
    ):
        click.echo(f"wrote {script.path}")


@db.command(help="Show the revisions the database is at.")
@click.pass_obj
@run_async
async def current(env: Env) -> None:
    owner = owner_url(env.settings)
    heads = await migrate.current_heads(owner, env.registry)
    expected = migrate.upgraded_heads(owner, env.registry)
    click.echo(f"database: {', '.join(sorted(heads)) or '(empty)'}")
    click.echo(f"code:     {', '.join(sorted(expected))}")


# --- modules and tenants -------------------------------------------------------------------


@main.group(help="Installed modules.")
def modules() -> None:
    pass


@modules.command(name="list", help="Installed modules in install order.")
@click.pass_obj
def list_modules(env: Env) -> None:
    if not env.registry.modules:
        click.echo("No modules installed.")
    for key, loaded in env.registry.modules.items():
        manifest = loaded.manifest
        depends = ", ".join(manifest.depends) or "-"
        click.echo(f"{key:<14} {manifest.version:<9} depends: {depends:<20} {manifest.name}")


@main.group(help="Workspaces (tenants).")
def tenants() -> None:
    pass


@tenants.command(name="list", help="All workspaces.")
@click.pass_obj
@run_async
async def list_tenants(env: Env) -> None:
    from core.models import Tenant

    async with connected(env) as db, db.global_transaction() as session:
        rows = (await session.scalars(select(Tenant).order_by(Tenant.created_at))).all()
    for tenant in rows:
        click.echo(f"{tenant.slug:<24} {tenant.status:<10} {tenant.name}")
    if not rows:
        click.echo("No workspaces yet.")


@tenants.command(name="create", help="Create a workspace, optionally with modules enabled.")
@click.option("--slug", required=True)
@click.option("--name", required=True)
@click.option("--owner-email", default=None)
@click.option("--module", "module_keys", multiple=True, help="Enable this module (repeatable).")
@click.pass_obj
@run_async
async def create_tenant(
    env: Env, slug: str, name: str, owner_email: str | None, module_keys: tuple[str, ...]
) -> None:
    from core.errors import DomainError
    from tenants.services import create_tenant_with_modules

    async with connected(env) as db:
        try:
            ctx = await create_tenant_with_modules(
                db, env.registry, slug=slug, name=name, modules=module_keys, owner_email=owner_email
            )
        except DomainError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"created {ctx.slug} ({ctx.tenant_id}); modules: {', '.join(sorted(ctx.enabled))}")


@main.command(help="Fill workspace SLUG with a small demo company (running it again adds nothing).")
@click.argument("slug")
@click.pass_obj
@run_async
async def demo(env: Env, slug: str) -> None:
    """Departments, colleagues who cannot sign in, customers, suppliers and products in the
    workspace's language, then each enabled module's demo data; acts as its first owner."""
    from core.errors import DomainError
    from tenants import demo as demo_data

    async with connected(env) as db:
        try:
            result = await demo_data.load_by_slug(db, env.registry, slug)
        except DomainError as exc:
            raise click.ClickException(str(exc)) from exc
    core = "demo company loaded" if result.core else "demo company already there"
    click.echo(f"{slug}: {core}; module demo data: {', '.join(result.modules) or 'none new'}")


@main.group(help="Platform staff who may sign in to the operator console (/operator/).")
def operators() -> None:
    pass


@operators.command(name="grant", help="Make an existing account an operator.")
@click.argument("email")
@click.pass_obj
@run_async
async def grant_operator(env: Env, email: str) -> None:
    from core.errors import DomainError
    from core.identity.accounts import grant_operator

    async with connected(env) as db:
        try:
            async with db.global_transaction() as session:
                user = await grant_operator(session, email)
        except DomainError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"{user.email} may now sign in at /operator/sign-in")


if __name__ == "__main__":
    sys.exit(main())
