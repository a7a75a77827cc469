"""The notebook of examples/quickstart runs as a Jupyter kernel runs it: code cells in order, in one
namespace, from the notebook's folder."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

from meshkit.core.context import Meshkit

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"

KERNEL = """
import json, sys
import nbformat

namespace = {}
for cell in nbformat.read(sys.argv[1], as_version=4).cells:
    if cell.cell_type == "code":
        exec(compile(cell.source, "<cell>", "exec"), namespace)
print(json.dumps(namespace["pizzas"].to_pylist()))
"""


def test_orders_notebook_uses_meshkit_job(tmp_path):
    workspace = tmp_path / "quickstart"
    shutil.copytree(QUICKSTART, workspace, ignore=shutil.ignore_patterns(".meshkit"))
    notebooks = workspace / "notebooks"
    result = subprocess.run([sys.executable, "-c", KERNEL, "orders_with_meshkit_job.ipynb"], cwd=notebooks,
                            capture_output=True, text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == [
        {"branch": "sofia", "pizzas": 5},
        {"branch": "varna", "pizzas": 1},
    ]
    with Meshkit.open(workspace) as mk:
        runs = mk.runs.list(kind="job")
        assert [(r.name, r.status) for r in runs] == [("load_orders", "succeeded")] * 2
