"""Run sql/merge-versions.sql in one transaction (see meshkit.job.templates)."""

from meshkit.job.templates import run_script


def run(job_input):
    run_script(job_input, "scd2", "merge-versions.sql")
