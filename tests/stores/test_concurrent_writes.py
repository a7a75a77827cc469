"""Concurrent writers on real PostgreSQL and MariaDB creating the same new table; all-or-nothing transactions."""

from __future__ import annotations

import threading

import pyarrow as pa
import pytest

from meshkit.data.stores.mysql import MySQLStore
from meshkit.data.stores.postgres import PostgreSQLStore

pytestmark = pytest.mark.integration

ROWS = 5_000


def _concurrently(*calls) -> list[BaseException]:
    """Run ``calls`` in threads released together; the errors they raised."""
    barrier = threading.Barrier(len(calls))
    errors: list[BaseException] = []

    def run(call):
        barrier.wait()
        try:
            call()
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.fixture(params=["postgres", "mysql"])
def store(request):
    """A PostgreSQL store on a fresh schema, or a MariaDB store on a fresh database."""
    if request.param == "postgres":
        dsn, schema = request.getfixturevalue("pg_dsn"), request.getfixturevalue("pg_schema")
        return PostgreSQLStore("pg", {"dsn": f"{dsn}?options=-csearch_path%3D{schema}"})
    dsn, database = request.getfixturevalue("mysql_dsn"), request.getfixturevalue("mysql_db")
    return MySQLStore("my", {"dsn": f"{dsn.rsplit('/', 1)[0]}/{database}"})


def _count(store, asset: str) -> int:
    return store.read(asset).read_all().num_rows


@pytest.mark.parametrize("mode", ["append", "overwrite"])
def test_writers_creating_the_same_new_table_queue_instead_of_colliding(store, mode):
    data = pa.table({"id": pa.array(range(ROWS)), "name": pa.array([f"n{i}" for i in range(ROWS)])})
    for round_ in range(5):
        asset = f"fresh_{round_}"
        errors = _concurrently(*[lambda a=asset: store.write(a, data, mode) for _ in range(3)])
        assert errors == [], f"round {round_}: {errors}"
        assert _count(store, asset) == (3 if mode == "append" else 1) * ROWS


def test_writers_adding_the_same_new_column_queue_instead_of_colliding(store):
    data = pa.table({"id": pa.array(range(ROWS)), "extra": pa.array([f"e{i}" for i in range(ROWS)])})
    for round_ in range(5):
        asset = f"grown_{round_}"
        store.write(asset, pa.table({"id": [0]}), "overwrite")
        errors = _concurrently(*[lambda a=asset: store.write(a, data) for _ in range(3)])
        assert errors == [], f"round {round_}: {errors}"
        assert _count(store, asset) == 1 + 3 * ROWS


def test_a_transaction_commits_every_write_or_none(pg_dsn, pg_schema):
    store = PostgreSQLStore("pg", {"dsn": pg_dsn})
    kept, dropped = f"{pg_schema}.kept", f"{pg_schema}.dropped"
    transaction = store.transaction()
    transaction.write(dropped, pa.table({"id": [1, 2]}))
    transaction.rollback()
    assert not store.exists(dropped)
    transaction = store.transaction()
    transaction.write(kept, pa.table({"id": [1, 2]}))
    with pytest.raises(Exception, match="rejected"):  # refused alone: the transaction stays usable
        transaction.write(kept, pa.table({"id": pa.array(["not a number"])}), evolve=False)
    transaction.write(kept, pa.table({"id": [3]}))
    assert not store.exists(kept)  # nothing is visible before the commit
    transaction.commit()
    assert _count(store, kept) == 3
