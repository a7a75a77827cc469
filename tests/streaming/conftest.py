"""Fixtures of the streaming tests: one Tansu broker (Kafka protocol) for the whole session."""

from __future__ import annotations

import os
import uuid

import pytest

#: Destinations that keep stream positions with their data (the `destination` fixture).
DESTINATIONS = ["duckdb", "iceberg", "postgres", "mysql"]


def service_missing(reason: str) -> None:
    """Skip the test, or fail it when services are required (as in CI)."""
    if os.environ.get("MESHKIT_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory):
    """``bootstrap_servers`` of a Tansu broker on a free 127.0.0.1 port, stopped by pid at the end."""
    from meshkit.core.errors import PlatformError
    from meshkit.data.stores.tansu import start_tansu

    try:
        broker = start_tansu(log=tmp_path_factory.mktemp("tansu") / "tansu.log")
    except PlatformError as exc:
        service_missing(f"Tansu broker unavailable: {exc}")
    yield broker.bootstrap_servers
    broker.stop()


@pytest.fixture
def topic():
    """A fresh topic name (the broker is shared by the session)."""
    return f"mk_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def stores(workspace):
    """``stores(name, **options)`` declares a store in the workspace's meshkit.toml."""
    path = workspace.root / "meshkit.toml"

    def declare(name: str, **options) -> None:
        lines = [f"\n[stores.{name}]"] + [f"{k} = {v!r}".replace("'", '"') for k, v in options.items()]
        path.write_text(path.read_text() + "\n".join(lines) + "\n")

    return declare


@pytest.fixture
def open_mk(workspace):
    """``open_mk()``: a ``Meshkit`` on the workspace as its files are now (closed afterwards)."""
    from meshkit.testing import plugin_workspace

    opened = []

    def make():
        opened.append(plugin_workspace(workspace.root))
        return opened[-1]

    yield make
    for instance in opened:
        instance.close()


@pytest.fixture
def destination(request, stores, workspace):
    """Declare store `dest` of the wanted kind; returns the asset name to write."""
    kind = request.param
    if kind == "duckdb":
        stores("dest", type="duckdb", path="dest.duckdb")
        return "orders"
    if kind == "iceberg":
        stores("dest", type="iceberg")
        return "sales.orders"
    if kind == "postgres":
        dsn, schema = request.getfixturevalue("pg_dsn"), request.getfixturevalue("pg_schema")
        stores("dest", type="postgres", dsn=dsn)
        return f"{schema}.orders"
    dsn, db = request.getfixturevalue("mysql_dsn"), request.getfixturevalue("mysql_db")
    stores("dest", type="mysql", dsn=dsn.rsplit("/", 1)[0] + f"/{db}")
    return "orders"


@pytest.fixture
def source(pg_dsn, pg_schema, stores):
    """Tables `orders` and `customers` in a fresh schema, store `src` on them; slot and publication dropped after."""
    import psycopg

    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        if conn.execute("SHOW wal_level").fetchone()[0] != "logical":
            pytest.fail("wal_level is not logical (.ci/run sets it)")
        conn.execute(
            f'CREATE TABLE "{pg_schema}".orders (id int PRIMARY KEY, item text, qty int, price numeric(8, 2))'
        )
        conn.execute(f'CREATE TABLE "{pg_schema}".customers (id bigint PRIMARY KEY, name text)')
        conn.execute(
            f"INSERT INTO \"{pg_schema}\".orders SELECT g, 'pizza ' || g, g % 3, g * 1.25 FROM generate_series(1, 25) g"
        )
        conn.execute(f"INSERT INTO \"{pg_schema}\".customers VALUES (1, 'Ada'), (2, 'Grace')")
    name = f"mk_{uuid.uuid4().hex[:10]}"
    stores("src", type="postgres_cdc", dsn=pg_dsn, slot=name, publication=name)
    yield pg_schema
    from meshkit.data.stores.postgres_cdc import PostgresCDCStore

    store = PostgresCDCStore("src", {"dsn": pg_dsn, "slot": name, "publication": name})
    store.drop("any")
    store.close()
