"""Ingestion speed of data jobs run by ``meshkit run``, against VDK's ``vdk run`` on the same job.

Three meshkit cases, each one ``meshkit run`` in its own process:

- ``sqlite rows``: 100,000 rows of 4 columns sent with ``send_tabular_data_for_ingestion`` into
  SQLite (job ``config.ini``: ``db_default_type = sqlite``);
- ``duckdb rows``: 1,000,000 such rows into DuckDB;
- ``duckdb arrow send`` / ``duckdb arrow ingest``: a 1,000,000-row Arrow table through
  ``send_tabular_data_for_ingestion`` and through ``job_input.ingest``.

The anchor is VDK (vdk-core + vdk-sqlite from PyPI, in its own venv under ``benchmarks/.work/``)
running the same 100,000-row step into SQLite with its default settings. For every case the
benchmark prints the ingestion time (from the step's first send until every row is written), the
command's wall time, rows/s, the rows that really arrived and the process's peak memory.

Each meshkit case runs ``MESHKIT_BENCH_REPEAT`` times (default 3) into a fresh database file and
the median is shown. Sizes: ``MESHKIT_BENCH_SQLITE_ROWS`` (default 100000),
``MESHKIT_BENCH_DUCKDB_ROWS`` (default 1000000). ``MESHKIT_BENCH_VDK=0`` skips VDK; ``MESHKIT_BENCH_VDK_THREADS=1`` also runs VDK with one
ingestion thread (slow: about a minute and a half). Run it with ``python benchmarks/bench_ingest.py``.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
WORKSPACE = WORK / "ingest-ws"
VDK_VENV = WORK / "vdk-venv"
#: Byte code goes here rather than next to the installed packages, as a normal install would cache it.
PYCACHE = WORK / "pycache"
SQLITE_ROWS = int(os.environ.get("MESHKIT_BENCH_SQLITE_ROWS", 100_000))
DUCKDB_ROWS = int(os.environ.get("MESHKIT_BENCH_DUCKDB_ROWS", 1_000_000))
REPEAT = int(os.environ.get("MESHKIT_BENCH_REPEAT", 3))

#: First step of every job: build the rows (not timed), note the time, send them.
SEND_STEP = """\
import json
import time


def make_rows(n):
    return [(i, f"name-{i}", i * 0.5, i % 2 == 0) for i in range(n)]


def make_table(n):
    import numpy as np
    import pyarrow as pa

    ids = np.arange(n, dtype=np.int64)
    return pa.table({"id": ids, "name": pa.array([f"name-{i}" for i in range(n)]), "amount": ids * 0.5,
                     "flag": ids % 2 == 0})


def run(job_input):
    args = job_input.get_arguments()
    n, api, table = int(args["rows"]), args.get("api", "rows"), args.get("table", "bench_rows")
    data = make_rows(n) if api == "rows" else make_table(n)
    started = time.time()
    with open(args["result"], "w") as out:
        json.dump({"started": started}, out)
    if api == "ingest":
        job_input.ingest(data, table)
    else:
        job_input.send_tabular_data_for_ingestion(data, ["id", "name", "amount", "flag"], destination_table=table)
"""

#: Second step (meshkit only): every row sent by the first step has been written when it starts.
DONE_STEP = """\
import json
import time


def run(job_input):
    done = time.time()
    path = job_input.get_arguments()["result"]
    with open(path) as f:
        result = json.load(f)
    result["written"] = done
    with open(path, "w") as out:
        json.dump(result, out)
