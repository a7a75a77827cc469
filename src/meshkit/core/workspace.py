"""The workspace: a folder (usually a git repo) holding jobs, specs and ``meshkit.toml``.

State that is not code lives under ``.meshkit/``: the warehouse DuckDB file, the metadata
database, run logs and keys. A folder without ``meshkit.toml`` is still a workspace, so an
existing VDK job runs with ``meshkit run`` where it stands.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from meshkit.core.errors import ConfigError
from meshkit.core.files import read_text

WORKSPACE_FILE = "meshkit.toml"
STATE_DIR = ".meshkit"


@dataclass
class Workspace:
    """A workspace root and the parsed ``meshkit.toml``."""

    root: Path
    settings: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def find(cls, start: str | Path | None = None) -> Workspace:
        """The workspace containing ``start`` (default: the current folder).

        Looks upward for ``meshkit.toml``; without one, ``start`` itself is the workspace.
        """
        start = Path(start or Path.cwd()).resolve()
        for folder in (start, *start.parents):
            if (folder / WORKSPACE_FILE).is_file():
                return cls.load(folder)
        return cls(root=start)

    @classmethod
    def load(cls, root: str | Path) -> Workspace:
        """Read the workspace at ``root``; a malformed ``meshkit.toml`` is a ConfigError naming the line."""
        root = Path(root).resolve()
        path = root / WORKSPACE_FILE
        settings: dict[str, Any] = {}
        if path.is_file():
            try:
                settings = tomllib.loads(read_text(path))
            except tomllib.TOMLDecodeError as exc:
                raise ConfigError(
                    f"Cannot parse {WORKSPACE_FILE}: {exc}.", where=str(path), hint="Fix the TOML syntax."
                ) from None
        return cls(root=root, settings=settings)

    @property
    def name(self) -> str:
        return self.settings.get("workspace", {}).get("name", self.root.name)

    @property
    def state_dir(self) -> Path:
        """``.meshkit/`` (created on first use)."""
        path = self.root / STATE_DIR
        path.mkdir(exist_ok=True)
        return path

    @property
    def jobs_dir(self) -> Path:
        return self.root / "jobs"

    @property
    def config_values(self) -> dict[str, Any]:
        """The ``[config]`` table of ``meshkit.toml``."""
        return dict(self.settings.get("config", {}))

    @property
    def store_settings(self) -> dict[str, dict[str, Any]]:
        """The ``[stores.NAME]`` tables of ``meshkit.toml``."""
        return dict(self.settings.get("stores", {}))

    def local_plugins(self) -> list[str]:
        """Module names of ``[workspace] plugins``; the workspace root is put on ``sys.path`` for them."""
        names = list(self.settings.get("workspace", {}).get("plugins", []))
        if names and str(self.root) not in sys.path:
            sys.path.insert(0, str(self.root))
        return names

    def resolve(self, path: str | Path) -> Path:
        """``path`` relative to the workspace root unless absolute."""
        path = Path(path).expanduser()
        return path if path.is_absolute() else self.root / path

    def find_job(self, name_or_path: str) -> Path:
        """The folder of a job given by path or by name under ``jobs/``."""
        for candidate in (Path(name_or_path), self.root / name_or_path, self.jobs_dir / name_or_path):
            if candidate.is_dir():
                return candidate.resolve()
        known = (
            sorted(p.name for p in self.jobs_dir.iterdir() if p.is_dir()) if self.jobs_dir.is_dir() else []
        )
        hint = f"Known jobs: {', '.join(known)}." if known else "Create one with `meshkit create job NAME`."
        raise ConfigError(
            f"No job `{name_or_path}` found (looked for a folder of that name here and under jobs/).",
            hint=hint,
        )


WORKSPACE_TEMPLATE = """\
# meshkit workspace. Every key is optional; `meshkit config` lists them all.
[workspace]
name = "{name}"

[config]
# db_default_type = "duckdb"      # managed connection for jobs: duckdb, sqlite, postgres, mysql

# Stores are named places data lives. Credentials are references, never values:
# [stores.ops]
# type = "postgres"
# dsn = "env:OPS_DSN"
"""

GITIGNORE = ".meshkit/\n"


def init_workspace(root: str | Path, name: str | None = None) -> Workspace:
    """Scaffold a workspace at ``root``: ``meshkit.toml``, ``jobs/``, ``.meshkit/``."""
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    toml = root / WORKSPACE_FILE
    if toml.exists():
        raise ConfigError(
            f"{toml} already exists.", hint="Choose an empty folder or edit the existing workspace."
        )
    toml.write_text(WORKSPACE_TEMPLATE.format(name=name or root.name))
    (root / "jobs").mkdir(exist_ok=True)
    gitignore = root / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(GITIGNORE)
    workspace = Workspace.load(root)
    workspace.state_dir  # noqa: B018 - creates .meshkit/
    return workspace
