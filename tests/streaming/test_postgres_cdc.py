"""PostgreSQL change data capture (pgoutput) into Iceberg and databases: snapshot, changes, restarts."""

from __future__ import annotations

import psycopg
import pytest

from conftest import DESTINATIONS


def spec(name: str, schema: str, asset: str) -> str:
    return f"""\
apiVersion: meshkit.io/v1
kind: SyncTransfer
metadata: {{name: {name}}}
spec:
  source: {{store: src, asset: "{schema}.orders, {schema}.customers"}}
  destination: {{store: dest, asset: "{asset}", mode: merge, keys: [id]}}
  batchSize: 10
  batchTimeoutSeconds: 0.3
  maxFailedRetries: 0
"""


def apply(cli, workspace, text: str):
    path = workspace.root / "sync.yaml"
    path.write_text(text)
    result = cli("transfer", "apply", str(path), "--until-idle")
    assert result.exit_code == 0, result.output
    return result


def compare(pg_dsn, schema, open_mk, asset):
    """Source and destination, row for row."""
    mk = open_mk()
    for table, columns in (("orders", "id, item, qty, price"), ("customers", "id, name")):
        with psycopg.connect(pg_dsn) as conn:
            expected = [
                tuple(r) for r in conn.execute(f'SELECT {columns} FROM "{schema}".{table} ORDER BY id')
            ]
        got = mk.store("dest").read(asset.replace("{table}", table)).read_all().to_pylist()
        names = [c.strip() for c in columns.split(",")]
        rows = sorted(tuple(r[n] for n in names) for r in got)
        assert [tuple(map(str, r)) for r in rows] == [tuple(map(str, r)) for r in expected], table


@pytest.mark.parametrize("destination", DESTINATIONS, indirect=True)
def test_snapshot_then_changes_then_restart(cli, workspace, open_mk, pg_dsn, source, destination):
    schema = source
    asset = destination.replace("orders", "cdc_{table}")
    apply(cli, workspace, spec("pgcdc", schema, asset))
    compare(pg_dsn, schema, open_mk, asset)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f"UPDATE \"{schema}\".orders SET qty = qty + 10, item = 'big ' || item WHERE id % 4 = 0")
        conn.execute(f'DELETE FROM "{schema}".orders WHERE id IN (3, 5, 7)')
        conn.execute(f"INSERT INTO \"{schema}\".orders VALUES (100, 'calzone', 1, 9.50)")
        conn.execute(f"INSERT INTO \"{schema}\".customers VALUES (3, 'Barbara')")
        with conn.transaction():
            conn.execute(f"UPDATE \"{schema}\".customers SET name = 'Ada L.' WHERE id = 1")
            conn.execute(f'DELETE FROM "{schema}".customers WHERE id = 2')
    apply(cli, workspace, spec("pgcdc", schema, asset))
    compare(pg_dsn, schema, open_mk, asset)
    status = cli("transfer", "status", "pgcdc", "--json").output
    assert '"delete": 4' in status and '"update": 7' in status and '"insert": 2' in status, status
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'UPDATE "{schema}".orders SET price = 1.00 WHERE id = 1')
    apply(cli, workspace, spec("pgcdc", schema, asset))
    compare(pg_dsn, schema, open_mk, asset)


def test_replica_identity_full_keys_changes_by_the_primary_key(pg_dsn, source):
    from meshkit.data.stores.postgres_cdc import PostgresCDCStore

    schema = source
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'ALTER TABLE "{schema}".orders REPLICA IDENTITY FULL')
    store = PostgresCDCStore("src", {"dsn": pg_dsn})
    try:
        while store.fetch(f"{schema}.orders", "full", 100, 0.1).changes:  # the snapshot
            pass
        with psycopg.connect(pg_dsn, autocommit=True) as conn:  # every column is flagged in pgoutput
            conn.execute(f'UPDATE "{schema}".orders SET qty = qty + 1 WHERE id <= 5')
        batch = store.fetch(f"{schema}.orders", "full", 100, 5.0)
        assert [(c.table, c.keys, c.rows.num_rows) for c in batch.columns] == [("orders", ["id"], 5)]
    finally:
        store.drop("full")
        store.close()
