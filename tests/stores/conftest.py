"""Fixtures of the store tests: the ``target`` fixture builds a fresh store for a ``StoreConfig``
(see ``store_fidelity.store_configs``) and a unique asset name, skipping when its service is
missing; moto's S3 server runs once per session.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from store_fidelity import StoreConfig


def unique(prefix: str = "t") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


def service_missing(reason: str) -> None:
    if os.environ.get("MESHKIT_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required service unavailable: {reason}")
    pytest.skip(reason)


@dataclass
class Target:
    """A fresh store and a way to name unique assets in it."""

    store: object
    config: StoreConfig
    asset: Callable[[str], str]


@pytest.fixture
def s3_bucket(s3_endpoint, monkeypatch):
    """A fresh bucket; its credentials are in environment variables referenced as ``env:``."""
    import pyarrow.fs as pafs

    monkeypatch.setenv("MK_TEST_S3_KEY", "testing-key")
    monkeypatch.setenv("MK_TEST_S3_SECRET", "testing-secret")
    bucket = unique("mk").replace("_", "-")
    fs = pafs.S3FileSystem(access_key="testing-key", secret_key="testing-secret", region="us-east-1",
                           endpoint_override=s3_endpoint.split("://")[1], scheme="http", allow_bucket_creation=True)  # fmt: skip
    fs.create_dir(bucket)
    return bucket


def build_store(config: StoreConfig, request, mk):
    """The store for ``config`` (a ``Meshkit`` store, so references resolve) and the asset namer."""
    from meshkit.data.stores.files import FilesStore
    from meshkit.data.stores.iceberg import IcebergStore
    from meshkit.data.stores.mysql import MySQLStore
    from meshkit.data.stores.postgres import PostgreSQLStore

    name = config.id
    if name == "duckdb":
        return mk.store("duckdb"), unique
    if name == "sqlite":
        return mk.store("sqlite"), unique
    if name == "postgres":
        schema = request.getfixturevalue("pg_schema")
        dsn = request.getfixturevalue("pg_dsn")
        return PostgreSQLStore("pg", {"dsn": dsn}, mk), lambda p: f"{schema}.{unique(p)}"
    if name == "mysql":
        db = request.getfixturevalue("mysql_db")
        dsn = request.getfixturevalue("mysql_dsn")
        return MySQLStore("my", {"dsn": f"{dsn.rsplit('/', 1)[0]}/{db}"}, mk), unique
    if name.startswith("files-"):
        return FilesStore("files", {"path": "data/files", "format": name.split("-", 1)[1]}, mk), unique
    if name == "s3-parquet":
        bucket = request.getfixturevalue("s3_bucket")
        endpoint = request.getfixturevalue("s3_endpoint")
        options = {"url": f"s3://{bucket}/lake", "endpoint_url": endpoint, "access_key": "env:MK_TEST_S3_KEY",
                   "secret_key": "env:MK_TEST_S3_SECRET"}  # fmt: skip
        return FilesStore("s3", options, mk), unique
    if name == "iceberg":
        return IcebergStore("lake", {}, mk), lambda p: f"ns.{unique(p)}"
    raise AssertionError(name)


@pytest.fixture
def target(request, mk) -> Target:
    config = request.param
    store, asset = build_store(config, request, mk)
    yield Target(store, config, asset)
    store.close()
