"""Transfers of TPC-H ``lineitem`` from PostgreSQL, against DuckDB's own COPY and dlt, in one run.

    python benchmarks/bench_transfer.py            # scale factor 0.1 (600k rows)
    MESHKIT_BENCH_SF=1 python benchmarks/bench_transfer.py   # the issue's SF1 (6M rows)
    MESHKIT_BENCH_REPEAT=3 ...                     # three interleaved rounds, median time per case
    MESHKIT_BENCH_CASES=duckdb_copy,pg_parquet,dlt_connectorx ...   # only these cases

``lineitem`` is generated with DuckDB's tpch extension and loaded into the local PostgreSQL
(schema ``mk_bench``) once per scale factor and kept for later runs. Every case runs in its own
process, which reports its wall time and peak memory (``ru_maxrss``); meshkit cases time the transfer itself, after the
workspace is open and one tiny warm-up transfer has loaded the plugins. Ratios are against DuckDB's ``COPY (SELECT * FROM pg.lineitem) TO 'x.parquet'``.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
SF = float(os.environ.get("MESHKIT_BENCH_SF", "0.1"))
PG = os.environ.get("MESHKIT_BENCH_PG_DSN", "postgresql://postgres@127.0.0.1:5432/test")
SCHEMA = "mk_bench"
TABLE = f"lineitem_sf{str(SF).replace('.', '_')}"  # as table_name(SF)
DLT_PYTHON = WORK / "dlt-venv" / "bin" / "python"
REPEAT = int(os.environ.get("MESHKIT_BENCH_REPEAT", "1"))
ONLY = [c for c in os.environ.get("MESHKIT_BENCH_CASES", "").split(",") if c]

TRANSFORMS = """\
  transformation:
  - {action: Digest, columns: [l_comment], options: {algo: md5}}
  - {action: Redact, columns: [l_shipinstruct], options: {mode: formatted}}
"""


def _spec(name: str, source: str, asset: str, dest: str, dest_asset: str, transformation: str = "") -> str:
    return (f"kind: BatchTransfer\nmetadata: {{name: {name}}}\nspec:\n  source: {{store: {source}, asset: {asset}}}\n"
            f"  destination: {{store: {dest}, asset: {dest_asset}, mode: overwrite}}\n{transformation}")  # fmt: skip


# ---------------------------------------------------------------------------- cases (child processes)


def _duckdb_copy(out: Path) -> dict:
    import duckdb

    from meshkit.data.stores.duckdb import load_extension

    conn = duckdb.connect()
    load_extension(conn, "postgres")
    started = time.perf_counter()
    conn.execute(f"ATTACH '{PG}' AS pg (TYPE postgres, READ_ONLY)")
    conn.execute(f"COPY (SELECT * FROM pg.{SCHEMA}.{TABLE}) TO '{out / 'duckdb.parquet'}' (FORMAT parquet)")
    return {"seconds": time.perf_counter() - started}


def _meshkit(case: str, out: Path) -> dict:
    from meshkit.core.workspace import init_workspace
    from meshkit.data.transfer import parse_transfer, run_transfer
    from meshkit.testing import plugin_workspace

    root = out / f"ws-{case}"
    if not (root / "meshkit.toml").exists():
        init_workspace(root)
        with open(root / "meshkit.toml", "a") as f:
            f.write(f'\n[stores.pg]\ntype = "postgres"\ndsn = "{PG}"\n[stores.lake]\ntype = "files"\npath = "{out}"\n'
                    '[stores.ice]\ntype = "iceberg"\n')  # fmt: skip
    mk = plugin_workspace(root)
    # setup, untimed as for the anchor: metadata database migrated, scanner extension installed
    import duckdb
    import pyarrow as pa

    from meshkit.data.stores.duckdb import load_extension

    load_extension(duckdb.connect(), "postgres")
    # NOTE: one tiny transfer first, untimed: plugins that hang on run hooks load on their first call.
    mk.store("warehouse").write("warmup", pa.table({"x": [1]}), mode="overwrite")
    run_transfer(mk, parse_transfer(_spec("warmup", "warehouse", "warmup", "lake", "warmup.parquet")))
    specs = {
        "pg_parquet": _spec("b1", "pg", f"{SCHEMA}.{TABLE}", "lake", "meshkit.parquet"),
        "pg_parquet_transforms": _spec(
            "b2", "pg", f"{SCHEMA}.{TABLE}", "lake", "meshkit_t.parquet", TRANSFORMS
        ),
        "pg_iceberg": _spec("b3", "pg", f"{SCHEMA}.{TABLE}", "ice", "bench.lineitem"),
        "parquet_pg": _spec("b4", "lake", "duckdb.parquet", "pg", f"{SCHEMA}.{TABLE}_back"),
    }
    started = time.perf_counter()
    result = run_transfer(mk, parse_transfer(specs[case]))
    seconds = time.perf_counter() - started
    if not result.ok:
        raise SystemExit(f"{case} failed: {result.status.get('error')}")
    return {"seconds": seconds, "rows": result.status["numRecords"], "plan": result.status["plan"]}


DLT_SCRIPT = """
import sys, time, dlt
from dlt.sources.sql_database import sql_table
started = time.perf_counter()
source = sql_table(credentials=sys.argv[1], schema=sys.argv[2], table=sys.argv[3], backend=sys.argv[4], chunk_size=100_000)
pipeline = dlt.pipeline(pipeline_name="bench_" + sys.argv[4], pipelines_dir=sys.argv[5] + "/pipelines",
                        destination=dlt.destinations.filesystem(bucket_url="file://" + sys.argv[5] + "/dlt"), dataset_name="d")
