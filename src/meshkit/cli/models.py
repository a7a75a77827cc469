"""Model commands: ``build``, ``models run``, ``test``, ``seed``, ``snapshot``, ``ls``, ``compile``, ``lineage``, ``check``."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import click
from rich.markup import escape
from rich.padding import Padding
from rich.table import Table

from meshkit.cli.main import console, pass_meshkit
from meshkit.cli.progress import LiveLines, dotted
from meshkit.core.errors import ConfigError, UserError
from meshkit.core.hookspecs import hookimpl

_STYLE = {
    "success": "green",
    "pass": "green",
    "warn": "yellow",
    "fail": "red",
    "error": "red",
    "skipped": "dim",
}


def _project_options(func):
    func = click.option(
        "--project-dir",
        type=click.Path(file_okay=False),
        help="A dbt project (default: the workspace's models/).",
    )(func)
    func = click.option("--target", help="Target of profiles.yml (dbt projects).")(func)
    func = click.option("--vars", "vars_", help="Variables as YAML, e.g. '{min_amount: 10}'.")(func)
    return func


def _run_options(func):
    func = click.argument("selectors", nargs=-1)(func)
    func = click.option(
        "-s", "--select", "select", multiple=True, help="Selector (repeatable); same as the arguments."
    )(func)
    func = click.option("--exclude", multiple=True, help="Selector of nodes to leave out (repeatable).")(func)
    func = click.option("--selector", "selector", help="A selector of selectors.yml, by name.")(func)
    func = click.option(
        "--threads", type=int, help="Parallel threads (default: the profile's, else the cores)."
    )(func)
    func = click.option("--fail-fast", is_flag=True, help="Stop at the first failure.")(func)
    func = click.option(
        "--full-refresh", is_flag=True, help="Rebuild incremental models and seeds from scratch."
    )(func)
    func = click.option("--engine", "engine", default=None, metavar="NAME",
                        help="Build on this engine (`duckdb` or an [engines.NAME] of meshkit.toml); "
                             "default the `engine` config key.")(func)  # fmt: skip
    func = _state_option(func)
    return _project_options(func)


def _state_option(func):
    return click.option(
        "--state",
        "state_dir",
        type=click.Path(file_okay=False),
        help="Target folder state:modified compares with: meshkit's, or dbt's (its manifest.json).",
    )(func)


def _vars(text: str | None) -> dict | None:
    if not text:
        return None
    import yaml

    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(
            f"--vars is not valid YAML: {exc}.", hint="Write e.g. --vars '{key: value}'."
        ) from None
    if not isinstance(value, dict):
        raise ConfigError("--vars must be a mapping.", hint="Write e.g. --vars '{key: value}'.")
    return value


def _open(mk, project_dir, target, vars_, flags=None):
    from meshkit.models import open_project

    return open_project(mk, project_dir, target=target, vars=_vars(vars_), flags=flags)


def _execute(
    mk,
    command,
    selectors,
    select,
    exclude,
    selector,
    threads,
    fail_fast,
    full_refresh,
    engine,
    state_dir,
    project_dir,
    target,
    vars_,
):
    from meshkit.models import BuildOptions, execute
    from meshkit.models.models import default_threads

    started = time.perf_counter()
    project = _open(mk, project_dir, target, vars_, {"WHICH": command, "FULL_REFRESH": full_refresh})
    threads = threads or mk.config.get("models_threads") or default_threads(project)
    chosen = [*selectors, *select, *([f"selector:{selector}"] if selector else [])]
    options = BuildOptions(command, chosen, list(exclude), threads, fail_fast, full_refresh, engine)
    state = Path(state_dir) if state_dir else None
    lines = NodeLines(project)
    with lines.live:
        report = execute(mk, project, options, state_dir=state, on_plan=lines.planned, on_start=lines.started,
                         on_result=lines.ended)  # fmt: skip
    _failures(project, report)
    _undeclared(report)
    _summary(project, report, time.perf_counter() - started)
    if report.failed:
        failed = sum(r.status in ("error", "fail") for r in report.results)
        raise UserError(f"{failed} of {len(report.results)} nodes failed (run {report.run.id}).",
                        hint="Fix the failures listed above, then build again.")  # fmt: skip


class NodeLines:
    """Each node as it starts and ends, numbered in start order: ``3 of 12 OK created sql table model ...``."""

    def __init__(self, project):
        self.project, self.total = project, 0
        self.live = LiveLines(console)
        self._numbers: dict[str, int] = {}
        self._lock = threading.Lock()

    def planned(self, total: int) -> None:
        """The number of nodes the build will start."""
        self.total = total

    def _number(self, unique_id: str) -> int:
        with self._lock:
            return self._numbers.setdefault(unique_id, len(self._numbers) + 1)

    def started(self, node) -> None:
        number = self._number(node.unique_id)
        self.live.start(node.unique_id, dotted(f"{number} of {self.total} START {_describe(node)}", "RUN"))

    def ended(self, result) -> None:
        node = self.project.nodes[result.unique_id]
        number = self._number(result.unique_id)
        seconds = f"in {result.execution_time:.2f}s"
        failures = f"{result.failures} " if result.failures is not None else ""
        if result.status == "skipped":
            what = (
                f"test {node.name}"
                if node.resource_type in ("test", "unit_test")
                else f"relation {_relation(node)}"
            )
            text, status, detail = f"SKIP {what}", "SKIP", ""
        elif node.resource_type in ("test", "unit_test"):
            status = result.status.upper()
            count = failures if status in ("FAIL", "WARN") else ""
            text, detail = f"{status} {count}{_describe(node).removeprefix('test ')}", f"{count}{seconds}"
        elif result.status == "success":
            verb = {"seed": "loaded", "snapshot": "snapshotted"}.get(node.resource_type, "created")
            text, status, detail = f"OK {verb} {_describe(node)}", "OK", seconds
        else:
            text, status, detail = f"ERROR creating {_describe(node)}", "ERROR", seconds
        self.live.finish(result.unique_id, dotted(f"{number} of {self.total} {text}", status, detail))


def _relation(node) -> str:
    rel = node.relation
    return f"{rel.schema}.{rel.identifier}" if rel is not None else node.name


def _describe(node) -> str:
    """dbt's words for a node: ``sql table model main.orders``, ``seed file main.raw``, ``test unique_x``."""
    kind = node.resource_type
    if kind == "model":
        return f"sql {node.materialized} model {_relation(node)}"
    if kind == "seed":
        return f"seed file {_relation(node)}"
    if kind == "snapshot":
        return f"snapshot {_relation(node)}"
    if kind == "unit_test":
        model = node.unit["model_uid"].rsplit(".", 1)[-1] if node.unit else ""
        return f"unit_test {model}::{node.name}"
    return f"test {node.name}"


