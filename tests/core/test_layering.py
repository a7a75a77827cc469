"""Dependencies point inward: the import rule of docs/architecture.md, checked on every module's AST.

Imports inside functions count too: a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src" / "meshkit"

#: The outer layers: they call the domain packages, and no domain package calls them (``serving``: the
#: SQL endpoints and data API that BI tools and applications connect to).
OUTER = {"cli", "service", "serving", "demo"}
#: What each package must not import, besides the outer layers; ``core`` imports only itself.
FORBIDDEN = {"quality": {"models"}}
#: The exceptions docs/architecture.md names: modules that drive the outer layers on purpose.
EXCEPTIONS = {
    "testing": {"cli"},  # plugin authors' test helpers run the command line in-process
}


def package_of(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return parts[0]


def imported_packages(path: Path) -> set[str]:
    """The ``meshkit.<package>`` names a module imports, at any depth."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        names = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        for name in names:
            parts = name.split(".")
            if parts[0] == "meshkit" and len(parts) > 1:
                found.add(parts[1])
    return found


MODULES = sorted(p for p in SRC.rglob("*.py") if "migrations" not in p.parts)


def violations(path: Path) -> set[str]:
    package = package_of(path)
    if package in OUTER or package in (
        "__init__",
        "__main__",
    ):  # __main__: ``python -m meshkit`` runs the CLI
        return set()
    imported = imported_packages(path) - {package}
    if package == "core":
        return imported
    banned = OUTER | FORBIDDEN.get(package, set())
    return (imported & banned) - EXCEPTIONS.get(package, set())


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(SRC)))
def test_module_follows_the_import_rule(path):
    assert violations(path) == set(), f"{path.relative_to(SRC)} imports {sorted(violations(path))}"


def test_rule_sees_lazy_imports(tmp_path):
    module = tmp_path / "m.py"
    module.write_text(
        "def f():\n    from meshkit.service.app import create_app\n    import meshkit.cli.main\n"
    )
    assert imported_packages(module) == {"service", "cli"}
