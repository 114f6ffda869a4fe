"""The ``atrium`` command, run as a real process against a real database."""

from __future__ import annotations

import os
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner
from sqlalchemy.engine import URL

from core import migrate
from tests.conftest import TEST_MODULES
from web.cli import main


def atrium(*args: str, database: URL | None = None, **env: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ATRIUM_MODULES")}
    environ.update({"ATRIUM_ENV": "test", "ATRIUM_EXTRA_MODULES": ",".join(TEST_MODULES), **env})
    if database is not None:
        environ["DATABASE_URL"] = database.render_as_string(hide_password=False)
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        capture_output=True,
        text=True,
        env=environ,
        timeout=120,
        check=False,
    )


def _commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, command in group.commands.items():
        found.append((*prefix, name))
        if isinstance(command, click.Group):
            found += _commands(command, (*prefix, name))
    return found


def test_every_command_has_help() -> None:
    commands = _commands(main)
    assert {
        ("serve",),
        ("worker",),
        ("db", "upgrade"),
        ("db", "downgrade"),
        ("db", "revision"),
        ("db", "current"),
        ("modules", "list"),
        ("tenants", "list"),
        ("tenants", "create"),
    } <= set(commands)
    runner = CliRunner(env={"ATRIUM_ENV": "test", "ATRIUM_EXTRA_MODULES": ",".join(TEST_MODULES)})
    for path in commands:
        result = runner.invoke(main, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
        assert "Usage:" in result.output


def test_modules_list_shows_versions_and_depends() -> None:
    result = atrium("modules", "list")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("sample ")
    assert "1.0.0" in lines[0]
    assert lines[1].startswith("sampleaddon")
    assert "depends: sample" in lines[1]


def test_plugin_errors_stop_the_command_with_the_culprit() -> None:
    result = atrium("modules", "list", ATRIUM_MODULES="sampleaddon")
    assert result.returncode == 1
    assert "Module 'sampleaddon' depends on 'sample'" in result.stderr


def test_production_without_a_secret_refuses_to_start() -> None:
    result = atrium("modules", "list", ATRIUM_ENV="production")
    assert result.returncode == 1
    assert "SECRET_KEY is not set" in result.stderr


@pytest.mark.usefixtures("template_db")
async def test_db_and_tenants_commands_on_a_real_database(empty_db: URL, registry) -> None:
    upgraded = atrium("db", "upgrade", database=empty_db)
    assert upgraded.returncode == 0, upgraded.stderr
    heads = ", ".join(sorted(migrate.script_heads(empty_db, registry)))
    assert f"at head: {heads}" in upgraded.stdout

    current = atrium("db", "current", database=empty_db)
    assert f"database: {heads}" in current.stdout

    created = atrium(
        "tenants",
        "create",
        "--slug",
        "cli-co",
        "--name",
        "CLI Co",
        "--module",
        "sampleaddon",
        database=empty_db,
    )
    assert created.returncode == 0, created.stderr
    assert "modules: sample, sampleaddon" in created.stdout

    taken = atrium("tenants", "create", "--slug", "cli-co", "--name", "Again", database=empty_db)
    assert taken.returncode == 1
    assert "The address cli-co is taken." in taken.stderr

    listed = atrium("tenants", "list", database=empty_db)
    assert "cli-co" in listed.stdout

    downgraded = atrium("db", "downgrade", database=empty_db)
    assert downgraded.returncode == 0, downgraded.stderr
    assert "database: (empty)" in atrium("db", "current", database=empty_db).stdout


async def test_dead_letters_are_listed_and_retried(db_url: URL, db, registry, make_tenant) -> None:
    from core.worker import Worker
    from tests.sample_module.services import NoteService

    ctx = await make_tenant("deadco", "sample")
    assert "No dead letters." in atrium("events", "dead-letters", database=db_url).stdout
    async with db.tenant_transaction(ctx.tenant_id) as session:
        await NoteService(session).create("boom: this handler always fails")
    await Worker(db, registry, max_attempts=1).run_once()

    listed = atrium("events", "dead-letters", database=db_url)
    line = next(x for x in listed.stdout.splitlines() if "sample.note_created.v1" in x)
    assert "deadco" in line
    assert "sample.record_note_created" in line
    assert "RuntimeError" in line
    tenant_id, event_id = line.split()[3:5]
    assert tenant_id == str(ctx.tenant_id)

    retried = atrium("events", "retry", tenant_id, event_id, database=db_url)
    assert retried.returncode == 0, retried.stderr
    assert "1 handler(s) will be tried again" in retried.stdout
    again = atrium("events", "retry", tenant_id, event_id, database=db_url)
    assert again.returncode == 1
    assert "has no dead handlers" in again.stderr