def _failures(project, report) -> None:
    """What went wrong, after the lines: the message, the compiled SQL file and a few failing rows."""
    for result in report.results:
        if result.status not in ("error", "fail", "warn"):
            continue
        node = project.nodes.get(result.unique_id)
        kind = node.resource_type if node else "node"
        name = node.name if node else result.unique_id
        where = f" ({node.original_file_path})" if node else ""
        style = _STYLE.get(result.status, "white")
        title = "Warning" if result.status == "warn" else "Failure" if result.status == "fail" else "Error"
        console.print(f"\n[{style}]{title} in {kind} {escape(name)}{escape(where)}[/]", soft_wrap=True)
        console.print(f"  {escape(result.message or '')}", soft_wrap=True)
        if result.compiled_path:
            console.print(f"  compiled code at {escape(_shown_path(result.compiled_path))}", soft_wrap=True)
        if result.sample and result.sample[1]:
            columns, rows = result.sample
            table = Table(*columns, box=None, padding=(0, 2, 0, 0), title_justify="left")
            for row in rows:
                table.add_row(*("null" if v is None else escape(str(v)) for v in row))
            more = (result.failures or 0) > len(rows)
            console.print(f"  failing rows{f' (first {len(rows)})' if more else ''}:")
            console.print(Padding(table, (0, 0, 0, 4), expand=False))
    if any(r.status in ("error", "fail", "warn") for r in report.results):
        console.print()


def _undeclared(report) -> None:
    """Tables models read by name: their lineage is recorded; say how to declare them as sources."""
    undeclared = report.run.details.get("undeclared") or []
    if not undeclared:
        return
    reads = ", ".join(f"{u['model']} reads {u['table']}" for u in undeclared)
    console.print(f"[yellow]Note:[/] {escape(reads)}, by name: lineage recorded from the warehouse table. Declare it as a "
                  "source to document and test it, in models/sources.yml:", soft_wrap=True)  # fmt: skip
    tables = "".join(f"\n        - name: {t}" for t in dict.fromkeys(u["table"] for u in undeclared))
    schemas = sorted({u["schema"] for u in undeclared})
    console.print(
        f"  sources:\n    - name: local\n      schema: {schemas[0]}\n      tables:{tables}", markup=False
    )
    console.print("  and read it as {{ source('local', 'TABLE') }}.\n", markup=False)


