"""The workspace: a folder (usually a git repo) holding jobs, specs and ``meshkit.toml``.

State that is not code lives under ``.meshkit/``: the warehouse DuckDB file, the metadata
database, run logs and keys. A folder without ``meshkit.toml`` is still a workspace, so an
existing VDK job runs with ``meshkit run`` where it stands.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomllib

from meshkit.core.errors import ConfigError
from meshkit.core.files import read_text

WORKSPACE_FILE = "meshkit.toml"
STATE_DIR = ".meshkit"
DBT_PROJECT_FILE = "dbt_project.yml"
#: The owning team of a workspace created without one.
DEFAULT_TEAM = "my-team"


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
    def require(cls, start: str | Path | None = None) -> Workspace:
        """The workspace containing ``start``; a ConfigError when there is none.

        A workspace is a folder with ``meshkit.toml`` (here or above) or a dbt project
        (``dbt_project.yml``), which runs where it stands. Nothing is created when there is none.
        """
        workspace = cls.find(start)
        if (workspace.root / WORKSPACE_FILE).is_file() or (workspace.root / DBT_PROJECT_FILE).is_file():
            return workspace
        raise ConfigError(
            f"{workspace.root} is not in a meshkit workspace (no {WORKSPACE_FILE} here or in a parent folder).",
            hint="Create one with `meshkit init DIRECTORY`, then `cd` into it, or pass `--workspace DIRECTORY`.",
        )

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

EXAMPLES_TEMPLATE = """\
team = "{team}"                 # owner of what this workspace's jobs, transfers and builds write

[stores.files]
type = "files"
path = "data"
format = "csv"

# Who runs commands here: `meshkit query` and `meshkit policy eval` take the role and team of
# the user ($USER) from this table; add a [governance.subjects.NAME] table per colleague.
[governance.subjects.{user_key}]
role = "engineer"
team = "{team}"
"""

#: The example of each kind of workspace content, copied by ``meshkit init``.
EXAMPLES = Path(__file__).parent.parent / "scaffold" / "workspace"

GITIGNORE = ".meshkit/\n"


def fill_example(text: str, team: str) -> str:
    """An example's text for this user and ``team``."""
    import getpass

    return text.replace("__TEAM__", team).replace("__USER__", getpass.getuser())


def init_workspace(
    root: str | Path, name: str | None = None, *, examples: bool = False, team: str = DEFAULT_TEAM
) -> Workspace:
    """Scaffold a workspace at ``root``: ``meshkit.toml``, ``jobs/``, ``.meshkit/``.

    With ``examples``, also one small working example per folder (transfers, models, products,
    checks, policies, pipelines), owned by ``team``, whose policies let the current user read it.
    """
    import getpass

    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    toml = root / WORKSPACE_FILE
    if toml.exists():
        raise ConfigError(
            f"{toml} already exists.", hint="Choose an empty folder or edit the existing workspace."
        )
    text = WORKSPACE_TEMPLATE.format(name=name or root.name)
    if examples:
        user = getpass.getuser()
        text = text.replace(
            "\n# Stores are",
            "\n" + EXAMPLES_TEMPLATE.format(team=team, user_key=json.dumps(user)) + "\n# Stores are",
            1,
        )
        for source in sorted(EXAMPLES.rglob("*")):
            target = root / source.relative_to(EXAMPLES)
            if source.is_dir():
                target.mkdir(exist_ok=True)
            elif not target.exists():
                target.write_text(fill_example(source.read_text(), team))
    toml.write_text(text)
    (root / "jobs").mkdir(exist_ok=True)
    gitignore = root / ".gitignore"
    if not gitignore.exists():
        gitignore.write_text(GITIGNORE)
    workspace = Workspace.load(root)
    workspace.state_dir  # noqa: B018 - creates .meshkit/
    return workspace
