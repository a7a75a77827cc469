"""Running pipelines: retries of a failing node, parallel nodes and the concurrency limit, timeouts.

Every node runs a real ``meshkit`` command in its own process; the jobs below coordinate
through files in a folder passed as an argument, never through wall-clock time.
"""

from __future__ import annotations

import json

import pytest

from meshkit.pipelines.runner import PipelineRunner, node_runs
from meshkit.pipelines.spec import parse_pipeline
from meshkit.testing import run_cli

#: Fails until it has been tried `succeed_on` times (counting tries in `dir`).
FLAKY = """\
from pathlib import Path

def run(job_input):
    args = job_input.get_arguments()
    tries = Path(args["dir"]) / "tries"
    count = int(tries.read_text()) + 1 if tries.exists() else 1
    tries.write_text(str(count))
    if count < int(args["succeed_on"]):
        raise ValueError(f"try {count} failed")
"""
#: Counts the nodes running with it, then waits until `meet` nodes have started (a barrier).
MEET = """\
import os, time
from pathlib import Path

def run(job_input):
    args = job_input.get_arguments()
    folder = Path(args["dir"])
    me = args["me"]
    (folder / f"running-{me}").touch()
    (folder / f"started-{me}").touch()
    with open(folder / "counts", "a") as out:
        out.write(f"{len(list(folder.glob('running-*')))}\\n")
    deadline = time.monotonic() + 120
    while len(list(folder.glob("started-*"))) < int(args["meet"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    os.remove(folder / f"running-{me}")
    if len(list(folder.glob("started-*"))) < int(args["meet"]):
        raise RuntimeError("the other nodes never started")
"""
SLEEPY = """\
import time

def run(job_input):
    time.sleep(120)
"""


@pytest.fixture
def jobs(mk):
    for name, code in (("flaky", FLAKY), ("meet", MEET), ("sleepy", SLEEPY)):
        folder = mk.workspace.jobs_dir / name
        folder.mkdir(parents=True)
        (folder / "10_step.py").write_text(code)
    return mk


def _run(mk, text: str):
    pipeline = parse_pipeline(text, "test.yaml", name="test")
    return PipelineRunner(mk, pipeline).run()


def test_failing_node_is_retried_until_it_succeeds(jobs, tmp_path):
    args = json.dumps({"dir": str(tmp_path), "succeed_on": 3})
    result = _run(
        jobs,
        f"""
nodes:
  - {{name: flaky, job: flaky, arguments: {args}, retries: 2}}
  - {{name: after, job: meet, arguments: {{dir: "{tmp_path}", me: after, meet: 1}}, depends_on: [flaky]}}
""",
    )
    assert result.run.status == "succeeded"
    flaky = result.nodes["flaky"]
    assert [a["status"] for a in flaky.details["attempts"]] == ["user_error", "user_error", "succeeded"]
    assert result.nodes["after"].status == "succeeded"
    children = {r.name: r for r in jobs.runs.list(kind="job", limit=10)}
    assert children["meet"].parent_id == result.nodes["after"].id
    assert [r.name for r in node_runs(jobs, result.run.id)] == ["flaky", "after"]
    assert all(r.parent_id == result.run.id for r in node_runs(jobs, result.run.id))


def test_failing_node_fails_the_pipeline_and_skips_its_dependents(jobs, tmp_path):
    args = json.dumps({"dir": str(tmp_path), "succeed_on": 5})
    result = _run(
        jobs,
        f"""
nodes:
  - {{name: flaky, job: flaky, arguments: {args}, retries: 1}}
  - {{name: after, job: meet, arguments: {{dir: "{tmp_path}", me: a, meet: 1}}, depends_on: [flaky]}}
""",
    )
    assert result.run.status == "user_error"
    assert "Node `flaky` failed" in result.run.error and "try 2 failed" in result.run.error
    assert (tmp_path / "tries").read_text() == "2"
    assert result.nodes["flaky"].status == "user_error"
    assert result.nodes["after"].status == "skipped"
    assert jobs.runs.get(result.nodes["after"].id).status == "skipped"
    assert not (tmp_path / "started-a").exists()


def test_a_node_allowed_to_fail_lets_its_dependents_run(jobs, tmp_path):
    args = json.dumps({"dir": str(tmp_path), "succeed_on": 5})
    result = _run(
        jobs,
        f"""
nodes:
  - {{name: flaky, job: flaky, arguments: {args}, fail_pipeline_on_error: false}}
  - {{name: after, job: meet, arguments: {{dir: "{tmp_path}", me: a, meet: 1}}, depends_on: [flaky]}}
""",
    )
    assert result.run.status == "succeeded"
    assert result.nodes["flaky"].status == "user_error"
    assert result.nodes["after"].status == "succeeded"


