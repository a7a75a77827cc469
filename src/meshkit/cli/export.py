"""``meshkit export``: what runs a job or pipeline under Airflow, Argo or Kubernetes, and the workspace's
stores and access rules for Trino."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from meshkit.cli.main import console, pass_meshkit
from meshkit.core.hookspecs import hookimpl

_OUT = click.option("-o", "--output", "out_dir", required=True, type=click.Path(file_okay=False),
                    help="Folder to write the files into (created when missing).")  # fmt: skip


def _written(paths: list[Path]) -> None:
    for path in paths:
        console.print(f"wrote {escape(str(path))}")


@click.group("export")
def export_group() -> None:
    """Hand a job or pipeline to an orchestrator (Airflow, Argo, Kubernetes), or access rules to Trino."""


def _target(target: str, help_text: str) -> click.Command:
    @click.argument("name")
    @_OUT
    @pass_meshkit
    def command(meshkit, name: str, out_dir: str) -> None:
        from meshkit.deploy import export

        _written(export(meshkit, target, name, Path(out_dir)))

    command.__doc__ = help_text
    return click.command(target)(command)


export_group.add_command(_target("airflow", "An Airflow 3 DAG file running job or pipeline NAME."))
export_group.add_command(
    _target("argo", "An Argo Workflow (CronWorkflow when scheduled) for job or pipeline NAME.")
)
export_group.add_command(
    _target(
        "kubernetes", "A Job or CronJob, its ConfigMap and the image's Dockerfile for job or pipeline NAME."
    )
)


@export_group.command("control-service")
@_OUT
@pass_meshkit
def control_service(meshkit, out_dir: str) -> None:
    """Kubernetes manifests for the control service (Deployment, Service, ConfigMap, RBAC)."""
    from meshkit.deploy.service import export_control_service

    _written(export_control_service(meshkit, Path(out_dir)))


@export_group.command("trino")
@click.option("--output", "-o", "output", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write catalogs/*.properties and rules.json into.")  # fmt: skip
@pass_meshkit
def trino_command(mk, output: Path) -> None:
    """Trino catalogs for the workspace's stores and file-based access rules computed from the policies.

    Credentials are written as ${ENV:...} references, never as values. Point Trino's
    access-control.properties at rules.json (access-control.name=file, security.config-file=...).
    """
    from meshkit.deploy.trino import export_trino

    exported = export_trino(mk)
    for path in exported.write(output):
        console.print(f"wrote {path}", highlight=False)
    for store, reason in exported.skipped.items():
        console.print(f"[yellow]skipped store `{store}`[/]: {reason}", highlight=False)
    tables = exported.rules["tables"]
    console.print(f"{len(exported.catalogs)} catalog(s), {len(tables)} table rule(s) "
                  f"({sum(1 for t in tables if t['privileges'])} granting SELECT).", highlight=False)  # fmt: skip


@hookimpl
def register_commands(cli):
    cli.add_command(export_group)
