"""Spark beside DuckDB on this machine: lineitem PostgreSQL -> Parquet and a 300-model build, in one run.

    python benchmarks/bench_spark.py                            # lineitem SF1 (6M rows), 300 models
    MESHKIT_BENCH_SPARK_SF=1,10 python benchmarks/bench_spark.py  # SF10 too (60M rows, ~10 GB in PostgreSQL)
    MESHKIT_BENCH_REPEAT=2 ...                                  # rounds; each round alternates the engines
    MESHKIT_BENCH_SPARK_CASES=transfer ...                      # only transfers (or: models)
    BENCH_MODELS=100 ...                                        # a smaller model project

Every case is a whole ``meshkit`` process, as a user runs it: ``meshkit transfer apply`` of lineitem
and ``meshkit build --threads 2`` of the project of ``bench_models.py`` (table models joining two
earlier ones, ``unique`` and ``not_null`` tests on each), on DuckDB, on Spark ``local[2]`` and on a
standalone cluster of two workers (one core each) started here. lineitem is generated with DuckDB's
tpch extension and loaded into PostgreSQL once per scale factor (``bench_transfer.load_lineitem``).

Measured: wall time; CPU time (user + system) of the case's process tree and, on the cluster, of
its JVMs while it ran (PostgreSQL's own CPU is not counted); peak memory, the largest sum of the RSS
of the case's process tree (Python, Spark's driver JVM, its Python workers) and, on the cluster, of
its JVMs (master, workers, executors), sampled every 0.2 s. Ratios are against DuckDB in the same round.
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

import bench_models  # noqa: E402 - the model project is bench_models.py's
import bench_transfer  # noqa: E402 - lineitem loading is shared with the transfer benchmark

WORK = HERE / ".work" / "spark"
SFS = [float(s) for s in os.environ.get("MESHKIT_BENCH_SPARK_SF", "1").split(",") if s]
REPEAT = int(os.environ.get("MESHKIT_BENCH_REPEAT", "1"))
KINDS = [c for c in os.environ.get("MESHKIT_BENCH_SPARK_CASES", "transfer,models").split(",") if c]
MODELS = int(os.environ.get("BENCH_MODELS", "300"))
MESHKIT = str(Path(sys.executable).with_name("meshkit"))
ENGINES = ("duckdb", "local2", "cluster")
TICK = 0.2


# ---------------------------------------------------------------------------- process trees


def _children() -> dict[int, list[int]]:
    """Every process's children, from /proc."""
    found: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        found.setdefault(ppid, []).append(int(entry))
    return found


def _tree(roots: list[int]) -> list[int]:
    children, pids, todo = _children(), [], list(roots)
    while todo:
        pid = todo.pop()
        pids.append(pid)
        todo.extend(children.get(pid, []))
    return pids


