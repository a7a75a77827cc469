"""Run sql/replace-periods.sql in one transaction (see meshkit.job.templates)."""

from meshkit.job.templates import run_script


def run(job_input):
    run_script(job_input, "periodic_snapshot", "replace-periods.sql")
