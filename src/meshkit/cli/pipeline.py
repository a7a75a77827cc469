"""``meshkit pipeline``: run, show and list the pipelines of ``pipelines/``."""

from __future__ import annotations

import json
import signal
import threading

import click
from rich.live import Live
from rich.markup import escape
from rich.table import Table

from meshkit.cli.commands import check_name, create, parse_arguments, status_text
from meshkit.cli.main import console, pass_meshkit
from meshkit.core.errors import ConfigError
from meshkit.core.hookspecs import hookimpl

#: Example pipeline written by ``meshkit create pipeline`` (the one ``meshkit init`` writes).
EXAMPLE = "pipelines/cities.yaml"


def graph_table(pipeline, statuses: dict[str, tuple[str, str]] | None = None) -> Table:
    """The pipeline drawn as layers: each node with what it does and the nodes it waits for.

    ``statuses`` maps node names to ``(status, note)`` to show a run's progress.
    """
    table = Table(box=None, show_header=False, pad_edge=False, title_justify="left",
                  title=f"[bold]{escape(pipeline.name)}[/] · {len(pipeline.nodes)} nodes · concurrency {pipeline.concurrency}")  # fmt: skip
    table.add_column("", no_wrap=True)
    table.add_column("node", no_wrap=True)
    table.add_column("does")
    table.add_column("after")
    if statuses is not None:
        table.add_column("status", no_wrap=True)
    layers = pipeline.layers()
    for number, layer in enumerate(layers, 1):
        for i, name in enumerate(layer):
            node = pipeline.node(name)
            gutter = str(number) if i == 0 else ""
            extras = []
            if pipeline.setting(node, "retries"):
                extras.append(f"retries {pipeline.setting(node, 'retries')}")
            if pipeline.setting(node, "timeout"):
                extras.append(f"timeout {pipeline.setting(node, 'timeout'):g}s")
            if not pipeline.setting(node, "fail_pipeline_on_error"):
                extras.append("may fail")
            does = f"[dim]{node.kind}[/] {escape(node.target)}" + (
                f" [dim]({', '.join(extras)})[/]" if extras else ""
            )
            after = ("◀ " + ", ".join(node.depends_on)) if node.depends_on else ""
            row = [gutter, f"[bold]{escape(name)}[/]", does, escape(after)]
            if statuses is not None:
                status, note = statuses.get(name, ("submitted", ""))
                row.append(status_text(status) + (f" [dim]{escape(note)}[/]" if note else ""))
            table.add_row(*row)
    return table


def _statuses(records) -> dict[str, tuple[str, str]]:
    found = {}
    for record in records:
        attempts = len(record.details.get("attempts", []))
        note = f"attempt {attempts}" if attempts > 1 else ""
        if record.duration is not None and record.status not in ("skipped", "cancelled"):
            note = " ".join(x for x in (note, f"{record.duration:.1f}s") if x)
        found[record.name] = (record.status, note)
    return found


@click.group("pipeline")
def pipeline_group() -> None:
    """Pipelines: DAGs of jobs, transfers, model builds, checks and publishes (pipelines/NAME.yaml)."""