@pytest.mark.parametrize("concurrency", [2, 3])
def test_ready_nodes_run_in_parallel_up_to_the_concurrency_limit(jobs, tmp_path, concurrency):
    nodes = "\n".join(
        f'  - {{name: n{i}, job: meet, arguments: {{dir: "{tmp_path}", me: n{i}, meet: {concurrency}}}}}'
        for i in range(4)
    )
    result = _run(jobs, f"concurrency: {concurrency}\nnodes:\n{nodes}\n")
    assert result.run.status == "succeeded", result.run.error
    counts = [int(line) for line in (tmp_path / "counts").read_text().split()]
    # the barrier needs `concurrency` nodes running at once; the limit allows no more
    assert max(counts) == concurrency
    assert len(counts) == 4


def test_an_attempt_past_its_timeout_is_stopped(jobs):
    result = _run(
        jobs,
        "nodes:\n  - {name: slow, job: sleepy, timeout: 1}\n  - {name: next, job: sleepy, depends_on: [slow]}\n",
    )
    assert result.run.status == "platform_error"
    assert "Timed out after 1 s" in result.nodes["slow"].error
    assert result.nodes["next"].status == "skipped"


def test_cli_runs_and_draws_the_example_pipeline_of_init(tmp_path):
    root = tmp_path / "ws"
    assert run_cli(["init", str(root)]).exit_code == 0

    def cli(*args):
        return run_cli(list(args), workspace=root)

    shown = cli("pipeline", "show", "cities")
    assert shown.exit_code == 0, shown.output
    assert "publish population" in shown.output and "◀ check, build" in shown.output
    ran = cli("pipeline", "run", "cities", "--json")
    assert ran.exit_code == 0, ran.output
    result = json.loads(ran.output)
    assert result["status"] == "succeeded"
    assert {n["status"] for n in result["nodes"].values()} == {"succeeded"}
    latest = cli("pipeline", "show", "cities", "--run", "latest", "--json")
    assert {n["status"] for n in json.loads(latest.output)["nodes"]} == {"succeeded"}
    created = cli("create", "pipeline", "nightly")
    assert created.exit_code == 0 and (root / "pipelines" / "nightly.yaml").is_file()


def test_nodes_run_in_the_callers_process_and_a_node_with_a_timeout_in_its_own(jobs, tmp_path):
    """With ``in_process`` the runner calls the caller's function on its open workspace (retried
    like a command); a node with a timeout still runs as a command, so it can be stopped."""
    import os

    from meshkit.core.runs import PARENT_ENV
    from meshkit.job.runner import run_job

    calls = []

    def in_process(node, record):
        calls.append((node.name, os.getpid(), os.environ.get(PARENT_ENV) == record.id))
        result = run_job(jobs, node.job, node.arguments, console=False)
        if result.error is not None:
            raise result.error

    args = json.dumps({"dir": str(tmp_path), "succeed_on": 2})
    pipeline = parse_pipeline(
        f"""
nodes:
  - {{name: flaky, job: flaky, arguments: {args}, retries: 1}}
  - {{name: slow, job: sleepy, timeout: 1, depends_on: [flaky], fail_pipeline_on_error: false}}
""",
        "test.yaml",
        name="test",
    )
    result = PipelineRunner(jobs, pipeline, in_process=in_process).run()
    assert calls == [("flaky", os.getpid(), True)] * 2
    assert PARENT_ENV not in os.environ
    flaky = result.nodes["flaky"]
    assert [a["status"] for a in flaky.details["attempts"]] == ["user_error", "succeeded"]
    log = open(flaky.log_path).read()
    assert "(in process): meshkit run flaky" in log and "try 1 failed" in log
    children = jobs.runs.list(kind="job", name="flaky", limit=10)
    assert len(children) == 2 and {r.parent_id for r in children} == {flaky.id}
    assert result.nodes["slow"].status == "platform_error"
    assert "Timed out after 1 s" in result.nodes["slow"].error
    assert result.run.status == "succeeded"


def test_the_runs_a_node_starts_belong_to_the_pipeline_team(jobs, tmp_path):
    args = json.dumps({"dir": str(tmp_path), "succeed_on": 1})
    result = _run(jobs, f"team: data\nnodes:\n  - {{name: once, job: flaky, arguments: {args}}}\n")
    assert result.run.status == "succeeded" and result.run.team == "data"
    (job_run,) = [r for r in jobs.runs.list(kind="job") if r.parent_id == result.nodes["once"].id]
    assert job_run.team == "data"
