"""Store throughput: PostgreSQL COPY load and server-side-cursor read, against DuckDB's postgres extension.

Anchor: DuckDB's own ``postgres`` extension (``INSERT INTO pg.t SELECT * FROM arrow`` and
``SELECT * FROM pg.t``), measured in the same run on the same 4-column table. Rows default to
1,000,000; set ``MESHKIT_BENCH_STORE_ROWS`` (or pass a number) to change it.
"""

from __future__ import annotations

import os
import sys
import time
import uuid

import duckdb
import numpy as np
import psycopg
import pyarrow as pa

from meshkit.data.stores.duckdb import load_extension
from meshkit.data.stores.postgres import PostgreSQLStore

DSN = os.environ.get("MESHKIT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")


def table(n: int) -> pa.Table:
    rng = np.random.default_rng(7)
    return pa.table({"id": np.arange(n), "value": rng.random(n), "name": pa.array(np.char.add("row-", np.arange(n).astype(str))),
                     "at": pa.array(np.arange(n).astype("datetime64[s]")).cast(pa.timestamp("us"))})  # fmt: skip


def timed(fn) -> float:
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def main() -> None:
    n = int(sys.argv[1] if len(sys.argv) > 1 else os.environ.get("MESHKIT_BENCH_STORE_ROWS", 1_000_000))
    try:
        psycopg.connect(DSN, connect_timeout=3).close()
    except psycopg.Error as exc:
        print(f"skipped: PostgreSQL unavailable ({exc})")
        return
    data = table(n)
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(DSN, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    store = PostgreSQLStore("pg", {"dsn": DSN})
    duck = duckdb.connect()
    load_extension(duck, "postgres")
    duck.execute(f"ATTACH '{DSN}' AS pg (TYPE postgres, SCHEMA '{schema}')")
    try:
        ours_load = timed(lambda: store.write(f"{schema}.ours", data, "overwrite"))
        duck.register("data", data)
        anchor_load = timed(lambda: duck.execute("CREATE TABLE pg.anchor AS SELECT * FROM data"))
        ours_read = timed(lambda: store.read(f"{schema}.ours").read_all())
        anchor_read = timed(lambda: duck.execute("SELECT * FROM pg.anchor").to_arrow_table())
    finally:
        duck.close()
        with psycopg.connect(DSN, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
    print(f"rows: {n:,} (4 columns: bigint, double, text, timestamp)")
    print(f"{'operation':<22}{'meshkit s':>10}{'rows/s':>14}{'duckdb pg s':>13}{'ratio':>8}")
    for label, ours, anchor in (
        ("load (COPY)", ours_load, anchor_load),
        ("read (cursor)", ours_read, anchor_read),
    ):
        print(f"{label:<22}{ours:>10.2f}{n / ours:>14,.0f}{anchor:>13.2f}{ours / anchor:>7.2f}x")


if __name__ == "__main__":
    main()
