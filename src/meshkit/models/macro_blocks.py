"""The macros of macro files as dbt's manifest lists them, and dbt's own macros where dbt is installed.

dbt's ``state:modified`` compares each macro's source (``macro_sql``) with the one in the state
manifest; listing the same blocks under the same unique ids keeps an unchanged project unchanged.
"""

from __future__ import annotations

import importlib.util
import re
import shutil
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from meshkit.core.files import read_text

# As dbt's block lexer: a tag opened with ``{%-`` takes the whitespace before it, one closed with ``-%}``
# the whitespace after it; comments are skipped.
_OPEN, _CLOSE = r"(?:\s*\{%-|\{%)\s*", r"(?:-%\}\s*|%\})"
_BLOCK = re.compile(
    rf"(?P<comment>\s*\{{#.*?#\}})|(?P<block>{_OPEN}(?P<kind>macro|test|materialization)\s+(?P<name>\w+)"
    rf"(?P<args>.*?){_CLOSE}.*?{_OPEN}end(?P=kind)\s*{_CLOSE})",
    re.S,
)
_ADAPTER = re.compile(r"""adapter\s*=\s*['"](\w+)['"]""")


def macro_blocks(package: str, path: str, text: str) -> dict[str, dict[str, Any]]:
    """The macros of one file by unique id, with dbt's names for test and materialization blocks."""
    out = {}
    for match in _BLOCK.finditer(text.strip()):  # dbt reads files stripped
        if match.group("block") is None:
            continue
        kind, name = match.group("kind"), match.group("name")
        if kind == "test":
            name = f"test_{name}"
        elif kind == "materialization":
            adapter = _ADAPTER.search(match.group("args"))
            name = f"materialization_{name}_{adapter.group(1) if adapter else 'default'}"
        uid = f"macro.{package}.{name}"
        out[uid] = {"name": name, "resource_type": "macro", "package_name": package, "path": path,
                    "original_file_path": path, "unique_id": uid, "macro_sql": match.group("block"),
                    "depends_on": {"macros": []}, "description": "", "meta": {},
                    "docs": {"show": True, "node_color": None}, "patch_path": None, "arguments": [],
                    "supported_languages": None}  # fmt: skip
    return out


def dbt_macros() -> dict[str, dict[str, Any]]:
    """dbt's own macros (its global project and the DuckDB adapter's), read from the dbt installed in
    this environment or found on ``PATH``; ``{}`` without one."""
    return _read_projects(tuple(_dbt_include_projects()))


@cache
def _read_projects(projects: tuple[Path, ...]) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for project in projects:
        settings = yaml.safe_load(read_text(project / "dbt_project.yml")) or {}
        package = settings.get("name", project.name)
        folders = [
            *settings.get("macro-paths", ["macros"]),
            *(f"{t}/generic" for t in settings.get("test-paths", ["tests"])),
        ]
        for folder in folders:
            for file in sorted((project / folder).rglob("*.sql")):
                out.update(macro_blocks(package, file.relative_to(project).as_posix(), read_text(file)))
    return out


def _dbt_include_projects() -> list[Path]:
    roots: list[Path] = []
    spec = importlib.util.find_spec("dbt")
    if spec is not None and spec.submodule_search_locations:
        roots += [Path(p) / "include" for p in spec.submodule_search_locations]
    executable = shutil.which("dbt")
    if executable:
        first = Path(executable).read_bytes()[:512].split(b"\n", 1)[0]
        if first.startswith(b"#!"):
            prefix = Path(first[2:].decode(errors="replace").strip().split()[0]).parent.parent
            roots += sorted(prefix.glob("lib/python*/site-packages/dbt/include"))
    for root in roots:
        found = [d for d in (root / "global_project", root / "duckdb") if (d / "dbt_project.yml").is_file()]
        if found:
            return found
    return []
