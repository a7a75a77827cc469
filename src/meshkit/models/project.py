"""Load a project: a plain dbt project (``dbt_project.yml`` + ``profiles.yml`` with a duckdb target) or
the ``models/`` folder of a meshkit workspace, rendered into nodes with their dependencies.

Loading renders every SQL file once (``is_incremental()`` false), as ``dbt parse`` does: refs become
placeholders first and are replaced once every node's final relation is known.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import jinja2
import yaml

from meshkit.core.files import read_text
from meshkit.models.configuration import DEFAULTS, WRITTEN, config_trees, configured, merge_config
from meshkit.models.context import RenderError, RenderState, rendering
from meshkit.models.exceptions import ModelCompileError, UnsupportedFeatureError
from meshkit.models.jinja import GLOBAL_PACKAGE, Renderer
from meshkit.models.nodes import Node, PendingRef, Relation, Source, file_checksum
from meshkit.models.packages import Package, load_packages
from meshkit.models.properties import column_specs, load_properties, read_yaml
from meshkit.models.spark_profile import spark_profile

_REF_TOKEN = re.compile("\x00ref:([^\x00]*)\x00")
_SNAPSHOT_BLOCK = re.compile(r"\{%-?\s*snapshot\s+(\w+)\s*-?%\}(.*?)\{%-?\s*endsnapshot\s*-?%\}", re.S)


@dataclass
class Profile:
    """The target the project builds into: a DuckDB file, or (``type: spark``) an engine's tables."""

    path: str
    database: str
    schema: str = "main"
    threads: int = 0
    target_name: str = "dev"
    profile_name: str = "default"
    type: str = "duckdb"
    #: The engine a ``spark`` target builds on: one of meshkit.toml's ``[engines.NAME]`` ...
    engine: str | None = None
    #: ... or its options given in the target itself (``master``, ``remote``, Spark settings).
    engine_options: dict[str, Any] | None = None

    def as_target(self) -> dict[str, Any]:
        return {"name": self.target_name, "schema": self.schema, "database": self.database, "type": self.type,
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
    #: ``ref`` name -> unique id (the root project's node where packages share a name).
    by_name: dict[str, str] = field(default_factory=dict)
    #: ``(package, ref name)`` -> unique id.
    by_package: dict[tuple[str, str], str] = field(default_factory=dict)
    #: The dbt packages it uses (``dbt_packages/`` and local ones).
    packages: list[Package] = field(default_factory=list)
    #: ``on-run-start``/``on-run-end`` hooks as dbt's operation nodes, in the order they run.
    operations: list[Node] = field(default_factory=list)

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

    def render(self, node: Node, *, is_incremental: bool = False, ref=None, source=None, warehouse=None,
               context: dict[str, Any] | None = None, macro_overrides: dict[str, Any] | None = None) -> str:  # fmt: skip
        """Render ``node`` again (at run time: ``is_incremental()``, ``execute``, unit-test fixtures)."""
        state = RenderState(node, ref or self._final_ref, source or self._source, is_incremental=is_incremental,
                            execute=warehouse is not None, warehouse=warehouse, macro_overrides=macro_overrides or {})  # fmt: skip
        sql = self.renderer.render(node.raw_code, node.original_file_path, state, context)
        return sql[len("\n" * node.line_offset) :] if node.line_offset else sql

    def render_hook(
        self, node: Node, text: str, warehouse=None, context: dict[str, Any] | None = None
    ) -> str:
        state = RenderState(
            node, self._final_ref, self._source, execute=warehouse is not None, warehouse=warehouse
        )
        return self.renderer.render_string(text, node.original_file_path, state, context)

    # ------------------------------------------------------------------ resolution

    def ref_uid(self, name: str, node: Node | None, package: str | None = None) -> str:
        """The node ``ref(name)`` (or ``ref(package, name)``) names, searched as dbt does: the named
        package; else the root project, then the package of ``node``, then any package."""
        own = node.package_name if node is not None else self.name
        for pkg in [package] if package is not None else [self.name, own, None]:
            uid = self.by_name.get(name) if pkg is None else self.by_package.get((pkg, name))
            if uid is not None:
                return uid
        shown = f"'{package}', '{name}'" if package is not None else f"'{name}'"
        raise RenderError(f"`ref({shown})` names no model, seed or snapshot of this project or its packages.",
                          hint="Check the name, or add the model.")  # fmt: skip

    def source_uid(self, source_name: str, table_name: str, node: Node | None) -> str:
        """The source ``source(source_name, table_name)`` names: the root project's, the node's package's, any."""
        own = node.package_name if node is not None else self.name
        for pkg in dict.fromkeys([self.name, own]):
            if (uid := f"source.{pkg}.{source_name}.{table_name}") in self.sources:
                return uid
        found = [u for u in self.sources if u.split(".", 2)[2] == f"{source_name}.{table_name}"]
        if not found:
            raise RenderError(f"`source('{source_name}', '{table_name}')` is not declared.",
                              hint="Declare it under `sources:` in a properties YAML file.")  # fmt: skip
        return found[0]

    def _placeholder_ref(self, name: str, node: Node, package: str | None = None) -> PendingRef:
        uid = self.ref_uid(name, node, package)
        rel = self.nodes[uid].relation
        return PendingRef(rel.database, rel.schema, rel.identifier, ref_name=uid)

    def _final_ref(self, name: str, node: Node | None, package: str | None = None) -> Relation | str:
        return self._relation_to(self.ref_uid(name, node, package))

    def _relation_to(self, uid: str) -> Relation | str:
        target = self.nodes[uid]
        if target.materialized == "ephemeral":
            return f"__dbt__cte__{target.name}"
        kind = "view" if target.materialized == "view" else "table"
        return replace(target.relation, type=kind)

    def _source(self, source_name: str, table_name: str, node: Node) -> Relation:
        return self.sources[self.source_uid(source_name, table_name, node)].relation

    def resolve_placeholders(self, sql: str) -> str:
        return _REF_TOKEN.sub(lambda m: str(self._relation_to(m.group(1))), sql) if "\x00" in sql else sql


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


def dbt_settings(root: Path) -> dict[str, Any]:
    settings = read_yaml(root / "dbt_project.yml", "dbt_project.yml").data
    settings = settings or {}
    if "name" not in settings:
        raise ModelCompileError("dbt_project.yml has no `name`.", where="dbt_project.yml")
    return {**WORKSPACE_DEFAULTS, "test-paths": ["tests"], **settings}


_UNRENDERED = {
    "pre-hook",
    "post-hook",
    "+pre-hook",
    "+post-hook",
    "pre_hook",
    "post_hook",
    "+pre_hook",
    "+post_hook",
}


def yaml_renderer(vars: dict[str, Any], target: dict[str, Any], where: str):
    """Render the Jinja in YAML values (``profiles.yml``, ``dbt_project.yml``) as dbt does: ``env_var``,
    ``var`` and ``target``; hooks stay unrendered until they run."""
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.globals.update(env_var=Renderer._env_var, var=lambda name, default=None: vars.get(name, default),
                       target=target)  # fmt: skip
    env.filters.update(as_number=lambda v: float(v) if "." in str(v) else int(v), as_bool=lambda v: str(v).lower() == "true",
                       as_native=lambda v: v, as_text=str)  # fmt: skip

    def rendered(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: v if k in _UNRENDERED else rendered(v) for k, v in value.items()}
        if isinstance(value, list):
            return [rendered(v) for v in value]
        if isinstance(value, str) and "{" in value:
            try:
                with rendering(RenderState(None, None, None)):
                    text = env.from_string(value).render()
            except (RenderError, jinja2.TemplateError) as exc:
                raise ModelCompileError(
                    f"Cannot render `{value}`: {getattr(exc, 'message', exc)}.", where=where
                ) from None
            try:
                return yaml.safe_load(text) if text.strip() else text
            except yaml.YAMLError:
                return text
        return value

    return rendered


def _dbt_profile(root: Path, settings: dict[str, Any], target: str | None, renderer_vars: dict) -> Profile:
    candidates = [Path(os.environ["DBT_PROFILES_DIR"])] if os.environ.get("DBT_PROFILES_DIR") else []
    candidates += [root, Path.home() / ".dbt"]
    path = next((c / "profiles.yml" for c in candidates if (c / "profiles.yml").is_file()), None)
    if path is None:
        raise ModelCompileError("No profiles.yml found (looked in DBT_PROFILES_DIR, the project and ~/.dbt).",
                                hint="Add a profiles.yml with a duckdb target next to dbt_project.yml.")  # fmt: skip
    profiles = read_yaml(path, str(path)).data
    profile_name = settings.get("profile", settings["name"])
    profile = (profiles or {}).get(profile_name)
    if not profile:
        raise ModelCompileError(f"Profile `{profile_name}` is not in {path}.", where=str(path))
    rendered = yaml_renderer(renderer_vars, {}, str(path))
    target_name = target or rendered(profile.get("target", "dev"))
    output = (profile.get("outputs") or {}).get(target_name)
    if output is None:
        raise ModelCompileError(
            f"Target `{target_name}` is not in profile `{profile_name}`.", where=str(path)
        )
    output = rendered(output)
    if output.get("type") == "spark":
        return spark_profile(
            output, target_name, profile_name, f"{path}: {profile_name}.outputs.{target_name}"
        )
    if output.get("type") != "duckdb":
        raise UnsupportedFeatureError(
            f"Target `{target_name}` is of type `{output.get('type')}`; duckdb and spark run here.",
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
                 vars: dict[str, Any] | None = None, flags: dict[str, Any] | None = None) -> Project:  # fmt: skip
    """Load and render the project at ``path`` (a dbt project) or the workspace's ``models/``.

    ``flags`` are dbt's ``flags`` of the command (``WHICH``, ``FULL_REFRESH``).
    """
    root, kind = find_project_root(path, meshkit.workspace.root if meshkit is not None else None)
    packages: list[Package] = []
    if kind == "dbt":
        settings = dbt_settings(root)
        project_vars = {**_scoped_vars(settings, settings["name"]), **(vars or {})}
        profile = _dbt_profile(root, settings, target, project_vars)
        _render_configs(settings, project_vars, profile, "dbt_project.yml")
        target_dir = root / settings.get("target-path", "target")
        packages = load_packages(root, settings)
        package_vars = {}
        for pkg in packages:
            pkg.settings = {**WORKSPACE_DEFAULTS, "test-paths": ["tests"], **pkg.settings}
            # dbt's order: the package's own vars, then the root project's (both global and scoped), then --vars
            package_vars[pkg.name] = {**_scoped_vars(pkg.settings, pkg.name), **_scoped_vars(settings, pkg.name),
                                      **(vars or {})}  # fmt: skip
            where = os.path.relpath(pkg.root / "dbt_project.yml", root)
            _render_configs(pkg.settings, package_vars[pkg.name], profile, where)
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
        package_vars = {}
    macro_files = []
    for package, base, pkg_settings in [
        *((p.name, p.root, p.settings) for p in packages),
        (settings["name"], root, settings),
    ]:
        folders = [*pkg_settings.get("macro-paths", ["macros"]),
                   *(f"{t}/generic" for t in pkg_settings.get("test-paths", ["tests"]))]  # fmt: skip
        for folder in folders:
            for file in sorted((base / folder).rglob("*.sql")):
                macro_files.append((package, os.path.relpath(file, root), read_text(file)))
    renderer = Renderer(vars=project_vars, target=profile.as_target(), project_name=settings["name"],
                        macro_files=macro_files, dispatch=settings.get("dispatch") or (), flags=flags)  # fmt: skip
    renderer.package_vars = package_vars
    project = Project(root, settings["name"], kind, profile, target_dir, settings, renderer)
    project.packages = packages
    _Loader(project).load()
    renderer.env.globals["graph"] = graph_context(project)
    return project


def _scoped_vars(settings: dict[str, Any], package: str) -> dict[str, Any]:
    """The ``vars:`` of a ``dbt_project.yml`` as a node of ``package`` sees them: the global ones, then
    those under the package's name."""
    found = settings.get("vars") or {}
    scoped = found.get(package)
    return {**found, **(scoped if isinstance(scoped, dict) else {})}


def _render_configs(settings: dict[str, Any], vars: dict[str, Any], profile: Profile, where: str) -> None:
    rendered = yaml_renderer(vars, profile.as_target(), where)
    for key in ("models", "seeds", "snapshots", "data_tests", "tests", "sources"):
        if settings.get(key):
            settings.setdefault(WRITTEN, {})[key] = settings[key]  # dbt's unrendered_config reads these
            settings[key] = rendered(settings[key])


def graph_context(project: Project) -> Any:
    """dbt's ``graph``: ``graph.nodes`` and ``graph.sources`` by unique id, as dicts macros read."""
    from meshkit.models.jinja import Namespace

    nodes = {uid: {**n.context_model, "depends_on": {"nodes": list(n.depends_on), "macros": []}, "refs": n.ref_entries,
                   "sources": [list(s) for s in n.sources], "description": n.description}
             for uid, n in project.nodes.items()}  # fmt: skip
    sources = {uid: {"unique_id": uid, "name": s.name, "source_name": s.source_name, "resource_type": "source",
                     "database": s.relation.database, "schema": s.relation.schema, "identifier": s.relation.identifier,
                     "package_name": uid.split(".")[1], "meta": s.meta, "columns": s.columns, "description": s.description,
                     "loaded_at_field": s.loaded_at_field, "freshness": s.freshness}
               for uid, s in project.sources.items()}  # fmt: skip
    return Namespace(nodes=nodes, sources=sources, exposures={}, metrics={}, groups={}, semantic_models={},
                      saved_queries={})  # fmt: skip


class _Loader:
    """Builds the nodes of a project and of its packages (``model.<package>.<name>``)."""

    def __init__(self, project: Project):
        self.p = project
        self.s = project.settings

    def load(self) -> None:
        from meshkit.models.graph import link
        from meshkit.models.loaders import add_sources, add_tests, add_unit_tests

        p = self.p
        loaded = []
        for scope in [*p.packages, Package(p.name, p.root, self.s)]:
            yaml_files = []
            for key in ("model-paths", "seed-paths", "snapshot-paths", "test-paths"):
                for folder in scope.settings.get(key, []):
                    for ext in ("*.yml", "*.yaml"):
                        yaml_files += [
                            (f, os.path.relpath(f, p.root)) for f in sorted((scope.root / folder).rglob(ext))
                        ]
            props = load_properties(yaml_files)
            add_sources(p, props, scope.name)
            for resource, file, name, body, offset in self._files(scope):
                self._add(scope, resource, file, name, body, offset, props)
            for entry in props.resources["snapshots"].values():
                if "relation" in entry and (scope.name, entry["name"]) not in p.by_package:
                    self._add_yaml_snapshot(scope, entry, props)
            loaded.append((scope.name, props))
        self._render_all()
        for package, props in loaded:
            add_tests(p, props, package)
        add_unit_tests(p, loaded[-1][1])
        link(p)
        p.operations = self._operations()

    def _operations(self) -> list[Node]:
        """dbt's hook nodes (``operation.<package>.<package>-on-run-start-<i>``): the packages' hooks in
        the order of their names, then the root project's, each configured as a model under ``hooks/``."""
        out = []
        root = Package(self.p.name, self.p.root, self.s)
        for scope in [*sorted(self.p.packages, key=lambda s: s.name), root]:
            file = scope.root / "dbt_project.yml"
            checksum = (
                file_checksum(file, "dbt_project.yml") if file.is_file() else {"name": "none", "checksum": ""}
            )
            for key in ("on-run-start", "on-run-end"):
                hooks = scope.settings.get(key) or []
                for i, hook in enumerate([hooks] if isinstance(hooks, str) else list(hooks)):
                    name = f"{scope.name}-{key}-{i}"
                    where = ["hooks", name]
                    config = merge_config(
                        DEFAULTS["model"], configured(self.trees(scope, "model"), scope.name, where)
                    )
                    written = configured(
                        self.trees(scope, "model", written=True), scope.name, where, written=True
                    )
                    out.append(Node(f"operation.{scope.name}.{name}", "operation", name, scope.name, file, "./dbt_project.yml",
                                    raw_code=hook.get("sql", "") if isinstance(hook, dict) else str(hook), config=config,
                                    unrendered_config=written, fqn=[scope.name, "hooks", name],
                                    checksum=checksum))  # fmt: skip
        return out

    def _files(self, scope: Package) -> list[tuple[str, Path, str, str, int]]:
        out, paths = [], scope.settings
        for folder in paths.get("model-paths", ["models"]):
            base = scope.root / folder
            for file in sorted(base.rglob("*.py")):
                raise UnsupportedFeatureError("Python models are not supported by meshkit.", where=os.path.relpath(file, self.p.root),
                                              hint="Write the model in SQL, or run the Python as a data job.")  # fmt: skip
            out += [("model", f, f.stem, read_text(f), 0) for f in sorted(base.rglob("*.sql"))]
        for folder in paths.get("seed-paths", ["seeds"]):
            out += [("seed", f, f.stem, "", 0) for f in sorted((scope.root / folder).rglob("*.csv"))]
        for folder in paths.get("snapshot-paths", ["snapshots"]):
            for file in sorted((scope.root / folder).rglob("*.sql")):
                text = read_text(file)
                for match in _SNAPSHOT_BLOCK.finditer(text):
                    offset = text.count("\n", 0, match.start(2))
                    out.append(("snapshot", file, match.group(1), "\n" * offset + match.group(2), offset))
        for folder in paths.get("test-paths", ["tests"]):
            base = scope.root / folder
            out += [
                ("test", f, f.stem, read_text(f), 0)
                for f in sorted(base.rglob("*.sql"))
                if not {"generic", "fixtures"} & set(f.relative_to(base).parts[:-1])
            ]
        return out

    def _folder_parts(self, scope: Package, file: Path, resource: str) -> list[str]:
        key = {
            "model": "model-paths",
            "seed": "seed-paths",
            "snapshot": "snapshot-paths",
            "test": "test-paths",
        }[resource]
        for folder in scope.settings.get(key, []):
            base = scope.root / folder
            if base in file.parents:
                return list(file.relative_to(base).parts[:-1])
        return []

    def _add(
        self, scope: Package, resource: str, file: Path, name: str, body: str, offset: int, props
    ) -> None:
        p = self.p
        # dbt's original_file_path: relative to the project (or package) the file belongs to
        rel = os.path.relpath(file, scope.root)
        entry = props.resources.get(resource + "s", {}).get(name, {}) if resource != "test" else {}
        parts = self._folder_parts(scope, file, resource)
        layer, where = entry.get("config") or {}, [*parts, name]
        config = merge_config(
            DEFAULTS[resource], configured(self.trees(scope, resource), scope.name, where, layer)
        )
        unrendered = configured(
            self.trees(scope, resource, written=True), scope.name, where, layer, written=True
        )
        uid = f"{resource}.{scope.name}.{name}"
        if uid in p.nodes:
            raise ModelCompileError(
                f"Two {resource}s are named `{name}`.",
                where=rel,
                hint=f"The other is {p.nodes[uid].original_file_path}.",
            )
        node = Node(uid, resource, name, scope.name, file, rel, raw_code=body, config=config,
                    description=entry.get("description", ""), columns=column_specs(entry),
                    fqn=[scope.name, *parts, *([file.stem] if resource == "snapshot" and file.suffix == ".sql" else []), name],
                    yaml_where=entry.get("__where__"), checks=list(entry.get("checks") or []), line_offset=offset,
                    unrendered_config=unrendered, checksum=file_checksum(file, rel, body if resource in ("model", "test") else None))  # fmt: skip
        if resource == "seed":
            node.rendered = hashlib.sha256(file.read_bytes()).hexdigest()
        p.nodes[uid] = node
        if resource != "test":
            if (scope.name, name) in p.by_package:
                raise ModelCompileError(
                    f"`{name}` names two nodes.",
                    where=rel,
                    hint=f"The other is {p.nodes[p.by_package[scope.name, name]].original_file_path}.",
                )
            p.by_package[scope.name, name] = uid
            if scope.name == p.name or name not in p.by_name:
                p.by_name[name] = uid
        node.relation = self._relation(node)

    def trees(self, scope: Package, resource: str, written: bool = False) -> list[dict[str, Any] | None]:
        """The ``dbt_project.yml`` config trees for a node of ``scope``: a package's own, then the root
        project's, which overrides it (``models: package: ...``); ``written``: before Jinja rendering."""
        layers = [scope.settings] if scope.name == self.p.name else [scope.settings, self.s]
        return config_trees(layers, resource, written)

    def _add_yaml_snapshot(self, scope: Package, entry: dict[str, Any], props) -> None:
        rel_file = Path(os.path.normpath(self.p.root / entry["__file__"]))
        body = "select * from {{ " + entry["relation"] + " }}"
        self._add(scope, "snapshot", rel_file, entry["name"], body, 0, props)

    def _relation(self, node: Node) -> Relation:
        """Database, schema and alias from the ``generate_*_name`` macros (the project's overrides included)."""
        c, prof = node.config, self.p.profile
        database = self._generated("database", c.get("database"), node) or prof.database
        schema = self._generated("schema", c.get("schema"), node)
        if node.resource_type == "snapshot":
            database = c.get("target_database") or database
            schema = c.get("target_schema") or schema
        return Relation(database, schema, self._generated("alias", c.get("alias"), node))

    def _generated(self, part: str, custom: Any, node: Node) -> str:
        r, prof, name = self.p.renderer, self.p.profile, f"generate_{part}_name"
        # as dbt: a package's own override names its nodes; else the root project's, else dbt's own
        own = r.packages.get(node.package_name, {}).get(name) if node.package_name != self.p.name else None
        macro = own or r.macros[name]
        if macro is r.packages[GLOBAL_PACKAGE][name]:  # dbt's own: no need for Jinja
            if part == "schema":
                return prof.schema if custom is None else f"{prof.schema}_{str(custom).strip()}"
            if part == "database":
                return prof.database if custom is None else str(custom).strip()
            return str(custom).strip() if custom else node.name
        state = RenderState(node, self.p._placeholder_ref, self.p._source)
        value = r.call_macro(macro, state, custom, node.context_model)
        return str(value).strip()

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
            node.needs_execute = state.uses_execute
            node.macros = list(state.macros)
            if state.config:
                node.config = merge_config(node.config, state.config)
                node.unrendered_config = merge_config(node.unrendered_config, state.config, written=True)
                node.relation = self._relation(node)
        for uid in [u for u, n in p.nodes.items() if not n.config.get("enabled", True)]:
            node = p.nodes.pop(uid)
            p.by_package.pop((node.package_name, node.name), None)
            if p.by_name.get(node.name) == uid:
                p.by_name.pop(node.name)
        for node in p.nodes.values():
            node.rendered = p.resolve_placeholders(node.rendered)
