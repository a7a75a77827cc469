"""Fixtures for model tests: small dbt projects written into tmp_path."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from meshkit.core.context import Meshkit
from meshkit.core.workspace import Workspace

PROJECTS = Path(__file__).parent / "projects"

PROFILE = """\
{name}:
  target: dev
  outputs:
    dev:
      type: duckdb
      path: warehouse.duckdb
      threads: 2
"""


def write_project(root: Path, files: dict[str, str], name: str = "proj") -> Path:
    """A dbt project at ``root`` with ``files`` (path -> text) plus dbt_project.yml and profiles.yml."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dbt_project.yml").write_text(f"name: {name}\nprofile: {name}\nconfig-version: 2\n")
    (root / "profiles.yml").write_text(PROFILE.format(name=name))
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


@pytest.fixture
def make_project(tmp_path):
    """``make_project(files, plugins=...)`` -> (Meshkit, project folder); the Meshkit is closed after the test."""
    opened: list[Meshkit] = []

    def make(
        files: dict[str, str], name: str = "proj", folder: str = "proj", plugins=()
    ) -> tuple[Meshkit, Path]:
        root = write_project(tmp_path / folder, files, name)
        mk = Meshkit(Workspace(root=root), plugins=plugins, load_entrypoints=False)
        opened.append(mk)
        return mk, root

    yield make
    for mk in opened:
        mk.close()


@pytest.fixture
def shop(tmp_path):
    """A copy of the ``shop`` test project and a Meshkit on it."""
    root = tmp_path / "shop"
    shutil.copytree(PROJECTS / "shop", root)
    mk = Meshkit(Workspace(root=root), load_entrypoints=False)
    yield mk, root
    mk.close()


@pytest.fixture
def query():
    """``query(mk, root, sql, db)``: rows of ``sql`` on the project's DuckDB file, through meshkit's store."""

    def run(mk: Meshkit, project_root: Path, sql: str, db: str = "warehouse.duckdb"):
        store = mk.store(f"duckdb:///{(project_root / db).resolve()}")
        return store.connection.cursor().execute(sql).fetchall()

    return run
