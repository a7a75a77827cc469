"""``meshkit transfer``: apply a BatchTransfer or SyncTransfer file now, show a transfer's status, list transfers."""

from __future__ import annotations

import json
from datetime import datetime

import click
from rich.markup import escape
from rich.table import Table

from meshkit.cli.main import console, err_console, pass_meshkit
from meshkit.cli.tables import fitting_table
from meshkit.core import humanize
from meshkit.core.errors import ConfigError
from meshkit.core.hookspecs import hookimpl


def _size(n: int | None) -> str:
    value = float(n or 0)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return str(n)


def _summary(status: dict, with_error: bool = True) -> Table:
    table = Table(show_header=False, box=None, pad_edge=False)
    table.add_column(style="bold")
    table.add_column()
    phase = status.get("phase", "?")
    color = {"Succeeded": "green", "Failed": "yellow", "Fatal": "red"}.get(phase, "cyan")
    table.add_row("transfer", escape(status.get("name", "")))
    table.add_row("phase", f"[{color}]{phase}[/]")
    if with_error and status.get("error"):
        table.add_row("error", escape(status["error"]))
    source, dest = status.get("source") or {}, status.get("destination") or {}
    if source:
        table.add_row(
            "from", escape(f"{source['store']}/{source['asset']} ({len(source.get('schema', []))} columns)")
        )
        table.add_row("to", escape(f"{dest['store']}/{dest['asset']} ({dest.get('mode')})"))
    if status.get("plan"):
        table.add_row("plan", escape(status["plan"]))
    duration = status.get("duration") or 0
    rows = status.get("numRecords") or 0
    rate = f", {rows / duration:,.0f} rows/s" if duration and rows else ""
    table.add_row("records", f"{rows:,}{rate}")
    table.add_row("bytes", _size(status.get("bytes")))
    table.add_row("duration", f"{duration:.2f} s (attempts: {status.get('attempts', 1)})")
    if status.get("batches") is not None:
        table.add_row("batches", f"{status['batches']:,} (last: {status.get('lastBatchTime') or 'none'})")
        table.add_row("lag", f"{status.get('lag') or 0:,} message(s) pending")
        _stream_rows(table, status)
    if status.get("lastSuccessTime"):
        table.add_row("last success", status["lastSuccessTime"])
    if status.get("lastRecordTime"):
        table.add_row("high-water mark", escape(str(status["lastRecordTime"])))
    for column, labels in (status.get("transformedColumns") or {}).items():
        table.add_row("transformed", escape(f"{column}: {', '.join(labels)}"))
    return table


def _stream_rows(table, status: dict) -> None:
    """The streaming figures of a SyncTransfer: lag per partition or slot, commits, rows by operation."""
    if status.get("lagByPartition"):
        parts = ", ".join(f"{k}: {v:,}" for k, v in sorted(status["lagByPartition"].items()))
        table.add_row("lag by part", f"{parts} ({status.get('lagSeconds') or 0:g} s behind)")
    if status.get("exactlyOnce") is not None:
        how = "exactly once (positions committed with the data)" if status["exactlyOnce"] else "at least once"
        table.add_row("delivery", f"{how}; last commit: {status.get('lastCommitTime') or 'none'}")
    if status.get("rowsByOperation"):
        table.add_row(
            "operations", ", ".join(f"{k} {v:,}" for k, v in status["rowsByOperation"].items() if v)
        )


@click.group("transfer")
def transfer_group() -> None:
    """Copy data assets between stores with transforms on the way (BatchTransfer, SyncTransfer specs)."""


@transfer_group.command("apply")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check stores, tables, transforms and schemas; write nothing.")
@click.option(
    "--until-idle", is_flag=True, help="SyncTransfer: stop once the stream has no pending messages."
)
@click.option(
    "--max-seconds", type=click.FloatRange(min=0, min_open=True), help="SyncTransfer: stop after N seconds."
)
@click.option("--run-id", help="Pick up a run already recorded as submitted (used by the control service).")
@pass_meshkit
def apply(
    mk, file: str, dry_run: bool, until_idle: bool, max_seconds: float | None, run_id: str | None
) -> None:
    """Run the transfer in FILE now and print its status.

    A SyncTransfer runs until SIGTERM or Ctrl-C (after the current batch), --until-idle or --max-seconds.
    """
    from meshkit.data.transfer import load_transfer, runner_for

    transfer = load_transfer(file)
    sync = {"until_idle": until_idle, "max_seconds": max_seconds} if transfer.is_sync else {}
    if not transfer.is_sync and (until_idle or max_seconds is not None):
        raise ConfigError("--until-idle and --max-seconds apply to SyncTransfer files only.", where=file,
                          hint="Remove them, or use `kind: SyncTransfer`.")  # fmt: skip
    if dry_run:
        outcome = runner_for(mk, transfer, source_file=file).plan()
        console.print(f"[green]OK[/] {escape(transfer.name)}: plan {escape(outcome.plan)}")
        for column, labels in outcome.tags.items():
            console.print(f"  {escape(column)}: {escape(', '.join(labels))}")
        return
    from meshkit.cli.progress import RowsProgress

    with RowsProgress(
        err_console, transfer.name, float(mk.config.get("transfer_progress_interval"))
    ) as progress:
        result = runner_for(mk, transfer, progress=progress, source_file=file, run_id=run_id, **sync).run()
    # NOTE: a failed transfer's error is printed once, by the command line's error handler
    console.print(_summary({"name": transfer.name, **result.status}, with_error=False))
    if result.error is not None:
        raise result.error


@transfer_group.command("status")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="Print the status object as JSON.")
@pass_meshkit
def status(mk, name: str, as_json: bool) -> None:
    """Show the status of transfer NAME: phase, counts, schemas, transformed columns, history."""
    from meshkit.data.transfer import list_transfers, transfer_status

    found = transfer_status(mk, name)
    if found is None:
        known = ", ".join(t["name"] for t in list_transfers(mk)) or "none yet"
        raise ConfigError(
            f"No transfer named `{name}` has run in this workspace.", hint=f"Known transfers: {known}."
        )
    if as_json:
        click.echo(json.dumps(found, indent=2, default=str))
        return
    console.print(_summary(found))
    history = fitting_table("run", "phase", "started", "records", "took", short=("phase", "started", "records", "took"),
                            right=("records", "took"), title="history")  # fmt: skip
    for entry in found.get("history", []):
        history.add_row(escape(entry.get("runId") or ""), entry.get("phase") or "", _since(entry.get("startTime")),
                        humanize.count(entry.get("numRecords") or 0), humanize.duration(entry.get("duration") or 0))  # fmt: skip
    console.print(history)
    for entry in (e for e in found.get("history", []) if e.get("error")):
        console.print(f"[bold]{escape(entry.get('runId') or '')}[/]: {escape(entry['error'])}")


def _since(iso: str | None) -> str:
    return humanize.since(datetime.fromisoformat(iso)) if iso else ""


@transfer_group.command("list")
@pass_meshkit
def list_command(mk) -> None:
    """List the transfers that have run in this workspace."""
    from meshkit.data.transfer import list_transfers

    table = fitting_table("name", "phase", "records", "took", "last success",
                          short=("phase", "records", "took", "last success"), right=("records", "took"))  # fmt: skip
    for item in list_transfers(mk):
        table.add_row(escape(item["name"]), item.get("phase", ""), humanize.count(item.get("numRecords") or 0),
                      humanize.duration(item.get("duration") or 0), _since(item.get("lastSuccessTime")))  # fmt: skip
    console.print(table)


@hookimpl
def register_commands(cli):
    cli.add_command(transfer_group)
