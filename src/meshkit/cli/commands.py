"""Core commands: init, config, create job, run, runs, plugins."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import click
from rich.markup import escape

from meshkit.cli.main import console, pass_meshkit
from meshkit.cli.tables import fitting_table
from meshkit.core import humanize
from meshkit.core.errors import ConfigError
from meshkit.core.hookspecs import hookimpl
from meshkit.core.statuses import RUN_STATUSES
from meshkit.core.workspace import DEFAULT_TEAM

STATUS_STYLE = {"succeeded": "green", "running": "cyan", "submitted": "cyan", "skipped": "yellow",
                "cancelled": "yellow", "user_error": "red", "platform_error": "red"}  # fmt: skip


def status_text(status: str) -> str:
    return f"[{STATUS_STYLE.get(status, 'white')}]{status}[/]"


@click.command()
@click.argument("directory", type=click.Path(file_okay=False), default=".")
@click.option("--name", help="Workspace name (default: the folder name).")
@click.option(
    "--team", default=DEFAULT_TEAM, show_default=True, help="The team that owns the workspace's data."
)
def init(directory: str, name: str | None, team: str) -> None:
    """Create a workspace: meshkit.toml, .meshkit/ state and one working example per folder."""
    from meshkit.core.workspace import init_workspace

    workspace = init_workspace(directory, name, examples=True, team=team)
    write_job(workspace.jobs_dir / "greetings", team)
    console.print(f"Created workspace [bold]{workspace.name}[/] in {workspace.root}, with an example in each of "
                  "jobs, transfers, models, products, checks, policies and pipelines.")  # fmt: skip
    console.print("Next: [bold]cd[/] into it, then [bold]meshkit run greetings[/], "
                  "[bold]meshkit transfer apply transfers/cities.yaml[/], [bold]meshkit build[/], [bold]meshkit pipeline run cities[/]")  # fmt: skip


@click.command("config")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_meshkit
def config_cmd(meshkit, as_json: bool) -> None:
    """Show every config key, its effective value and where it comes from."""
    rows = meshkit.config.explain()
    if as_json:
        console.print_json(
            json.dumps([{"key": k, "value": v, "source": s} for k, v, s, _ in rows], default=str)
        )
        return
    table = fitting_table("key", "value", "source", "description")
    for key, value, source, description in rows:
        table.add_row(key, "" if value is None else str(value), source, description)
    console.print(table)


SAMPLE_STEPS = {
    "config.ini": """\
; Job configuration (VDK-compatible).
[owner]
team = {team}

[job]
; schedule_cron = 0 * * * *

[vdk]
; db_default_type = duckdb
""",
    "10_create_table.sql": """\
-- SQL steps run on the job's managed connection; {{name}} placeholders come from arguments and properties.
CREATE TABLE IF NOT EXISTS greetings (id INTEGER, greeting VARCHAR, created_at TIMESTAMP);
""",
    "20_ingest.py": '''\
"""Python steps define run(job_input)."""

import datetime


def run(job_input):
    name = job_input.get_arguments().get("name", "world")
    now = datetime.datetime.now()
    rows = [(i, f"hello {{name}} #{{i}}", now) for i in range(10)]
    job_input.send_tabular_data_for_ingestion(rows, ["id", "greeting", "created_at"], destination_table="greetings")
''',
    "30_report.sql": """\
SELECT count(*) AS greetings FROM greetings;
""",
}


def check_name(name: str, kind: str) -> None:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_-]*", name):
        raise ConfigError(f"Invalid {kind} name `{name}`.", hint="Use letters, digits, '-' and '_'.")


def write_job(job_dir: Path, team: str) -> None:
    """The sample job's steps in ``job_dir`` (created)."""
    job_dir.mkdir(parents=True)
    for filename, text in SAMPLE_STEPS.items():
        (job_dir / filename).write_text(text.format(team=team))


@click.group()
def create() -> None:
    """Create workspace content from samples."""


