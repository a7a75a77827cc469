"""Exporters: hand a job or pipeline to the orchestrator a team already runs (and, in
:mod:`meshkit.deploy.trino`, the workspace's stores and access rules to Trino).

``meshkit export TARGET NAME -o DIR`` plans the job or pipeline (:mod:`meshkit.deploy.plan`) and
asks the exporter registered for ``TARGET`` through the ``register_exporters`` hook to write its
files. Built in: ``airflow`` (a DAG file on ``airflow.sdk``), ``argo`` (a Workflow or CronWorkflow
built with hera) and ``kubernetes`` (Job or CronJob, ConfigMap and the Dockerfile of the image).
Every task runs a ``meshkit`` command; secrets stay references the target resolves.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from meshkit.core.errors import ConfigError
from meshkit.core.hookspecs import hookimpl

#: ``exporter(meshkit, name, out_dir)`` writes the files of job or pipeline ``name`` and returns them.
Exporter = Callable[..., list[Path]]


def exporters(meshkit) -> dict[str, Exporter]:
    """Every registered exporter, by target name."""
    return meshkit.registry("exporters")


def export(meshkit, target: str, name: str, out_dir: Path) -> list[Path]:
    """Write the files that run job or pipeline ``name`` under ``target``; returns their paths."""
    known = exporters(meshkit)
    if target not in known:
        raise ConfigError(f"No exporter for `{target}`.", hint=f"Use one of: {', '.join(sorted(known))}.")
    out_dir.mkdir(parents=True, exist_ok=True)
    return known[target](meshkit, name, out_dir)


@hookimpl
def configure(config):
    add = config.add
    add("export_image", "meshkit-workspace:latest",
        "Container image the Kubernetes and Argo exports run (built from the exported Dockerfile).")  # fmt: skip
    add("export_workspace", None,
        "The workspace folder in the target (default: /workspace in images, this workspace for Airflow).")  # fmt: skip
    add("export_command", "meshkit", "The meshkit executable in the target.")
    add("export_namespace", "default", "Kubernetes namespace of exported objects.")
    add("export_secret", "meshkit-secrets",
        "Kubernetes Secret whose keys give the variables that config references as env:NAME.")  # fmt: skip
    add("export_metadata_secret", "meshkit-metadata",
        "Kubernetes Secret whose key `url` is the metadata database URL (PostgreSQL).")  # fmt: skip
    add("export_cpu_request", "250m", "CPU request of an exported task's container.")
    add("export_memory_request", "256Mi", "Memory request of an exported task's container.")
    add("export_cpu_limit", "1", "CPU limit of an exported task's container.")
    add("export_memory_limit", "1Gi", "Memory limit of an exported task's container.")
