"""A VDK DAG job (vdk-dag's ``DagInput().run_dag``) runs unchanged through meshkit's pipeline runner."""

from __future__ import annotations

import sys

import pytest

from meshkit.core.errors import UserError
from meshkit.job.runner import run_job
from meshkit.pipelines import vdk_dag
from meshkit.pipelines.runner import node_runs
from meshkit.pipelines.vdk_dag import validate

DAG_STEP = """\
from vdk.api.job_input import IJobInput
from vdk.plugin.dag.dag_runner import DagInput


def run(job_input: IJobInput):
    out = job_input.get_arguments()["out"]
    job1 = dict(job_name="job1", depends_on=[], arguments={"out": out, "me": "job1"})
    job2 = dict(job_name="job2", team_name="my-team", depends_on=["job1"], fail_dag_on_error=False)
    job3 = dict(job_name="job3", depends_on=["job1"], arguments={"out": out, "me": "job3"})
    job4 = dict(job_name="job4", depends_on=["job2", "job3"], arguments={"out": out, "me": "job4"})
    dag = DagInput()
    dag.run_dag([job1, job2, job3, job4])
    statuses = dag.get_all_jobs_execution_status()
    with open(out + "/statuses", "w") as f:
        f.write(",".join(f"{k}={v}" for k, v in sorted(statuses.items())))
"""
WRITE = """\
from pathlib import Path


def run(job_input):
    args = job_input.get_arguments()
    Path(args["out"], args["me"]).touch()
"""
FAIL = "def run(job_input):\n    raise ValueError('job2 always fails')\n"


@pytest.fixture
def dag_jobs(mk):
    # as in VDK, the DAG job and the jobs it runs are folders side by side
    for name, code in (("dag", DAG_STEP), ("job1", WRITE), ("job2", FAIL), ("job3", WRITE), ("job4", WRITE)):
        folder = mk.workspace.root / "dags" / name
        folder.mkdir(parents=True)
        (folder / "10_step.py").write_text(code)
    return mk.workspace.root / "dags"


def test_vdk_dag_job_runs_through_the_pipeline_runner(mk, dag_jobs, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    result = run_job(mk, dag_jobs / "dag", {"out": str(out)}, console=False)
    assert result.error is None, result.error
    assert sys.modules["vdk.plugin.dag.dag_runner"] is vdk_dag  # vdk-dag is not installed here
    assert {p.name for p in out.iterdir()} == {"job1", "job3", "job4", "statuses"}
    assert (out / "statuses").read_text() == ("job1=succeeded,job2=user_error,job3=succeeded,job4=succeeded")
    dag_run = mk.runs.list(kind="job", name="dag", limit=1)[0]
    pipeline_run = mk.runs.list(kind="pipeline", name="dag", limit=1)[0]
    assert pipeline_run.parent_id == dag_run.id
    nodes = node_runs(mk, pipeline_run.id)
    assert [n.name for n in nodes] == ["job1", "job2", "job3", "job4"]
    job2 = mk.runs.list(kind="job", name="job2", limit=1)[0]
    assert job2.parent_id == nodes[1].id and job2.status == "user_error"


def test_a_failing_job_fails_the_dag_job(mk, dag_jobs, tmp_path):
    step = dag_jobs / "dag" / "10_step.py"
    step.write_text(step.read_text().replace("fail_dag_on_error=False", "fail_dag_on_error=True"))
    (tmp_path / "out").mkdir()
    result = run_job(mk, dag_jobs / "dag", {"out": str(tmp_path / "out")}, console=False)
    assert result.status == "user_error"
    assert "DAG `dag` failed: Node `job2` failed" in str(result.error)
    assert not (tmp_path / "out" / "job4").exists()


@pytest.mark.parametrize(
    ("jobs", "message"),
    [
        ({"job_name": "a"}, "`jobs` is a dict"),
        ([{"job_name": "a"}], "['depends_on'] are missing"),
        ([{"job_name": "a", "depends_on": [], "extra": 1}], "['extra'] are not allowed"),
        ([{"job_name": "a", "depends_on": [], "fail_dag_on_error": 1}], "`fail_dag_on_error` of job `a`"),
        ([{"job_name": "a", "depends_on": []}, {"job_name": "a", "depends_on": []}], "more than once"),
        ([{"job_name": "a", "depends_on": [], "arguments": {"x": object()}}], "`arguments` of job `a`"),
    ],
)
def test_invalid_dags_are_refused_with_the_job_and_key(jobs, message):
    with pytest.raises(UserError) as err:
        validate(jobs)
    assert message in str(err.value)
