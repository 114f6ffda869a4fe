"""Browser tests: Debian's Chromium driven by Playwright's async API against the real app.

The app is served by uvicorn on a loopback port in the test's own event loop
(Playwright's async API runs in that loop too), on a socket bound before the
app is made, so ``BASE_URL`` — and with it every link in a mail — is this
server's own address. Chromium is launched once per run, every test gets
fresh browser contexts (own cookies, own language), and screenshots land in
``test-artifacts/e2e/<file>/<test>/``, numbered in the order they were taken.

A machine without Chromium fails these tests, never skips them: ``.ci/run``
installs it (``apt-get install chromium``).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect

from core.db import Database
from core.i18n import gettext, use_locale
from core.plugins.registry import ModuleRegistry
from core.settings import Settings

CHROMIUM = Path(os.environ.get("ATRIUM_CHROMIUM", "/usr/bin/chromium"))
# Keep the browser off the network: no updates, sync, QUIC or first-run chatter.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "e2e"
WAIT_MS = 10_000  # the longest any element or page may take to appear before a test fails
expect.set_options(timeout=WAIT_MS)


def translated(locale: str, msgid: str) -> str:
    """What the person reads for ``msgid`` in ``locale``: the catalog, not a copy of it."""
    with use_locale(locale):
        return gettext(msgid)


def at(path: str) -> re.Pattern[str]:
    """A page URL ending in ``path``, with or without its trailing slash (a sign-in's or a
    language choice's way back is the request's path, which Litestar keeps without it)."""
    return re.compile(rf"{re.escape(path.rstrip('/'))}/?$")


async def html_lang(page: Page) -> str:
    return await page.locator("html").get_attribute("lang") or ""


@pytest.fixture(scope="session")
def chromium_path() -> Path:
    """Debian's Chromium; its absence fails the browser tests rather than skipping them."""
    if not CHROMIUM.is_file():
        pytest.fail(
            f"No Chromium at {CHROMIUM}: browser tests need Debian's chromium "
            "(apt-get install -y chromium; .ci/run installs it)."
        )
    return CHROMIUM


@pytest.fixture(scope="session")
async def chromium(chromium_path: Path) -> AsyncIterator[Browser]:
    """One Chromium for the whole run (Playwright gives it a fresh temporary profile)."""
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=str(chromium_path), args=CHROMIUM_FLAGS, headless=True
        )
        yield browser
        await browser.close()


class _SiteServer:
    """uvicorn serving ``app`` on an already bound loopback socket, in this event loop."""

    def __init__(self, app: Any, sock: socket.socket) -> None:
        import uvicorn

        self.sock = sock
        self.server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="on"))
        self.task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> None:
        self.task = asyncio.create_task(self.server.serve(sockets=[self.sock]))
        while not self.server.started:
            if self.task.done():
                self.task.result()  # surfaces a startup error
            await asyncio.sleep(0.01)

    async def __aexit__(self, *exc: object) -> None:
        self.server.should_exit = True
        assert self.task is not None
        await self.task


@pytest.fixture
async def site(
    settings: Settings, db: Database, registry: ModuleRegistry, tmp_path: Path
) -> AsyncIterator[str]:
    """The real app on a loopback port whose mails link back to it; its base URL."""
    from web.app import create_app

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    app = create_app(
        dataclasses.replace(settings, data_dir=tmp_path, base_url=base_url),
        db=db,
        registry=registry,
    )
    with sock:
        async with _SiteServer(app, sock):
            yield base_url


NewContext = Callable[..., Awaitable[BrowserContext]]


@pytest.fixture
async def new_context(
    chromium: Browser, site: str, request: pytest.FixtureRequest
) -> AsyncIterator[NewContext]:
    """Open browser contexts on ``site`` (``await new_context(locale="zh-CN")``), each a
    separate person's browser; closed after the test. A script error on any page fails
    the test, and a failed test leaves a screenshot of every page it had open."""
    opened: list[BrowserContext] = []
    script_errors: list[str] = []

    def record_script_error(error: Exception) -> None:
        script_errors.append(str(error))

    async def open_one(**options: Any) -> BrowserContext:
        context = await chromium.new_context(base_url=site, **options)
        context.set_default_timeout(WAIT_MS)
        context.on("page", lambda page: page.on("pageerror", record_script_error))
        opened.append(context)
        return context

    yield open_one
    report = getattr(request.node, "call_report", None)
    if report is not None and report.failed:
        folder = _artifact_dir(request.node)
        for number, context in enumerate(opened, start=1):
            for index, page in enumerate(context.pages, start=1):
                with contextlib.suppress(Exception):  # a page that crashed has no picture
                    path = folder / f"failed-browser{number}-page{index}.png"
                    await page.screenshot(path=path, full_page=True)
    for context in opened:
        await context.close()
    assert not script_errors, f"script errors in the browser: {script_errors}"


def _artifact_dir(node: pytest.Item) -> Path:
    """``test-artifacts/e2e/<file>/<test>/``, both without their ``test_`` prefix."""
    module = node.module.__name__.rsplit(".", 1)[-1].removeprefix("test_")
    test = re.sub(r"[^A-Za-z0-9_.-]+", "-", node.name.removeprefix("test_"))
    folder = ARTIFACTS / module / test
    folder.mkdir(parents=True, exist_ok=True)
    return folder


Shoot = Callable[[Page, str], Awaitable[Path]]


@pytest.fixture
def shoot(request: pytest.FixtureRequest) -> Shoot:
    """``await shoot(page, "landing")`` saves ``…/<file>/<test>/01-landing.png``."""
    folder = _artifact_dir(request.node)
    for old in folder.glob("*.png"):  # this run's pictures only
        old.unlink()
    taken = 0

    async def take(page: Page, name: str) -> Path:
        nonlocal taken
        taken += 1
        path = folder / f"{taken:02d}-{name}.png"
        await page.screenshot(path=path, full_page=True)
        return path

    return take


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):
    """Keep the test call's report on the item, so fixtures' teardown knows it failed."""
    report = yield
    if report.when == "call":
        item.call_report = report  # type: ignore[attr-defined]
    return report
