"""Engines as a user runs them: whole ``meshkit`` processes on DuckDB and on Spark, against DuckDB's COPY.

    python benchmarks/bench_engines.py                       # lineitem SF 0.1 (600k rows)
    MESHKIT_BENCH_SF=1 python benchmarks/bench_engines.py    # the issue's SF1 (6M rows); SF10 likewise
    MESHKIT_BENCH_REPEAT=3 ...                               # interleaved rounds, median per case
    MESHKIT_BENCH_CASES=duckdb_copy,duckdb,check ...         # only these cases

Every case is a separate process timed from its start to its end, as a user pays for it:
``duckdb -c "COPY (SELECT * FROM pg.lineitem) TO 'x.parquet'"`` in Python (the anchor), then
``meshkit transfer apply`` of lineitem PostgreSQL -> Parquet on DuckDB, on Spark ``local[2]`` and
on a standalone cluster of two workers started here, and ``meshkit check`` of the table on DuckDB
(peak memory: the table is scanned, not loaded; ``check_distinct`` adds a ``duplicate_percent`` of
the 6M keys, whose exact count needs every key in a hash table), against the 300 MB target and
against the same checks on a 1,000-row copy of the table (``check_floor``: what the process holds before any data
moves). Peak memory is the case process's ``ru_maxrss``, which covers the children it waited for
(Spark's driver JVM on local[2]; not the cluster's JVMs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_transfer  # noqa: E402 - lineitem loading is shared with the transfer benchmark

WORK = HERE / ".work" / "engines"
SF = bench_transfer.SF
PG = bench_transfer.PG
TABLE = f"{bench_transfer.SCHEMA}.{bench_transfer.TABLE}"
REPEAT = int(os.environ.get("MESHKIT_BENCH_REPEAT", "1"))
ONLY = [c for c in os.environ.get("MESHKIT_BENCH_CASES", "").split(",") if c]
MESHKIT = str(Path(sys.executable).with_name("meshkit"))
#: Peak memory of ``meshkit check`` on the whole table (issue 13).
CHECK_TARGET_MB = 300
FLOOR_TABLE = f"{TABLE}_floor"

COPY = """
import sys, duckdb
from meshkit.data.stores.duckdb import load_extension
conn = duckdb.connect()
load_extension(conn, "postgres")
conn.execute(f"ATTACH '{sys.argv[1]}' AS pg (TYPE postgres, READ_ONLY)")
conn.execute(f"COPY (SELECT * FROM pg.{sys.argv[2]}) TO '{sys.argv[3]}' (FORMAT parquet)")
"""

CHECKS = """\
dataset: pg/{table}
checks:
  - {{type: row_count, min: 1}}
  - {{type: numeric_range, column: l_quantity, min: 0, max: 50}}
  - {{type: missing_percent, column: l_comment, max: 0}}
  - {{type: regex, column: l_shipmode, pattern: "[A-Z ]+"}}
  - {{type: sql, name: big_discounts, query: "SELECT count(*) FROM {{{{ dataset }}}} WHERE l_discount > 0.1"}}
"""

#: An exact count of distinct keys needs a hash table of every key (DuckDB spills it past ``check_memory_limit``).
DISTINCT_CHECKS = (
    CHECKS
    + """\
  - {{type: duplicate_percent, columns: [l_orderkey, l_linenumber], max: 0}}
