"""``meshkit pipeline``: run, show and list the pipelines of ``pipelines/``."""

from __future__ import annotations

import json
import signal
import threading

import click
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
    from rich.live import Live

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
    cli.add_command(triggers_group)


def bundle(mk, path, pipeline) -> bytes:
    """The source a pipeline deploys as: ``pipeline.yaml`` (named) and its jobs' folders under ``jobs/``."""
    import io
    import zipfile

    import yaml

    from meshkit.pipelines import DEPLOYED_FILE

    data = yaml.safe_load(path.read_text())
    data["name"] = pipeline.name
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(DEPLOYED_FILE, yaml.safe_dump(data, sort_keys=False))
        for job in sorted({node.job for node in pipeline.nodes if node.job is not None}):
            folder = mk.workspace.find_job(job)
            for file in sorted(folder.rglob("*")):
                rel = file.relative_to(folder)
                if (
                    file.is_file()
                    and "__pycache__" not in rel.parts
                    and not any(p.startswith(".") for p in rel.parts)
                ):
                    archive.write(file, f"jobs/{job}/{rel.as_posix()}")
    return buffer.getvalue()


@pipeline_group.command("deploy")
@click.argument("name")
@click.option("--team", help="Owning team (default: the pipeline's `team`, else config key `team`).")
@click.option("--deployment", default="production", show_default=True)
@click.option("--disable", is_flag=True, help="Deploy paused (no scheduled or triggered runs).")
@click.option("--url", help="Control service URL (default: from `meshkit login`).")
@pass_meshkit
def deploy_command(mk, name: str, team: str | None, deployment: str, disable: bool, url: str | None) -> None:
    """Deploy pipeline NAME to the control service with its jobs, schedule and triggers."""
    from meshkit.cli.service import owning_team, service_client
    from meshkit.pipelines.runner import pipeline_inputs
    from meshkit.pipelines.spec import load_pipeline, pipeline_path
    from meshkit.service.exceptions import NotFoundError

    path = pipeline_path(mk.workspace.root, name)
    pipeline = load_pipeline(path)
    team = owning_team(mk, team or pipeline.team)
    client = service_client(mk, url)
    try:
        client.get(f"/teams/{team}/jobs/{pipeline.name}")
    except NotFoundError:
        client.post(
            f"/teams/{team}/jobs", json={"name": pipeline.name, "description": pipeline.description or ""}
        )
    source = client.post(f"/teams/{team}/jobs/{pipeline.name}/sources",
                         files={"file": (f"{pipeline.name}.zip", bundle(mk, path, pipeline), "application/zip")})  # fmt: skip
    body = {"id": deployment, "version": source["version"], "schedule": pipeline.schedule,
            "timezone": pipeline.timezone, "enabled": not disable}  # fmt: skip
    result = client.post(f"/teams/{team}/jobs/{pipeline.name}/deployments", json=body)
    specs = [t.model_dump(mode="json", exclude_none=True) for t in pipeline.triggers]
    for spec in specs:
        if spec["type"] == "dataset" and not spec.get("datasets"):
            spec["datasets"] = pipeline_inputs(mk, pipeline)
            if not spec["datasets"]:
                raise ConfigError(f"Pipeline `{pipeline.name}` has a dataset trigger, and the catalog does not know "
                                  "what it reads yet.", where=str(path),
                                  hint="Run it once (`meshkit pipeline run`), or list `datasets:` in the trigger.")  # fmt: skip
    client.request("PUT", f"/teams/{team}/jobs/{pipeline.name}/deployments/{deployment}/triggers", json=specs)
    starts = [f"cron {result['schedule']}" if result["schedule"] else "", *(s["type"] for s in specs)]
    console.print(f"Deployed pipeline [bold]{team}/{pipeline.name}[/] v{result['version']} as {deployment}; "
                  f"starts on: {', '.join(s for s in starts if s) or 'manual runs only'}.")  # fmt: skip


@click.group("triggers")
def triggers_group() -> None:
    """Triggers of deployed jobs and pipelines: webhooks, S3 objects, NATS messages, new data."""


@triggers_group.command("set")
@click.argument("job")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--team", help="Owning team (default: config key `team`).")
@click.option("--deployment", default="production", show_default=True)
@click.option("--url", help="Control service URL (default: from `meshkit login`).")
@pass_meshkit
def triggers_set(mk, job: str, file: str, team: str | None, deployment: str, url: str | None) -> None:
    """Replace the triggers of deployed JOB with the YAML list in FILE (as `triggers:` of a pipeline)."""
    import yaml

    from meshkit.cli.service import owning_team, service_client

    specs = yaml.safe_load(open(file).read()) or []
    if not isinstance(specs, list):
        raise ConfigError(
            "A triggers file is a YAML list.", where=file, hint="- {type: webhook, secret: env:KEY}"
        )
    team = owning_team(mk, team)
    found = service_client(mk, url).request("PUT", f"/teams/{team}/jobs/{job}/deployments/{deployment}/triggers",
                                            json=specs)  # fmt: skip
    console.print(
        f"{team}/{job} ({deployment}) starts on: {', '.join(t['type'] for t in found) or 'its schedule only'}."
    )


@triggers_group.command("history")
@click.argument("job")
@click.option("--team", help="Owning team (default: config key `team`).")
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.option("--url", help="Control service URL (default: from `meshkit login`).")
@pass_meshkit
def triggers_history(mk, job: str, team: str | None, limit: int, as_json: bool, url: str | None) -> None:
    """The trigger events of deployed JOB (or pipeline), newest first, with the execution each started."""
    from meshkit.cli.service import owning_team, service_client

    team = owning_team(mk, team)
    events = service_client(mk, url).get(
        f"/teams/{team}/jobs/{job}/triggers/history", params={"limit": limit}
    )
    if as_json:
        console.print_json(json.dumps(events, default=str))
        return
    table = Table("at", "type", "event", "outcome", "execution", "status", box=None)
    for e in events:
        table.add_row(str(e["at"])[:19], e["type"], escape(e["event"][:60]), e["outcome"], e["run_id"] or "",
                      status_text(e["status"]) if e["status"] else "")  # fmt: skip
    console.print(table)
