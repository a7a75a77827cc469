"""Run sql/append.sql in one transaction (see meshkit.job.templates)."""

from meshkit.job.templates import run_script


def run(job_input):
    run_script(job_input, "insert", "append.sql")
