"""Serving governed SQL: PostgreSQL wire and Flight SQL against the tools a reader would use instead.

1. ``SELECT *`` of lineitem (1M rows at the default scale) through meshkit's PostgreSQL endpoint to
   psycopg, ``l_comment`` redacted, against psycopg reading the same rows from PostgreSQL itself
   (target <= 1.5x).
2. The same masked rows through Flight SQL to ADBC, against pyarrow reading the Parquet file
   (target: ADBC at >= 80% of the Parquet rate).
3. 50 clients at once, each sending small BI-style aggregates to the PostgreSQL endpoint: p50 and
   p99 latency.

PostgreSQL: ``MESHKIT_TEST_PG_DSN`` (default ``postgresql://postgres@127.0.0.1:5432/test``).
Scale factor: ``MESHKIT_BENCH_SF`` (default 0.17, about 1M lineitem rows).
"""

from __future__ import annotations

import os
import secrets
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pyarrow.parquet as pq

from meshkit.catalog.catalog import Catalog, ColumnInfo
from meshkit.core.context import Meshkit
from meshkit.core.workspace import Workspace
from meshkit.data.stores.duckdb import load_extension
from meshkit.serving.flightsql import GovernedFlightSqlServer
from meshkit.serving.pgwire import GovernedPgServer
from meshkit.testing import plugin_workspace

