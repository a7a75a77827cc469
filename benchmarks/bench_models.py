"""meshkit models vs dbt-core + dbt-duckdb on one generated project, side by side in one run.

The project: N table models (default 300), each joining two earlier models, ``not_null`` and
``unique`` tests on every model, one 1,000-row seed. dbt-core 1.10 and dbt-duckdb 1.10 are
installed into ``benchmarks/.work/dbt-venv`` on first use. Timed: ``dbt parse`` vs meshkit load +
compile, ``dbt build --threads 2`` vs ``meshkit build --threads 2`` (both as commands, alternately,
``BENCH_ROUNDS`` times each: wall time and CPU time, user + sys of the command and its children;
the CPU ratio holds on a loaded machine, the wall ratio only on a quiet one); then the tables of both
builds are compared row for row.

    python benchmarks/bench_models.py            # 300 models
    BENCH_MODELS=50 python benchmarks/bench_models.py
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

HERE = Path(__file__).resolve().parent
WORK = HERE / ".work"
VENV = WORK / "dbt-venv"
PROJECT = WORK / "bench_models_project"
MODELS = int(os.environ.get("BENCH_MODELS", sys.argv[1] if len(sys.argv) > 1 else 300))
ROUNDS = int(os.environ.get("BENCH_ROUNDS", 2))
PYTHON = Path(sys.executable)
MESHKIT = PYTHON.parent / "meshkit"


def ensure_dbt() -> Path:
    """dbt in its own venv (dbt-core 1.10, dbt-duckdb 1.10, duckdb pinned to meshkit's)."""
    dbt = VENV / "bin" / "dbt"
    if not dbt.exists():
        uv = PYTHON.parent / "uv"
        subprocess.run([str(uv), "venv", "-q", "--python", str(PYTHON), str(VENV)], check=True)
        subprocess.run([str(uv), "pip", "install", "-q", "--python", str(VENV / "bin" / "python"),
                        "dbt-core~=1.10.0", "dbt-duckdb~=1.10.0", f"duckdb=={duckdb.__version__}"], check=True)  # fmt: skip
    return dbt


def generate(root: Path, models: int) -> None:
    if root.exists():
        shutil.rmtree(root)
    (root / "models").mkdir(parents=True)
    (root / "seeds").mkdir()
    (root / "dbt_project.yml").write_text(
        "name: bench\nprofile: bench\nconfig-version: 2\nmodels:\n  bench:\n    +materialized: table\n"
    )
    (root / "profiles.yml").write_text(
        "bench:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n      path: \"{{ env_var('BENCH_DB') }}\"\n      threads: 2\n"
    )
    rows = "\n".join(f"{i},{i % 17},{(i * 7919) % 1000}" for i in range(1000))
    (root / "seeds" / "base.csv").write_text("id,grp,value\n" + rows + "\n")
    yml = ["version: 2", "models:"]
    for i in range(models):
        if i == 0:
            sql = "select id, grp, value from {{ ref('base') }}"
        else:
            left = f"m{i - 1}"
            right = f"m{i // 2}" if i // 2 != i - 1 else "base"
            sql = (f"select a.id, a.grp, (a.value + b.value) % 1000003 as value\n"
                   f"from {{{{ ref('{left}') }}}} a\njoin {{{{ ref('{right}') }}}} b on a.id = b.id")  # fmt: skip
        (root / "models" / f"m{i}.sql").write_text(sql + "\n")
        yml += [
            f"  - name: m{i}",
            "    columns:",
            "      - name: id",
            "        data_tests: [not_null, unique]",
        ]
    (root / "models" / "schema.yml").write_text("\n".join(yml) + "\n")


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one command."""
    started, cpu = time.perf_counter(), _cpu()
    result = subprocess.run(argv, cwd=PROJECT, env=env, capture_output=True, text=True)
    elapsed, cpu = time.perf_counter() - started, _cpu() - cpu
    if result.returncode != 0:
        print(result.stdout[-3000:], result.stderr[-3000:])
        raise SystemExit(f"{' '.join(argv[:2])} failed with exit code {result.returncode}")
    return elapsed, cpu


def meshkit_load_compile() -> float:
    """In-process load + compile (what `dbt parse` does), best of 3."""
    from meshkit.core.context import Meshkit
    from meshkit.core.workspace import Workspace
    from meshkit.models import open_project

    os.environ["BENCH_DB"] = str(WORK / "bench_mk.duckdb")
    best = float("inf")
    with Meshkit(Workspace(root=PROJECT), load_entrypoints=False) as mk:
        for _ in range(3):
            started = time.perf_counter()
            project = open_project(mk, PROJECT)
            best = min(best, time.perf_counter() - started)
    assert len(project.nodes) == 3 * MODELS + 1
    return best


def compare(models: int) -> tuple[int, int]:
    """(tables equal, tables compared) between the dbt and the meshkit databases."""
    con = duckdb.connect()
    con.execute(f"ATTACH '{WORK / 'bench_dbt.duckdb'}' AS d (READ_ONLY)")
    con.execute(f"ATTACH '{WORK / 'bench_mk.duckdb'}' AS m (READ_ONLY)")
    equal = 0
    names = ["base", *(f"m{i}" for i in range(models))]
    for name in names:
        diff = con.execute(f"SELECT count(*) FROM ((SELECT * FROM d.main.{name} EXCEPT ALL SELECT * FROM m.main.{name}) "
                           f"UNION ALL (SELECT * FROM m.main.{name} EXCEPT ALL SELECT * FROM d.main.{name}))").fetchone()[0]  # fmt: skip
        types_d = con.execute(f"SELECT * FROM d.main.{name} LIMIT 0").description
        types_m = con.execute(f"SELECT * FROM m.main.{name} LIMIT 0").description
        equal += diff == 0 and [(c[0], str(c[1])) for c in types_d] == [(c[0], str(c[1])) for c in types_m]
    con.close()
    return equal, len(names)


def main() -> None:
    WORK.mkdir(exist_ok=True)
    dbt = ensure_dbt()
    generate(PROJECT, MODELS)
    for name in ("bench_dbt.duckdb", "bench_mk.duckdb"):
        (WORK / name).unlink(missing_ok=True)
    env = {**os.environ, "DBT_PROFILES_DIR": str(PROJECT), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    dbt_env = {**env, "BENCH_DB": str(WORK / "bench_dbt.duckdb")}
    mk_env = {**env, "BENCH_DB": str(WORK / "bench_mk.duckdb")}
    print(f"project: {MODELS} table models, {2 * MODELS} tests, 1 seed of 1,000 rows")
    print(
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (ratios hold on a quiet machine only)"
    )
    dbt_parse, _ = timed([str(dbt), "parse", "--no-partial-parse"], dbt_env)
    mk_load = meshkit_load_compile()
    print(f"dbt parse                  {dbt_parse:8.2f} s")
    print(
        f"meshkit load + compile     {mk_load:8.3f} s   ratio {dbt_parse / mk_load:6.1f}x (target: < 0.5 s)"
    )
    dbt_runs, mk_runs = [], []
    for _ in range(ROUNDS):  # alternately, so both see the same load
        dbt_runs.append(timed([str(dbt), "build", "--threads", "2"], dbt_env))
        mk_runs.append(
            timed([str(MESHKIT), "build", "--threads", "2", "--project-dir", str(PROJECT)], mk_env)
        )
    (dbt_wall, dbt_cpu), (mk_wall, mk_cpu) = (
        tuple(map(min, zip(*runs, strict=True))) for runs in (dbt_runs, mk_runs)
    )
    print(f"dbt build --threads 2      {dbt_wall:8.2f} s wall {dbt_cpu:8.2f} s CPU   (best of {ROUNDS})")
    print(f"meshkit build --threads 2  {mk_wall:8.2f} s wall {mk_cpu:8.2f} s CPU   (best of {ROUNDS})")
    print(
        f"ratio                      {dbt_wall / mk_wall:6.1f}x wall {dbt_cpu / mk_cpu:6.1f}x CPU (target: >= 6x)"
    )
    print(f"load average after         {os.getloadavg()[0]:.1f}")
    equal, total = compare(MODELS)
    print(f"tables equal row for row   {equal} of {total}")
    if equal != total:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
