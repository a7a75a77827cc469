"""A Spark Connect server for the engine tests: pyspark's bundled server, one JVM on 127.0.0.1."""

from __future__ import annotations

import os
import shutil

import pytest


def _missing(reason: str) -> None:
    """Skip, or fail when services are required (as ``service_missing`` of the top conftest)."""
    if os.environ.get("MESHKIT_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def spark_remote(tmp_path_factory):
    """The ``sc://`` URL of a Spark Connect server (driver of ``local[2]``) on a free port.

    ``MESHKIT_SPARK_REMOTE`` names one already running; otherwise this process starts its own
    from pyspark's bundled ``spark-connect`` jar and stops it by pid at the end.
    """
    url = os.environ.get("MESHKIT_SPARK_REMOTE")
    if url:
        yield url
        return
    try:
        from meshkit.engines.cluster import connect_jar
    except ImportError as exc:
        _missing(f"pyspark is not installed (pip install 'meshkit[spark]'): {exc}")
    try:
        import pyspark.sql.connect.session  # noqa: F401 - the client needs grpcio, zstandard...
    except ImportError as exc:
        _missing(f"the Spark Connect client is not installed (pip install 'pyspark[connect]'): {exc}")
    if shutil.which("java") is None:
        _missing("no Java runtime for Spark")
    if connect_jar() is None:
        _missing("pyspark bundles no Spark Connect server (pyspark 4 does)")
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
