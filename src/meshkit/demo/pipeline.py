"""The SmartPizza pipeline: the demo's transfers, jobs, model build, checks and publishes as one DAG.

``meshkit demo run`` writes it to ``pipelines/smartpizza.yaml`` once the data is generated (the
daily jobs run once per generated day) and runs it with the pipeline runner; ``meshkit pipeline
run smartpizza`` and ``meshkit export airflow smartpizza`` take the same file.

A domain's jobs wait for the domain's transfers; each daily job waits for its previous day (the
jobs reuse their staging tables, and the stock of a day starts from the day before), and the
stock of a day waits for that day's orders. The build waits for every job, the checks for the
build, the publishes for the checks. The nodes share one DuckDB file, which one process writes
at a time: the concurrency is 1.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from meshkit.core.errors import ConfigError

NAME = "smartpizza"
#: The daily jobs in the order they run on a day, by domain.
DAILY_JOBS = {"orders_ingest": "orders", "supply_stock": "supply"}
#: Jobs run once, after the days, by domain.
ONCE_JOBS = {"customer_dimension": "customer"}


def _day_node(job: str, day: dt.date) -> str:
    return f"{job}.{day.isoformat()}"


def pipeline_of(workspace: Path, days: list[dt.date]) -> dict[str, Any]:
    """The pipeline of the demo workspace at ``workspace`` for the generated ``days``, as plain data."""
    from meshkit.data.transfer import load_transfer

    if not days:
        raise ConfigError("The demo pipeline needs at least one day of data.", hint="Use e.g. --days 2.")
    transfers: dict[str, list[str]] = {}  # domain -> transfer nodes
    nodes: list[dict[str, Any]] = []
    for path in sorted((workspace / "transfers").glob("*.yaml")):
        transfer = load_transfer(path)
        transfers.setdefault(transfer.metadata.labels.get("domain", ""), []).append(transfer.name)
        nodes.append({"name": transfer.name, "transfer": path.stem})
    last: dict[str, str] = {}  # job -> its node of the latest day so far
    for day in days:
        for job, domain in DAILY_JOBS.items():
            after = [*transfers.get(domain, []), *([last[job]] if job in last else [])]
            if job == "supply_stock":
                after.append(_day_node("orders_ingest", day))
            last[job] = _day_node(job, day)
            nodes.append(
                {"name": last[job], "job": job, "arguments": {"day": day.isoformat()}, "depends_on": after}
            )
    for job, domain in ONCE_JOBS.items():
        last[job] = job
        nodes.append({"name": job, "job": job, "depends_on": transfers.get(domain, [])})
    nodes.append({"name": "build", "build": "all", "depends_on": list(last.values())})
    nodes.append({"name": "checks", "check": "all", "depends_on": ["build"]})
    for path in sorted((workspace / "products").glob("*.yaml")):
        nodes.append({"name": f"publish-{path.stem}", "publish": path.stem, "depends_on": ["checks"]})
    return {
        "name": NAME,
        "description": "SmartPizza end to end: transfers, daily jobs, models, checks, data products.",
        "concurrency": 1,
        "nodes": nodes,
    }


def write_pipeline(workspace: Path, days: list[dt.date]) -> Path:
    """Write ``pipelines/smartpizza.yaml`` in the demo workspace; returns its path."""
    path = workspace / "pipelines" / f"{NAME}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = "# Written by `meshkit demo run` for the generated days; see src/meshkit/demo/pipeline.py.\n"
    path.write_text(header + yaml.safe_dump(pipeline_of(workspace, days), sort_keys=False, width=110))
    return path
