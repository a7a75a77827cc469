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
        ours = catalog(project, open_warehouse(mk, project), "x")
    assert ours["nodes"] == expected["nodes"] and ours["sources"] == expected["sources"]
    result = run_cli(["docs", "generate", "--project-dir", str(root)], workspace=root)
    assert result.exit_code == 0, result.output
    written = json.loads((root / "target" / "catalog.json").read_text())
    assert written["nodes"] == expected["nodes"]
    assert set(ours["metadata"]) == set(expected["metadata"]) - {"invocation_started_at"}


def test_package_test_configs_and_hooks_are_dbts(tmp_path, monkeypatch):
    """The ``features`` project: a package's generic test whose macro calls ``config(severity='warn')``
    is configured at load as dbt parses it, so neither tool sees it modified against the other's target;
    the ``on-run-start``/``on-run-end`` hooks are operation nodes of both manifests and run results."""
    import json

    monkeypatch.setenv("FEATURES_COUNTRY", "fi")
    monkeypatch.setenv("PATH", f"{DBT.parent}{os.pathsep}{os.environ['PATH']}")
    projects = Path(__file__).parent / "projects"
    for name in ("features", "greetings"):
        for side in ("dbt", "mk"):
            shutil.copytree(projects / name, tmp_path / side / name)
    dbt_root, mk_root = tmp_path / "dbt" / "features", tmp_path / "mk" / "features"
    _dbt(dbt_root, "deps")
    _dbt(dbt_root, "build")
    with Meshkit(Workspace(root=mk_root), load_entrypoints=False) as mk:
        project = open_project(mk, mk_root)
        test = next(n for n in project.nodes.values() if n.name.startswith("greetings_in_range"))
        assert test.config["severity"] == "warn" and test.unrendered_config == {"severity": "warn"}
        report = execute(mk, project, BuildOptions(threads=2, select=["+greeted"]))
    assert not report.failed
    assert dbt_modified(dbt_root, mk_root / "target") == set()
    assert meshkit_modified(mk_root, dbt_root / "target") == set()
    theirs = json.loads((dbt_root / "target" / "manifest.json").read_text())["nodes"]
    ours = json.loads((mk_root / "target" / "manifest.json").read_text())["nodes"]
    operations = sorted(u for u in theirs if u.startswith("operation."))
    assert operations == sorted(u for u in ours if u.startswith("operation.")) and len(operations) == 3
    for uid in operations:
        for key in (
            "fqn",
            "path",
            "original_file_path",
            "checksum",
            "tags",
            "unrendered_config",
            "raw_code",
            "alias",
        ):
            assert ours[uid][key] == theirs[uid][key], (uid, key)
    dbt_run = json.loads((dbt_root / "target" / "run_results.json").read_text())["results"]
    mk_run = json.loads((mk_root / "target" / "run_results.json").read_text())["results"]
    hooks = [
        (r["unique_id"], r["status"], r["message"])
        for r in dbt_run
        if r["unique_id"].startswith("operation.")
    ]
    assert [
        (r["unique_id"], r["status"], r["message"]) for r in mk_run if r["unique_id"].startswith("operation.")
    ] == hooks
    assert (
        mk_run[0]["unique_id"] == dbt_run[0]["unique_id"]
        and mk_run[-1]["unique_id"] == dbt_run[-1]["unique_id"]
    )
