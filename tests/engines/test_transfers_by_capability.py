"""Transfers plan from the flags an engine declares, so an engine a plugin adds needs no change in the plan."""

from __future__ import annotations

import pyarrow as pa
import pytest

from meshkit.core.hookspecs import hookimpl
from meshkit.data.transfer import parse_transfer, run_transfer
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


class OtherDialectEngine(ScanOnlyEngine):
    """The scan-only engine, declaring another SQL dialect."""

    type = "other_dialect"
    DIALECT = "spark"


class Engines:
    @hookimpl
    def register_engines(self):
        return {"scan_only": ScanOnlyEngine, "blind": BlindEngine, "other_dialect": OtherDialectEngine}


@pytest.fixture
def mk(workspace):
    path = workspace.root / "meshkit.toml"
    path.write_text(path.read_text() + '\n[stores.lake]\ntype = "files"\npath = "lake"\n'
                    '[engines.scan_only]\ntype = "scan_only"\n[engines.blind]\ntype = "blind"\n'
                    '[engines.other]\ntype = "other_dialect"\n')  # fmt: skip
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


def test_an_incremental_transfer_needs_an_engine_of_duckdb_s_dialect(mk):
    with pytest.raises(AssertionError, match=r"Incremental windows .* engine `other` \(spark dialect\)"):
        run(mk, "other", "window.parquet", incremental="  incremental: {cursor: id}\n")
