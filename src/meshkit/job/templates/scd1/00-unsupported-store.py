"""Runs only when no sub-folder matches the connection's store type: say which ones exist."""

from meshkit.job.templates import unsupported


def run(job_input):
    unsupported(job_input, "scd1")
