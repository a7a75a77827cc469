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


def _helper_job(root, name: str, value: str):
    """A job whose step imports package ``shared`` from its own folder and prints its value."""
    folder = write_job(
        root, name, {"10_step.py": "import shared\n\ndef run(job_input):\n    print('value', shared.VALUE)\n"}
    )
    (folder / "shared").mkdir()
    (folder / "shared" / "__init__.py").write_text(f"VALUE = {value!r}\n")
    return folder


def test_a_worker_runs_executions_one_after_another_each_in_its_own_scope(mk, executor, tmp_path):
    """Two jobs with a module of the same name run in one warm worker: each imports its own."""
    first, second = (
        _helper_job(tmp_path / "jobs", "first", "one"),
        _helper_job(tmp_path / "jobs", "second", "two"),
    )
    pids = []
    for job, run_id in ((first, "first-1"), (second, "second-1"), (first, "first-2")):
        spec = _spec(mk, job, run_id)
        info, ended = _launch(executor, spec)
        assert ended.get(timeout=60)[0] == 0, spec.log_path.read_text()
        assert not process_runs(info["pid"], spec.log_path)  # the worker let the log go
        pids.append(info["pid"])
        expected = "one" if job == first else "two"
        assert f"value {expected}" in spec.log_path.read_text()
        assert mk.runs.get(run_id).status == "succeeded"
    assert len(set(pids)) == 1  # one worker took all three


def test_a_killed_worker_ends_its_execution(mk, executor, tmp_path):
    """A worker that dies mid-run reports its execution ended by that signal; the next run gets another worker."""
    import signal
    import time

    job = write_job(tmp_path / "jobs", "slow", SLOW)
    spec = _spec(mk, job, "slow-1", arguments={"seconds": 60})
    info, ended = _launch(executor, spec)
    deadline = time.monotonic() + 60
    while "slow job started" not in spec.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    os.kill(info["pid"], signal.SIGKILL)
    code, reason, timed_out = ended.get(timeout=60)
    assert code == -signal.SIGKILL and not timed_out
    hello = write_job(tmp_path / "jobs", "hello", {"10_hello.py": "def run(job_input):\n    pass\n"})
    info2, ended = _launch(executor, _spec(mk, hello, "hello-1"))
    assert ended.get(timeout=60)[0] == 0 and info2["pid"] != info["pid"]
    assert mk.runs.get("slow-1").status == "platform_error"  # a dead process's run is ended when found


def test_a_cancel_stops_only_the_run_it_names(mk, executor, tmp_path):
    """Cancel reaches the worker while it runs that execution; a later cancel of an ended one hits nothing."""
    import time

    hello = write_job(tmp_path / "jobs", "hello", {"10_hello.py": "def run(job_input):\n    pass\n"})
    done_spec = _spec(mk, hello, "hello-1")
    done_info, ended = _launch(executor, done_spec)
    assert ended.get(timeout=60)[0] == 0
    job = write_job(tmp_path / "jobs", "slow", SLOW)
    spec = _spec(mk, job, "slow-1", arguments={"seconds": 60})
    info, ended = _launch(executor, spec)
    assert info["pid"] == done_info["pid"]  # the same worker runs it now
    executor.cancel({"run_id": "hello-1", "pid": done_info["pid"], "host": executor.host})
    deadline = time.monotonic() + 60
    while "slow job started" not in spec.log_path.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)
    assert process_runs(info["pid"], spec.log_path)  # the ended run's cancel did not stop this one
    executor.cancel({"run_id": "slow-1", "pid": info["pid"], "host": executor.host})
    code, reason, timed_out = ended.get(timeout=60)
    assert code != 0 and not timed_out
    assert mk.runs.get("slow-1").status == "cancelled"
