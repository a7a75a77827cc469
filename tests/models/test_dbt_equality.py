"""The shop project built by meshkit and by dbt-duckdb gives the same tables, row for row.

Runs only where the benchmark's dbt environment exists (``python benchmarks/bench_models.py``
creates it in benchmarks/.work/dbt-venv); dbt is not a required service.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest

from meshkit.core.context import Meshkit
from meshkit.core.workspace import Workspace
from meshkit.models import BuildOptions, execute, open_project

DBT = Path(__file__).resolve().parents[2] / "benchmarks" / ".work" / "dbt-venv" / "bin" / "dbt"
TABLES = [
    "raw_customers",
    "raw_orders",
    "stg_customers",
    "stg_orders",
    "customers",
    "orders",
    "daily_revenue",
    "orders_snapshot",
]


@pytest.mark.skipif(
    not DBT.exists(), reason=f"dbt environment absent ({DBT}); run benchmarks/bench_models.py to create it"
)
def test_meshkit_and_dbt_build_the_same_tables(tmp_path):
    source = Path(__file__).parent / "projects" / "shop"
    dbt_dir, mk_dir = tmp_path / "dbt", tmp_path / "mk"
    shutil.copytree(source, dbt_dir)
    shutil.copytree(source, mk_dir)
    env = {**os.environ, "DBT_PROFILES_DIR": str(dbt_dir), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    result = subprocess.run([str(DBT), "build"], cwd=dbt_dir, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    with Meshkit(Workspace(root=mk_dir), load_entrypoints=False) as mk:
        report = execute(mk, open_project(mk, mk_dir), BuildOptions(threads=2))
        assert not report.failed
    dbt_tables, mk_tables = _tables(dbt_dir / "shop.duckdb"), _tables(mk_dir / "shop.duckdb")
    for table in TABLES:
        assert dbt_tables[table] == mk_tables[table], table


def _tables(path: Path) -> dict[str, tuple[list, list]]:
    """Columns with types and sorted rows of each table (opened under its own name, as views need)."""
    with duckdb.connect(str(path), read_only=True) as con:
        out = {}
        for table in TABLES:
            cols = [(c[0], str(c[1])) for c in con.execute(f"SELECT * FROM main.{table} LIMIT 0").description]
            out[table] = (cols, sorted(con.execute(f"SELECT * FROM main.{table}").fetchall(), key=repr))
        return out
