"""A real PostgreSQL for the tests: a cluster of their own on loopback, and a fresh database per test."""

# The cluster lives in a temporary folder, on a free loopback port, run by an unprivileged user (PostgreSQL refuses
# root), and is stopped at the end of the session; each test's database is copied from a template that holds the
# migrated schema.

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any

import pytest

__all__ = ["CI_VARIABLE", "PgCluster", "missing_postgresql", "require"]

# Set by .ci/run: there a missing PostgreSQL is a broken setup, not a reason to skip.
CI_VARIABLE = "IM_DESKTOP_CI"
SUPERUSER = "im"
TEMPLATE = "im_template"
# PostgreSQL refuses to run as root; as root the cluster belongs to this user, which has no login and owns nothing.
UNPRIVILEGED = "nobody"
# Durability is not under test: without fsync a database is created and dropped in a few tens of milliseconds.
SETTINGS = {"listen_addresses": "127.0.0.1", "unix_socket_directories": "", "fsync": "off",
            "synchronous_commit": "off", "full_page_writes": "off", "max_connections": "200",
            "shared_buffers": "32MB", "log_min_messages": "warning"}  # fmt: skip
_PROGRAMS = ("initdb", "pg_ctl", "postgres", "psql")


def _version(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.parent.name)) or (0,)


def bin_dir() -> Path | None:
    """Where PostgreSQL's programs are: Debian keeps them out of PATH, in /usr/lib/postgresql/N/bin."""
    candidates = [Path(p) for p in [os.environ.get("IM_DESKTOP_PG_BIN")] if p]
    candidates += sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version, reverse=True)
    found = shutil.which("pg_ctl")
    if found:
        candidates.append(Path(found).parent)
    return next((d for d in candidates if all((d / p).exists() for p in _PROGRAMS)), None)


def missing_postgresql() -> str | None:
    """Why the PostgreSQL tests cannot run here, or None."""
    if bin_dir() is None:
        return "the PostgreSQL tests need the Debian package postgresql (initdb, pg_ctl, postgres, psql)"
    try:
        import asyncpg  # noqa: F401
    except ImportError:
        return "the PostgreSQL tests need the Python package asyncpg (pip install -e '.[test]')"
    return None


def require() -> None:
    """Skip without PostgreSQL, but fail in CI: a skip there would hide that half of the suite never ran."""
    why = missing_postgresql()
    if why is None:
        return
    if os.environ.get(CI_VARIABLE) == "1":
        pytest.fail(f"{why} ({CI_VARIABLE}=1: in CI it must be installed; .ci/run installs it)")
    pytest.skip(why)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PgCluster:
    """One postgres server for the test session. Databases are made and dropped with psql (a superuser with
    trust authentication on loopback: only this machine's users can reach it, for the length of the run)."""

    def __init__(self) -> None:
        found = bin_dir()
        assert found is not None, "call require() first"
        self.bin = found
        self.root = Path(tempfile.mkdtemp(prefix="im-desktop-pg-"))
        self.data = self.root / "data"
        self.log = self.root / "postgres.log"
        self.port = 0
        self._as_user: list[str] = []
        self._names = itertools.count(1)
        self._lock = threading.Lock()
        if os.geteuid() == 0:
            shutil.chown(self.root, UNPRIVILEGED)
            self._as_user = ["runuser", "-u", UNPRIVILEGED, "--"]

    def url(self, database: str) -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def _run(self, *argv: str, timeout: float = 60) -> str:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{Path(argv[0]).name} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")
        return done.stdout

    def start(self) -> None:
        self._run(*self._as_user, str(self.bin / "initdb"), "-D", str(self.data), "-U", SUPERUSER, "--auth=trust",
                  "-E", "UTF8", "--no-locale", "--no-sync")  # fmt: skip
        for attempt in range(5):  # the free port may be taken between choosing and binding it
            self.port = _free_port()
            options = " ".join(f"-c {k}={v!r}" if v == "" else f"-c {k}={v}" for k, v in SETTINGS.items())
            try:
                self._run(*self._as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-l", str(self.log),
                          "-w", "-t", "60", "-o", f"-p {self.port} {options}", "start")  # fmt: skip
                break
            except RuntimeError:
                if attempt == 4:
                    log = self.log.read_text(errors="replace")[-2000:]
                    raise RuntimeError(f"postgres did not start: {log}") from None
        self.psql(f"CREATE DATABASE {TEMPLATE}")
        _in_a_thread(_migrate(self.url(TEMPLATE)))  # each test's database starts at the newest schema version

    def stop(self) -> None:
        with contextlib.suppress(RuntimeError, subprocess.TimeoutExpired):
            self._run(*self._as_user, str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def psql(self, sql: str, database: str = "postgres") -> str:
        return self._run(str(self.bin / "psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1",
                         "-d", self.url(database), "-c", sql)  # fmt: skip

    def create_database(self, template: str = TEMPLATE) -> str:
        """A new database copied from `template` (the migrated schema; "template0" for an empty one)."""
        with self._lock:
            name = f"t{next(self._names)}"
        self.psql(f"CREATE DATABASE {name} TEMPLATE {template}")
        return name

    def drop_database(self, name: str) -> None:
        self.psql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


async def _migrate(url: str) -> None:
    import asyncpg

    from im_desktop.server.migrations import migrate_pg

    pool = await asyncpg.create_pool(url, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await migrate_pg(conn, url)
    finally:
        await pool.close()


def _in_a_thread(coro: Coroutine[Any, Any, None]) -> None:
    """Run a coroutine to its end on a loop of its own: the caller may be inside a running loop (a fixture
    set up for an async test), where asyncio.run() is refused."""
    failure: list[BaseException] = []

    def run() -> None:
        try:
            asyncio.run(coro)
        except BaseException as exc:
            failure.append(exc)

    thread = threading.Thread(target=run, name="pg-migrate")
    thread.start()
    thread.join()
    if failure:
        raise failure[0]