@pipeline_group.command("run")
@click.argument("name")
@click.option("--arg", "args", multiple=True, metavar="KEY=VALUE", help="Recorded with the run (repeatable).")
@click.option("--run-id", help="Pick up a run already recorded as submitted (used by the control service).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@pass_meshkit
def run_command(mk, name: str, args: tuple[str, ...], run_id: str | None, as_json: bool) -> None:
    """Run pipeline NAME: ready nodes in parallel up to its concurrency, with retries and timeouts."""
    from meshkit.pipelines.runner import PipelineRunner, dump
    from meshkit.pipelines.spec import load_pipeline, pipeline_path

    path = pipeline_path(mk.workspace.root, name)
    pipeline = load_pipeline(path)
    live = Live(graph_table(pipeline, {}), console=console, transient=False, auto_refresh=False)
    quiet = as_json or not console.is_terminal

    def changed(result) -> None:
        if not quiet:
            live.update(graph_table(pipeline, _statuses(result.nodes.values())), refresh=True)

    runner = PipelineRunner(mk, pipeline, source=path.parent, on_change=changed)
    previous = None
    if threading.current_thread() is threading.main_thread():  # SIGTERM (a cancel) stops the nodes too
        previous = signal.signal(signal.SIGTERM, lambda *_: runner.cancel())
    try:
        if quiet:
            result = runner.run(run_id=run_id, arguments=parse_arguments(args, None))
        else:
            with live:
                result = runner.run(run_id=run_id, arguments=parse_arguments(args, None))
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
    if as_json:
        console.print_json(json.dumps(dump(result)))
    else:
        if not console.is_terminal:
            console.print(graph_table(pipeline, _statuses(result.nodes.values())))
        run = result.run
        console.print(f"Pipeline run [bold]{run.id}[/] {status_text(run.status)} in {run.duration or 0:.2f}s, "
                      f"{run.rows_written:,} rows written.", soft_wrap=True)  # fmt: skip
    error = result.error()
    if error is not None:
        raise error


@pipeline_group.command("show")
@click.argument("name")
@click.option("--run", "run_id", help="Show this run's node statuses (`latest` for the last run).")
@click.option("--json", "as_json", is_flag=True, help="Print the graph as JSON.")
@pass_meshkit
def show_command(mk, name: str, run_id: str | None, as_json: bool) -> None:
    """Draw pipeline NAME: its nodes in dependency layers (and a run's statuses)."""
    from meshkit.pipelines.runner import graph, node_runs
    from meshkit.pipelines.spec import find_pipeline

    pipeline = find_pipeline(mk.workspace.root, name)
    statuses = None
    if run_id:
        if run_id == "latest":
            found = mk.runs.list(kind="pipeline", name=pipeline.name, limit=1)
            if not found:
                raise ConfigError(
                    f"Pipeline `{pipeline.name}` has no run yet.", hint=f"meshkit pipeline run {name}"
                )
            run_id = found[0].id
        statuses = _statuses(node_runs(mk, run_id))
    if as_json:
        data = graph(pipeline)
        if statuses is not None:
            for node in data["nodes"]:
                node["status"] = statuses.get(node["name"], ("submitted", ""))[0]
        console.print_json(json.dumps({"name": pipeline.name, **data}))
        return
    console.print(graph_table(pipeline, statuses))
    triggers = [*([f"cron {pipeline.schedule} ({pipeline.timezone})"] if pipeline.schedule else []),
                *(t.type for t in pipeline.triggers)]  # fmt: skip
    if triggers:
        console.print(f"[dim]starts on:[/] {escape(', '.join(triggers))}")


@pipeline_group.command("list")
@pass_meshkit
def list_command(mk) -> None:
    """List the pipelines of the workspace with their last run."""
    from meshkit.pipelines.spec import load_pipeline, pipeline_files

    table = Table("pipeline", "nodes", "schedule", "triggers", "last run", "status", box=None)
    for path in pipeline_files(mk.workspace.root):
        pipeline = load_pipeline(path)
        last = mk.runs.list(kind="pipeline", name=pipeline.name, limit=1)
        table.add_row(pipeline.name, str(len(pipeline.nodes)), pipeline.schedule or "",
                      ", ".join(t.type for t in pipeline.triggers), last[0].id if last else "",
                      status_text(last[0].status) if last else "")  # fmt: skip
    console.print(table)


@create.command("pipeline")
@click.argument("name")
@pass_meshkit
def create_pipeline(mk, name: str) -> None:
    """Create a sample pipeline in pipelines/NAME.yaml, like the example `meshkit init` writes."""
    from meshkit.core.workspace import EXAMPLES, fill_example

    check_name(name, "pipeline")
    target = mk.workspace.root / "pipelines" / f"{name}.yaml"
    if target.exists():
        raise ConfigError(f"{target} already exists.", hint="Pick another name.")
    text = fill_example((EXAMPLES / EXAMPLE).read_text(), mk.config.get("team") or "my-team")
    target.parent.mkdir(exist_ok=True)
    target.write_text(text)
    console.print(f"Created pipeline [bold]{name}[/] in {target}")
    console.print(
        f"Draw it: [bold]meshkit pipeline show {name}[/]; run it: [bold]meshkit pipeline run {name}[/]"
    )


@hookimpl
def register_commands(cli):
    cli.add_command(pipeline_group)
