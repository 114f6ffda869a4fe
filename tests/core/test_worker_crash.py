"""Nothing is lost when a worker dies: a real worker process is SIGKILLed mid-batch.

A first ``atrium worker`` process delivers part of 200 events and is killed
without warning, leaving leases behind; a second worker takes over once they
expire. Every note must end with exactly one effect and every event delivered.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.engine import URL
from sqlalchemy.ext.asyncio import AsyncEngine

from core.db import Database, owner_engine
from core.plugins.registry import ModuleRegistry
from core.settings import Settings
from core.worker import Worker
from tests.conftest import TEST_MODULES
from tests.sample_module.services import NoteService

NOTES_PER_TENANT = 100
REPO = Path(__file__).resolve().parents[2]
BATCH = 20
KILL_AFTER = BATCH + BATCH // 2  # effects seen before the kill: inside the second batch
WAIT_LIMIT = 120.0  # bounds on waiting for progress, never the claim under test


@pytest.fixture
async def owner(db: Database) -> AsyncIterator[AsyncEngine]:
    engine = owner_engine(db.owner)
    yield engine
    await engine.dispose()


async def count(owner: AsyncEngine, sql: str) -> int:
    async with owner.connect() as conn:
        return int((await conn.execute(text(sql))).scalar() or 0)


async def note_effects(owner: AsyncEngine) -> int:
    return await count(owner, "SELECT count(*) FROM sample_effect WHERE source = 'note_created'")


def start_worker(db_url: URL, settings: Settings, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": db_url.render_as_string(hide_password=False),
        "ATRIUM_ENV": "test",
        "ATRIUM_EXTRA_MODULES": ",".join(TEST_MODULES),
        "SAMPLE_HANDLER_DELAY": "0.02",
        # The same run-time role as the fixtures' (stated, not assumed from defaults).
        "ATRIUM_APP_DB_ROLE": settings.app_db_role,
    }
    command = [
        sys.executable,
        "-m",
        "web.cli",
        "worker",
        "--lease-seconds",
        "2",
        "--batch-size",
        str(BATCH),
        "--poll-interval",
        "0.1",
    ]
    with log.open("wb") as out:
        return subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


async def test_outbox_survives_a_worker_killed_mid_batch(
    db: Database,
    db_url: URL,
    settings: Settings,
    registry: ModuleRegistry,
    make_tenant,
    owner: AsyncEngine,
    tmp_path: Path,
) -> None:
    tenants = [await make_tenant(slug, "sample") for slug in ("alpha", "bravo")]
    for tenant in tenants:
        async with db.tenant_transaction(tenant.tenant_id) as session:
            for i in range(NOTES_PER_TENANT):
                await NoteService(session).create(f"{tenant.slug} note {i}")
    total = NOTES_PER_TENANT * len(tenants)

    log = tmp_path / "worker.log"
    process = start_worker(db_url, settings, log)
    try:
        done = 0
        loop = asyncio.get_running_loop()
        deadline = loop.time() + WAIT_LIMIT
        while loop.time() < deadline and process.poll() is None:
            done = await note_effects(owner)
            if done >= KILL_AFTER:
                break
            await asyncio.sleep(0.02)
        assert process.poll() is None, f"the worker exited early:\n{log.read_text()}"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=30)
    killed_at = await note_effects(owner)
    assert 0 < done <= killed_at < total, f"not killed mid-way:\n{log.read_text()}"

    second = Worker(db, registry, batch_size=BATCH, lease_seconds=2, name="second")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_LIMIT
    while loop.time() < deadline:
        if await second.run_once() == 0:
            if await count(owner, "SELECT count(*) FROM core_outbox WHERE delivered_at IS NULL"):
                await asyncio.sleep(0.2)  # leases of the killed worker not yet expired
                continue
            break

    per_note = await owner.connect()
    try:
        rows = (
            await per_note.execute(
                text(
                    "SELECT n.title, count(e.id) AS effects FROM sample_note n "
                    "LEFT JOIN sample_effect e ON e.tenant_id = n.tenant_id AND e.ref = n.id "
                    "AND e.source = 'note_created' GROUP BY n.tenant_id, n.id, n.title"
                )
            )
        ).all()
        outbox = (
            await per_note.execute(
                text(
                    "SELECT count(*) FILTER (WHERE delivered_at IS NOT NULL AND dead_at IS NULL),"
                    " count(*) FROM core_outbox WHERE event_type = 'sample.note_created.v1'"
                )
            )
        ).one()
        markers = (
            await per_note.execute(
                text(
                    "SELECT count(*) FROM core_event_delivery "
                    "WHERE handler = 'sample.record_note_created' AND status = 'done'"
                )
            )
        ).scalar()
        pending = (
            await per_note.execute(
                text("SELECT count(*) FROM core_outbox WHERE delivered_at IS NULL")
            )
        ).scalar()
    finally:
        await per_note.close()

    assert len(rows) == total
    wrong = [(title, n) for title, n in rows if n != 1]
    assert wrong == [], f"notes without exactly one effect: {wrong[:10]}"
    assert tuple(outbox) == (total, total)
    assert markers == total
    assert pending == 0  # the scheduled digest, if the worker fired it, was delivered too
