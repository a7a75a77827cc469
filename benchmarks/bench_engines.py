"""The engine seam on DuckDB as a user runs it: whole ``meshkit`` processes against DuckDB's own COPY.

    python benchmarks/bench_engines.py                       # lineitem SF 0.1 (600k rows)
    MESHKIT_BENCH_SF=1 python benchmarks/bench_engines.py    # the issue's SF1 (6M rows)
    MESHKIT_BENCH_REPEAT=3 ...                               # alternated rounds, median per case
    MESHKIT_BENCH_CASES=duckdb_copy,duckdb,check ...         # only these cases

Every case is a separate process timed from its start to its end, as a user pays for it:
``duckdb -c "COPY (SELECT * FROM pg.lineitem) TO 'x.parquet'"`` in Python (the anchor), then
``meshkit transfer apply`` of lineitem PostgreSQL -> Parquet on DuckDB (target: at most 1.1x the
anchor), and ``meshkit check`` of the table on DuckDB
(peak memory: the table is scanned, not loaded; ``check_distinct`` adds a ``duplicate_percent`` of
the 6M keys, whose exact count needs every key in a hash table), against the 300 MB target and
against the same checks on a 1,000-row copy of the table (``check_floor``: what the process holds before any data
moves). Peak memory is the case process's ``ru_maxrss``. Spark's cases are in ``bench_spark.py``.
"""

from __future__ import annotations

import os
import shutil
import statistics
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
#: ``meshkit transfer apply`` against DuckDB's COPY, both whole processes (issue 13).
SEAM_TARGET = 1.1
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


def _workspace() -> Path:
    root = WORK / "ws"
    shutil.rmtree(root, ignore_errors=True)
    (root / "checks").mkdir(parents=True)
    toml = f'[stores.pg]\ntype = "postgres"\ndsn = "{PG}"\n[stores.lake]\ntype = "files"\npath = "lake"\n'
    (root / "meshkit.toml").write_text(toml)
    (root / "duckdb.yaml").write_text(
        f"kind: BatchTransfer\nmetadata: {{name: pg-duckdb}}\nspec:\n  engine: duckdb\n"
        f"  source: {{store: pg, asset: {TABLE}}}\n"
        f"  destination: {{store: lake, asset: duckdb.parquet, mode: overwrite}}\n"
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
print(os.waitstatus_to_exitcode(status), usage.ru_maxrss, usage.ru_utime + usage.ru_stime)
"""


def _run(args: list[str], cwd: Path) -> dict:
    """Wall time, CPU time and peak memory (``ru_maxrss``) of one process and the children it waited for."""
    log = WORK / "last.log"
    started = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", LAUNCHER, str(log), *args], cwd=cwd, capture_output=True, text=True
    )
    seconds = time.perf_counter() - started
    code, maxrss, cpu = out.stdout.split()
    if int(code) not in (0, 1):  # a failing check exits 1 and is still measured
        raise RuntimeError(log.read_text().strip().splitlines()[-1][:300])
    return {"seconds": seconds, "cpu": float(cpu), "max_rss_mb": int(maxrss) / 1024}


def main() -> None:
    rows = bench_transfer.load_lineitem()
    print(f"TPC-H lineitem SF {SF}: {rows:,} rows in PostgreSQL; every case is a whole process")
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    _load_floor_table()
    root = _workspace()
    cases = {
        "duckdb_copy": ("DuckDB COPY pg -> parquet (anchor)", [sys.executable, "-c", COPY, PG, TABLE, str(WORK / "copy.parquet")]),
        "duckdb": ("meshkit transfer apply, DuckDB", [MESHKIT, "transfer", "apply", "duckdb.yaml"]),
        "check_floor": ("meshkit check, DuckDB, 1,000 rows (floor)", [MESHKIT, "check", FLOOR_TABLE]),
        "check": ("meshkit check, DuckDB (5 checks)", [MESHKIT, "check", TABLE]),
        "check_distinct": ("meshkit check, DuckDB (5 + duplicate_percent)", [MESHKIT, "check", TABLE]),
    }  # fmt: skip
    chosen = [c for c in cases if not ONLY or c in ONLY]
    runs: dict[str, list[dict]] = {c: [] for c in chosen}
    for _ in range(REPEAT):  # rounds alternate the cases, so load on the machine hits them alike
        for case in chosen:
            try:
                runs[case].append(
                    _run(cases[case][1], root if case != "check_distinct" else WORK / "ws-distinct")
                )
            except Exception as exc:  # noqa: BLE001 - report and keep measuring the others
                print(f"{case} failed: {exc}")
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
        print(
            f"{cases[case][0]:<44} {found['seconds']:7.1f} s  cpu {found['cpu']:6.1f} s  {ratio:<20} {memory}"
        )
    copies, applies = runs.get("duckdb_copy", []), runs.get("duckdb", [])
    if copies and applies:
        rounds = [a["seconds"] / c["seconds"] for a, c in zip(applies, copies, strict=False)]
        cpu = [a["cpu"] / c["cpu"] for a, c in zip(applies, copies, strict=False)]
        print(f"seam cost (meshkit transfer apply / DuckDB COPY, whole processes, target <= {SEAM_TARGET}x): "
              f"wall {statistics.median(rounds):.2f}x (rounds {', '.join(f'{r:.2f}' for r in rounds)}), "
              f"cpu {statistics.median(cpu):.2f}x; load average {os.getloadavg()[0]:.1f}")  # fmt: skip
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
