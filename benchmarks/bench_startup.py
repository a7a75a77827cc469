"""Start-up: whole ``meshkit`` processes against ``python -c pass``, measured in the same run.

Anchors (the issue's targets): ``meshkit --version`` and ``--help`` under 0.3 s, an empty job's
``meshkit run`` under 0.6 s, and a transfer's overhead (the process's wall time minus the
transfer's own recorded duration) under 1 s. The commands run in turn, round after round
(MESHKIT_BENCH_RUNS rounds, default 7), so a machine whose speed drifts slows them all alike;
each figure is the median of its rounds, with its ratio to ``python -c pass``. The CPU seconds
(user + system) of each process are printed too (the whole ``transfer apply`` for the overhead): on
a shared machine they vary less than wall time. The load average is printed with the figures.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RUNS = int(os.environ.get("MESHKIT_BENCH_RUNS", "7"))
ANCHORS = {"--version": 0.3, "--help": 0.3, "run (empty job)": 0.6, "transfer overhead": 1.0}
TRANSFER = """kind: BatchTransfer
metadata: {name: tiny}
spec:
  source: {store: warehouse, asset: tiny_src}
  destination: {store: lake, asset: tiny.parquet, mode: overwrite}
"""


def meshkit_command() -> list[str]:
    script = Path(sys.executable).with_name("meshkit")
    if script.exists():
        return [str(script)]
    found = shutil.which("meshkit")
    if not found:
        raise SystemExit("no `meshkit` command next to this Python or on PATH: run `make venv` first")
    return [found]


def workspace(root: Path) -> None:
    """A fresh workspace with an empty job and a one-row transfer, its metadata database created."""
    from meshkit.core.workspace import init_workspace
    from meshkit.testing import plugin_workspace

    init_workspace(root)
    with open(root / "meshkit.toml", "a") as f:
        f.write('\n[stores.lake]\ntype = "files"\npath = "lake"\n')
    (root / "jobs" / "empty").mkdir(parents=True)
    (root / "jobs" / "empty" / "10_step.py").write_text("def run(job_input):\n    pass\n")
    (root / "tiny.yaml").write_text(TRANSFER)
    import pyarrow as pa

    mk = plugin_workspace(root)
    mk.store("warehouse").write("tiny_src", pa.table({"x": [1]}), mode="overwrite")
    mk.close()


def _load() -> str:
    return " ".join(f"{x:.1f}" for x in os.getloadavg())


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(args: list[str], cwd: Path) -> tuple[float, float]:
    """``(wall, cpu)`` seconds of the process running ``args``."""
    cpu, started = _cpu(), time.perf_counter()
    done = subprocess.run(args, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise SystemExit(f"`{' '.join(args)}` failed ({done.returncode}): {done.stderr.strip()}")
    return seconds, _cpu() - cpu


def transfer_overhead(meshkit: list[str], root: Path) -> tuple[float, float]:
    """Wall time of ``meshkit transfer apply`` minus the transfer's own recorded duration, and its CPU time."""
    wall, cpu = timed([*meshkit, "transfer", "apply", "tiny.yaml"], root)
    status = subprocess.run([*meshkit, "transfer", "status", "tiny", "--json"], cwd=root,
                            capture_output=True, text=True, check=True)  # fmt: skip
    return wall - json.loads(status.stdout)["duration"], cpu


def main() -> None:
    meshkit = meshkit_command()
    load_before = _load()
    with tempfile.TemporaryDirectory(prefix="mk-bench-startup-") as tmp:
        root = Path(tmp) / "ws"
        workspace(root)
        cases = {
            "python -c pass": lambda: timed([sys.executable, "-c", "pass"], root),
            "--version": lambda: timed([*meshkit, "--version"], root),
            "--help": lambda: timed([*meshkit, "--help"], root),
            "run (empty job)": lambda: timed([*meshkit, "run", "empty"], root),
            "transfer overhead": lambda: transfer_overhead(meshkit, root),
        }
        for case in cases.values():  # warm-up: file caches, bytecode
            case()
        seconds: dict[str, list[float]] = {name: [] for name in cases}
        cpu: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(RUNS):
            for name, case in cases.items():
                wall, used = case()
                seconds[name].append(wall)
                cpu[name].append(used)
    base = statistics.median(seconds["python -c pass"])
    print(f"whole processes, median of {RUNS} interleaved rounds (min-max); cpu: user + system seconds")
    print(f"load average {load_before} before, {_load()} after, on {os.cpu_count()} cores")
    print(
        f"{'case':<20} {'median s':>9} {'min-max s':>13} {'x python -c pass':>17} {'cpu s':>6} {'target s':>9}"
    )
    for name, values in seconds.items():
        median = statistics.median(values)
        anchor = ANCHORS.get(name)
        verdict = "" if anchor is None else f"{anchor:>9.1f} {'ok' if median < anchor else 'over'}"
        print(f"{name:<20} {median:>9.3f} {min(values):>6.3f}-{max(values):<6.3f} {median / base:>17.1f} "
              f"{statistics.median(cpu[name]):>6.2f} {verdict}")  # fmt: skip


if __name__ == "__main__":
    main()
