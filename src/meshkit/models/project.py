"""Load a project: a plain dbt project (``dbt_project.yml`` + ``profiles.yml`` with a duckdb target) or
the ``models/`` folder of a meshkit workspace, rendered into nodes with their dependencies.

Loading renders every SQL file once (``is_incremental()`` false), as ``dbt parse`` does: refs become
placeholders first and are replaced once every node's final relation is known.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshkit.core.files import read_text
from meshkit.models.configuration import config_for, merge_config
from meshkit.models.exceptions import ModelCompileError, UnsupportedFeatureError
from meshkit.models.jinja import Renderer, RenderState, _RenderError
from meshkit.models.nodes import Node, Relation, Source
from meshkit.models.properties import column_specs, load_properties, read_yaml

_REF_TOKEN = re.compile("\x00ref:([^\x00]*)\x00")
_SNAPSHOT_BLOCK = re.compile(r"\{%-?\s*snapshot\s+(\w+)\s*-?%\}(.*?)\{%-?\s*endsnapshot\s*-?%\}", re.S)


@dataclass
class Profile:
    """The duckdb target the project builds into."""

    path: str
    database: str
    schema: str = "main"
    threads: int = 0
    target_name: str = "dev"
    profile_name: str = "default"

    def as_target(self) -> dict[str, Any]:
        return {"name": self.target_name, "schema": self.schema, "database": self.database, "type": "duckdb",
                "threads": self.threads, "profile_name": self.profile_name, "path": self.path}  # fmt: skip


@dataclass
class Project:
    """A loaded project: its settings, nodes, sources and renderer."""

    root: Path
    name: str
    kind: str  # "dbt" or "workspace"
    profile: Profile
    target_dir: Path
    settings: dict[str, Any]
    renderer: Renderer
    nodes: dict[str, Node] = field(default_factory=dict)
    sources: dict[str, Source] = field(default_factory=dict)
    #: ``ref`` name -> unique id.
    by_name: dict[str, str] = field(default_factory=dict)

    def node(self, name_or_id: str) -> Node:
        """A node by unique id or by ``ref`` name."""
        uid = name_or_id if name_or_id in self.nodes else self.by_name.get(name_or_id)
        if uid is None:
            raise ModelCompileError(
                f"No model, seed or snapshot named `{name_or_id}`.", hint="`meshkit ls` lists them."
            )
        return self.nodes[uid]

    def relation_of(self, uid: str) -> Relation | None:
        node = self.nodes.get(uid)
        return node.relation if node is not None else self.sources[uid].relation

    def render(self, node: Node, *, is_incremental: bool = False, ref=None, source=None) -> str:
        """Render ``node`` again (at run time, for ``is_incremental()`` or unit-test fixtures)."""
        state = RenderState(node, ref or self._final_ref, source or self._source, is_incremental=is_incremental,
                            config={})  # fmt: skip
        sql = self.renderer.render(node.raw_code, node.original_file_path, state)
        return sql[len("\n" * node.line_offset) :] if node.line_offset else sql

    def render_hook(self, node: Node, text: str) -> str:
        state = RenderState(node, self._final_ref, self._source)
        return self.renderer.render_string(text, node.original_file_path, state)

    # ------------------------------------------------------------------ resolution

    def _placeholder_ref(self, name: str, node: Node) -> str:
        if name not in self.by_name:
            raise _RenderError(f"`ref('{name}')` names no model, seed or snapshot of this project.",
                               hint="Check the name, or add the model.")  # fmt: skip
        return f"\x00ref:{name}\x00"

    def _final_ref(self, name: str, node: Node) -> str:
        if name not in self.by_name:
            raise _RenderError(f"`ref('{name}')` names no model, seed or snapshot of this project.")
        target = self.nodes[self.by_name[name]]
        return (
            f"__dbt__cte__{target.name}" if target.materialized == "ephemeral" else target.relation.render()
        )

    def _source(self, source_name: str, table_name: str, node: Node) -> str:
        uid = f"source.{self.name}.{source_name}.{table_name}"
        if uid not in self.sources:
            raise _RenderError(f"`source('{source_name}', '{table_name}')` is not declared.",
                               hint="Declare it under `sources:` in a properties YAML file.")  # fmt: skip
        return self.sources[uid].relation.render()

    def resolve_placeholders(self, sql: str) -> str:
        return _REF_TOKEN.sub(lambda m: self._final_ref(m.group(1), None), sql) if "\x00" in sql else sql


# ---------------------------------------------------------------------------- settings and profile


def find_project_root(path: str | Path | None, workspace_root: Path | None = None) -> tuple[Path, str]:
    """``(root, kind)``: a folder with ``dbt_project.yml`` is a dbt project, else a workspace."""
    root = Path(path or workspace_root or Path.cwd()).resolve()
    if (root / "dbt_project.yml").is_file():
        return root, "dbt"
    if path is not None and not (root / "models").is_dir():
        raise ModelCompileError(f"`{root}` holds neither dbt_project.yml nor a models/ folder.",
                                hint="Pass --project-dir with a dbt project, or add models/ to the workspace.")  # fmt: skip
    return root, "workspace"


def _dbt_settings(root: Path) -> dict[str, Any]:
    settings, _ = read_yaml(root / "dbt_project.yml", "dbt_project.yml")
    settings = settings or {}
    for key in ("on-run-start", "on-run-end"):
        if settings.get(key):
            raise UnsupportedFeatureError(f"`{key}` hooks are not supported.", where="dbt_project.yml",
                                          hint="Move the SQL into a model's pre_hook/post_hook.")  # fmt: skip
    if "name" not in settings:
        raise ModelCompileError("dbt_project.yml has no `name`.", where="dbt_project.yml")
    return {**WORKSPACE_DEFAULTS, "test-paths": ["tests"], **settings}


def _dbt_profile(root: Path, settings: dict[str, Any], target: str | None, renderer_vars: dict) -> Profile:
    candidates = [Path(os.environ["DBT_PROFILES_DIR"])] if os.environ.get("DBT_PROFILES_DIR") else []
    candidates += [root, Path.home() / ".dbt"]
    path = next((c / "profiles.yml" for c in candidates if (c / "profiles.yml").is_file()), None)
    if path is None:
        raise ModelCompileError("No profiles.yml found (looked in DBT_PROFILES_DIR, the project and ~/.dbt).",
                                hint="Add a profiles.yml with a duckdb target next to dbt_project.yml.")  # fmt: skip
    text = (
        Renderer(vars=renderer_vars, target={}, project_name=settings["name"])
        .env.from_string(read_text(path))
        .render()
    )
    import yaml

    profiles = yaml.safe_load(text) or {}
    profile_name = settings.get("profile", settings["name"])
    profile = profiles.get(profile_name)
    if not profile:
        raise ModelCompileError(f"Profile `{profile_name}` is not in {path}.", where=str(path))
    target_name = target or profile.get("target", "dev")
    output = (profile.get("outputs") or {}).get(target_name)
    if output is None:
        raise ModelCompileError(
            f"Target `{target_name}` is not in profile `{profile_name}`.", where=str(path)
        )
    if output.get("type") != "duckdb":
        raise UnsupportedFeatureError(
            f"Target `{target_name}` is of type `{output.get('type')}`; only duckdb runs here.",
            where=str(path),
        )
    db_path = str(output.get("path", ":memory:"))
    if db_path != ":memory:" and not os.path.isabs(db_path):
        db_path = str((root / db_path).resolve())
    database = output.get("database") or ("memory" if db_path == ":memory:" else Path(db_path).stem)
    return Profile(
        db_path,
        database,
        output.get("schema", "main"),
        int(output.get("threads", 0) or 0),
        target_name,
        profile_name,
    )


WORKSPACE_DEFAULTS = {"model-paths": ["models"], "seed-paths": ["seeds"], "snapshot-paths": ["snapshots"],
                      "macro-paths": ["macros"], "test-paths": ["data_tests"]}  # fmt: skip


# ---------------------------------------------------------------------------- loading


def load_project(path: str | Path | None = None, *, meshkit=None, target: str | None = None,
                 vars: dict[str, Any] | None = None) -> Project:  # fmt: skip
    """Load and render the project at ``path`` (a dbt project) or the workspace's ``models/``."""
    root, kind = find_project_root(path, meshkit.workspace.root if meshkit is not None else None)
    if kind == "dbt":
        settings = _dbt_settings(root)
        project_vars = {**(settings.get("vars") or {}), **(vars or {})}
        profile = _dbt_profile(root, settings, target, project_vars)
        target_dir = root / settings.get("target-path", "target")
    else:
        ws = meshkit.workspace if meshkit is not None else None
        settings = {
            "name": (ws.name if ws else root.name),
            **WORKSPACE_DEFAULTS,
            **((ws.settings if ws else {}).get("models", {})),
        }
        settings["name"] = re.sub(r"\W", "_", str(settings["name"]))
        project_vars = {**(settings.get("vars") or {}), **(vars or {})}
        store = meshkit.store(settings.get("store", "warehouse")) if meshkit is not None else None
        db_path = getattr(store, "path", ":memory:")
        database = "memory" if db_path == ":memory:" else Path(db_path).stem
        profile = Profile(db_path, database, settings.get("schema", "main"), 0, "workspace", settings["name"])
        target_dir = (ws.state_dir if ws else root / ".meshkit") / "target"
    macro_files = []
    for folder in [
        *settings.get("macro-paths", ["macros"]),
        *(f"{t}/generic" for t in settings.get("test-paths", ["tests"])),
    ]:
        for file in sorted((root / folder).rglob("*.sql")):
            macro_files.append((str(file.relative_to(root)), read_text(file)))
    renderer = Renderer(
        vars=project_vars, target=profile.as_target(), project_name=settings["name"], macro_files=macro_files
    )
    project = Project(root, settings["name"], kind, profile, target_dir, settings, renderer)
    _Loader(project).load()
    return project


