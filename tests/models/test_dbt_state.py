"""State artifacts dbt and meshkit both read: ``state:modified`` against the other tool's target.

dbt's ``dbt ls -s state:modified --state <meshkit's target>`` lists nothing for an unchanged project and
exactly the changed nodes after an edit; ``meshkit ls -s state:modified --state <dbt's target>`` agrees.
Runs where the benchmark's dbt environment exists (``.ci/run`` creates it), like the equality test.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from meshkit.core.context import Meshkit
from meshkit.core.workspace import Workspace
from meshkit.models import BuildOptions, execute, open_project
from meshkit.testing import run_cli

DBT = Path(__file__).resolve().parents[2] / "benchmarks" / ".work" / "dbt-venv" / "bin" / "dbt"
SHOP = Path(__file__).parent / "projects" / "shop"

pytestmark = pytest.mark.skipif(
    not DBT.exists(), reason=f"dbt environment absent ({DBT}); run benchmarks/bench_models.py to create it"
)


@pytest.fixture
def states(tmp_path, monkeypatch):
    """The shop project, and ``(meshkit's target, dbt's target)`` of it as it is now."""
    # dbt on PATH, as where a user runs both: meshkit lists dbt's own macros from it
    monkeypatch.setenv("PATH", f"{DBT.parent}{os.pathsep}{os.environ['PATH']}")
    root = tmp_path / "shop"
    shutil.copytree(SHOP, root)
    with Meshkit(Workspace(root=root), load_entrypoints=False) as mk:
        assert not execute(mk, open_project(mk, root), BuildOptions(threads=2)).failed
    shutil.copytree(root / "target", tmp_path / "meshkit-state")
    shutil.rmtree(root / "target")
    _dbt(root, "parse", "--target-path", str(tmp_path / "dbt-state"))
    return root, tmp_path / "meshkit-state", tmp_path / "dbt-state"


def _dbt(root: Path, *args: str) -> str:
    env = {**os.environ, "DBT_PROFILES_DIR": str(root), "DBT_SEND_ANONYMOUS_USAGE_STATS": "false"}
    result = subprocess.run([str(DBT), *args], cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    return result.stdout


def dbt_modified(root: Path, state: Path) -> set[str]:
    out = _dbt(root, "ls", "-s", "state:modified", "--state", str(state), "--output", "json",
               "--output-keys", "unique_id", "--quiet")  # fmt: skip
    return {
        line.split('"unique_id": "')[1].rstrip('"}') for line in out.splitlines() if '"unique_id"' in line
    }


def meshkit_modified(root: Path, state: Path) -> set[str]:
    result = run_cli(
        ["ls", "-s", "state:modified", "--state", str(state), "--output", "json"], workspace=root
    )
    assert result.exit_code == 0, result.output
    return {
        line.split('"unique_id": "')[1].split('"')[0]
        for line in result.output.splitlines()
        if '"unique_id"' in line
    }


def test_an_unchanged_project_is_unchanged_to_both_tools(states):
    root, meshkit_state, dbt_state = states
    assert dbt_modified(root, meshkit_state) == set()
    assert meshkit_modified(root, dbt_state) == set()


def test_an_edited_model_macro_and_config_are_modified_to_both_tools(states):
    root, meshkit_state, dbt_state = states
    model = root / "models" / "staging" / "stg_customers.sql"
    model.write_text(model.read_text().replace("score", "score, 1 as extra"))
    macro = root / "macros" / "cents.sql"
    macro.write_text(macro.read_text().replace("100.0", "100.00"))
    seed = root / "seeds" / "raw_customers.csv"
    seed.write_text(seed.read_text() + "\n")  # whitespace at the end: the same seed to dbt
    by_dbt = dbt_modified(root, meshkit_state)
    # stg_orders calls cents_to_dollars; both tools add the tests of what they select
    assert {u for u in by_dbt if not u.startswith("test.")} == {
        "model.shop.stg_customers",
        "model.shop.stg_orders",
    }
    assert "test.shop.assert_no_future_orders" in by_dbt
    assert meshkit_modified(root, dbt_state) == by_dbt


def test_catalog_json_is_dbts(states, tmp_path):
    import json

    from meshkit.models.artifacts import catalog
    from meshkit.models.models import open_warehouse

    root, _, _ = states
    _dbt(root, "build")
    _dbt(root, "docs", "generate", "--target-path", str(tmp_path / "dbt-docs"))
    expected = json.loads((tmp_path / "dbt-docs" / "catalog.json").read_text())
    with Meshkit(Workspace(root=root), load_entrypoints=False) as mk:
        project = open_project(mk, root)
        ours = catalog(project, open_warehouse(mk, project).connection, "x")
    assert ours["nodes"] == expected["nodes"] and ours["sources"] == expected["sources"]
    result = run_cli(["docs", "generate", "--project-dir", str(root)], workspace=root)
    assert result.exit_code == 0, result.output
    written = json.loads((root / "target" / "catalog.json").read_text())
    assert written["nodes"] == expected["nodes"]
    assert set(ours["metadata"]) == set(expected["metadata"]) - {"invocation_started_at"}