def _sample(pid: int) -> tuple[int, float] | None:
    """(RSS bytes, CPU seconds user + system) of ``pid``, or ``None`` once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return int(fields[21]) * os.sysconf("SC_PAGE_SIZE"), (int(fields[11]) + int(fields[12])) / ticks


def measure(args: list[str], cwd: Path, cluster_pids: list[int], env: dict | None = None) -> dict:
    """Wall time, CPU time and peak summed RSS of ``args`` run as a process, with the cluster's JVMs."""
    log = WORK / "last.log"
    before = {pid: s[1] for pid in _tree(cluster_pids) if (s := _sample(pid))}
    cpu: dict[int, float] = {}
    peak, own = 0, set()
    started = time.perf_counter()
    with open(log, "w") as out:
        proc = subprocess.Popen(args, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
    while True:
        rss = 0
        for pid in _tree([proc.pid, *cluster_pids]):
            found = _sample(pid)
            if found:
                rss += found[0]
                cpu[pid] = found[1] - before.get(pid, 0.0)
        peak = max(peak, rss)
        own |= set(_tree([proc.pid]))
        done, status, usage = os.wait4(proc.pid, os.WNOHANG)
        if done:
            break
        time.sleep(TICK)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode:
        raise RuntimeError(f"exit {proc.returncode}: " + log.read_text().strip().splitlines()[-1][:300])
    # NOTE: a process's CPU is its last sample (at most TICK short); the case's rusage also counts
    # the children it waited for, so the larger of the two stands for its tree.
    cluster_cpu = sum(v for pid, v in cpu.items() if pid not in own)
    case_cpu = max(usage.ru_utime + usage.ru_stime, sum(v for pid, v in cpu.items() if pid in own))
    return {"seconds": seconds, "cpu": case_cpu + cluster_cpu, "peak_mb": peak / 2**20}


# ---------------------------------------------------------------------------- workspace


def workspace(master: str, project: Path) -> Path:
    root = WORK / "ws"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    (root / "meshkit.toml").write_text(
        f'[stores.pg]\ntype = "postgres"\ndsn = "{bench_transfer.PG}"\n[stores.lake]\ntype = "files"\npath = "lake"\n'
        '[engines.local2]\ntype = "spark"\nmaster = "local[2]"\n"spark.driver.memory" = "2g"\n'
        f'[engines.cluster]\ntype = "spark"\nmaster = "{master}"\n"spark.cores.max" = "2"\n'
        '"spark.executor.memory" = "2g"\n'
    )
    for sf in SFS:
        table = f"{bench_transfer.SCHEMA}.{bench_transfer.table_name(sf)}"
        for engine in ENGINES:
            (root / f"sf{sf:g}-{engine}.yaml").write_text(
                f"kind: BatchTransfer\nmetadata: {{name: sf{sf:g}-{engine}}}\nspec:\n  engine: {engine}\n"
                f"  source: {{store: pg, asset: {table}}}\n"
                f"  destination: {{store: lake, asset: sf{sf:g}-{engine}.parquet, mode: overwrite}}\n"
            )
    bench_models.generate(project, MODELS)
    return root


def cases(root: Path, project: Path) -> list[tuple[str, str, list[str], dict]]:
    """(group, engine, command, environment) of every case, grouped so a group's engines run in turn."""
    found = []
    if "transfer" in KINDS:
        for sf in SFS:
            for engine in ENGINES:
                found.append((f"lineitem SF{sf:g} pg -> parquet", engine,
                              [MESHKIT, "transfer", "apply", f"sf{sf:g}-{engine}.yaml"], {}))  # fmt: skip
    if "models" in KINDS:
        for engine in ENGINES:
            db = WORK / f"models-{engine}.duckdb"
            args = [MESHKIT, "build", "--threads", "2", "--project-dir", str(project), "--engine", engine]
            found.append((f"{MODELS}-model build", engine, args,
                          {"BENCH_DB": str(db), "DBT_PROFILES_DIR": str(project)}))  # fmt: skip
    return found


def _fresh(engine: str, env: dict, root: Path) -> None:
    """Each build starts from nothing: no DuckDB file, no Spark warehouse of an earlier round."""
    if "BENCH_DB" in env:
        Path(env["BENCH_DB"]).unlink(missing_ok=True)
        shutil.rmtree(root / ".meshkit" / "spark-warehouse", ignore_errors=True)
        shutil.rmtree(bench_models.PROJECT / ".meshkit" / "spark-warehouse", ignore_errors=True)


def main() -> None:
    from meshkit.engines.cluster import start_cluster

    WORK.mkdir(parents=True, exist_ok=True)
    if "transfer" in KINDS:
        for sf in SFS:
            rows = bench_transfer.load_lineitem(sf)
            print(f"TPC-H lineitem SF {sf:g}: {rows:,} rows in PostgreSQL", flush=True)
    project = WORK / "models_project"
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; starting a cluster of 2 workers",
          flush=True)  # fmt: skip
    cluster = start_cluster(WORK / "cluster", workers=2, cores=1, memory="2g")
    runs: dict[tuple[str, str], list[dict]] = {}
    errors: dict[tuple[str, str], str] = {}
    try:
        root = workspace(cluster.master_url, project)
        pids = [p.pid for p in cluster.processes]
        for _ in range(REPEAT):
            for group, engine, args, env in cases(root, project):
                if (group, engine) in errors:
                    continue
                _fresh(engine, env, root)
                try:
                    found = measure(args, root, pids if engine == "cluster" else [], {**os.environ, **env})
                except Exception as exc:  # noqa: BLE001 - report and keep measuring the others
                    errors[(group, engine)] = str(exc)
                    continue
                runs.setdefault((group, engine), []).append(found)
                print(f"  {group:<32} {engine:<8} {found['seconds']:7.1f} s  cpu {found['cpu']:7.1f} s  "
                      f"peak {found['peak_mb']:6.0f} MB", flush=True)  # fmt: skip
    finally:
        cluster.stop()
    report(runs, errors)


def report(runs: dict, errors: dict) -> None:
    print(f"\nmedians (load average now {os.getloadavg()[0]:.1f}); ratios against DuckDB, > 1 is slower")
    groups = list(dict.fromkeys(g for g, _ in [*runs, *errors]))
    for group in groups:
        base = _median(runs.get((group, "duckdb"), []))
        for engine in ENGINES:
            if (group, engine) in errors:
                print(f"{group:<32} {engine:<8} failed: {errors[(group, engine)]}")
                continue
            found = _median(runs.get((group, engine), []))
            if found is None:
                continue
            ratio = (f"{found['seconds'] / base['seconds']:5.2f}x wall  {found['cpu'] / base['cpu']:5.2f}x cpu"
                     if base else "")  # fmt: skip
            print(f"{group:<32} {engine:<8} {found['seconds']:7.1f} s  cpu {found['cpu']:7.1f} s  "
                  f"peak {found['peak_mb']:6.0f} MB  {ratio}")  # fmt: skip
    transfers = [g for g in groups if g.startswith("lineitem")]
    faster = [g for g in transfers if _faster(runs, g)]
    if transfers:
        print("Spark overtakes DuckDB at: " + (", ".join(faster) if faster else
              f"none of the sizes measured ({', '.join(transfers)}) on {os.cpu_count()} cores"))  # fmt: skip


def _faster(runs: dict, group: str) -> bool:
    base = _median(runs.get((group, "duckdb"), []))
    spark = [_median(runs.get((group, e), [])) for e in ENGINES[1:]]
    return bool(base) and any(s and s["seconds"] < base["seconds"] for s in spark)


def _median(found: list[dict]) -> dict | None:
    """The run of median wall time, with the largest peak of all runs."""
    if not found:
        return None
    chosen = sorted(found, key=lambda r: r["seconds"])[(len(found) - 1) // 2]
    return {**chosen, "peak_mb": max(r["peak_mb"] for r in found)}


if __name__ == "__main__":
    main()
