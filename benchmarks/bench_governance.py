"""Governance overheads on TPC-H lineitem: decision + rewrite, masked queries, Flight serving.

1. Policy decision plus query rewrite per governed query, decisions cached (target < 5 ms).
2. A masked query (comment redacted, a row filter) against the same query unmasked (target <= 1.2x).
3. Serving lineitem over Arrow Flight with masking on, against reading the same Parquet file
   with pyarrow (target: Flight at >= 80% of the Parquet rate). The port is that Parquet file in
   a files store (masked on the Arrow path); the same data as a DuckDB table port is shown too.

``l_comment`` holds no nulls (``NOT NULL`` in DuckDB, null counts of 0 in the Parquet footers),
so redacting it gives one constant and neither path reads the column.

Scale factor: ``MESHKIT_BENCH_SF`` (default 0.1; the issue's full size is 1).
"""

from __future__ import annotations

import os
import tempfile
import threading
import time
from pathlib import Path

import pyarrow.parquet as pq

from meshkit.catalog.catalog import Catalog, ColumnInfo
from meshkit.data.stores.duckdb import load_extension
from meshkit.governance import Subject
from meshkit.governance.flight import GovernedFlightServer, fetch
from meshkit.governance.query import GovernedSQL
from meshkit.testing import plugin_workspace

SF = float(os.environ.get("MESHKIT_BENCH_SF", "0.1"))
POLICY = """package meshkit.access
import rego.v1

allow if input.subject.role == "analyst"

actions contains {"type": "RedactColumn", "column": c.name} if {
  some c in input.columns
  c.tags[_] == "pii"
}

actions contains {"type": "FilterRows", "predicate": "l_shipmode <> 'FOB'"} if input.purpose == "logistics"
"""
PURPOSES = '{"purposes": {"logistics": {"roles": ["analyst"]}, "reporting": {"roles": ["analyst"]}}}'
QUERY = ("SELECT l_returnflag, l_linestatus, count(*) AS n, sum(l_extendedprice) AS revenue, "
         "max(l_comment) AS last_comment FROM lineitem WHERE l_shipdate >= DATE '1995-01-01' GROUP BY ALL ORDER BY ALL")  # fmt: skip
ANALYST = Subject("bench", "analyst")


def best(func, repeat: int = 5) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        func()
        times.append(time.perf_counter() - started)
    return min(times)