@create.command("job")
@click.argument("name")
@click.option("--team", help="The owning team (default: `team` of meshkit.toml, else my-team).")
@pass_meshkit
def create_job(meshkit, name: str, team: str | None) -> None:
    """Create a sample data job under jobs/NAME."""
    check_name(name, "job")
    job_dir = meshkit.workspace.jobs_dir / name
    if job_dir.exists():
        raise ConfigError(f"Job folder {job_dir} already exists.", hint="Pick another name.")
    write_job(job_dir, team or meshkit.config.get("team") or DEFAULT_TEAM)
    console.print(f"Created job [bold]{name}[/] in {job_dir}")
    console.print(f"Run it: [bold]meshkit run {name} --arg name=you[/]")


#: ``meshkit create KIND NAME``: the example ``meshkit init`` writes for KIND, and the text naming it.
EXAMPLE_OF = {
    "transfer": ("transfers/cities.yaml", ("name: cities", "asset: cities,")),
    "model": ("models/country_population.sql", ()),
    "product": ("products/population.yaml", ("name: population", "warehouse/country_population")),
    "check": ("checks/cities.yaml", ()),
}


def create_from_example(kind: str):
    """The ``create KIND NAME`` command: a copy of KIND's workspace example named NAME."""

    @create.command(kind, help=f"Create a sample {kind} in {EXAMPLE_OF[kind][0].split('/')[0]}/NAME, "
                               "like the example `meshkit init` writes.")  # fmt: skip
    @click.argument("name")
    @pass_meshkit
    def command(meshkit, name: str) -> None:
        from meshkit.core.workspace import EXAMPLES, fill_example

        check_name(name, kind)
        example, naming = EXAMPLE_OF[kind]
        folder, _, filename = example.partition("/")
        target = meshkit.workspace.root / folder / (name + Path(filename).suffix)
        if target.exists():
            raise ConfigError(f"{target} already exists.", hint="Pick another name.")
        text = fill_example((EXAMPLES / example).read_text(), meshkit.config.get("team") or DEFAULT_TEAM)
        for words in naming:
            text = text.replace(words, words.replace(re.split(r"[ /]", words)[-1].rstrip(","), name), 1)
        target.parent.mkdir(exist_ok=True)
        target.write_text(text)
        console.print(f"Created {kind} [bold]{name}[/] in {target}")

    return command


for _kind in EXAMPLE_OF:
    create_from_example(_kind)


def parse_arguments(args: tuple[str, ...], arguments_json: str | None) -> dict:
    values: dict = {}
    if arguments_json:
        try:
            values = json.loads(arguments_json)
        except json.JSONDecodeError as exc:
            raise ConfigError(
                f"--arguments is not valid JSON: {exc}.",
                hint="""Write e.g. --arguments '{"day": "2024-01-01"}'.""",
            ) from None
        if not isinstance(values, dict):
            raise ConfigError(
                "--arguments must be a JSON object.",
                hint="""Write e.g. --arguments '{"day": "2024-01-01"}'.""",
            )
    for pair in args:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ConfigError(f"--arg `{pair}` is not of the form key=value.")
        values[key] = value
    return values


@click.command("run")
@click.argument("job")
@click.option("--arg", "args", multiple=True, metavar="KEY=VALUE", help="Job argument (repeatable).")
@click.option("--arguments", "arguments_json", metavar="JSON", help="Job arguments as a JSON object.")
@click.option("--run-id", help="Pick up a run already recorded as submitted (used by the control service).")
@pass_meshkit
def run_cmd(meshkit, job: str, args: tuple[str, ...], arguments_json: str | None, run_id: str | None) -> None:
    """Run data job JOB (a folder, or a name under jobs/): its *.py and *.sql steps in order."""
    from meshkit.cli.progress import JobSteps, LiveLines
    from meshkit.job.runner import run_job, same_file

    arguments = parse_arguments(args, arguments_json)
    run = meshkit.runs.get(run_id) if run_id else None
    if run is not None and run.log_path and same_file(sys.stdout, Path(run.log_path)):
        result = run_job(meshkit, job, arguments, run_id=run_id)  # the log has it all already
    else:
        with LiveLines(console) as lines:
            steps = JobSteps(lines)
            meshkit.pm.register(steps)
            try:
                result = run_job(meshkit, job, arguments, run_id=run_id)
            finally:
                meshkit.pm.unregister(steps)
        run = meshkit.runs.get(run_id or result.run_id)
        console.print(f"Run [bold]{run.id}[/] {status_text(run.status)} in {run.duration or 0:.2f}s, "
                      f"{run.rows_written:,} rows written. Log: {run.log_path}", soft_wrap=True)  # fmt: skip
    if result.error is not None:
        raise result.error


