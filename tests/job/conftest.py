import textwrap
from pathlib import Path

import pytest


@pytest.fixture
def make_job(workspace):
    """``make_job("name", {"10_a.sql": "...", ...})`` writes a job folder under jobs/ and returns it."""

    def make(name: str, files: dict[str, str]) -> Path:
        job = workspace.root / "jobs" / name
        job.mkdir(parents=True)
        for filename, text in files.items():
            (job / filename).parent.mkdir(parents=True, exist_ok=True)
            (job / filename).write_text(textwrap.dedent(text))
        return job

    return make
