"""Behind a pooler in transaction mode (PgBouncer's `pool_mode = transaction`, Supabase's port 6543)
each transaction may run on another server connection: nothing may stay prepared on one, and the
migration lock must be a transaction's. A real PgBouncer with one server connection makes every
collision certain: two clients that prepare a statement under the same name meet on it."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from nps_bot.app import AppContext
from nps_bot.store.engine import create_engine_for, migrate, transaction_pooling
from nps_bot.store.intake import pg_driver
from nps_bot.store.schema import surveys, webhook_intake
from nps_bot.surveys.intake import WebhookIntake
from tests.conftest import PG_URL, _pg_database
from tests.db_helpers import count
from tests.support.app import closing, services
from tests.support.processes import free_port

PGBOUNCER = shutil.which("pgbouncer") or next((p for p in ["/usr/sbin/pgbouncer"] if os.path.exists(p)), None)


@pytest.fixture
def pooled() -> Iterator[str]:
    """A new, empty database behind a PgBouncer in transaction mode with one server connection."""
    if not PG_URL:
        pytest.skip("NPS_BOT_TEST_POSTGRES_URL not set (CI sets it)")
    if PGBOUNCER is None:
        pytest.skip("pgbouncer is not installed (.ci/run installs it)")
    server = sa.make_url(PG_URL)
    # Not under pytest's tmp_path (private to this user): PgBouncer refuses to run as root and
    # switches to the server's user, who must reach its files.
    workdir = Path(tempfile.mkdtemp(prefix="nps-pgbouncer-"))
    workdir.chmod(0o777)
    port = free_port()
    (workdir / "users.txt").write_text(f'"{server.username}" ""\n')
    config = workdir / "pgbouncer.ini"
    config.write_text(
        "[databases]\n"
        f"* = host={server.host} port={server.port}\n"
        "[pgbouncer]\n"
        f"listen_addr = 127.0.0.1\nlisten_port = {port}\nunix_socket_dir =\n"
        f"auth_type = trust\nauth_file = {workdir / 'users.txt'}\n"
        "pool_mode = transaction\ndefault_pool_size = 1\nmax_client_conn = 50\n"
        f"logfile = {workdir / 'pgbouncer.log'}\n"
    )
    for path in workdir.iterdir():
        path.chmod(0o666)
    user = ["-u", server.username or "postgres"] if os.geteuid() == 0 else []
    bouncer = subprocess.Popen([PGBOUNCER, *user, str(config)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for_port(port, bouncer, workdir / "pgbouncer.log")
        for direct in _pg_database():
            name = sa.make_url(direct).database
            yield f"postgresql://{server.username}@127.0.0.1:{port}/{name}"
    finally:
        bouncer.terminate()
        bouncer.wait(10)
        shutil.rmtree(workdir, ignore_errors=True)


def _wait_for_port(port: int, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"pgbouncer exited: {process.stderr.read() if process.stderr else b''!r}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"pgbouncer did not listen: {log.read_text() if log.exists() else ''}")


# One `serve` replica: a process of its own, as in production (asyncpg numbers its statements per
# process, so two replicas name their first statement alike and meet on the one server connection).
STORE = """
import asyncio, sys
from datetime import UTC, datetime
from nps_bot.models import Customer, Interaction
from nps_bot.store.engine import create_engine_for
from nps_bot.store.intake import intake_writer
from nps_bot.surveys.intake import encode

url, first = sys.argv[1], int(sys.argv[2])


async def main() -> None:
    writer = intake_writer(create_engine_for(url))
    try:
        for n in range(first, first + 3):
            closing = Interaction(
                connector="generic", event_id=f"e{n}", ticket_id=f"T{n}", customer=Customer(email=f"c{n}@example.com")
            )
            await writer.store(("generic", encode([closing], datetime(2026, 11, 20, 10, tzinfo=UTC))))
    finally:
        await writer.aclose()


asyncio.run(main())
"""
START = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def store_from_a_replica(url: str, first: int) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-c", STORE, url, str(first)], capture_output=True, text=True, timeout=60)


def schedule_from_two_workers(ctx: AppContext, count: int) -> None:
    """Two workers' connections schedule by turns, past psycopg's threshold for preparing a statement."""
    with ctx.engine.connect() as first, ctx.engine.connect() as second:
        for n in range(count):
            conn = (first, second)[n % 2]
            with conn.begin():
                ctx.surveys.schedule_in(conn, closing(1000 + n))


def test_the_whole_path_works_behind_a_pooler_in_transaction_mode(pooled: str) -> None:
    url = pooled + "?pool_mode=transaction"
    engine = create_engine_for(url)
    assert transaction_pooling(engine) and "pool_mode" not in engine.url.query
    assert pg_driver(engine).name == "psycopg"  # asyncpg's statement cache would name statements
    engine.dispose()
    # Three replicas start at once: the migration lock is the migration transaction's own.
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda _: migrate(create_engine_for(url)), range(3)))
    for first in (0, 3):  # two replicas, one after the other, through the one server connection
        replica = store_from_a_replica(url, first)
        assert replica.returncode == 0, replica.stderr
    ctx = services(url, START)
    try:
        schedule_from_two_workers(ctx, 12)
        assert len(WebhookIntake(ctx.surveys).drain_for()) == 6
        assert (count(ctx, surveys), count(ctx, webhook_intake)) == (18, 0)
    finally:
        ctx.engine.dispose()


def test_without_the_setting_the_replicas_statements_collide_on_the_pooler(pooled: str) -> None:
    # The failures the setting prevents, on the same kind of pooler: the test above proves something.
    migrate(create_engine_for(pooled))
    assert store_from_a_replica(pooled, 0).returncode == 0
    second = store_from_a_replica(pooled, 3)
    assert second.returncode != 0 and "DuplicatePreparedStatement" in second.stderr
    ctx = services(pooled, START)
    try:
        with pytest.raises(sa.exc.ProgrammingError, match="already exists"):
            schedule_from_two_workers(ctx, 12)
    finally:
        ctx.engine.dispose()
