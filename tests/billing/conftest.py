"""What the billing tests share: the operator console, signed in, on an app run with the
settings a test gives (Stripe on the stand-in, unreachable, or not configured)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from core.db import Database
from core.identity import sessions
from core.models import Operator, User
from core.plugins.registry import ModuleRegistry
from core.settings import Settings
from tests.conftest import LiveServer
from web.auth import OPERATOR_COOKIE

HTML = {"accept": "text/html"}

Console = Callable[[Settings], "contextlib.AbstractAsyncContextManager[httpx.AsyncClient]"]


@pytest.fixture
async def ops_user(db: Database) -> User:
    async with db.global_transaction() as session:
        user = User(email="ops@atrium.test", display_name="Ops")
        session.add(user)
        await session.flush()
        session.add(Operator(user_id=user.id))
        return user


@pytest.fixture
async def operator_console(
    db: Database, registry: ModuleRegistry, settings: Settings, ops_user: User, tmp_path: Path
) -> Console:
    """Open the operator console, signed in, on an app run with the settings given."""
    from web.app import create_app

    @contextlib.asynccontextmanager
    async def open_with(app_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(
            dataclasses.replace(app_settings, data_dir=tmp_path), db=db, registry=registry
        )
        async with LiveServer(app) as base, httpx.AsyncClient(base_url=base, headers=HTML) as http:
            async with db.global_transaction() as session:
                token, _ = await sessions.start(
                    session, settings, ops_user.id, area=sessions.OPERATOR
                )
            http.cookies.set(OPERATOR_COOKIE, token, domain="127.0.0.1")
            yield http

    return open_with
