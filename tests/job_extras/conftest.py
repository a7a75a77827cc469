"""Fixtures of the properties, secrets and templates tests: a job that runs one template."""

import textwrap

import pytest

TEMPLATE_JOB = """
def run(job_input):
    args = job_input.get_arguments()
    job_input.execute_template(args["template"], args["template_args"])
"""


@pytest.fixture
def make_job(workspace):
    """``make_job("name", {"10_a.py": "..."})`` writes a job folder under jobs/ and returns it."""

    def make(name, files):
        job = workspace.root / "jobs" / name
        job.mkdir(parents=True)
        for filename, text in files.items():
            (job / filename).write_text(textwrap.dedent(text))
        return job

    return make


@pytest.fixture
def template_job(make_job):
    """A job `load` whose step runs the template and arguments given as job arguments."""
    return make_job("load", {"10_template.py": TEMPLATE_JOB})