SF = float(os.environ.get("MESHKIT_BENCH_SF", "0.17"))
PG_DSN = os.environ.get("MESHKIT_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
TOKEN = "bench-serving-token"
POLICY = """package meshkit.access
import rego.v1

allow if input.subject.role == "analyst"

actions contains {"type": "RedactColumn", "column": c.name} if {
  some c in input.columns
  c.tags[_] == "pii"
}
"""
PURPOSES = '{"purposes": {"reporting": {"roles": ["analyst"], "default": true}}}'
AGGREGATES = [
    "SELECT l_returnflag, l_linestatus, count(*) AS n, sum(l_quantity) AS qty FROM lineitem GROUP BY ALL",
    "SELECT l_shipmode, avg(l_extendedprice) AS price FROM lineitem WHERE l_shipdate >= DATE '1997-01-01' GROUP BY ALL",
    "SELECT count(*) AS n FROM lineitem WHERE l_discount > 0.05",
    "SELECT max(l_shipdate) AS last, min(l_shipdate) AS first FROM lineitem",
]


def best(func, repeat: int = 3) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return min(times)


def setup(root: Path) -> tuple[Meshkit, Path]:
    mk = plugin_workspace(root / "ws")
    conn = mk.store("warehouse").connect()
    load_extension(conn, "tpch")
    conn.execute(f"CALL dbgen(sf = {SF})")
    columns = [ColumnInfo(name, tags=["pii"] if name == "l_comment" else [], classified_by="declared")
               for name, *_ in conn.execute("DESCRIBE lineitem").fetchall()]  # fmt: skip
    parquet = root / "lineitem.parquet"
    conn.execute(f"COPY lineitem TO '{parquet}' (FORMAT parquet)")
    conn.close()
    Catalog(mk).register_dataset("warehouse/lineitem", columns=columns, product="tpch", owner="bench")
    (mk.workspace.root / "policies").mkdir()
    (mk.workspace.root / "policies" / "access.rego").write_text(POLICY)
    (mk.workspace.root / "policies" / "purposes.json").write_text(PURPOSES)
    os.environ["MESHKIT_BENCH_SERVING_TOKEN"] = TOKEN
    with (mk.workspace.root / "meshkit.toml").open("a") as toml:
        toml.write(
            '\n[governance.subjects.bench]\nrole = "analyst"\ntoken = "env:MESHKIT_BENCH_SERVING_TOKEN"\n'
        )
    mk.close()
    return Meshkit(Workspace.load(root / "ws")), parquet


def load_postgres(mk: Meshkit, table: str) -> int:
    conn = mk.store("warehouse").connect()
    arrow = conn.execute("SELECT * FROM lineitem").to_arrow_table()
    conn.close()
    with psycopg.connect(PG_DSN, autocommit=True) as pg:
        columns = ", ".join(f"{f.name} {pg_type(f.type)}" for f in arrow.schema)
        pg.execute(f"CREATE TABLE {table} ({columns})")
        with pg.cursor().copy(f"COPY {table} FROM STDIN") as copy:
            for row in arrow.to_pylist():
                copy.write_row(list(row.values()))
    return arrow.num_rows


def pg_type(arrow_type) -> str:
    import pyarrow as pa

    if pa.types.is_integer(arrow_type):
        return "bigint"
    if pa.types.is_decimal(arrow_type):
        return f"numeric({arrow_type.precision},{arrow_type.scale})"
    if pa.types.is_date(arrow_type):
        return "date"
    return "text"


def bench_pg(port: int, table: str, rows: int) -> None:
    def fetch(dsn: str, sql: str) -> None:
        with psycopg.connect(dsn, autocommit=True) as conn:
            got = conn.execute(sql).fetchall()
            assert len(got) == rows, len(got)

    ours = f"postgresql://bench:{TOKEN}@127.0.0.1:{port}/meshkit?sslmode=disable"
    theirs, mine = [], []
    for _ in range(3):  # alternating, so load from elsewhere hits both alike
        theirs.append(best(lambda: fetch(PG_DSN, f"SELECT * FROM {table}"), 1))
        mine.append(best(lambda: fetch(ours, "SELECT * FROM lineitem"), 1))
    theirs, mine = min(theirs), min(mine)
    ratio = mine / theirs
    print(f"{rows:,} lineitem rows to psycopg: PostgreSQL {theirs:.2f} s, meshkit PG endpoint (masked) {mine:.2f} s   "
          f"ratio {ratio:.2f}x   target <= 1.5x   {'OK' if ratio <= 1.5 else 'MISSED'}")  # fmt: skip


def bench_flight_sql(location: str, parquet: Path, rows: int) -> None:
    import adbc_driver_flightsql.dbapi as flight_sql

    options = {"adbc.flight.sql.authorization_header": f"Bearer {TOKEN}"}

    def fetch() -> None:
        with (
            flight_sql.connect(location, db_kwargs=options, autocommit=True) as conn,
            conn.cursor() as cursor,
        ):
            cursor.execute("SELECT * FROM lineitem")
            assert cursor.fetch_arrow_table().num_rows == rows

    parquet_s, adbc_s = [], []
    for _ in range(3):
        parquet_s.append(best(lambda: pq.read_table(parquet), 1))
        adbc_s.append(best(fetch, 1))
    parquet_s, adbc_s = min(parquet_s), min(adbc_s)
    share = parquet_s / adbc_s
    print(f"{rows:,} rows: pyarrow reads the Parquet file in {parquet_s:.2f} s, ADBC over Flight SQL (masked) "
          f"{adbc_s:.2f} s   {share:.2f}x of the Parquet rate   target >= 0.8x   {'OK' if share >= 0.8 else 'MISSED'}")  # fmt: skip


def bench_concurrent(port: int, clients: int = 50, per_client: int = 4) -> None:
    dsn = f"postgresql://bench:{TOKEN}@127.0.0.1:{port}/meshkit?sslmode=disable"

    def client(index: int) -> list[float]:
        latencies = []
        with psycopg.connect(dsn, autocommit=True) as conn:
            for i in range(per_client):
                started = time.perf_counter()
                conn.execute(AGGREGATES[(index + i) % len(AGGREGATES)]).fetchall()
                latencies.append(time.perf_counter() - started)
        return latencies

    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = sorted(t for got in pool.map(client, range(clients)) for t in got)
    wall = time.perf_counter() - started
    p50 = statistics.median(latencies)
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    print(f"{clients} concurrent clients, {len(latencies)} aggregates in {wall:.1f} s: "
          f"p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms")  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        mk, parquet = setup(Path(tmp))
        table = f"bench_lineitem_{secrets.token_hex(4)}"
        pg = GovernedPgServer(mk)
        pg.start()
        flight = GovernedFlightSqlServer(mk)
        thread = threading.Thread(target=flight.serve, daemon=True)
        thread.start()
        try:
            rows = load_postgres(mk, table)
            bench_pg(pg.port, table, rows)
            bench_flight_sql(f"grpc://127.0.0.1:{flight.port}", parquet, rows)
            bench_concurrent(pg.port)
        finally:
            with psycopg.connect(PG_DSN, autocommit=True) as conn:
                conn.execute(f"DROP TABLE IF EXISTS {table}")
            pg.shutdown()
            pg.server_close()
            flight.shutdown()
            thread.join(5)
            mk.close()


if __name__ == "__main__":
    main()
