"""A job's own environment: meshkit's build (uv, cached by the requirements' hash) against a
builder that makes a virtual environment and pip-installs the same requirements each time, as an
image build without a layer cache does. Both use the package caches they keep between rounds.

Printed per round (MESHKIT_BENCH_RUNS, default 3): the pip anchor, meshkit's first build of the
requirements, and a deployment of the same requirements again (a cache hit), with their ratios.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from meshkit.service.environments import ensure

RUNS = int(os.environ.get("MESHKIT_BENCH_RUNS", "3"))
REQUIREMENTS = b"tabulate==0.9.0\nsix==1.16.0\n"


def pip_build(folder: Path) -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(folder)], check=True)
    (folder / "requirements.txt").write_bytes(REQUIREMENTS)
    subprocess.run([str(folder / "bin" / "pip"), "install", "-q", "-r", str(folder / "requirements.txt")],
                   check=True)  # fmt: skip
    return time.perf_counter() - started


def meshkit_build(cache: Path) -> tuple[float, float]:
    started = time.perf_counter()
    ensure(cache, REQUIREMENTS, where="bench")
    first = time.perf_counter() - started
    started = time.perf_counter()
    ensure(cache, REQUIREMENTS, where="bench")
    return first, time.perf_counter() - started


def main() -> None:
    pip, first, hit = [], [], []
    for round_ in range(RUNS):
        with tempfile.TemporaryDirectory(prefix="meshkit-bench-env-") as tmp:
            pip.append(pip_build(Path(tmp) / "pip"))
            built, cached = meshkit_build(Path(tmp) / "cache")
            first.append(built)
            hit.append(cached)
        print(f"round {round_ + 1}: pip {pip[-1]:.2f} s, meshkit first build {first[-1]:.2f} s, "
              f"cached {hit[-1] * 1000:.2f} ms", flush=True)  # fmt: skip
    anchor = statistics.median(pip)
    print(f"venv + pip install (anchor): {anchor:.2f} s")
    print(
        f"meshkit first build (uv):    {statistics.median(first):.2f} s  ratio {statistics.median(first) / anchor:.3f}"
    )
    print(
        f"meshkit same requirements:   {statistics.median(hit) * 1000:.2f} ms  ratio {statistics.median(hit) / anchor:.1e}"
    )


if __name__ == "__main__":
    main()
