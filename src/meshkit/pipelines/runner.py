"""Run a pipeline: ready nodes in parallel up to its concurrency, with retries and timeouts.

The pipeline is one run record (kind ``pipeline``); each node is a run record (kind ``node``)
whose ``parent_id`` is the pipeline run, recorded ``submitted`` up front so the whole graph is
visible from the start. A node attempt is the node's ``meshkit`` command (:meth:`Node.command`)
in a process of its own session, so a timeout or a cancel stops all it started; the runs that
command records name the node run as their parent (``MESHKIT_PARENT_RUN``). A failed node is
tried again ``retries`` times. When it still fails and ``fail_pipeline_on_error`` holds, no new
node starts, the nodes not started are ``skipped`` and the pipeline takes the node's status;
otherwise its dependents run as if it had succeeded (as VDK DAGs do).

A caller that holds the workspace open may pass ``in_process``: a function doing a node's work
in this process (what its command does, on the caller's ``Meshkit``). Such nodes run one at a
time, with no interpreter to start and no workspace to open per node; a node with a timeout
still gets a process of its own, as only a process can be stopped.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshkit.core.errors import ConfigError, MeshkitError, PlatformError, UserError
from meshkit.core.runs import PARENT_ENV, RunRecord, new_run_id, now
from meshkit.core.statuses import RunStatus
from meshkit.pipelines.spec import Node, Pipeline

#: Seconds a stopped attempt gets between SIGTERM and SIGKILL.
GRACE_SECONDS = 5.0
#: Exit code of a command line -> status of its node.
EXIT_STATUS: dict[int, RunStatus] = {0: "succeeded", 1: "user_error", 2: "user_error", 3: "platform_error"}
#: Does one attempt of a node in this process (the work of ``node.command()``), given the node and
#: its run record; raises a ``MeshkitError`` when the node fails.
InProcess = Callable[[Node, RunRecord], None]


@dataclass
class PipelineResult:
    """What a pipeline run did: its record and each node's."""

    run: RunRecord
    nodes: dict[str, RunRecord] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.run.status != "succeeded"

    def error(self) -> MeshkitError | None:
        """The error ending the command line of a failed pipeline (the first failed node's class)."""
        if not self.failed:
            return None
        message = self.run.error or f"The pipeline ended {self.run.status}."
        hint = "See each node with `meshkit runs show ID --log`."
        if self.run.status == "platform_error":
            return PlatformError(message, hint=hint)
        return UserError(message, hint=hint)


