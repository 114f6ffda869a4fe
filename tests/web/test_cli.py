"""The ``atrium`` command, run as a real process against a real database."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner
from pgserver.utils import PostmasterInfo
from sqlalchemy.engine import URL

from core import migrate
from core.db import embedded_server_started, start_embedded_server, stop_embedded_server
from tests.conftest import TEST_MODULES
from web.cli import main


def _environ(database: URL | None = None, **env: str) -> dict[str, str]:
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "ATRIUM_MODULES")}
    environ.update({"ATRIUM_ENV": "test", "ATRIUM_EXTRA_MODULES": ",".join(TEST_MODULES), **env})
    if database is not None:
        environ["DATABASE_URL"] = database.render_as_string(hide_password=False)
    return environ


def atrium(*args: str, database: URL | None = None, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "web.cli", *args],
        capture_output=True,
        text=True,
        env=_environ(database, **env),
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
    lines = {line.split()[0]: line for line in result.stdout.splitlines()}
    assert list(lines) == ["crm", "oa", "sample", "sampleaddon"]  # install order
    assert "1.0.0" in lines["sample"]
    assert "depends: sample" in lines["sampleaddon"]


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
    heads = ", ".join(sorted(migrate.upgraded_heads(empty_db, registry)))
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


# --- the embedded PostgreSQL of `atrium serve` ---------------------------------------------


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A DATA_DIR of its own (not under pytest's tmp_path, as in conftest)."""
    where = Path(tempfile.mkdtemp(prefix="atrium-serve-"))
    yield where
    stop_embedded_server(where)  # if a failed test left this process holding it
    shutil.rmtree(where, ignore_errors=True)


def _postgres_running(data_dir: Path) -> bool:
    info = PostmasterInfo.read_from_pgdata(data_dir / "pg")
    return info is not None and info.is_running()


def _serve_until(data_dir: Path, stop: signal.Signals) -> tuple[int, str]:
    """Run `atrium serve` on the embedded server in ``data_dir`` until it says it is
    serving, then send it ``stop``; its exit status and everything it printed."""
    serving = subprocess.Popen(
        [sys.executable, "-m", "web.cli", "serve", "--port", "0", "--no-worker"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_environ(DATA_DIR=str(data_dir), PYTHONUNBUFFERED="1"),
    )
    printed: list[str] = []
    up = threading.Event()

    def read() -> None:
        assert serving.stdout is not None
        for line in serving.stdout:
            printed.append(line)
            if "Uvicorn running on" in line:
                up.set()
        up.set()  # it exited: stop waiting

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    if not up.wait(timeout=120) or serving.poll() is not None:  # a guard against a hang
        serving.kill()
        pytest.fail("atrium serve did not come up:\n" + "".join(printed))
    serving.send_signal(stop)
    status = serving.wait(timeout=120)
    reader.join(timeout=10)
    return status, "".join(printed)


def _dead_pid() -> int:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    return gone.pid


def _held_by(data_dir: Path, pid: int) -> None:
    """Count ``pid`` as holding the server, as pgserver does (a process since killed)."""
    handles = data_dir / "pg" / ".handle_pids.json"
    handles.write_text(json.dumps([*json.loads(handles.read_text()), pid]))


def test_the_start_tells_a_started_server_from_a_reused_one(data_dir: Path) -> None:
    start_embedded_server(data_dir)
    assert embedded_server_started(data_dir)
    start_embedded_server(data_dir)  # again in the same process: the same handle
    assert embedded_server_started(data_dir)

    reuse = (
        "import sys; from pathlib import Path; "
        "from core.db import embedded_server_started, start_embedded_server; "
        "start_embedded_server(Path(sys.argv[1])); "
        "print(embedded_server_started(Path(sys.argv[1])))"
    )
    other = subprocess.run(
        [sys.executable, "-c", reuse, str(data_dir)],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert other.stdout.strip() == "False"
    assert _postgres_running(data_dir)  # it let go without stopping what it did not start

    _held_by(data_dir, _dead_pid())  # a process killed while it held the server
    stop_embedded_server(data_dir)  # is not waited for
    assert not _postgres_running(data_dir)
    assert not embedded_server_started(data_dir)

    _held_by(data_dir, _dead_pid())  # left behind with the server down (after a reboot, say)
    start_embedded_server(data_dir)
    assert embedded_server_started(data_dir)
    stop_embedded_server(data_dir)
    assert not _postgres_running(data_dir)


@pytest.mark.parametrize(
    "stop", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT], ids=lambda sig: sig.name
)
def test_serve_stops_the_embedded_server_it_started(data_dir: Path, stop) -> None:
    status, printed = _serve_until(data_dir, stop)
    assert f"embedded PostgreSQL in {data_dir}, started, stopped on exit" in printed
    assert status == 0, printed
    assert not _postgres_running(data_dir)
    assert json.loads((data_dir / "pg" / ".handle_pids.json").read_text()) == []


def test_serve_leaves_a_server_that_was_already_running(data_dir: Path) -> None:
    start_embedded_server(data_dir)  # running before `atrium serve` starts
    status, printed = _serve_until(data_dir, signal.SIGTERM)
    assert f"embedded PostgreSQL in {data_dir}, already running, left running" in printed
    assert status == 0, printed
    assert _postgres_running(data_dir)
    stop_embedded_server(data_dir)
    assert not _postgres_running(data_dir)
