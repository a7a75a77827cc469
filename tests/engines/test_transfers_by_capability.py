"""Transfers plan from the flags an engine declares, so an engine a plugin adds needs no change in the plan."""

from __future__ import annotations

import pyarrow as pa
import pytest

from meshkit.core.hookspecs import hookimpl
from meshkit.data.transfer import parse_transfer, run_transfer
from meshkit.data.transfer.state import StateStore
from meshkit.engines.duckdb import DuckDBEngine
from meshkit.testing import plugin_workspace

ROWS = pa.table({"id": pa.array([1, 2, 3, 4], pa.int64()), "email": ["a@x.org", "b@x.org", None, "d@x.org"],
                 "amount": [1.5, -2.0, 3.25, 0.0]})  # fmt: skip

TRANSFORMS = """\
  transformation:
  - {action: Digest, columns: [email], options: {algo: sha256}}
  - {action: Filter, options: {predicate: "amount >= 0"}}
"""


class ScanOnlyEngine(DuckDBEngine):
    """DuckDB declaring less: it scans Parquet files but writes no store itself and runs no Python function."""

    type = "scan_only"
    SUPPORTS_PYTHON_UDFS = False
    SCANS_STORES = frozenset({"files"})
    WRITES_STORES = frozenset()


class BlindEngine(DuckDBEngine):
    """DuckDB declaring that it reaches no store at all."""

    type = "blind"
    SCANS_STORES = WRITES_STORES = frozenset()


class Engines:
    @hookimpl
    def register_engines(self):
        return {"scan_only": ScanOnlyEngine, "blind": BlindEngine}


@pytest.fixture
def mk(workspace):
    path = workspace.root / "meshkit.toml"
    path.write_text(path.read_text() + '\n[stores.lake]\ntype = "files"\npath = "lake"\n'
                    '[engines.scan_only]\ntype = "scan_only"\n[engines.blind]\ntype = "blind"\n')  # fmt: skip
    instance = plugin_workspace(workspace.root, plugins=[Engines()])
    instance.store("lake").write("orders.parquet", ROWS)
    yield instance
    instance.close()


def run(mk, engine: str | None, target: str, *, incremental: str = ""):
    extra = f"  engine: {engine}\n" if engine else ""
    result = run_transfer(
        mk,
        parse_transfer(f"""\
kind: BatchTransfer
metadata: {{name: to-{target.replace(".", "-")}}}
spec:
  source: {{store: lake, asset: orders.parquet}}
  destination: {{store: lake, asset: {target}, mode: overwrite}}
{TRANSFORMS}{extra}{incremental}"""),
    )
    assert result.ok, result.error
    return result.status["plan"], sorted(
        mk.store("lake").read(target).read_all().to_pylist(), key=lambda r: r["id"]
    )


def test_the_plan_follows_the_engine_s_declared_capabilities(mk):
    plan, rows = run(mk, None, "duckdb.parquet")
    assert plan == "parquet scan -> parquet COPY" and len(rows) == 3
    # scans but neither writes Parquet nor calls Python: it selects, the Arrow path digests, the store writes
    assert run(mk, "scan_only", "scan_only.parquet") == ("parquet scan -> store files", rows)
    # reaches neither end: the rows stream through the Arrow transforms
    assert run(mk, "blind", "blind.parquet") == (
        "stream: store files -> arrow transforms -> store files",
        rows,
    )


def test_an_incremental_window_is_the_same_whatever_the_engine_reaches(mk):
    window = "  incremental: {cursor: id}\n"
    _, rows = run(mk, None, "inc_duckdb.parquet", incremental=window)
    assert len(rows) == 3
    # the window is rendered over the engine's scan, or over the store's stream registered in it
    assert run(mk, "scan_only", "inc_scan_only.parquet", incremental=window)[1] == rows
    assert run(mk, "blind", "inc_blind.parquet", incremental=window)[1] == rows
    marks = {
        e: StateStore(mk.metadata).get(f"to-inc_{e}-parquet").watermark
        for e in ("duckdb", "scan_only", "blind")
    }
    assert (
        marks["duckdb"] == marks["scan_only"] == marks["blind"] and marks["duckdb"]["value"] == "4"
    )  # the source's largest id, filtered or not
