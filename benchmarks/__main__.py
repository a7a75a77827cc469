"""``make bench``: run every ``benchmarks/bench_*.py`` (or those named) and print their ratios."""

import runpy
import sys
import time
from pathlib import Path

here = Path(__file__).parent
names = sys.argv[1:]
scripts = sorted(p for p in here.glob("bench_*.py") if not names or any(n in p.stem for n in names))
failed = []
for script in scripts:
    print(f"\n=== {script.stem}", flush=True)
    started = time.perf_counter()
    try:
        runpy.run_path(str(script), run_name="__main__")
    except SystemExit as exc:
        if exc.code:
            failed.append(script.stem)
    except Exception as exc:  # keep going: one broken benchmark must not hide the others
        print(f"{script.stem} failed: {exc!r}")
        failed.append(script.stem)
    print(f"({time.perf_counter() - started:.1f} s)")
sys.exit(1 if failed else 0)