def _shown_path(path: str) -> str:
    """``path`` relative to the current folder when it is under it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return path


def _summary(project, report, elapsed: float) -> None:
    counts = report.counts
    table = Table(show_header=True, header_style="bold", box=None)
    for status in ("success", "pass", "warn", "fail", "error", "skipped"):
        table.add_column(status.upper(), justify="right", style=_STYLE[status])
    table.add_row(*(str(counts.get(s, 0)) for s in ("success", "pass", "warn", "fail", "error", "skipped")))
    verdict = "[red]Completed with errors[/]" if report.failed else "[green]Completed successfully[/]"
    console.print(f"{verdict} in {elapsed:.2f}s ({len(report.results)} nodes, run {report.run.id})")
    console.print(table)


def _make(command: str, help_text: str):
    @click.command(command, help=help_text)
    @_run_options
    @pass_meshkit
    def cmd(mk, **options):
        _execute(mk, command, **options)

    return cmd


build_cmd = _make("build", "Build seeds, models and snapshots and run their tests, in DAG order.")
test_cmd = _make("test", "Run data tests and unit tests.")
seed_cmd = _make("seed", "Load seed CSV files.")
snapshot_cmd = _make("snapshot", "Record changes of snapshots.")


@click.group("models")
def models_group() -> None:
    """SQL models (dbt-compatible)."""


models_group.add_command(_make("run", "Build models only (no tests, seeds or snapshots)."), "run")


@click.command("ls")
@click.argument("selectors", nargs=-1)
@click.option("-s", "--select", "select", multiple=True, help="Selector (repeatable).")
@click.option("--exclude", multiple=True)
@click.option("--selector", "selector", help="A selector of selectors.yml, by name.")
@click.option(
    "--resource-type", "resource_type", multiple=True, help="model, seed, snapshot, test, unit_test, source."
)
@click.option("--output", type=click.Choice(["name", "json", "path"]), default="name")
@_state_option
@_project_options
@pass_meshkit
def ls_cmd(
    mk, selectors, select, exclude, selector, resource_type, output, state_dir, project_dir, target, vars_
):
    """List the project's nodes."""
    from meshkit.models.graph import select as select_nodes
    from meshkit.models.state import read_state

    project = _open(mk, project_dir, target, vars_, {"WHICH": "list"})
    selectors = [*selectors, *select, *([f"selector:{selector}"] if selector else [])]
    chosen = select_nodes(
        project,
        selectors,
        list(exclude),
        previous=read_state(Path(state_dir) if state_dir else project.target_dir),
    )
    if "source" in resource_type or not resource_type and not selectors:
        sources = sorted(project.sources)
    else:
        sources = []
    for uid in sorted(chosen):
        node = project.nodes[uid]
        if resource_type and node.resource_type not in resource_type:
            continue
        if output == "json":
            console.print_json(json.dumps({"unique_id": uid, "name": node.name, "resource_type": node.resource_type,
                                           "materialized": node.materialized, "path": node.original_file_path,
                                           "depends_on": node.depends_on, "tags": node.config.get("tags", [])}))  # fmt: skip
        elif output == "path":
            console.print(node.original_file_path, markup=False)
        else:
            console.print(".".join(node.fqn), markup=False)
    for uid in sources:
        console.print(f"source:{uid.split('.', 2)[2]}", markup=False)


@click.command("compile")
@click.argument("selectors", nargs=-1)
@click.option("--dialect", default="duckdb", help="duckdb (default), spark or trino.")
@click.option("--print/--no-print", "show", default=False, help="Print the compiled SQL.")
@_project_options
@pass_meshkit
def compile_cmd(mk, selectors, dialect, show, project_dir, target, vars_):
    """Compile models to SQL (DuckDB, or Spark/Trino through sqlglot) under target/compiled/."""
    from meshkit.models.compile import transpile, write_compiled
    from meshkit.models.graph import select

    started = time.perf_counter()
    project = _open(mk, project_dir, target, vars_)
    chosen = select(project, list(selectors))
    nodes = [project.nodes[u] for u in sorted(chosen) if project.nodes[u].compiled]
    paths = write_compiled(project, nodes, dialect)
    if show:
        for node in nodes:
            console.print(f"-- {node.unique_id}", style="dim", markup=False)
            console.print(transpile(node, dialect), markup=False, highlight=False)
    console.print(
        f"Compiled {len(paths)} nodes to {dialect} in {time.perf_counter() - started:.2f}s under {project.target_dir / 'compiled'}"
    )


