"""Transfer progress: rows and rows/s as they move, or the share of the source read by one statement."""

from __future__ import annotations

import re

import pyarrow as pa
from transfer_helpers import spec_yaml

from meshkit.engines.duckdb import DuckDBEngine
from meshkit.testing import run_cli


def test_apply_prints_growing_row_counts_and_the_final_rate(workspace, stores, open_mk):
    mk = open_mk()
    mk.store("warehouse").write("numbers", pa.table({"n": pa.array(range(10_000), pa.int64())}))
    mk.close()
    spec = workspace.root / "numbers.yaml"
    spec.write_text(spec_yaml("numbers", "warehouse", "numbers", "lite", "numbers"))
    result = run_cli(["-c", "transfer_batch_rows=1000", "-c", "transfer_progress_interval=0",
                      "transfer", "apply", str(spec)], workspace=workspace.root)  # fmt: skip
    assert result.exit_code == 0, result.output
    counts = [
        int(m[1].replace(",", ""))
        for m in re.finditer(r"transfer numbers: ([\d,]+) rows, [\d,]+ rows/s", result.stderr)
    ]
    assert len(counts) >= 3 and counts == sorted(counts) and counts[-1] == 10_000, result.stderr
    assert "\x1b" not in result.stderr  # plain lines, no spinner, in a pipe
    assert re.search(r"records\s+10,000, [\d,]+ rows/s", result.stdout), result.stdout


def test_one_statement_reports_the_share_of_the_source_read():
    engine = DuckDBEngine()
    engine.execute("CREATE TABLE s AS SELECT range AS i FROM range(5000000)")
    seen: list[float] = []
    with (
        engine.settings(progress=True),
        engine.watch(lambda rows, fraction: seen.append(fraction), every=0.01),
    ):
        engine.execute("CREATE TABLE t AS SELECT i, md5(i::VARCHAR) AS h FROM s")
    engine.close()
    assert seen and seen == sorted(seen) and 0 < seen[-1] <= 1
