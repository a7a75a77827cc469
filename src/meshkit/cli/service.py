"""Commands of the control service: ``server``, ``token``, ``login``, ``deploy``, ``execute``,
``list`` and ``show`` (``properties`` and ``secrets`` take ``--remote``: :mod:`meshkit.cli.remote`).

All but ``server`` and ``token`` talk to a running service over its REST API with the
credentials saved by ``meshkit login``.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import click

from meshkit.cli.main import console, err_console, pass_meshkit
from meshkit.cli.tables import fitting_table
from meshkit.core.errors import ConfigError, UserError
from meshkit.core.hookspecs import hookimpl
from meshkit.core.statuses import FINAL_STATUSES

STATUS_STYLE = {"succeeded": "green", "running": "blue", "submitted": "yellow", "cancelled": "dim", "skipped": "dim",
                "user_error": "red", "platform_error": "red"}  # fmt: skip
team_option = click.option(
    "--team", help="Team owning the job (default: config key `team` or the job's config.ini)."
)
url_option = click.option("--url", help="Control service URL (default: from `meshkit login`).")


def _status(value: str | None) -> str:
    return f"[{STATUS_STYLE.get(value or '', 'white')}]{value or '-'}[/]"


def service_client(meshkit, url: str | None):
    from meshkit.service.client import ServiceClient
    from meshkit.service.credentials import load

    return ServiceClient(load(meshkit, url))


def owning_team(meshkit, team: str | None, job_dir: Path | None = None) -> str:
    if team:
        return team
    if job_dir is not None:
        from meshkit.job.job_config import load_job_config

        owner = load_job_config(job_dir, set()).team
        if owner:
            return owner
    configured = meshkit.config.get("team")
    if configured:
        return configured
    raise ConfigError(
        "Which team owns the job?",
        hint="Pass --team, set `team` in meshkit.toml [config], or [owner] team in config.ini.",
    )


def _json_object(text: str | None, option: str) -> dict:
    if not text:
        return {}
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{option} is not valid JSON: {exc}.", hint="""Write e.g. '{"day": "2024-01-01"}'."""
        ) from None
    if not isinstance(value, dict):
        raise ConfigError(f"{option} must be a JSON object.")
    return value


# ---------------------------------------------------------------------------- server and tokens


@click.command("server")
@click.option("--host", help="Address to listen on (default: config `service_host`).")
@click.option("--port", type=int, help="Port (default: config `service_port`).")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True, help="Server processes.")
@click.pass_context
def server_cmd(ctx: click.Context, host: str | None, port: int | None, workers: int) -> None:
    """Run the control service: REST API, scheduler, executions and web UI."""
    from meshkit.service.runtime import check_settings
    from meshkit.service.server import bootstrap_admin, serve

    meshkit = ctx.obj.meshkit
    check_settings(meshkit)
    host = host or meshkit.config.get("service_host")
    port = port or meshkit.config.get("service_port")
    url = f"http://{'127.0.0.1' if host in ('0.0.0.0', '::') else host}:{port}"
    created = bootstrap_admin(meshkit, url)
    if created:
        console.print(f"Created an admin token in [bold]{created}[/]; this workspace is logged in.")
    console.print(
        f"Control service on [bold]{url}[/]\n  UI        {url}/ui\n  API docs  {url}/docs  (or /redoc)"
    )
    serve(meshkit, host=host, port=port, workers=workers, overrides=ctx.obj.overrides)


@click.group("token")
def token_group() -> None:
    """API tokens of the control service, managed directly in the metadata database."""


@token_group.command("create")
@click.option("--name", required=True, help="What the token is for.")
@click.option("--subject", required=True, help="Who uses it (shown in the audit log).")
@click.option(
    "--role",
    "roles",
    multiple=True,
    required=True,
    metavar="TEAM=ROLE",
    help="viewer, developer or admin; TEAM * for all.",
)
@click.option("--expires-in-days", type=click.IntRange(1, 3650))
@pass_meshkit
def token_create(
    meshkit, name: str, subject: str, roles: tuple[str, ...], expires_in_days: int | None
) -> None:
    """Create a token and print it (the only time it is shown)."""
    from meshkit.service.auth import check_roles, create_token

    parsed = {}
    for pair in roles:
        team, sep, role = pair.partition("=")
        if not sep:
            raise click.UsageError(f"--role `{pair}` is not TEAM=ROLE.")
        parsed[team] = role
    try:
        check_roles(parsed)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    token_id, token = create_token(
        meshkit.metadata.engine, name=name, subject=subject, roles=parsed, expires_in_days=expires_in_days
    )
    err_console.print(f"Token {token_id} for {subject}; store it now, it is not shown again:")
    click.echo(token)


@token_group.command("list")
@pass_meshkit
def token_list(meshkit) -> None:
    """List tokens (without their values)."""
    from meshkit.service.auth import list_tokens

    table = fitting_table("id", "name", "subject", "roles", "expires", "revoked")
    for t in list_tokens(meshkit.metadata.engine):
        table.add_row(t["id"], t["name"], t["subject"], ", ".join(f"{k}={v}" for k, v in t["roles"].items()),
                      str(t["expires_at"] or ""), str(t["revoked_at"] or ""))  # fmt: skip
    console.print(table)


@token_group.command("revoke")
@click.argument("token_id")
@pass_meshkit
def token_revoke(meshkit, token_id: str) -> None:
    from meshkit.service.auth import revoke_token

    if not revoke_token(meshkit.metadata.engine, token_id):
        raise UserError(f"No active token `{token_id}`.", hint="List them with `meshkit token list`.")
    console.print(f"Revoked {token_id}.")


# ---------------------------------------------------------------------------- client commands


@click.command("login")
@url_option
@click.option("--token", help="API token or JWT (prompted when omitted).")
@click.option(
    "--workspace-only", is_flag=True, help="Save in this workspace's .meshkit/ instead of ~/.config/meshkit/."
)
@pass_meshkit
def login_cmd(meshkit, url: str | None, token: str | None, workspace_only: bool) -> None:
    """Check a token against the control service and save it (mode 0600)."""
    from meshkit.service import credentials
    from meshkit.service.client import ServiceClient

    url = url or meshkit.config.get("service_url")
    token = token or click.prompt("Token", hide_input=True)
    client = ServiceClient(credentials.Credentials(url, token.strip(), "login"))
    who = client.get("/whoami")
    path = credentials.workspace_file(meshkit) if workspace_only else credentials.user_file()
    credentials.save(path, url, token.strip())
    roles = ", ".join(f"{team}: {role}" for team, role in who["roles"].items()) or "no roles"
    console.print(f"Logged in to {url} as [bold]{who['subject']}[/] ({roles}). Saved in {path}.")


@click.command("deploy")
@click.argument("job_dir", type=click.Path(exists=True, file_okay=False))
@team_option
@click.option("--name", help="Job name (default: the folder name).")
@click.option(
    "--schedule", help="Cron expression, e.g. '0 3 * * *' (default: config.ini [job] schedule_cron)."
)
@click.option("--timezone", default="UTC", show_default=True)
@click.option("--arguments", help="Default arguments as a JSON object.")
@click.option("--retries", type=click.IntRange(0, 10), default=0, show_default=True)
@click.option("--timeout", type=click.IntRange(1), help="Seconds before an execution is stopped.")
@click.option("--deployment", default="production", show_default=True)
@click.option("--disable", is_flag=True, help="Deploy paused (no scheduled runs).")
@url_option
@pass_meshkit
def deploy_cmd(
    meshkit, job_dir, team, name, schedule, timezone, arguments, retries, timeout, deployment, disable, url
) -> None:
    """Upload a job folder as a new source version and deploy it."""
    from meshkit.job.job_config import load_job_config
    from meshkit.service.exceptions import NotFoundError
    from meshkit.service.sources import zip_folder

    folder = Path(job_dir).resolve()
    name = name or folder.name
    config = load_job_config(folder, set())
    team = owning_team(meshkit, team, folder)
    client = service_client(meshkit, url)
    try:
        client.get(f"/teams/{team}/jobs/{name}")
    except NotFoundError:
        client.post(f"/teams/{team}/jobs", json={"name": name, "contacts": config.contacts})
    source = client.post(
        f"/teams/{team}/jobs/{name}/sources",
        files={"file": (f"{name}.zip", zip_folder(folder), "application/zip")},
    )
    body = {"id": deployment, "version": source["version"], "schedule": schedule or config.schedule_cron, "timezone": timezone,
            "arguments": _json_object(arguments, "--arguments"), "retries": retries, "timeout": timeout, "enabled": not disable}  # fmt: skip
    result = client.post(f"/teams/{team}/jobs/{name}/deployments", json=body)
    new = "new version" if source.get("created") else "unchanged source"
    when = (
        f"schedule {result['schedule']} ({result['timezone']}), next run {result['next_run_at']}"
        if result["schedule"]
        else "manual runs only"
    )
    console.print(
        f"Deployed [bold]{team}/{name}[/] v{result['version']} ({new}, {source['sha256'][:12]}) as {deployment}: {when}."
    )


@click.command("execute")
@click.argument("job")
@team_option
@click.option("--start", "action", flag_value="start", help="Start an execution.")
@click.option("--cancel", "cancel_id", metavar="ID", help="Cancel execution ID.")
@click.option("--logs", "logs_id", metavar="ID", help="Print the log of execution ID.")
@click.option("--wait", is_flag=True, help="With --start or --logs: follow until the execution ends.")
@click.option("--arguments", help="With --start: arguments as a JSON object.")
@click.option("--deployment", default=None, help="With --start: the deployment to run (default production).")
@url_option
@pass_meshkit
def execute_cmd(meshkit, job, team, action, cancel_id, logs_id, wait, arguments, deployment, url) -> None:
    """Start, cancel or follow executions of a deployed JOB."""
    chosen = [x for x in (action, cancel_id, logs_id) if x]
    if len(chosen) != 1:
        raise click.UsageError("Give exactly one of --start, --cancel ID, --logs ID.")
    team = owning_team(meshkit, team)
    client = service_client(meshkit, url)
    base = f"/teams/{team}/jobs/{job}/executions"
    if cancel_id:
        result = client.request("DELETE", f"{base}/{cancel_id}")
        console.print(f"Cancel requested for {cancel_id} (now {_status(result['status'])}).")
        return
    if action == "start":
        body = {"arguments": _json_object(arguments, "--arguments"), "deployment": deployment}
        result = client.post(base, json=body)
        console.print(f"Started [bold]{result['id']}[/].")
        logs_id = result["id"]
        if not wait:
            return
    _follow(client, f"{base}/{logs_id}", wait)


def _follow(client, path: str, wait: bool) -> None:
    offset, printed = 0, []
    while True:
        chunk = client.get(f"{path}/logs", params={"offset": offset})
        if chunk["text"]:
            click.echo(chunk["text"], nl=False)
            printed.append(chunk["text"])
        offset = chunk["offset"]
        if chunk["complete"] or not wait:
            break
        time.sleep(1)
    result = client.get(path)
    error = result["error"] or ""
    # NOTE: the log printed above usually ends with the run's error already: say it once
    in_log = bool(error) and error.splitlines()[0] in "".join(printed)
    told = f": {error}" if error and not in_log else ""
    if wait and result["status"] in FINAL_STATUSES and result["status"] != "succeeded":
        where = " (its error is in the log above)" if in_log else ""
        raise UserError(f"Execution {result['id']} ended {result['status']}{told or where}.")
    console.print(f"Execution {result['id']} {_status(result['status'])}{told or '.'}")


@click.command("list")
@click.option("--team", help="Only this team's jobs.")
@click.option("--json", "as_json", is_flag=True)
@url_option
@pass_meshkit
def list_cmd(meshkit, team, as_json, url) -> None:
    """List deployed jobs with their last status."""
    rows = service_client(meshkit, url).get("/jobs", params={"team": team} if team else None)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    table = fitting_table("team", "job", "last status", "description")
    for row in rows:
        table.add_row(row["team"], row["name"], _status(row["last_status"]), row["description"])
    console.print(table)


@click.command("show")
@click.argument("job")
@team_option
@click.option("--limit", default=10, show_default=True, help="Executions to show.")
@url_option
@pass_meshkit
def show_cmd(meshkit, job, team, limit, url) -> None:
    """Show a deployed job: deployments and recent executions."""
    team = owning_team(meshkit, team)
    client = service_client(meshkit, url)
    info = client.get(f"/teams/{team}/jobs/{job}")
    console.print(f"[bold]{team}/{job}[/] {info['description']}")
    deps = fitting_table("deployment", "version", "schedule", "enabled", "next run")
    for d in client.get(f"/teams/{team}/jobs/{job}/deployments"):
        deps.add_row(
            d["id"],
            f"v{d['version']}",
            d["schedule"] or "manual",
            str(d["enabled"]),
            str(d["next_run_at"] or ""),
        )
    console.print(deps)
    runs = fitting_table("execution", "status", "trigger", "started", "seconds")
    for e in client.get(f"/teams/{team}/jobs/{job}/executions", params={"limit": limit}):
        runs.add_row(
            e["id"],
            _status(e["status"]),
            e["trigger"],
            str(e["started_at"] or ""),
            f"{e['duration'] or 0:.1f}",
        )
    console.print(runs)


@hookimpl
def register_commands(cli):
    for command in (
        server_cmd,
        token_group,
        login_cmd,
        deploy_cmd,
        execute_cmd,
        list_cmd,
        show_cmd,
    ):
        cli.add_command(command)
