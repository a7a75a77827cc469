"""``meshkit export``: write what runs a job or pipeline under Airflow, Argo or Kubernetes."""

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
    """Hand a job or pipeline to an orchestrator (Airflow, Argo, Kubernetes)."""


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


@hookimpl
def register_commands(cli):
    cli.add_command(export_group)
