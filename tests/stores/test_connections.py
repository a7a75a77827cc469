"""Connecting to PostgreSQL and MariaDB: references, default stores, clear errors without secrets, retries."""

from __future__ import annotations

import socket

import numpy as np
import psycopg
import pyarrow as pa
import pytest

from meshkit.core.errors import ConfigError, TransientError
from meshkit.data.stores.base import StoreConnectionError
from meshkit.data.stores.mysql import MySQLStore
from meshkit.data.stores.postgres import PostgreSQLStore
from meshkit.testing import plugin_workspace

SECRET = "s3cr3t-Pa55word"
FAST = {"retries": 1, "retry_backoff": 0.01, "connect_timeout": 3}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_postgres_default_store_from_config_reference(tmp_path, pg_dsn, pg_schema, monkeypatch):
    monkeypatch.setenv("MK_TEST_PG_DSN", pg_dsn)
    with plugin_workspace(tmp_path / "ws", postgres_dsn="env:MK_TEST_PG_DSN") as mk:
        store = mk.store("postgres")
        run_default_store(store, pg_schema)


def run_default_store(store, pg_schema):
    assert isinstance(store, PostgreSQLStore)
    store.write(f"{pg_schema}.t", pa.table({"x": [1, 2]}), "overwrite")
    assert store.read(f"{pg_schema}.t").read_all().column("x").to_pylist() == [1, 2]
    assert "dsn" not in store.options  # the resolved value is never kept on the store


def test_postgres_describe_masks_password():
    store = PostgreSQLStore("pg", {"dsn": f"postgresql://app:{SECRET}@db.example:5432/x"})
    assert SECRET not in str(store.describe())
    assert PostgreSQLStore("pg", {"dsn": "env:PG_DSN"}).describe()["dsn"] == "env:PG_DSN"


def test_postgres_unknown_role_is_a_clear_error_without_password(mk, pg_dsn, monkeypatch):
    monkeypatch.setenv("MK_TEST_PG_PASSWORD", SECRET)
    store = PostgreSQLStore("pg", {"host": "127.0.0.1", "port": 5432, "dbname": "test", "user": "mk_no_such_role",
                                   "password": "env:MK_TEST_PG_PASSWORD", **FAST}, mk)  # fmt: skip
    with pytest.raises(ConfigError) as err:
        store.read("anything")
    text = str(err.value)
    assert "mk_no_such_role@127.0.0.1:5432/test" in text and SECRET not in text
    assert not isinstance(err.value, TransientError)


def test_postgres_missing_table_is_not_transient(pg_dsn, pg_schema):
    store = PostgreSQLStore("pg", {"dsn": pg_dsn})
    with pytest.raises(Exception) as err:
        store.read(f"{pg_schema}.nope")
    assert "does not exist" in str(err.value) and not isinstance(err.value, TransientError)


def test_postgres_unknown_host_fails_at_once():
    store = PostgreSQLStore(
        "pg",
        {"dsn": f"postgresql://u:{SECRET}@mk-no-such-host.invalid/db", "retries": 5, "retry_backoff": 10},
    )
    with pytest.raises(ConfigError, match="unknown host") as err:
        store.list_assets()
    assert SECRET not in str(err.value)


def test_postgres_refused_connection_retries_then_is_transient():
    store = PostgreSQLStore("pg", {"dsn": f"postgresql://u:{SECRET}@127.0.0.1:{free_port()}/db", **FAST})
    with pytest.raises(StoreConnectionError, match="after 2 attempt") as err:
        store.list_assets()
    assert isinstance(err.value, TransientError) and SECRET not in str(err.value)


def test_postgres_copy_bulk_load(pg_dsn, pg_schema):
    n = 200_000
    table = pa.table({"id": np.arange(n), "value": np.random.default_rng(1).random(n),
                      "name": pa.array(np.char.add("row-", np.arange(n).astype(str))),
                      "at": pa.array(np.arange(n).astype("datetime64[s]")).cast(pa.timestamp("us"))})  # fmt: skip
    store = PostgreSQLStore("pg", {"dsn": pg_dsn})
    assert store.write(f"{pg_schema}.big", table, "overwrite").rows == n
    with psycopg.connect(pg_dsn) as conn:
        count, total, last = conn.execute(
            f'SELECT count(*), sum(id), max(name) FROM "{pg_schema}".big'
        ).fetchone()
    assert (count, total, last) == (n, n * (n - 1) // 2, "row-99999")


def test_postgres_rejected_data_leaves_target_unchanged(pg_dsn, pg_schema):
    store = PostgreSQLStore("pg", {"dsn": pg_dsn})
    asset = f"{pg_schema}.strict"
    store.write(asset, pa.table({"x": pa.array([1], pa.int16())}), "overwrite")
    with pytest.raises(Exception, match="rejected|out of range"):
        store.write(asset, pa.table({"x": pa.array([2, 70_000], pa.int64())}), "append")
    assert store.read(asset).read_all().column("x").to_pylist() == [1]


def test_mysql_wrong_password_is_a_clear_error_without_password(mk, mysql_dsn, monkeypatch):
    monkeypatch.setenv("MK_TEST_MYSQL_PASSWORD", SECRET)
    store = MySQLStore(
        "my", {"host": "127.0.0.1", "user": "root", "password": "env:MK_TEST_MYSQL_PASSWORD", **FAST}, mk
    )
    with pytest.raises(ConfigError, match="refused the login") as err:
        store.list_assets()
    assert SECRET not in str(err.value) and SECRET not in repr(err.value)


def test_mysql_default_store_and_unknown_database(tmp_path, mysql_dsn, mysql_db):
    with plugin_workspace(tmp_path / "ws", mysql_dsn=f"{mysql_dsn.rsplit('/', 1)[0]}/{mysql_db}") as mk:
        store = mk.store("mysql")
        store.write("t", pa.table({"x": [1]}), "overwrite")
        assert store.list_assets() == ["t"]
    with pytest.raises(ConfigError, match="does not exist"):
        MySQLStore("my", {"dsn": f"{mysql_dsn.rsplit('/', 1)[0]}/mk_no_such_db", **FAST}).list_assets()


def test_mysql_unknown_host_and_refused_port():
    with pytest.raises(ConfigError, match="unknown host"):
        MySQLStore("my", {"dsn": f"mysql://root:{SECRET}@mk-no-such-host.invalid/db", **FAST}).list_assets()
    with pytest.raises(StoreConnectionError) as err:
        MySQLStore("my", {"dsn": f"mysql://root:{SECRET}@127.0.0.1:{free_port()}/db", **FAST}).list_assets()
    assert SECRET not in str(err.value)


def test_mysql_rejected_float_leaves_target_unchanged(mysql_dsn, mysql_db):
    store = MySQLStore("my", {"dsn": f"{mysql_dsn.rsplit('/', 1)[0]}/{mysql_db}"})
    asset = "floats"
    store.write(asset, pa.table({"x": [1.0]}), "overwrite")
    for mode in ("append", "overwrite"):
        with pytest.raises(Exception, match="float value"):
            store.write(asset, pa.table({"x": [2.0, float("inf")]}), mode)
    assert store.read(asset).read_all().column("x").to_pylist() == [1.0]
    assert store.list_assets() == [asset]  # no staging tables left behind
