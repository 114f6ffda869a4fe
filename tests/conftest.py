"""Test infrastructure: one PostgreSQL server per run, a template database per run,
and a fresh database cloned from the template for each test that asks for one.

With no DATABASE_URL the run starts an embedded server (pgserver) in a
temporary directory; with DATABASE_URL it uses that server (its user must be
able to create databases and roles). Tests connect as the app role, never as
a superuser, so row-level security is what they see.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
import shutil
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from sqlalchemy.engine import URL, make_url

from core import migrate
from core.db import (
    Database,
    create_database,
    drop_database,
    start_embedded_server,
    stop_embedded_server,
)
from core.plugins.registry import ModuleRegistry
from core.settings import Settings

if TYPE_CHECKING:
    import httpx

    from core.models import User

# Stripe stand-in fixtures (stripe_standin, webhook_receiver): tests/stripe_standin/README.md
pytest_plugins = ["tests.stripe_standin.fixtures"]

TEST_MODULES = ("tests.sample_module.plugin", "tests.sample_addon.plugin")
_counter = itertools.count()


@pytest.fixture(scope="session")
def server_url() -> Iterator[URL]:
    """The server's maintenance database ("postgres") as the owner."""
    if os.environ.get("DATABASE_URL"):
        yield make_url(os.environ["DATABASE_URL"]).set(
            drivername="postgresql+asyncpg", database="postgres"
        )
        return
    # Not under pytest's tmp_path: its retention may delete the folder of a concurrent run.
    data_dir = Path(tempfile.mkdtemp(prefix="atrium-test-pg-"))
    yield start_embedded_server(data_dir, database="postgres")
    stop_embedded_server(data_dir)
    shutil.rmtree(data_dir, ignore_errors=True)


