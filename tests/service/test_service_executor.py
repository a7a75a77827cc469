"""The local executor on its own: forked runs end like processes, survive their zygote, time out."""

from __future__ import annotations

import os
import queue

import pytest
from service_helpers import SLOW, write_job

from meshkit.service.executors import ExecutionSpec
from meshkit.service.executors.local import LocalExecutor, process_runs

EXIT_WORK = {"10_exit.py": """
    import atexit
    import logging
    import pathlib
    import threading
    import time

    def run(job_input):
        out = pathlib.Path(job_input.get_arguments()["out"])
        atexit.register(lambda: (out / "atexit").write_text("ran"))
        threading.Thread(target=lambda: (time.sleep(0.3), (out / "thread").write_text("ran"))).start()
        print("step printed this", job_input.get_secret("token"))
        logging.getLogger("exits").info("logged once")
    """}  # fmt: skip


@pytest.fixture
def executor(mk):
    instance = LocalExecutor(mk)
    yield instance
    instance.close()


def _spec(mk, job_dir, run_id: str, **kwargs) -> ExecutionSpec:
    return ExecutionSpec(run_id=run_id, team="data", job=job_dir.name, deployment="production", version=1,
                         job_dir=job_dir, workspace=mk.workspace.root,
                         log_path=mk.workspace.state_dir / "runs" / f"{run_id}.log", **kwargs)  # fmt: skip


def _launch(executor, spec):
    ended: queue.Queue = queue.Queue()
    info = executor.launch(spec, lambda code, reason, timed_out: ended.put((code, reason, timed_out)))
    return info, ended


def test_a_forked_run_ends_like_a_process(mk, cli, executor, tmp_path):
    job = write_job(tmp_path / "jobs", "exits", EXIT_WORK)
    assert cli("secrets", "set", "--job", "exits", "token", "s3cr3t-token").exit_code == 0
    spec = _spec(mk, job, "exits-1", arguments={"out": str(tmp_path)})
    info, ended = _launch(executor, spec)
    assert info["pid"] != os.getpid()
    code, reason, timed_out = ended.get(timeout=60)
    assert (code, timed_out) == (0, False), spec.log_path.read_text()
    # the process joined its threads and ran its exit handlers before it went
    assert (tmp_path / "thread").read_text() == "ran"
    assert (tmp_path / "atexit").read_text() == "ran"
    log = spec.log_path.read_text()  # one log: the run's records and what the step printed, redacted
    assert "step printed this ***" in log and "s3cr3t-token" not in log
    assert log.count("logged once") == 1 and "Step 10_exit.py started" in log
    assert mk.runs.get("exits-1").status == "succeeded"
    assert not process_runs(info["pid"], spec.log_path)


def test_runs_outlive_their_zygote_and_the_next_launch_starts_another(mk, executor, tmp_path):
    job = write_job(tmp_path / "jobs", "slow", SLOW)
    spec = _spec(mk, job, "slow-1", arguments={"seconds": 2})
    info, ended = _launch(executor, spec)
    assert process_runs(info["pid"], spec.log_path)
    first = executor.zygote().proc
    first.kill()
    first.wait(timeout=10)
    code, reason, timed_out = ended.get(timeout=60)  # seen through the log's lock once the run ends
    assert code is None and not timed_out
    assert mk.runs.get("slow-1").status == "succeeded"

    hello = write_job(tmp_path / "jobs", "hello", {"10_hello.py": "def run(job_input):\n    pass\n"})
    _, ended = _launch(executor, _spec(mk, hello, "hello-1"))
    assert ended.get(timeout=60)[0] == 0
    assert executor.zygote().proc.pid != first.pid


def test_a_run_past_its_timeout_is_stopped(mk, executor, tmp_path):
    job = write_job(tmp_path / "jobs", "late", SLOW)
    spec = _spec(mk, job, "late-1", arguments={"seconds": 60}, timeout=1)
    info, ended = _launch(executor, spec)
    code, reason, timed_out = ended.get(timeout=50)
    assert timed_out and "timed out after 1 s" in reason
    assert code != 0
    assert mk.runs.get("late-1").status == "cancelled"  # stopped by SIGTERM, not left to sleep its 60 s
    assert not process_runs(info["pid"], spec.log_path)


def test_process_runs_needs_the_execution_lock(tmp_path):
    log = tmp_path / "other.log"
    log.write_text("")
    assert not process_runs(os.getpid(), log)  # a live pid that is not the execution
    assert not process_runs(os.getpid(), tmp_path / "missing.log")


NATIVE_WORK = {
    "10_ingest.py": """
    import numpy as np
    import pyarrow as pa

    def run(job_input):
        values = np.arange(100_000)
        job_input.ingest(pa.table({"n": values, "twice": values * 2}), "numbers")
    """,
    "20_check.sql": "CREATE OR REPLACE TABLE checked AS SELECT count(*) AS n, sum(twice) AS s FROM numbers",
}


def test_forked_runs_use_native_libraries(mk, executor, tmp_path):
    """DuckDB, pyarrow and numpy work in processes forked from the zygote; runs on one warehouse take turns."""
    job = write_job(tmp_path / "jobs", "native", NATIVE_WORK)
    launched = [_launch(executor, _spec(mk, job, f"native-{i}")) for i in range(3)]
    codes = [ended.get(timeout=120)[0] for _, ended in launched]
    assert codes == [0, 0, 0], [mk.runs.get(f"native-{i}").error for i in range(3)]
    rows = mk.store("warehouse").read("checked").read_all()
    assert rows.to_pylist() == [{"n": 300_000, "s": 3 * 2 * sum(range(100_000))}]


def test_the_zygote_rehearsal_leaves_no_trace(mk, executor, tmp_path, monkeypatch):
    """The zygote rehearses a run without the server's environment: no record in its metadata database."""
    import sqlalchemy as sa

    other = tmp_path / "configured.db"
    monkeypatch.setenv("MESHKIT_METADATA_URL", f"sqlite:///{other}")  # seen by the zygote, which starts now
    job = write_job(tmp_path / "jobs", "hello", {"10_hello.py": "def run(job_input):\n    pass\n"})
    _, ended = _launch(executor, _spec(mk, job, "hello-1"))
    assert ended.get(timeout=60)[0] == 0
    engine = sa.create_engine(f"sqlite:///{other}")
    with engine.connect() as conn:
        names = conn.execute(sa.text("SELECT name FROM runs")).scalars().all()
    engine.dispose()
    assert names == ["hello"]