"""
)


def _workspace(master: str | None) -> Path:
    root = WORK / "ws"
    shutil.rmtree(root, ignore_errors=True)
    (root / "checks").mkdir(parents=True)
    toml = (f'[stores.pg]\ntype = "postgres"\ndsn = "{PG}"\n[stores.lake]\ntype = "files"\npath = "lake"\n'
            '[engines.local2]\ntype = "spark"\nmaster = "local[2]"\n"spark.driver.memory" = "1g"\n')  # fmt: skip
    if master:
        toml += (f'[engines.cluster]\ntype = "spark"\nmaster = "{master}"\n"spark.cores.max" = "2"\n'
                 '"spark.executor.memory" = "1g"\n')  # fmt: skip
    (root / "meshkit.toml").write_text(toml)
    for engine in ("duckdb", "local2", "cluster"):
        (root / f"{engine}.yaml").write_text(
            f"kind: BatchTransfer\nmetadata: {{name: pg-{engine}}}\nspec:\n  engine: {engine}\n"
            f"  source: {{store: pg, asset: {TABLE}}}\n"
            f"  destination: {{store: lake, asset: {engine}.parquet, mode: overwrite}}\n"
        )
    (root / "checks" / "lineitem.yaml").write_text(CHECKS.format(table=TABLE))
    (root / "checks" / "floor.yaml").write_text(CHECKS.format(table=FLOOR_TABLE))
    distinct = WORK / "ws-distinct"
    shutil.rmtree(distinct, ignore_errors=True)
    (distinct / "checks").mkdir(parents=True)
    (distinct / "meshkit.toml").write_text(toml)
    (distinct / "checks" / "lineitem.yaml").write_text(DISTINCT_CHECKS.format(table=TABLE))
    return root


def _load_floor_table() -> None:
    """A 1,000-row copy of lineitem: the same checks on it measure the process without the data."""
    import psycopg

    with psycopg.connect(PG, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {FLOOR_TABLE}")
        conn.execute(f"CREATE TABLE {FLOOR_TABLE} AS SELECT * FROM {TABLE} LIMIT 1000")


#: Started by a small process, so a case's ``ru_maxrss`` is its own: a process forked from this one
#: (which holds lineitem after loading it) would inherit this one's high-water mark through exec.
LAUNCHER = """
import os, subprocess, sys
proc = subprocess.Popen(sys.argv[2:], stdout=open(sys.argv[1], "w"), stderr=subprocess.STDOUT)
_, status, usage = os.wait4(proc.pid, 0)
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss)
"""


def _run(args: list[str], cwd: Path) -> dict:
    """Wall time and peak memory (``ru_maxrss``, the process and the children it waited for) of one process."""
    log = WORK / "last.log"
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", LAUNCHER, str(log), *args], cwd=cwd, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    code, maxrss = (int(x) for x in out.stdout.split())
    if code not in (0, 1):  # a failing check exits 1 and is still measured
        raise RuntimeError(log.read_text().strip().splitlines()[-1][:300])
    return {"seconds": seconds, "max_rss_mb": maxrss / 1024}


def main() -> None:
    rows = bench_transfer._load_lineitem()
    print(f"TPC-H lineitem SF {SF}: {rows:,} rows in PostgreSQL; every case is a whole process")
    cluster = None
    if not ONLY or "cluster" in ONLY:
        from meshkit.engines.cluster import start_cluster

        cluster = start_cluster(WORK / "spark", workers=2, cores=1, memory="2g")
    _load_floor_table()
    root = _workspace(cluster.master_url if cluster else None)
    cases = {
        "duckdb_copy": ("DuckDB COPY pg -> parquet (anchor)", [sys.executable, "-c", COPY, PG, TABLE, str(WORK / "copy.parquet")]),
        "duckdb": ("meshkit transfer apply, DuckDB", [MESHKIT, "transfer", "apply", "duckdb.yaml"]),
        "local2": ("meshkit transfer apply, Spark local[2]", [MESHKIT, "transfer", "apply", "local2.yaml"]),
        "cluster": ("meshkit transfer apply, Spark 2 workers", [MESHKIT, "transfer", "apply", "cluster.yaml"]),
        "check_floor": ("meshkit check, DuckDB, 1,000 rows (floor)", [MESHKIT, "check", FLOOR_TABLE]),
        "check": ("meshkit check, DuckDB (5 checks)", [MESHKIT, "check", TABLE]),
        "check_distinct": ("meshkit check, DuckDB (5 + duplicate_percent)", [MESHKIT, "check", TABLE]),
    }  # fmt: skip
    chosen = [c for c in cases if (not ONLY or c in ONLY) and (c != "cluster" or cluster)]
    runs: dict[str, list[dict]] = {c: [] for c in chosen}
    try:
        for _ in range(REPEAT):
            for case in chosen:
                try:
                    runs[case].append(
                        _run(cases[case][1], root if case != "check_distinct" else WORK / "ws-distinct")
                    )
                except Exception as exc:  # noqa: BLE001 - report and keep measuring the others
                    print(f"{case} failed: {exc}")
    finally:
        if cluster is not None:
            cluster.stop()
    anchor = _median(runs.get("duckdb_copy", []))
    for case in chosen:
        found = _median(runs[case])
        if found is None:
            continue
        ratio = (
            f"{found['seconds'] / anchor['seconds']:.2f}x DuckDB COPY"
            if anchor and not case.startswith("check")
            else ""
        )
        memory = f"{found['max_rss_mb']:.0f} MB peak" if found.get("max_rss_mb") else "peak not measured"
        print(f"{cases[case][0]:<44} {found['seconds']:7.1f} s  {ratio:<20} {memory}")
    floor = _median(runs.get("check_floor", []))
    for case in ("check", "check_distinct"):
        check = _median(runs.get(case, []))
        if check and check.get("max_rss_mb"):
            over = f", {check['max_rss_mb'] / floor['max_rss_mb']:.2f}x the 1,000-row floor" if floor else ""
            target = f"{check['max_rss_mb'] / CHECK_TARGET_MB:.2f}x the {CHECK_TARGET_MB} MB target"
            print(f"{case} peak memory: {target}{over}")


def _median(runs: list[dict]) -> dict | None:
    if not runs:
        return None
    chosen = sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]
    return {**chosen, "max_rss_mb": max((r["max_rss_mb"] or 0) for r in runs) or None}


if __name__ == "__main__":
    main()
