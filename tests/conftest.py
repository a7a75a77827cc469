"""Shared fixtures: workspaces, and real services (PostgreSQL, MariaDB, ...) read from the environment.

A test that needs a missing service is skipped with the reason; with MESHKIT_REQUIRE_SERVICES=1
(as in CI) the skip becomes a failure.
"""

from __future__ import annotations

import os
import socket
import uuid
from pathlib import Path

import pytest

from meshkit.core.workspace import init_workspace
from meshkit.testing import plugin_workspace, run_cli

REQUIRE_SERVICES = os.environ.get("MESHKIT_REQUIRE_SERVICES") == "1"
PG_DSN = os.environ.get("MESHKIT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
NATS_URL = os.environ.get("MESHKIT_TEST_NATS_URL", "nats://127.0.0.1:4222")
MYSQL_DSN = os.environ.get("MESHKIT_TEST_MYSQL_DSN", "mysql://root@127.0.0.1:3306/test")
SPECS_DIR = Path(
    os.environ.get("MESHKIT_SPECS_DIR", Path(__file__).resolve().parents[1].parent / "shared" / "specs")
)


def service_missing(reason: str) -> None:
    """Skip the test, or fail it when services are required."""
    if REQUIRE_SERVICES:
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


SHARED_FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures"


@pytest.fixture
def shared_fixtures():
    """``../shared/fixtures/``, third-party material tests run against (skipped, or failed when
    services are required, without it)."""
    if not SHARED_FIXTURES.is_dir():
        service_missing(f"shared fixtures absent ({SHARED_FIXTURES})")
    return SHARED_FIXTURES


def unique(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@pytest.fixture
def workspace(tmp_path):
    """A fresh workspace folder (``meshkit init``)."""
    return init_workspace(tmp_path / "ws")


@pytest.fixture
def mk(workspace):
    """A ``Meshkit`` instance on the fresh workspace."""
    instance = plugin_workspace(workspace.root)
    yield instance
    instance.close()


@pytest.fixture
def cli(workspace):
    """``cli("run", "job")`` runs the command line on the fresh workspace."""

    def run(*args, **kwargs):
        return run_cli(list(args), workspace=workspace.root, **kwargs)

    return run


@pytest.fixture(scope="session")
def pg_dsn():
    try:
        import psycopg

        psycopg.connect(PG_DSN, connect_timeout=3).close()
    except Exception as exc:  # noqa: BLE001 - any failure means the service is not usable
        service_missing(f"PostgreSQL at {PG_DSN} unavailable: {exc}")
    return PG_DSN


@pytest.fixture
def pg_schema(pg_dsn):
    """A fresh PostgreSQL schema, dropped afterwards."""
    import psycopg

    name = unique("mk")
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    yield name
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA "{name}" CASCADE')


@pytest.fixture(scope="session")
def nats_url():
    """A NATS server with JetStream enabled."""
    from meshkit.data.stores.nats import NatsStore

    store = NatsStore("test-nats", {"url": NATS_URL})
    try:
        store.list_assets()
    except Exception as exc:  # noqa: BLE001 - any failure means the service is not usable
        service_missing(f"NATS JetStream at {NATS_URL} unavailable: {exc}")
    finally:
        store.close()
    return NATS_URL


@pytest.fixture(scope="session")
def mysql_dsn():
    try:
        import pymysql

        pymysql.connect(
            host="127.0.0.1", port=3306, user="root", password="", database="test", connect_timeout=3
        ).close()
    except Exception as exc:  # noqa: BLE001
        service_missing(f"MariaDB at {MYSQL_DSN} unavailable: {exc}")
    return MYSQL_DSN


@pytest.fixture
def mysql_db(mysql_dsn):
    """A fresh MariaDB database, dropped afterwards; yields its name."""
    import pymysql

    name = unique("mk")
    conn = pymysql.connect(host="127.0.0.1", port=3306, user="root", password="", autocommit=True)
    with conn.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{name}`")
    yield name
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE `{name}`")
    conn.close()


@pytest.fixture(scope="session")
def specs_dir():
    """The shared JSON Schemas (OpenLineage, ODCS, ODPS)."""
    if not SPECS_DIR.is_dir():
        service_missing(f"specs folder {SPECS_DIR} absent")
    return SPECS_DIR


@pytest.fixture(scope="session")
def spark_master(tmp_path_factory):
    """The URL of a Spark standalone cluster of a master and two workers (separate JVMs on 127.0.0.1).

    ``MESHKIT_SPARK_MASTER`` names one already running (``.ci/run`` starts one for every test
    process); otherwise this process starts its own and stops it by pid at the end.
    """
    import shutil

    url = os.environ.get("MESHKIT_SPARK_MASTER")
    if url:
        yield url
        return
    try:
        import pyspark  # noqa: F401
    except ImportError:
        service_missing("pyspark is not installed (pip install 'meshkit[spark]')")
    if shutil.which("java") is None:
        service_missing("no Java runtime for Spark")
    from meshkit.engines.cluster import start_cluster

    cluster = start_cluster(tmp_path_factory.mktemp("spark"), workers=2, cores=2, memory="1g")
    yield cluster.master_url
    cluster.stop()


@pytest.fixture
def spark_engine(workspace, spark_master):
    """Declare engine ``cluster`` (Spark on the test cluster) in the workspace's meshkit.toml; returns its name."""
    path = workspace.root / "meshkit.toml"
    path.write_text(path.read_text() + f'\n[engines.cluster]\ntype = "spark"\nmaster = "{spark_master}"\n'
                    '"spark.cores.max" = "2"\n"spark.executor.cores" = "1"\n"spark.executor.memory" = "512m"\n')  # fmt: skip
    return "cluster"


@pytest.fixture(scope="session")
def spark_remote(tmp_path_factory):
    """The ``sc://`` URL of a Spark Connect server (driver of ``local[2]``) on a free port.

    ``MESHKIT_SPARK_REMOTE`` names one already running (``.ci/run`` starts one); otherwise this process
    starts its own from pyspark's bundled ``spark-connect`` jar and stops it by pid at the end.
    """
    import shutil

    url = os.environ.get("MESHKIT_SPARK_REMOTE")
    if url:
        yield url
        return
    try:
        from meshkit.engines.cluster import connect_jar
    except ImportError as exc:
        service_missing(f"pyspark is not installed (pip install 'meshkit[spark]'): {exc}")
    try:
        import pyspark.sql.connect.session  # noqa: F401 - the client needs grpcio, zstandard...
    except ImportError as exc:
        service_missing(f"the Spark Connect client is not installed (pip install 'pyspark[connect]'): {exc}")
    if shutil.which("java") is None:
        service_missing("no Java runtime for Spark")
    if connect_jar() is None:
        service_missing("pyspark bundles no Spark Connect server (pyspark 4 does)")
    from meshkit.engines.cluster import start_connect

    server = start_connect(tmp_path_factory.mktemp("spark-connect"), master="local[2]")
    yield server.master_url
    server.stop()


@pytest.fixture
def connect_engine(workspace, spark_remote):
    """Declare engine ``connect`` (Spark through the Connect server) in the workspace's meshkit.toml."""
    path = workspace.root / "meshkit.toml"
    path.write_text(path.read_text() + f'\n[engines.connect]\ntype = "spark"\nremote = "{spark_remote}"\n')
    return "connect"


@pytest.fixture(scope="session")
def s3_endpoint():
    """moto's S3 server on a free local port, for the whole session."""
    try:
        from moto.server import ThreadedMotoServer
    except ImportError as exc:
        service_missing(f"moto[server] not installed: {exc}")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()