class _Loader:
    """Builds the nodes of a project."""

    def __init__(self, project: Project):
        self.p = project
        self.s = project.settings

    def load(self) -> None:
        from meshkit.models.graph import link
        from meshkit.models.loaders import add_sources, add_tests, add_unit_tests

        p = self.p
        yaml_files = []
        for key in ("model-paths", "seed-paths", "snapshot-paths", "test-paths"):
            for folder in self.s.get(key, []):
                for ext in ("*.yml", "*.yaml"):
                    yaml_files += [
                        (f, str(f.relative_to(p.root))) for f in sorted((p.root / folder).rglob(ext))
                    ]
        props = load_properties(yaml_files)
        add_sources(p, props)
        files = self._files()
        for resource, file, name, body, offset in files:
            self._add(resource, file, name, body, offset, props)
        for entry in props.resources["snapshots"].values():
            if "relation" in entry and entry["name"] not in p.by_name:
                self._add_yaml_snapshot(entry, props)
        self._render_all()
        add_tests(p, props)
        add_unit_tests(p, props)
        link(p)

    def _files(self) -> list[tuple[str, Path, str, str, int]]:
        p, out = self.p, []
        for folder in self.s.get("model-paths", ["models"]):
            base = p.root / folder
            for file in sorted(base.rglob("*.py")):
                raise UnsupportedFeatureError("Python models are not supported by meshkit.", where=str(file.relative_to(p.root)),
                                              hint="Write the model in SQL, or run the Python as a data job.")  # fmt: skip
            out += [("model", f, f.stem, read_text(f), 0) for f in sorted(base.rglob("*.sql"))]
        for folder in self.s.get("seed-paths", ["seeds"]):
            out += [("seed", f, f.stem, "", 0) for f in sorted((p.root / folder).rglob("*.csv"))]
        for folder in self.s.get("snapshot-paths", ["snapshots"]):
            for file in sorted((p.root / folder).rglob("*.sql")):
                text = read_text(file)
                for match in _SNAPSHOT_BLOCK.finditer(text):
                    offset = text.count("\n", 0, match.start(2))
                    out.append(("snapshot", file, match.group(1), "\n" * offset + match.group(2), offset))
        for folder in self.s.get("test-paths", ["tests"]):
            base = p.root / folder
            out += [
                ("test", f, f.stem, read_text(f), 0)
                for f in sorted(base.rglob("*.sql"))
                if "generic" not in f.relative_to(base).parts[:-1]
            ]
        return out

    def _folder_parts(self, file: Path, resource: str) -> list[str]:
        key = {
            "model": "model-paths",
            "seed": "seed-paths",
            "snapshot": "snapshot-paths",
            "test": "test-paths",
        }[resource]
        for folder in self.s.get(key, []):
            base = self.p.root / folder
            if base in file.parents:
                return list(file.relative_to(base).parts[:-1])
        return []

    def _add(self, resource: str, file: Path, name: str, body: str, offset: int, props) -> None:
        p = self.p
        rel = str(file.relative_to(p.root))
        entry = props.resources.get(resource + "s", {}).get(name, {}) if resource != "test" else {}
        parts = self._folder_parts(file, resource)
        tree_key = {"model": "models", "seed": "seeds", "snapshot": "snapshots", "test": "data_tests"}[
            resource
        ]
        tree = self.s.get(tree_key) or (self.s.get("tests") if resource == "test" else None)
        config = config_for(resource, tree, p.name, parts, entry.get("config") or {})
        uid = f"{resource}.{p.name}.{name}"
        if uid in p.nodes:
            raise ModelCompileError(
                f"Two {resource}s are named `{name}`.",
                where=rel,
                hint=f"The other is {p.nodes[uid].original_file_path}.",
            )
        node = Node(uid, resource, name, p.name, file, rel, raw_code=body, config=config,
                    description=entry.get("description", ""), columns=column_specs(entry),
                    fqn=[p.name, *parts, name], yaml_where=entry.get("__where__"), checks=list(entry.get("checks") or []),
                    line_offset=offset)  # fmt: skip
        if resource == "seed":
            node.rendered = hashlib.sha256(file.read_bytes()).hexdigest()
        p.nodes[uid] = node
        if resource != "test":
            if name in p.by_name:
                raise ModelCompileError(
                    f"`{name}` names two nodes.",
                    where=rel,
                    hint=f"The other is {p.nodes[p.by_name[name]].original_file_path}.",
                )
            p.by_name[name] = uid
        node.relation = self._relation(node)

    def _add_yaml_snapshot(self, entry: dict[str, Any], props) -> None:
        rel_file = self.p.root / entry["__file__"]
        body = "select * from {{ " + entry["relation"] + " }}"
        self._add("snapshot", rel_file, entry["name"], body, 0, props)

    def _relation(self, node: Node) -> Relation:
        c, prof = node.config, self.p.profile
        if node.resource_type == "snapshot" and c.get("target_schema"):
            schema = c["target_schema"]
        else:
            custom = c.get("schema")
            schema = (
                prof.schema
                if custom is None
                else str(self.p.renderer.macros["generate_schema_name"](custom, None)).strip()
            )
        database = c.get("target_database") or c.get("database") or prof.database
        return Relation(database, schema, c.get("alias") or node.name)

    def _render_all(self) -> None:
        p = self.p
        for node in p.nodes.values():
            if node.resource_type == "seed":
                continue
            state = RenderState(node, p._placeholder_ref, p._source)
            node.rendered = p.renderer.render(node.raw_code, node.original_file_path, state)
            if node.line_offset:
                node.rendered = node.rendered[node.line_offset :]
            node.refs, node.sources = state.refs, state.sources
            if state.config:
                node.config = merge_config(node.config, state.config)
                node.relation = self._relation(node)
        for uid in [u for u, n in p.nodes.items() if not n.config.get("enabled", True)]:
            node = p.nodes.pop(uid)
            p.by_name.pop(node.name, None)
        for node in p.nodes.values():
            node.rendered = p.resolve_placeholders(node.rendered)