def render_run(run) -> None:
    """One-screen summary of a run: steps, durations, rows, log file."""
    table = fitting_table(
        "step", "status", "took", "rows", short=("status", "took", "rows"), right=("took", "rows")
    )
    for step in run.steps:
        table.add_row(
            escape(step.name),
            status_text(step.status),
            humanize.duration(step.duration),
            humanize.count(step.rows_written),
        )
    console.print(table)
    console.print(f"Run [bold]{run.id}[/] {status_text(run.status)} in {run.duration or 0:.2f}s, "
                  f"{run.rows_written} rows written. Log: {run.log_path}")  # fmt: skip


@click.group(invoke_without_command=True)
@click.option("--kind", help="job, template, transfer, build, ...")
@click.option("--name", help="Only runs of this name.")
@click.option("--status", type=click.Choice(RUN_STATUSES))
@click.option("--limit", default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_context
def runs(ctx, kind, name, status, limit, as_json) -> None:
    """List recent runs (newest first)."""
    if ctx.invoked_subcommand:
        return
    meshkit = ctx.obj.meshkit
    records = meshkit.runs.list(kind=kind, name=name, status=status, limit=limit)
    if as_json:
        console.print_json(json.dumps([{"id": r.id, "kind": r.kind, "name": r.name, "status": r.status,
                                        "started_at": r.started_at, "duration": r.duration,
                                        "rows_written": r.rows_written, "error": r.error} for r in records], default=str))  # fmt: skip
        return
    table = fitting_table("id", "kind", "status", "started", "took", "rows", short=("kind", "status", "started", "took", "rows"),
                          right=("took", "rows"))  # fmt: skip
    for r in records:
        table.add_row(escape(r.id), r.kind, status_text(r.status), humanize.since(r.started_at),
                      humanize.duration(r.duration), humanize.count(r.rows_written))  # fmt: skip
    console.print(table)
    for r in (r for r in records if r.error):
        console.print(f"[bold]{escape(r.id)}[/]: {escape(r.error)}")


@runs.command("show")
@click.argument("run_id")
@click.option("--log", "show_log", is_flag=True, help="Print the run's log.")
@pass_meshkit
def runs_show(meshkit, run_id: str, show_log: bool) -> None:
    """Show one run with its steps (and its log)."""
    run = meshkit.runs.get(run_id)
    if run is None:
        raise ConfigError(f"No run `{run_id}`.", hint="List runs with `meshkit runs`.")
    render_run(run)
    if run.error:
        console.print(f"[red]{run.error}[/]", markup=True)
    if show_log and run.log_path and Path(run.log_path).exists():
        console.print(Path(run.log_path).read_text(), markup=False, highlight=False)


@click.command("plugins")
@pass_meshkit
def plugins_cmd(meshkit) -> None:
    """List the loaded plugins and the hooks each implements."""
    from meshkit.core.plugins import describe_plugins

    table = fitting_table("plugin", "origin", "hooks")
    for name, origin, hooks in describe_plugins(meshkit.pm):
        table.add_row(name, origin, ", ".join(hooks))
    console.print(table)


@hookimpl
def register_commands(cli):
    for command in (init, config_cmd, create, run_cmd, runs, plugins_cmd):
        cli.add_command(command)