"""


@dataclass
class Measure:
    """One run of one case."""

    case: str
    rows_sent: int
    rows_landed: int
    ingest_s: float  # first send -> every row written
    wall_s: float  # the whole command
    peak_mb: float
    exit_code: int

    @property
    def rows_per_s(self) -> float:
        return self.rows_landed / self.ingest_s if self.ingest_s else 0.0


def child_env() -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MESHKIT_", "VDK_")) and k != "PYTHONDONTWRITEBYTECODE"
    }
    env["PYTHONPYCACHEPREFIX"] = str(PYCACHE)
    return env


def run_measured(argv: list[str], cwd: Path, env: dict[str, str], log: Path) -> tuple[int, float, float]:
    """Run ``argv``; returns (exit code, wall seconds, peak resident MB of that process)."""
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    return proc.returncode, time.perf_counter() - started, usage.ru_maxrss / 1024


def write_job(folder: Path, config: str, steps: dict[str, str]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "config.ini").write_text(config)
    for name, text in steps.items():
        (folder / name).write_text(text)


def setup_workspace() -> None:
    if WORKSPACE.exists():
        shutil.rmtree(WORKSPACE)
    meshkit_cli(["init", str(WORKSPACE)], check=True)
    steps = {"10_send.py": SEND_STEP, "20_done.py": DONE_STEP}
    write_job(
        WORKSPACE / "jobs" / "sqlite_rows",
        "[owner]\nteam = bench\n\n[vdk]\ndb_default_type = sqlite\n",
        steps,
    )
    write_job(WORKSPACE / "jobs" / "duckdb_load", "[owner]\nteam = bench\n", steps)


def meshkit_cli(args: list[str], check: bool = False) -> subprocess.CompletedProcess:
    exe = Path(sys.executable).parent / "meshkit"
    proc = subprocess.run([str(exe), *args], env=child_env(), capture_output=True, text=True)
    if check and proc.returncode:
        raise SystemExit(f"meshkit {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc


def count_sqlite(path: Path, table: str) -> int:
    if not path.exists():
        return 0
    with contextlib.closing(sqlite3.connect(path)) as conn:
        try:
            return conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        except sqlite3.OperationalError:
            return 0


def count_duckdb(path: Path, table: str) -> int:
    if not path.exists():
        return 0
    with duckdb.connect(str(path), read_only=True) as conn:
        try:
            return conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0]
        except duckdb.CatalogException:
            return 0


def run_meshkit(case: str, job: str, rows: int, api: str, repeat: int = 0) -> Measure:
    """One ``meshkit run`` into a database file of its own (so no run pays for another's checkpoint)."""
    tag = f"{job}-{api}-{rows}-{repeat}"
    result = WORK / f"{tag}.json"
    result.unlink(missing_ok=True)
    sqlite = job.startswith("sqlite")
    database = WORKSPACE / ".meshkit" / f"{tag}.{'sqlite' if sqlite else 'duckdb'}"
    database.unlink(missing_ok=True)
    arguments = json.dumps({"rows": rows, "api": api, "table": "bench_rows", "result": str(result)})
    exe = Path(sys.executable).parent / "meshkit"
    argv = [
        str(exe),
        "-c",
        f"{'sqlite_file' if sqlite else 'duckdb_file'}={database}",
        "run",
        job,
        "--arguments",
        arguments,
    ]
    log = WORK / f"meshkit-{tag}.log"
    code, wall, peak = run_measured(argv, WORKSPACE, child_env(), log)
    timing = json.loads(result.read_text()) if result.exists() else {}
    ingest = timing["written"] - timing["started"] if "written" in timing else float("nan")
    if code:
        print(f"  meshkit run {job} exited with {code}; see {log}")
    landed = count_sqlite(database, "bench_rows") if sqlite else count_duckdb(database, "bench_rows")
    return Measure(case, rows, landed, ingest, wall, peak, code)


def median_run(case: str, job: str, rows: int, api: str) -> Measure:
    """The run with the median ingestion time of ``REPEAT`` runs."""
    runs = sorted((run_meshkit(case, job, rows, api, k) for k in range(REPEAT)), key=lambda m: m.ingest_s)
    return runs[len(runs) // 2]


def run_meshkit_cases() -> list[Measure]:
    # Warm-up: the first run of a fresh install compiles byte code; do not time that.
    run_meshkit("warm-up", "sqlite_rows", 1000, "rows")
    run_meshkit("warm-up", "duckdb_load", 1000, "table")
    return [
        median_run(f"meshkit sqlite rows ({SQLITE_ROWS:,})", "sqlite_rows", SQLITE_ROWS, "rows"),
        median_run(f"meshkit duckdb rows ({DUCKDB_ROWS:,})", "duckdb_load", DUCKDB_ROWS, "rows"),
        median_run(f"meshkit duckdb arrow send ({DUCKDB_ROWS:,})", "duckdb_load", DUCKDB_ROWS, "table"),
        median_run(f"meshkit duckdb arrow ingest ({DUCKDB_ROWS:,})", "duckdb_load", DUCKDB_ROWS, "ingest"),
    ]


# ---------------------------------------------------------------------------- VDK anchor


def vdk_ready() -> bool:
    """Install vdk-core and vdk-sqlite into their own venv (once)."""
    vdk = VDK_VENV / "bin" / "vdk"
    if vdk.exists():
        return True
    uv = shutil.which("uv", path=str(Path(sys.executable).parent)) or shutil.which("uv")
    if uv is None:
        print("  uv not found: cannot install VDK; skipping the anchor")
        return False
    constraints = WORK / "vdk-build-constraints.txt"
    # NOTE: vdk-core 0.3 builds and runs with pkg_resources, which setuptools dropped in version 81.
    constraints.write_text("setuptools<70\n")
    steps = [[uv, "venv", "--python", sys.executable, str(VDK_VENV)],
             [uv, "pip", "install", "-q", "--python", str(VDK_VENV / "bin" / "python"), "--build-constraints",
              str(constraints), "vdk-core", "vdk-sqlite", "setuptools<70"]]  # fmt: skip
    for argv in steps:
        proc = subprocess.run(argv, capture_output=True, text=True)
        if proc.returncode:
            print(f"  installing VDK failed, skipping the anchor:\n{proc.stderr[-2000:]}")
            shutil.rmtree(VDK_VENV, ignore_errors=True)
            return False
    return True


def run_vdk(rows: int, threads: int | None) -> Measure:
    job = WORK / "vdk-job"
    write_job(job, "[owner]\nteam = bench\n\n[vdk]\ndb_default_type = sqlite\ningest_method_default = sqlite\n",
              {"10_send.py": SEND_STEP})  # fmt: skip
    db = WORK / "vdk.sqlite"
    db.unlink(missing_ok=True)
    result = WORK / "vdk.json"
    result.unlink(missing_ok=True)
    env = child_env() | {"VDK_SQLITE_FILE": str(db)}
    label = "default threads"
    if threads:
        env["VDK_INGESTER_NUMBER_OF_WORKER_THREADS"] = str(threads)
        label = f"{threads} thread"
    arguments = json.dumps({"rows": rows, "api": "rows", "table": "bench_rows", "result": str(result)})
    argv = [str(VDK_VENV / "bin" / "vdk"), "run", str(job), "--arguments", arguments]
    code, wall, peak = run_measured(argv, WORK, env, WORK / "vdk-run.log")
    ended = time.time()
    timing = json.loads(result.read_text()) if result.exists() else {}
    # VDK writes in background threads until the process ends: its ingestion ends with the command.
    ingest = ended - timing["started"] if "started" in timing else float("nan")
    return Measure(
        f"VDK sqlite rows ({rows:,}, {label})", rows, count_sqlite(db, "bench_rows"), ingest, wall, peak, code
    )


# ---------------------------------------------------------------------------- report


def report(measures: list[Measure]) -> None:
    head = (
        f"{'case':44} {'ingest s':>9} {'rows/s':>12} {'landed':>17} {'wall s':>7} {'peak MB':>8} {'exit':>4}"
    )
    print(head)
    print("-" * len(head))
    for m in measures:
        landed = f"{m.rows_landed:,}/{m.rows_sent:,}"
        print(
            f"{m.case:44} {m.ingest_s:9.3f} {m.rows_per_s:12,.0f} {landed:>17} {m.wall_s:7.2f} {m.peak_mb:8.0f} {m.exit_code:4}"
        )


def main() -> int:
    WORK.mkdir(parents=True, exist_ok=True)
    setup_workspace()
    measures = run_meshkit_cases()
    vdk: list[Measure] = []
    if os.environ.get("MESHKIT_BENCH_VDK", "1") != "0" and vdk_ready():
        subprocess.run(
            [str(VDK_VENV / "bin" / "vdk"), "version"], env=child_env(), capture_output=True
        )  # warm-up
        vdk.append(run_vdk(SQLITE_ROWS, None))  # one run: it takes about 40 s
        if os.environ.get("MESHKIT_BENCH_VDK_THREADS"):
            vdk.append(run_vdk(SQLITE_ROWS, int(os.environ["MESHKIT_BENCH_VDK_THREADS"])))
    report(measures + vdk)

    sqlite_case, arrow_cases = measures[0], measures[2:]
    print()
    print(f"target: {SQLITE_ROWS:,} rows into SQLite in < 1 s of ingestion: {sqlite_case.ingest_s:.3f} s "
          f"-> {'met' if sqlite_case.ingest_s < 1 and sqlite_case.rows_landed == SQLITE_ROWS else 'MISSED'}")  # fmt: skip
    for m in arrow_cases:
        print(f"target: >= 1M rows/s into DuckDB for Arrow input ({m.case}): {m.rows_per_s:,.0f} rows/s "
              f"-> {'met' if m.rows_per_s >= 1_000_000 and m.rows_landed == m.rows_sent else 'MISSED'}")  # fmt: skip
    for anchor in vdk:
        speed = sqlite_case.rows_per_s / anchor.rows_per_s if anchor.rows_per_s else float("inf")
        ratio = anchor.ingest_s / sqlite_case.ingest_s if sqlite_case.ingest_s else float("nan")
        print(f"ratio vs {anchor.case}: meshkit lands {speed:,.0f}x more rows per second and finishes in "
              f"1/{ratio:,.0f} of the time; VDK landed {anchor.rows_landed:,} of {anchor.rows_sent:,} rows "
              f"(exit {anchor.exit_code}), meshkit {sqlite_case.rows_landed:,} (exit {sqlite_case.exit_code}); "
              f"command wall time {anchor.wall_s:.1f} s vs {sqlite_case.wall_s:.1f} s")  # fmt: skip
    failed = [m for m in measures if m.exit_code or m.rows_landed != m.rows_sent]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