def clocked(func) -> tuple[float, float]:
    """Wall-clock and CPU seconds (all threads of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    func()
    return time.perf_counter() - wall, time.process_time() - cpu


def setup(root: Path):
    mk = plugin_workspace(root / "ws")
    conn = mk.store("warehouse").connect()
    load_extension(conn, "tpch")
    conn.execute(f"CALL dbgen(sf = {SF})")
    columns = [ColumnInfo(name, tags=["pii"] if name == "l_comment" else [], classified_by="declared")
               for name, *_ in conn.execute("DESCRIBE lineitem").fetchall()]  # fmt: skip
    conn.close()
    Catalog(mk).register_dataset("warehouse/lineitem", columns=columns, product="tpch", owner="bench")
    (mk.workspace.root / "policies").mkdir()
    (mk.workspace.root / "policies" / "access.rego").write_text(POLICY)
    (mk.workspace.root / "policies" / "purposes.json").write_text(PURPOSES)
    return mk


def bench_rewrite(mk) -> None:
    governed = GovernedSQL(mk)
    governed.plan(QUERY, ANALYST, "logistics")  # first decision fills the cache
    runs = 200
    started = time.perf_counter()
    for _ in range(runs):
        governed.plan(QUERY, ANALYST, "logistics")
    per_query = (time.perf_counter() - started) / runs * 1000
    print(
        f"decision + rewrite (cached, audited): {per_query:.2f} ms/query   target < 5 ms   "
        f"{'OK' if per_query < 5 else 'MISSED'}"
    )


def bench_masked_query(mk) -> None:
    governed = GovernedSQL(mk)
    plan = governed.plan(QUERY, ANALYST, "logistics")
    conn = mk.store("warehouse").connect()
    unmasked_sql = QUERY.replace("WHERE ", "WHERE l_shipmode <> 'FOB' AND ")
    unmasked, masked = [], []
    for _ in range(5):  # alternating, so load from elsewhere hits both alike
        unmasked.append(best(lambda: conn.execute(unmasked_sql).fetchall(), 1))
        masked.append(best(lambda: governed.run(plan), 1))
    unmasked, masked = min(unmasked), min(masked)
    conn.close()
    ratio = masked / unmasked
    print(
        f"lineitem SF{SF:g} query: unmasked {unmasked * 1000:.1f} ms, masked {masked * 1000:.1f} ms   "
        f"ratio {ratio:.2f}x   target <= 1.2x   {'OK' if ratio <= 1.2 else 'MISSED'}"
    )


def bench_flight(mk, root: Path) -> None:
    conn = mk.store("warehouse").connect()
    lake = root / "lake"
    lake.mkdir()
    parquet = lake / "lineitem.parquet"
    conn.execute(f"COPY lineitem TO '{parquet}' (FORMAT parquet)")
    rows = conn.execute("SELECT count(*) FROM lineitem").fetchone()[0]
    conn.close()
    os.environ["MESHKIT_BENCH_TOKEN"] = "bench-token"
    with (mk.workspace.root / "meshkit.toml").open("a") as toml:
        toml.write(
            f'\n[stores.lake]\ntype = "files"\npath = "{lake}"\n'
            '\n[governance.subjects.bench]\nrole = "analyst"\ntoken = "env:MESHKIT_BENCH_TOKEN"\n'
        )
    from meshkit.core.context import Meshkit
    from meshkit.core.workspace import Workspace

    served = Meshkit(Workspace.load(mk.workspace.root))
    lineitem = Catalog(served).get("warehouse/lineitem")
    Catalog(served).register_dataset(
        "lake/lineitem.parquet", columns=lineitem.columns, product="tpch", owner="bench"
    )
    server = GovernedFlightServer(served)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    location = f"grpc://127.0.0.1:{server.port}"
    ports = ("lake/lineitem.parquet", "warehouse/lineitem")
    try:
        for port in ports:
            table = fetch(location, "bench-token", port, "reporting")
            assert table.num_rows == rows and set(table.column("l_comment").unique().to_pylist()) <= {"***"}
        # Rounds alternate the direct read and the ports, so load from elsewhere hits them alike.
        # CPU seconds (this process: Flight server and client both) are the steadier measure.
        runs: dict[str, list[tuple[float, float]]] = {"direct": [], **{port: [] for port in ports}}
        for _ in range(5):
            runs["direct"].append(clocked(lambda: pq.read_table(parquet)))
            for port in ports:
                runs[port].append(
                    clocked(lambda port=port: fetch(location, "bench-token", port, "reporting"))
                )
    finally:
        server.shutdown()
        served.close()
    direct = runs.pop("direct")
    wall, cpu = min(w for w, _ in direct), min(c for _, c in direct)
    print(f"lineitem SF{SF:g} ({rows} rows): pyarrow reads the Parquet at {rows / wall / 1e6:.2f} M rows/s "
          f"({cpu:.2f} CPU s)")  # fmt: skip
    for port, timings in runs.items():
        seconds, port_cpu = min(w for w, _ in timings), min(c for _, c in timings)
        ratio = wall / seconds
        verdict = (
            ("OK" if ratio >= 0.8 else "MISSED")
            if port.startswith("lake/")
            else "(DuckDB table port, for reference)"
        )
        print(
            f"  Flight, masked, port {port}: {rows / seconds / 1e6:.2f} M rows/s   Flight/Parquet {ratio:.0%}   "
            f"target >= 80%   {verdict}   (CPU {port_cpu:.2f} s, Flight/Parquet by CPU {cpu / port_cpu:.0%})"
        )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        mk = setup(root)
        try:
            bench_rewrite(mk)
            bench_masked_query(mk)
            bench_flight(mk, root)
        finally:
            mk.close()


if __name__ == "__main__":
    main()