@click.command("lineage")
@click.argument("target_name", metavar="MODEL[.COLUMN]")
@click.option("--upstream/--downstream", default=True, help="Direction (default: upstream).")
@click.option("--json", "as_json", is_flag=True, help="Print the edges as JSON.")
@_project_options
@pass_meshkit
def lineage_cmd(mk, target_name, upstream, as_json, project_dir, target, vars_):
    """Print the table or column lineage of a model."""
    from meshkit.models.lineage import LineageIndex, table_edges
    from meshkit.models.models import open_warehouse

    project = _open(mk, project_dir, target, vars_)
    model, _, column = target_name.partition(".")
    node = project.node(model)
    index = LineageIndex(project, open_warehouse(mk, project))
    if column:
        edges = [(f"{e.source}.{e.source_column}", f"{e.target}.{e.target_column}")
                 for n in project.nodes.values() for e in index.columns(n)]  # fmt: skip
        start = f"{node.unique_id}.{column}"
        if not any(start in (a, b) for a, b in edges):
            raise UserError(
                f"No lineage found for column `{column}` of `{model}`.",
                hint="Check the column name; build the model first.",
            )
    else:
        edges, start = table_edges(project), node.unique_id
    index.save()
    found = _walk(edges, start, upstream)
    if as_json:
        console.print_json(json.dumps([{"source": a, "target": b} for a, b in found]))
        return
    from rich.tree import Tree

    tree = Tree(f"[bold]{escape(_short(start))}[/] ({'upstream' if upstream else 'downstream'})")
    _tree(tree, start, found, upstream, set())
    console.print(tree)


def _walk(edges, start, upstream):
    out, frontier, seen = [], [start], {start}
    while frontier:
        current = frontier.pop()
        for a, b in edges:
            if (b if upstream else a) == current:
                out.append((a, b))
                nxt = a if upstream else b
                if nxt not in seen:
                    seen.add(nxt)
                    frontier.append(nxt)
    return out


def _tree(tree, current, edges, upstream, seen):
    for a, b in edges:
        if (b if upstream else a) == current:
            nxt = a if upstream else b
            branch = tree.add(escape(_short(nxt)))
            if nxt not in seen:
                seen.add(nxt)
                _tree(branch, nxt, edges, upstream, seen)


def _short(uid: str) -> str:
    parts = uid.split(".")
    return ".".join(parts[2:]) if len(parts) > 2 else uid


@click.command("check")
@click.argument("names", nargs=-1)
@_project_options
@click.option("--engine", "engine", default=None, metavar="NAME",
              help="Run the checks on this engine (`duckdb` or an [engines.NAME] of meshkit.toml).")  # fmt: skip
@pass_meshkit
def check_cmd(mk, names, project_dir, target, vars_, engine):
    """Run the ``checks:`` blocks of models, sources and ``checks/*.yaml`` files."""
    from meshkit.models.checks import declared_checks
    from meshkit.quality.runner import run_all_checks

    blocks = declared_checks(mk, project_dir, target=target, vars=_vars(vars_))
    report = run_all_checks(mk, blocks, names=list(names), engine=engine)
    for result in report.results:
        style = {"pass": "green", "warn": "yellow", "fail": "red", "error": "red"}[result.status]
        console.print(
            f"[{style}]{result.status.upper():>5}[/] {escape(result.dataset)} [bold]{escape(result.name)}[/] {escape(result.message)}"
        )
    console.print(f"{len(report.results)} checks, {report.failed} failed (run {report.run.id})")
    if report.failed:
        raise UserError(
            f"{report.failed} of {len(report.results)} checks failed.", hint="See the failing checks above."
        )


@click.command("deps")
@click.option(
    "--project-dir", type=click.Path(file_okay=False), help="The dbt project (default: the current folder)."
)
@click.option("--upgrade", is_flag=True, help="Resolve the packages again, whatever package-lock.yml says.")
@click.option("--lock", "lock_only", is_flag=True, help="Only write package-lock.yml; install nothing.")
@pass_meshkit
def deps_cmd(mk, project_dir, upgrade, lock_only):
    """Install the packages of packages.yml / dependencies.yml into dbt_packages/, as `dbt deps` does."""
    from meshkit.models.packages import install, install_path
    from meshkit.models.project import dbt_settings, find_project_root

    root, kind = find_project_root(project_dir or ".")
    if kind != "dbt":
        raise UserError(f"`{root}` is not a dbt project (no dbt_project.yml).", hint="Pass --project-dir.")
    settings = dbt_settings(root)
    installed = install(root, settings, upgrade=upgrade, lock_only=lock_only)
    if lock_only:
        console.print(f"Wrote {root / 'package-lock.yml'}")
        return
    for package in installed:
        console.print(
            f"Installed [bold]{escape(package.name)}[/] {escape(str(package.settings.get('version', '')))}"
        )
    console.print(f"{len(installed)} packages in {install_path(root, settings)}")


@hookimpl
def register_commands(cli):
    for command in (
        build_cmd,
        test_cmd,
        seed_cmd,
        snapshot_cmd,
        models_group,
        ls_cmd,
        compile_cmd,
        lineage_cmd,
        check_cmd,
        deps_cmd,
    ):
        cli.add_command(command)
