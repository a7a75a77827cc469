"""Deploy the demo workspace's jobs to the control service, each on the schedule of its config.ini."""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path

from meshkit.core.errors import ConfigError


def deploy_demo_jobs(mk, *, actor: str = "demo") -> list[dict]:
    """Upload and deploy every job under ``jobs/``; returns ``{team, job, version, schedule}`` per job.

    Jobs that take a ``day`` run for the last generated day (``data/manifest.json``), so every
    scheduled run reprocesses it, which the jobs do idempotently.
    """
    from meshkit.job.job_config import load_job_config
    from meshkit.service import jobs, sources
    from meshkit.service.deployments import deploy
    from meshkit.service.exceptions import ConflictError

    manifest = mk.workspace.root / "data" / "manifest.json"
    if not manifest.is_file():
        raise ConfigError(f"No demo data in {manifest.parent}.", hint="Run `meshkit demo run` first.")
    info = json.loads(manifest.read_text())
    days = info["volumes"]["days"]
    last_day = (date.fromisoformat(info["start"]) + timedelta(days=days - 1)).isoformat()
    engine = mk.metadata.engine
    keys = set(mk.config.keys)
    deployed = []
    for job_dir in sorted(p for p in mk.workspace.jobs_dir.iterdir() if p.is_dir()):
        config = load_job_config(job_dir, keys)
        team = config.team or "demo"
        try:
            jobs.create_job(engine, team, job_dir.name, description=_description(job_dir), actor=actor)
        except ConflictError:
            pass  # deployed before: a new source version replaces the old one
        version, _created = sources.upload(engine, team, job_dir.name, sources.zip_folder(job_dir),
                                           max_bytes=mk.config.get("service_max_source_mb") * 2**20, actor=actor)  # fmt: skip
        arguments = (
            {"day": last_day, "raw_dir": str(mk.workspace.root / "data" / "raw")}
            if _takes_day(job_dir)
            else {}
        )
        deploy(engine, team, job_dir.name, {"version": version["version"], "schedule": config.schedule_cron,
                                            "arguments": arguments}, actor=actor)  # fmt: skip
        deployed.append(
            {
                "team": team,
                "job": job_dir.name,
                "version": version["version"],
                "schedule": config.schedule_cron,
            }
        )
    return deployed


def _description(job_dir: Path) -> str:
    first = (job_dir / "config.ini").read_text().splitlines()[0] if (job_dir / "config.ini").is_file() else ""
    return first.lstrip("; ").strip()


def _takes_day(job_dir: Path) -> bool:
    return any(
        "{day}" in p.read_text() or '"day"' in p.read_text()
        for p in job_dir.glob("*.*")
        if p.suffix in (".sql", ".py")
    )