pipeline.run(source, loader_file_format="parquet", write_disposition="replace")
print(time.perf_counter() - started)
"""


def _child(case: str) -> None:
    out = WORK / "out"
    out.mkdir(parents=True, exist_ok=True)
    found = _duckdb_copy(out) if case == "duckdb_copy" else _meshkit(case, out)
    found["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(found))


# ---------------------------------------------------------------------------- driver


def _run(args: list[str], env: dict | None = None) -> tuple[str, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    if proc.returncode:
        raise RuntimeError(
            (proc.stderr or proc.stdout).strip().splitlines()[-1]
            if (proc.stderr or proc.stdout)
            else "failed"
        )
    return proc.stdout, max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024


def _measure(case: str) -> dict:
    out, _ = _run([sys.executable, __file__, "--child", case])
    line = next(x for x in out.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


def table_name(sf: float) -> str:
    """The PostgreSQL table (in ``SCHEMA``) of lineitem at scale factor ``sf``."""
    return f"lineitem_sf{str(float(sf)).replace('.', '_')}"


#: Above this scale factor lineitem is generated and loaded in steps of about SF1 (bounded memory).
STEP_SF = 1


def load_lineitem(sf: float = SF) -> int:
    """Rows of lineitem SF ``sf`` in PostgreSQL, generated and loaded first if no earlier run did."""
    import duckdb

    from meshkit.data.stores.duckdb import load_extension

    table = table_name(sf)
    conn = duckdb.connect()
    conn.execute("SET enable_progress_bar = false")
    load_extension(conn, "postgres")
    load_extension(conn, "tpch")
    conn.execute(f"ATTACH '{PG}' AS pg (TYPE postgres)")
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS pg.{SCHEMA}")
    tables = {
        r[0]
        for r in conn.execute(
            f"SELECT table_name FROM duckdb_tables() WHERE database_name = 'pg' AND schema_name = '{SCHEMA}'"
        ).fetchall()
    }
    if table not in tables:
        # NOTE: loaded under a temporary name then renamed: an interrupted load is never reused.
        steps = max(1, round(sf / STEP_SF))
        print(
            f"loading lineitem SF {sf:g} into PostgreSQL {SCHEMA}.{table} in {steps} step(s) ...", flush=True
        )
        conn.execute(f"DROP TABLE IF EXISTS pg.{SCHEMA}.{table}_loading")
        for step in range(steps):
            conn.execute(f"CALL dbgen(sf = {sf}, children = {steps}, step = {step})" if steps > 1
                         else f"CALL dbgen(sf = {sf})")  # fmt: skip
            if step == 0:
                conn.execute(f"CREATE TABLE pg.{SCHEMA}.{table}_loading AS SELECT * FROM lineitem")
            else:
                conn.execute(f"INSERT INTO pg.{SCHEMA}.{table}_loading SELECT * FROM lineitem")
            for (name,) in conn.execute(
                "SELECT table_name FROM duckdb_tables() WHERE database_name = 'memory'"
            ).fetchall():
                conn.execute(f"DROP TABLE memory.main.{name}")
        conn.execute(f"CALL postgres_execute('pg', 'ALTER TABLE {SCHEMA}.{table}_loading RENAME TO {table}')")
    return conn.execute(f"SELECT count(*) FROM pg.{SCHEMA}.{table}").fetchone()[0]


def _dlt(backend: str) -> dict | str:
    if not DLT_PYTHON.exists():
        return "not measured: dlt is not installed in benchmarks/.work/dlt-venv (uv venv + uv pip install 'dlt[parquet,sql_database]' connectorx)"
    dsn = PG.replace("postgresql://", "postgresql://", 1)
    args = [str(DLT_PYTHON), "-c", DLT_SCRIPT, dsn, SCHEMA, TABLE, backend, str(WORK / "out")]
    env = {**os.environ, "RUNTIME__LOG_LEVEL": "WARNING"}
    try:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        started = time.perf_counter()
        proc = subprocess.run(args, capture_output=True, text=True, env=env, timeout=1800)
        elapsed = time.perf_counter() - started
    except subprocess.TimeoutExpired:
        return "not measured: timed out"
    if proc.returncode:
        return "not measured: " + ((proc.stderr or proc.stdout).strip().splitlines() or ["failed"])[-1][:200]
    # NOTE: RUSAGE_CHILDREN keeps the largest child so far; dlt runs last, so a larger value is dlt's.
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {
        "seconds": float(proc.stdout.strip().splitlines()[-1] or elapsed),
        "max_rss_mb": peak if peak > before / 1024 else None,
    }


def main() -> None:
    rows = load_lineitem()
    print(f"TPC-H lineitem SF {SF}: {rows:,} rows in PostgreSQL")
    cases = [("duckdb_copy", "DuckDB COPY pg -> parquet (anchor)"),
             ("pg_parquet", "meshkit pg -> parquet"),
             ("pg_parquet_transforms", "meshkit pg -> parquet + Digest + Redact"),
             ("pg_iceberg", "meshkit pg -> iceberg"),
             ("parquet_pg", "meshkit parquet -> pg")]  # fmt: skip
    cases = [(case, label) for case, label in cases if not ONLY or case in ONLY]
    runs: dict[str, list[dict]] = {case: [] for case, _ in cases}
    results: dict[str, dict | str] = {}
    for _ in range(REPEAT):  # rounds interleave the cases, so load on the machine hits them alike
        for case, _label in cases:
            if isinstance(results.get(case), str):
                continue
            try:
                runs[case].append(_measure(case))
                results[case] = _median(runs[case])
            except Exception as exc:  # noqa: BLE001 - report and keep measuring the others
                results[case] = f"failed: {exc}"
    for case, label in cases:
        _print(label, results[case], results.get("duckdb_copy"))
    for backend in ("connectorx", "pyarrow"):
        if ONLY and f"dlt_{backend}" not in ONLY:
            continue
        found = _dlt(backend)
        _print(f"dlt {backend} pg -> parquet", found, results.get("duckdb_copy"))
        if isinstance(found, dict) and isinstance(results.get("pg_parquet"), dict):
            print(
                f"    meshkit pg -> parquet is {found['seconds'] / results['pg_parquet']['seconds']:.1f}x faster than dlt {backend}"
            )


def _median(runs: list[dict]) -> dict:
    """The run of median time, its peak memory the largest of all runs."""
    chosen = sorted(runs, key=lambda r: r["seconds"])[(len(runs) - 1) // 2]
    return {**chosen, "max_rss_mb": max(r["max_rss_mb"] for r in runs), "runs": [r["seconds"] for r in runs]}


def _print(label: str, found, anchor) -> None:
    if not isinstance(found, dict):
        print(f"{label:<42} {found}")
        return
    ratio = f"{found['seconds'] / anchor['seconds']:.2f}x DuckDB COPY" if isinstance(anchor, dict) else ""
    memory = f"{found['max_rss_mb']:.0f} MB peak" if found.get("max_rss_mb") else "peak memory not measured"
    plan = f"  [{found['plan']}]" if found.get("plan") else ""
    spread = (
        f"  (runs: {', '.join(f'{x:.1f}' for x in found['runs'])} s)"
        if len(found.get("runs", [])) > 1
        else ""
    )
    print(f"{label:<42} {found['seconds']:7.2f} s  {memory:>14}  {ratio}{plan}{spread}", flush=True)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        _child(sys.argv[2])
    else:
        main()