class PipelineRunner:
    """Runs one pipeline of the workspace of ``meshkit``."""

    def __init__(self, meshkit, pipeline: Pipeline, *, source: Path | None = None,
                 on_change: Callable[[PipelineResult], None] | None = None,
                 in_process: InProcess | None = None):  # fmt: skip
        self.meshkit = meshkit
        self.pipeline = pipeline
        #: Job nodes are looked for in ``source/jobs/`` and ``source/`` before the workspace's ``jobs/``.
        self.source = source
        self.on_change = on_change or (lambda result: None)
        self.lock = threading.Lock()
        self.cancelled = threading.Event()
        self.processes: dict[str, subprocess.Popen] = {}
        self.in_process = in_process
        #: Held by the node running in this process (they share the caller's connections).
        self.in_process_lock = threading.Lock()

    # ------------------------------------------------------------------ records

    def _start(self, run_id: str | None, parent_id: str | None, arguments: dict[str, Any]) -> PipelineResult:
        runs = self.meshkit.runs
        run = runs.get(run_id) if run_id else None
        if run_id and run is None:
            raise ConfigError(f"No run `{run_id}` to pick up.", hint="Leave out --run-id.")
        if run is None:
            team = self.pipeline.team or self.meshkit.config.get("team")
            run = runs.create("pipeline", self.pipeline.name, arguments=arguments, team=team,
                              parent_id=parent_id)  # fmt: skip
        run.details = {**run.details, "pipeline": self.pipeline.name, "graph": graph(self.pipeline)}
        run.log_path = run.log_path or str(self._log_dir() / f"{run.id}.log")
        runs.start(run, owned=run_id is None)
        result = PipelineResult(run)
        for node in self.pipeline.nodes:
            record = runs.create("node", node.name, team=run.team, parent_id=run.id,
                                 arguments=node.arguments, run_id=new_run_id(f"{self.pipeline.name}.{node.name}"))  # fmt: skip
            record.details = {"pipeline": self.pipeline.name, "node_kind": node.kind, "target": node.target,
                              "depends_on": node.depends_on, "command": node.command(), "attempts": []}  # fmt: skip
            record.log_path = str(self._log_dir() / f"{record.id}.log")
            runs.save(record)
            result.nodes[node.name] = record
        return result

    def _log_dir(self) -> Path:
        path = self.meshkit.workspace.state_dir / "runs"
        path.mkdir(parents=True, exist_ok=True)
        return path

    def _changed(self, result: PipelineResult, record: RunRecord | None = None) -> None:
        if record is not None:
            self.meshkit.runs.save(record)
        self.on_change(result)

    # ------------------------------------------------------------------ run

    def run(self, *, run_id: str | None = None, parent_id: str | None = None,
            arguments: dict[str, Any] | None = None) -> PipelineResult:  # fmt: skip
        """Run every node; returns the result (the pipeline's record ends with its final status)."""
        result = self._start(run_id, parent_id, arguments or {})
        self._changed(result)
        failure: tuple[RunStatus, str] | None = None
        done: set[str] = set()
        futures: dict[Future, str] = {}
        waiting = [node.name for node in self.pipeline.nodes]
        with ThreadPoolExecutor(self.pipeline.concurrency, thread_name_prefix="pipeline-node") as pool:
            try:
                while waiting or futures:
                    if failure is None and not self.cancelled.is_set():
                        for name in [n for n in waiting if set(self.pipeline.node(n).depends_on) <= done]:
                            if len(futures) >= self.pipeline.concurrency:
                                break
                            waiting.remove(name)
                            futures[pool.submit(self._node, result, self.pipeline.node(name))] = name
                    if not futures:
                        break
                    finished, _ = wait(futures, return_when=FIRST_COMPLETED)
                    for future in finished:
                        name = futures.pop(future)
                        record = result.nodes[name]
                        future.result()
                        ok = record.status == "succeeded"
                        if ok or not self.pipeline.setting(
                            self.pipeline.node(name), "fail_pipeline_on_error"
                        ):
                            done.add(name)
                        elif failure is None:
                            failure = (record.status, f"Node `{name}` failed: {record.error}")
            except BaseException:
                self.cancel()
                raise
            finally:
                reason = "cancelled" if self.cancelled.is_set() else (failure[1] if failure else "")
                for name in waiting:
                    record = result.nodes[name]
                    status: RunStatus = "cancelled" if self.cancelled.is_set() else "skipped"
                    record.details["reason"] = f"Not started: {reason}" if reason else "Not started."
                    self.meshkit.runs.finish(record, status, record.details["reason"])
        status, error = failure or ("succeeded", None)
        if self.cancelled.is_set():
            status, error = "cancelled", "The pipeline was cancelled."
        run = result.run
        run.rows_written = sum(r.rows_written for r in result.nodes.values())
        self.meshkit.runs.finish(run, status, error)
        self._changed(result)
        return result

    def cancel(self) -> None:
        """Stop every running attempt and start no new node."""
        self.cancelled.set()
        with self.lock:
            for process in list(self.processes.values()):
                _stop(process, 0)

    def _node(self, result: PipelineResult, node: Node) -> None:
        """Every attempt of ``node`` until one succeeds or none is left."""
        record = result.nodes[node.name]
        runs = self.meshkit.runs
        retries = self.pipeline.setting(node, "retries")
        delay = self.pipeline.setting(node, "retry_delay")
        timeout = self.pipeline.setting(node, "timeout")
        runs.start(record, owned=False)
        self._changed(result)
        for attempt in range(1, retries + 2):
            started = now()
            code, why = self._attempt(node, record, attempt, timeout)
            status = "cancelled" if self.cancelled.is_set() else EXIT_STATUS.get(code, "platform_error")
            if why:
                status = "cancelled" if self.cancelled.is_set() else "platform_error"
            record.details["attempts"].append({"attempt": attempt, "started_at": started.isoformat(),
                                               "ended_at": now().isoformat(), "exit_code": code, "status": status,
                                               **({"error": why} if why else {})})  # fmt: skip
            record.details["attempt"] = attempt
            if status in ("succeeded", "cancelled") or attempt > retries:
                break
            self._changed(result, record)
            if self.cancelled.wait(delay):
                status = "cancelled"
                break
        error = None
        if status != "succeeded":
            tries = f" after {attempt} attempt(s)" if attempt > 1 else ""
            error = (
                why
                or _last_error(record.log_path)
                or f"`meshkit {' '.join(node.command())}` exited with {code}"
            )
            error = f"{error}{tries}"
        record.rows_written = self._rows(record.id)
        runs.finish(record, status, error)
        self._changed(result)

    def _attempt(
        self, node: Node, record: RunRecord, attempt: int, timeout: float | None
    ) -> tuple[int | None, str]:
        """One attempt: ``(exit code, why it was stopped or "")``."""
        if self.in_process is not None and timeout is None:
            return self._attempt_in_process(node, record, attempt)
        argv = [
            sys.executable,
            "-m",
            "meshkit",
            "--workspace",
            str(self.meshkit.workspace.root),
            *self._command(node),
        ]
        env = {**os.environ, PARENT_ENV: record.id, "PYTHONUNBUFFERED": "1"}
        with open(record.log_path, "ab") as log:
            log.write(f"--- attempt {attempt}: meshkit {' '.join(argv[5:])}\n".encode())
            log.flush()
            with self.lock:
                if self.cancelled.is_set():
                    return None, "cancelled before it started"
                process = subprocess.Popen(argv, cwd=self.meshkit.workspace.root, env=env, stdout=log,
                                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
                self.processes[record.id] = process
            try:
                code = process.wait(timeout)
                why = ""
            except subprocess.TimeoutExpired:
                _stop(process, GRACE_SECONDS)
                code, why = process.returncode, f"Timed out after {timeout:g} s and was stopped"
            finally:
                with self.lock:
                    self.processes.pop(record.id, None)
        if self.cancelled.is_set() and code != 0:
            why = "cancelled"
        return code, why

    def _attempt_in_process(self, node: Node, record: RunRecord, attempt: int) -> tuple[int | None, str]:
        """One attempt by ``in_process``; its error goes to the node's log as a command's would."""
        with open(record.log_path, "a", encoding="utf-8") as log:
            log.write(f"--- attempt {attempt} (in process): meshkit {' '.join(self._command(node))}\n")
            with self.in_process_lock:
                if self.cancelled.is_set():
                    return None, "cancelled before it started"
                # NOTE: the runs the node records name its run as their parent, as a node process's
                # do; the variable is set only while the node runs, and one node runs at a time.
                previous = os.environ.get(PARENT_ENV)
                os.environ[PARENT_ENV] = record.id
                try:
                    self.in_process(node, record)
                    code = 0
                except MeshkitError as exc:
                    log.write(f"Error: {self.meshkit.redactor.redact(str(exc))}\n")
                    code = exc.exit_code
                except Exception as exc:  # noqa: BLE001 - a bug in a node fails the node, not the pipeline run
                    log.write(f"Error: {self.meshkit.redactor.redact(f'{type(exc).__name__}: {exc}')}\n")
                    code = PlatformError.exit_code
                finally:
                    if previous is None:
                        os.environ.pop(PARENT_ENV, None)
                    else:
                        os.environ[PARENT_ENV] = previous
        if self.cancelled.is_set() and code != 0:
            return code, "cancelled"
        return code, ""

    def _command(self, node: Node) -> list[str]:
        argv = node.command()
        if node.job is not None and self.source is not None:
            # a deployed pipeline carries its jobs' sources; a VDK DAG's jobs sit beside it
            for folder in (self.source / "jobs" / node.job, self.source / node.job):
                if folder.is_dir() and folder != self.source:
                    argv[1] = str(folder)
                    break
        return argv

    def _rows(self, node_run_id: str) -> int:
        import sqlalchemy as sa

        from meshkit.core.metadata import runs

        query = sa.select(sa.func.coalesce(sa.func.sum(runs.c.rows_written), 0)).where(
            runs.c.parent_id == node_run_id
        )
        with self.meshkit.metadata.engine.connect() as conn:
            return int(conn.execute(query).scalar_one())


def _stop(process: subprocess.Popen, grace: float) -> None:
    """SIGTERM the attempt's session, then SIGKILL after ``grace`` seconds."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    if grace <= 0:
        return
    try:
        process.wait(grace)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        process.wait()


def _last_error(log_path: str | None) -> str | None:
    """The last ``Error:`` line a command printed to its log."""
    if not log_path or not Path(log_path).exists():
        return None
    lines = Path(log_path).read_text(errors="replace").splitlines()
    found = [line.split("Error:", 1)[1].strip() for line in lines if "Error:" in line]
    return found[-1][:500] if found else None


def graph(pipeline: Pipeline) -> dict[str, Any]:
    """The pipeline's graph as plain data (nodes with kind, target and depends_on), as runs keep it."""
    return {
        "concurrency": pipeline.concurrency,
        "nodes": [{"name": n.name, "kind": n.kind, "target": n.target, "depends_on": n.depends_on}
                  for n in pipeline.nodes],
    }  # fmt: skip


def node_runs(meshkit, run_id: str) -> list[RunRecord]:
    """The node runs of pipeline run ``run_id``, in the pipeline's order."""
    import sqlalchemy as sa

    from meshkit.core.metadata import runs

    with meshkit.metadata.engine.connect() as conn:
        ids = conn.execute(
            sa.select(runs.c.id).where(runs.c.parent_id == run_id, runs.c.kind == "node")
        ).scalars()
        records = [meshkit.runs.get(i) for i in ids]
    pipeline_run = meshkit.runs.get(run_id)
    order = (
        [n["name"] for n in (pipeline_run.details.get("graph") or {}).get("nodes", [])]
        if pipeline_run
        else []
    )
    return sorted(records, key=lambda r: order.index(r.name) if r.name in order else len(order))


def dump(result: PipelineResult) -> dict[str, Any]:
    """The result as JSON-ready data."""
    return json.loads(json.dumps({"id": result.run.id, "status": result.run.status, "error": result.run.error,
                                  "nodes": {n: {"id": r.id, "status": r.status, "attempts": len(r.details.get("attempts", [])),
                                                "error": r.error} for n, r in result.nodes.items()}}, default=str))  # fmt: skip


def run_graph(meshkit, run_id: str) -> dict[str, Any] | None:
    """A pipeline run with its graph and each node's status, attempts and timings (None if no such run)."""
    run = meshkit.runs.get(run_id)
    if run is None or "graph" not in run.details:
        return None
    nodes = {record.name: record for record in node_runs(meshkit, run_id)}
    shaped = []
    for node in run.details["graph"]["nodes"]:
        record = nodes.get(node["name"])
        shaped.append({**node, "run_id": record.id if record else None, "status": record.status if record else "submitted",
                       "attempts": len(record.details.get("attempts", [])) if record else 0,
                       "started_at": record.started_at if record else None, "ended_at": record.ended_at if record else None,
                       "error": record.error if record else None})  # fmt: skip
    return {"id": run.id, "name": run.details.get("pipeline", run.name), "job": run.name, "team": run.team, "status": run.status,
            "error": run.error, "started_at": run.started_at, "ended_at": run.ended_at, "nodes": shaped}  # fmt: skip


def pipeline_inputs(meshkit, pipeline: Pipeline) -> list[str]:
    """The datasets the pipeline reads and does not write itself, as the catalog's lineage knows them.

    Read from the lineage its last run recorded (the runs under its nodes) and from its transfers'
    sources; empty before the pipeline has run and without transfers.
    """
    import sqlalchemy as sa

    from meshkit.catalog.tables import lineage_edges
    from meshkit.core.metadata import runs

    reads: set[str] = set()
    writes: set[str] = set()
    for node in pipeline.nodes:
        if node.transfer is not None:
            from meshkit.data.transfer import load_transfer

            spec = load_transfer(meshkit.workspace.resolve(node.command()[2]))
            source = spec.spec.source
            if source is not None and isinstance(source.store, str):
                reads.add(f"{source.store}/{source.asset}")
    last = meshkit.runs.list(kind="pipeline", name=pipeline.name, status="succeeded", limit=1)
    if last:
        nodes = sa.select(runs.c.id).where(runs.c.parent_id == last[0].id)
        children = sa.select(runs.c.id).where(runs.c.parent_id.in_(nodes))
        query = sa.select(lineage_edges.c.source, lineage_edges.c.target).where(
            lineage_edges.c.run_id.in_(children)
        )
        with meshkit.metadata.engine.connect() as conn:
            for source, target in conn.execute(query):
                reads.add(source)
                writes.add(target)
    return sorted(reads - writes)
