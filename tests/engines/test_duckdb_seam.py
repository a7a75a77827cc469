"""Only the engines and the DuckDB store import ``duckdb``: everything else reaches it through the engine.

Imports inside functions count too, as in the layering test.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "meshkit"

#: Where DuckDB is used directly: the engine package and the DuckDB store.
ALLOWED = ("engines/", "data/stores/duckdb.py")


def imports_duckdb(path: Path) -> bool:
    """Whether the module imports ``duckdb`` (or one of its submodules), at any depth."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "duckdb" for a in node.names):
            return True
        if (
            isinstance(node, ast.ImportFrom)
            and node.level == 0
            and (node.module or "").split(".")[0] == "duckdb"
        ):
            return True
    return False


MODULES = sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_only_the_engines_import_duckdb(path):
    name = path.relative_to(SRC).as_posix()
    if name.startswith(ALLOWED):
        return
    assert not imports_duckdb(path), f"{name} imports duckdb: use meshkit.engines (DuckDBEngine) instead"


def test_the_rule_sees_lazy_and_from_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from duckdb import connect\n")
    assert imports_duckdb(module)
    module.write_text("from meshkit.engines import duckdb\nx = 'import duckdb'\n")
    assert not imports_duckdb(module)