@pytest.fixture(scope="session")
def settings(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    """Test settings; uploaded files go to a folder of the run, never into the checkout."""
    data_dir = tmp_path_factory.mktemp("atrium-data")
    return Settings(env="test", extra_modules=TEST_MODULES, data_dir=data_dir)


@pytest.fixture(scope="session")
def registry(settings: Settings) -> ModuleRegistry:
    return ModuleRegistry.load(settings.extra_modules)


def unique_name(prefix: str) -> str:
    return f"{prefix}_{os.getpid()}_{next(_counter)}_{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
async def template_db(
    server_url: URL, settings: Settings, registry: ModuleRegistry
) -> AsyncIterator[str]:
    """A database migrated to head once per run; tests clone it."""
    name = unique_name("atrium_tpl")
    url = await create_database(server_url, name)
    await migrate.upgrade(url, registry, settings)
    yield name
    await drop_database(server_url, name)


@pytest.fixture
async def empty_db(server_url: URL) -> AsyncIterator[URL]:
    """A new empty database (for migration tests), dropped afterwards."""
    name = unique_name("atrium_empty")
    url = await create_database(server_url, name)
    yield url
    await drop_database(server_url, name)


@pytest.fixture
async def db_url(server_url: URL, template_db: str) -> AsyncIterator[URL]:
    """The owner URL of a fresh database cloned from the migrated template."""
    name = unique_name("atrium_t")
    url = await create_database(server_url, name, template=template_db)
    yield url
    await drop_database(server_url, name)


@pytest.fixture
async def db(db_url: URL, settings: Settings) -> AsyncIterator[Database]:
    """The app-role database handle on a fresh database: what the application uses."""
    database = Database.connect(settings, owner=db_url, pool_size=5, max_overflow=5)
    yield database
    await database.dispose()


TEST_OWNER_EMAIL = "owner@atrium.test"


async def _test_owner(db: Database):
    """The user who owns every workspace ``make_tenant`` makes (and whom ``client`` signs in)."""
    from core.identity import accounts
    from core.models import User

    async with db.global_transaction() as session:
        user = await accounts.by_email(session, TEST_OWNER_EMAIL)
        if user is None:
            user = User(email=TEST_OWNER_EMAIL, display_name="Test Owner")
            session.add(user)
            await session.flush()
        return user


@pytest.fixture
async def make_tenant(db: Database, registry: ModuleRegistry):
    """Create workspaces with modules enabled: ``await make_tenant("acme", "sample")``.

    They start bare (no seeded currency, tax rates or units) unless ``seed=True``.
    The test owner (``TEST_OWNER_EMAIL``) is an owner of each, beside ``owner_email``.
    """
    from core.models import Membership
    from tenants.services import create_tenant_with_modules

    async def make(
        slug: str,
        *modules: str,
        owner_email: str | None = None,
        locale: str = "en",
        seed: bool = False,
    ):
        ctx = await create_tenant_with_modules(
            db,
            registry,
            slug=slug,
            name=slug.title(),
            modules=modules,
            owner_email=owner_email,
            locale=locale,
            seed=seed,
        )
        owner = await _test_owner(db)
        if owner_email != TEST_OWNER_EMAIL:
            async with db.tenant_transaction(ctx.tenant_id) as session:
                session.add(Membership(user_id=owner.id, role="owner"))
        return ctx

    return make


@pytest.fixture
async def sign_in(db: Database, settings: Settings):
    """Start a browser session for a user; returns the cookie value."""
    from core.identity import sessions

    async def start(user_id: uuid.UUID) -> str:
        async with db.global_transaction() as session:
            token, _row = await sessions.start(session, settings, user_id)
        return token

    return start


class LiveServer:
    """The real app on a loopback port, served by uvicorn in the test's event loop."""

    def __init__(self, app: Any) -> None:
        import uvicorn

        config = uvicorn.Config(app, host="127.0.0.1", port=0, log_config=None, lifespan="on")
        self.server = uvicorn.Server(config)
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> str:
        self.task = asyncio.create_task(self.server.serve())
        while not self.server.started:
            if self.task.done():
                self.task.result()  # surfaces a startup error
            await asyncio.sleep(0.01)
        port = self.server.servers[0].sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        assert self.task is not None
        await self.task


@pytest.fixture
async def anonymous_client(db: Database, registry: ModuleRegistry, settings: Settings):
    """An HTTP client for the real app (on the test's fresh database) over loopback."""
    import httpx

    from web.app import create_app

    app = create_app(settings, db=db, registry=registry)
    async with LiveServer(app) as base_url, httpx.AsyncClient(base_url=base_url) as http:
        yield http


@pytest.fixture
async def client(anonymous_client, db: Database, sign_in):
    """The same client, signed in as the test owner (an owner of every ``make_tenant``)."""
    from web.auth import SESSION_COOKIE

    owner = await _test_owner(db)
    # The domain the server's own Set-Cookie uses, so a rotated id replaces this one.
    anonymous_client.cookies.set(SESSION_COOKIE, await sign_in(owner.id), domain="127.0.0.1")
    return anonymous_client


@pytest.fixture
async def live(
    settings: Settings, db: Database, registry: ModuleRegistry, tmp_path: Path
) -> AsyncIterator[str]:
    """The real app on a loopback port, keeping its files under this test's folder."""
    from web.app import create_app

    app = create_app(dataclasses.replace(settings, data_dir=tmp_path), db=db, registry=registry)
    async with LiveServer(app) as base_url:
        yield base_url


Browser = Callable[["User"], Awaitable["httpx.AsyncClient"]]


@pytest.fixture
async def browser(live: str, sign_in) -> AsyncIterator[Browser]:
    """Open a browser on ``live`` signed in as a user (each its own cookie jar); all are
    closed after the test."""
    import httpx

    from web.auth import SESSION_COOKIE

    async with contextlib.AsyncExitStack() as opened:

        async def open_as(who: User) -> httpx.AsyncClient:
            http = await opened.enter_async_context(httpx.AsyncClient(base_url=live))
            # The server's own cookie domain, so a new session id replaces this one.
            http.cookies.set(SESSION_COOKIE, await sign_in(who.id), domain="127.0.0.1")
            return http

        yield open_as


# --- the hook coverage check runs last, and only in a full run -------------------------------

EXERCISED_CHECK = "tests/core/test_hookspecs.py::test_every_hook_is_exercised"
_FILTERING_OPTIONS = ("keyword", "markexpr", "lf", "deselect", "ignore", "ignore_glob", "stepwise")


def _is_full_run(config: pytest.Config) -> bool:
    """True when the run collects the whole ``tests`` tree with no filter."""
    if any(getattr(config.option, name, None) for name in _FILTERING_OPTIONS):
        return False
    if config.args_source is not pytest.Config.ArgsSource.ARGS:
        return True  # no paths given: the configured testpaths (tests)
    wholes = {config.rootpath, config.rootpath / "tests"}
    return any(
        "::" not in arg and (config.invocation_params.dir / arg).resolve() in wholes
        for arg in config.args
    )


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Move ``test_every_hook_is_exercised`` to the end; deselect it in a partial run.

    It asserts that every hook was called by some earlier test, which only holds
    when every test ran: with ``-k``/``-m``, explicit paths or node ids, ``--lf``
    and the like, it is deselected (not skipped, so the run stays green and honest).
    """
    checks = [item for item in items if item.nodeid == EXERCISED_CHECK]
    if not checks:
        return
    items[:] = [item for item in items if item.nodeid != EXERCISED_CHECK]
    if _is_full_run(config):
        items.extend(checks)
    else:
        config.hook.pytest_deselected(items=checks)
