"""Every server test runs on both stores: SQLite (the default) and PostgreSQL (a real one, started for the session)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server import pg, support
from tests.server.redis_server import RedisServer, require

STORES = ("sqlite", "postgresql")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: runs once, on SQLite: about its own file (modes, damage, upgrade), or needs no store"
    )
    config.addinivalue_line("markers", "postgresql_only: about several server processes sharing one database")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "store" in metafunc.fixturenames:
        only = [k for k in STORES if metafunc.definition.get_closest_marker(f"{k}_only")]
        kinds = only or list(STORES)
        metafunc.parametrize("store", kinds, indirect=True, scope="function")


@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[pg.PgCluster]:
    pg.require()
    cluster = pg.PgCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


class Databases:
    """One fresh database per server data folder in a test: a restart on the same folder finds its data."""

    def __init__(self, cluster: pg.PgCluster) -> None:
        self.cluster = cluster
        self.by_folder: dict[Path, str] = {}

    def url_for(self, data_dir: Path) -> str:
        key = data_dir.resolve()
        if key not in self.by_folder:
            self.by_folder[key] = self.cluster.create_database()
        return self.cluster.url(self.by_folder[key])

    def drop_all(self) -> None:
        for name in self.by_folder.values():
            self.cluster.drop_database(name)


@pytest.fixture(autouse=True)
def store(request: pytest.FixtureRequest) -> Iterator[str]:
    """The store this test's servers use ("sqlite" or "postgresql"); support.running_server and
    support.database_for follow it."""
    kind: str = request.param
    if kind == "sqlite":
        yield kind
        return
    databases = Databases(request.getfixturevalue("pg_cluster"))
    support.use_databases(databases.url_for)
    try:
        yield kind
    finally:
        support.use_databases(lambda data_dir: None)
        databases.drop_all()


@pytest.fixture
def redis() -> Iterator[RedisServer]:
    """A real redis-server of the test's own on a loopback port (fails in CI when it is not installed)."""
    require()
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.close()
