"""A TRUNCATE captured from PostgreSQL empties the destination table with the changes around it, atomically."""

from __future__ import annotations

import psycopg
import pytest
from test_postgres_cdc import apply, compare, spec

from conftest import DESTINATIONS


@pytest.mark.parametrize("destination", DESTINATIONS, indirect=True)
def test_truncate_empties_the_table_in_the_batch_that_holds_it(
    cli, workspace, open_mk, pg_dsn, source, destination
):
    schema = source
    asset = destination.replace("orders", "cdc_{table}")
    apply(cli, workspace, spec("pgtrunc", schema, asset))
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        with conn.transaction():  # rows before the truncate go with it, rows after it stay
            conn.execute(f"INSERT INTO \"{schema}\".orders VALUES (200, 'gone', 1, 1.00)")
            conn.execute(f'TRUNCATE "{schema}".orders')
            conn.execute(
                f"INSERT INTO \"{schema}\".orders VALUES (1, 'margherita', 2, 8.50), (300, 'diavola', 1, 9.00)"
            )
        conn.execute(f"UPDATE \"{schema}\".customers SET name = 'Ada L.' WHERE id = 1")
    apply(cli, workspace, spec("pgtrunc", schema, asset))
    compare(pg_dsn, schema, open_mk, asset)
    status = cli("transfer", "status", "pgtrunc", "--json").output
    assert '"truncate": 1' in status, status
    with psycopg.connect(pg_dsn, autocommit=True) as conn:  # a truncate alone, in its own batch
        conn.execute(f'TRUNCATE "{schema}".customers')
    apply(cli, workspace, spec("pgtrunc", schema, asset))
    compare(pg_dsn, schema, open_mk, asset)
    assert open_mk().store("dest").read(asset.replace("{table}", "customers")).read_all().num_rows == 0
