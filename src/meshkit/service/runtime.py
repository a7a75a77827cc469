"""``ControlService``: what one server process holds (database, auth, executor, metrics) and its worker.

The worker thread loops every ``service_tick_seconds`` (or when woken by a new execution): it
fires due schedule ticks and retries, launches queued executions up to
``service_max_concurrent``, and reconciles executions whose process was lost.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from meshkit.core.errors import ConfigError, MeshkitError
from meshkit.core.metadata import runs
from meshkit.core.runs import now
from meshkit.core.statuses import FINAL_STATUSES
from meshkit.service import environments
from meshkit.service import executions as ex
from meshkit.service.auth import Authenticator, hs256_key
from meshkit.service.executors import ExecutionSpec, run_log
from meshkit.service.metrics import ServiceMetrics, StreamCollector
from meshkit.service.reads import read_engine
from meshkit.service.scheduler import Scheduler
from meshkit.service.sources import materialize
from meshkit.service.streams import StreamSupervisor
from meshkit.service.tables import deployments, executions, sources
from meshkit.service.transfer_stores import file_roots
from meshkit.service.triggers import TriggerWatcher

log = logging.getLogger("meshkit.service")
RECONCILE_EVERY = 10.0
#: Executions claimed per transaction; each batch records its processes' ids in one more.
CLAIM_BATCH = 50

# NOTE: built once: the worker loop claims on every tick, and building them cost more than running them.
_OLDEST = (sa.select(executions.c.run_id).where(executions.c.state == "queued")
           .order_by(executions.c.submitted_at).limit(sa.bindparam("limit")).scalar_subquery())  # fmt: skip
_CLAIM = (executions.update()
          .where(executions.c.run_id.in_(_OLDEST), executions.c.state == "queued")
          .values(state="launched", host=sa.bindparam("host"), launched_at=sa.bindparam("at"))
          .returning(executions.c.run_id))  # fmt: skip
_CLAIMED = (sa.select(executions, deployments.c.timeout, runs.c.arguments, runs.c.kind, sources.c.sha256)
            .select_from(executions.join(runs, runs.c.id == executions.c.run_id)
                         .outerjoin(deployments, (deployments.c.team == executions.c.team)
                                    & (deployments.c.job == executions.c.job) & (deployments.c.id == executions.c.deployment))
                         .outerjoin(sources, (sources.c.team == executions.c.team) & (sources.c.job == executions.c.job)
                                    & (sources.c.version == executions.c.version)))
            .where(executions.c.run_id.in_(sa.bindparam("ids", expanding=True)))
            .order_by(executions.c.submitted_at))  # fmt: skip


def build_executor(meshkit):
    """The executor named by ``service_executor``."""
    name = meshkit.config.get("service_executor")
    factories = meshkit.registry("executors")
    if name not in factories:
        raise ConfigError(f"Unknown executor `{name}`.", where="config key `service_executor`",
                          hint=f"Use one of: {', '.join(sorted(factories))}.")  # fmt: skip
    return factories[name](meshkit)


def check_settings(meshkit) -> None:
    """Refuse to start on settings the service cannot run with safely (a ConfigError names the key)."""
    meshkit.config.check_secrets()
    hs256_key(meshkit.config)
    file_roots(meshkit)


class ControlService:
    """The control service of one workspace in one server process."""

    def __init__(self, meshkit):
        check_settings(meshkit)
        self.meshkit = meshkit
        self.engine = meshkit.metadata.engine
        #: The pool of the API's read-only queries (see :mod:`meshkit.service.reads`).
        self.reader = read_engine(self.engine)
        self.auth = Authenticator(meshkit)
        self.executor = build_executor(meshkit)
        self.metrics = ServiceMetrics()
        self.scheduler = Scheduler(self)
        self.triggers = TriggerWatcher(self)
        state = meshkit.workspace.state_dir
        self.streams = StreamSupervisor(meshkit.workspace.root, state / "service" / "streams")
        self.metrics.registry.register(StreamCollector(meshkit))
        self.log_dir = state / "runs"
        self.source_cache = state / "service" / "sources"
        self.environment_cache = state / "service" / "environments"
        self.max_concurrent = max(1, meshkit.config.get("service_max_concurrent"))
        self.tick_seconds = max(0.05, meshkit.config.get("service_tick_seconds"))
        self.max_source_bytes = meshkit.config.get("service_max_source_mb") * 1024 * 1024
        self.running: set[str] = set()
        self._ended: list[tuple[str, int | None, str]] = []  # executions whose process ended, to finalize
        self._finishing = False
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_reconcile = 0.0

    # ---------------------------------------------------------------- worker

    def start(self, *, background: bool = True) -> None:
        """Reconcile what an earlier process left, then run the worker loop in a thread."""
        self.reconcile(startup=True)
        if background:
            self.triggers.start()
            self._thread = threading.Thread(target=self._loop, name="meshkit-service-worker", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self.streams.stop_all()
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self.triggers.stop()
        close = getattr(self.executor, "close", None)
        if close is not None:
            close()
        if self.reader is not self.engine:
            self.reader.dispose()

    def wake(self) -> None:
        """Run the worker loop now (a new execution is queued)."""
        self._wake.set()

    def _loop(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.tick_seconds)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.step()
            except Exception:  # the worker must outlive a database hiccup
                log.exception("control service worker step failed")

    def step(self) -> None:
        """One pass: fire due ticks, retries and trigger events, launch queued executions, reconcile now and then."""
        at = now()
        self.scheduler.fire_due(at)
        self.scheduler.retry_due(at)
        self.triggers.poll()
        self.dispatch()
        if time.monotonic() - self._last_reconcile > RECONCILE_EVERY:
            self.reconcile()

    # ---------------------------------------------------------------- dispatch

    def dispatch(self) -> int:
        """Claim and launch queued executions while this process has free slots."""
        launched = 0
        while True:
            with self._lock:
                free = self.max_concurrent - len(self.running)
            if free <= 0:
                break
            claimed = self._claim(min(free, CLAIM_BATCH))
            if not claimed:
                break
            started = [info for row in claimed if (info := self._launch(row)) is not None]
            if started:  # one transaction for the batch: fewer waits for the database's write lock
                with self.engine.begin() as conn:
                    conn.execute(executions.update().where(executions.c.run_id == sa.bindparam("id"))
                                 .values(host=sa.bindparam("host"), pid=sa.bindparam("pid"),
                                         launched_at=sa.bindparam("at")), started)  # fmt: skip
            launched += len(started)
        self._update_gauges()
        return launched

    def _claim(self, limit: int) -> list[dict[str, Any]]:
        """Mark up to ``limit`` queued executions launched by this process, oldest first, with what launching needs.

        The update re-checks ``state = 'queued'`` row by row, so of several processes claiming at
        once each execution goes to exactly one.
        """
        with self.engine.begin() as conn:
            ids = conn.execute(
                _CLAIM, {"limit": limit, "host": getattr(self.executor, "host", None), "at": now()}
            )
            ids = ids.scalars().all()
            if not ids:
                return []
            return [dict(r) for r in conn.execute(_CLAIMED, {"ids": ids}).mappings()]

    def _launch(self, row: dict[str, Any]) -> dict[str, Any] | None:
        """Launch one claimed execution; returns its ``{"id", "host", "pid"}``, or ``None`` if it ended at once."""
        run_id = row["run_id"]
        if row["cancel_requested"]:
            ex.finalize(self, run_id, exit_code=None, reason="cancelled before it started")
            return None
        with self._lock:
            self.running.add(run_id)
        try:
            info = self.executor.launch(
                self._spec(row),
                lambda code, reason, timed_out: self._on_exit(run_id, code, reason, timed_out),
            )
        except (MeshkitError, OSError, sa.exc.SQLAlchemyError) as exc:
            with self._lock:
                self.running.discard(run_id)
            self._fail_launch(run_id, exc)
            return None
        submitted = row["submitted_at"]
        if submitted.tzinfo is None:
            submitted = submitted.replace(tzinfo=now().tzinfo)
        self.metrics.start_latency.observe(max(0.0, (now() - submitted).total_seconds()))
        return {"id": run_id, "host": info.get("host"), "pid": info.get("pid"), "at": now()}

    def _spec(self, row: dict[str, Any]) -> ExecutionSpec:
        job_dir = materialize(
            self.engine, self.source_cache, row["team"], row["job"], row["version"], row["sha256"]
        )
        python = environments.python_for(self.environment_cache, job_dir)
        env = {}
        url = self.meshkit.config.get("metadata_url")
        if url:
            env["MESHKIT_METADATA_URL"] = str(url)
        kind = row["kind"] or "job"
        timeout = (
            self.meshkit.config.get("service_transfer_timeout") or None
            if kind == "transfer"
            else row["timeout"]
        )
        return ExecutionSpec(run_id=row["run_id"], team=row["team"], job=row["job"], deployment=row["deployment"],
                             version=row["version"], job_dir=job_dir, workspace=self.meshkit.workspace.root,
                             log_path=run_log(self.log_dir, row["run_id"]), arguments=row["arguments"] or {},
                             timeout=timeout, env=env, kind=kind, python=python)  # fmt: skip

    def prepare_source(self, team: str, job: str, version: int) -> environments.Environment | None:
        """Build the environment of a version's ``requirements.txt`` (before it is deployed); None without one."""
        job_dir = materialize(self.engine, self.source_cache, team, job, version)
        path = job_dir / environments.REQUIREMENTS
        if not path.is_file():
            return None
        return environments.ensure(
            self.environment_cache, path.read_bytes(), where=f"{team}/{job} v{version}"
        )

    def source_environment(self, team: str, job: str, version: int) -> dict[str, Any]:
        """What ``GET .../sources/VERSION/environment`` answers: the environment's status and build log."""
        job_dir = materialize(self.engine, self.source_cache, team, job, version)
        path = job_dir / environments.REQUIREMENTS
        if not path.is_file():
            return {"requirements": False, "status": "none"}
        env = environments.environment(self.environment_cache, path.read_bytes())
        log = self.meshkit.redactor.redact(env.log.read_text(errors="replace")) if env.log.is_file() else None
        return {"requirements": True, "sha256": env.sha256, "status": env.status(), "log": log}

    def _fail_launch(self, run_id: str, exc: Exception) -> None:
        message = exc.message if isinstance(exc, MeshkitError) else f"{type(exc).__name__}: {exc}"
        log.error("cannot launch %s: %s", run_id, self.meshkit.redactor.redact(message))
        ex.finalize(self, run_id, exit_code=None, reason=f"it could not be launched ({message})")

    def _on_exit(self, run_id: str, code: int | None, reason: str, timed_out: bool) -> None:
        """Finalize an execution whose process ended, with any others ending meanwhile (one commit for them all)."""
        if timed_out:
            try:
                self._time_out(run_id, reason)
            except Exception:
                log.exception("cannot time out execution %s", run_id)
        with self._lock:
            self._ended.append((run_id, code, reason))
            if self._finishing:
                return  # the thread finishing executions now takes this one next
            self._finishing = True
        while True:
            with self._lock:
                batch, self._ended = self._ended, []
                if not batch:
                    self._finishing = False
                    return
            try:
                ex.finalize_many(self, batch)
            except Exception:
                log.exception("cannot finalize executions %s", ", ".join(r for r, _, _ in batch))
            with self._lock:
                self.running.difference_update(r for r, _, _ in batch)
            self.wake()

    def _time_out(self, run_id: str, reason: str) -> None:
        run = self.meshkit.runs.get(run_id)
        if run is not None and run.status != "succeeded":
            run.status = "running"
            run.error = None
            self.meshkit.runs.finish(run, "user_error", f"The execution {reason} and was stopped.")

    # ---------------------------------------------------------------- reconciliation

    def reconcile(self, *, startup: bool = False) -> int:
        """Finish executions of this host whose process is gone; on startup, adopt those still running.

        Returns how many were finished here.
        """
        self._last_reconcile = time.monotonic()
        host = getattr(self.executor, "host", None)
        query = (
            sa.select(executions, runs.c.status, runs.c.ended_at)
            .select_from(executions.join(runs, runs.c.id == executions.c.run_id))
            .where(executions.c.state == "launched", executions.c.host == host)
        )
        with self.engine.connect() as conn:
            rows = [dict(r) for r in conn.execute(query).mappings()]
        finished = 0
        stale = now() - timedelta(seconds=30)
        for row in rows:
            run_id = row["run_id"]
            with self._lock:
                if run_id in self.running:
                    continue
            launched_at = (
                row["launched_at"].replace(tzinfo=stale.tzinfo)
                if row["launched_at"].tzinfo is None
                else row["launched_at"]
            )
            if row["pid"] is None and launched_at > stale:
                continue  # being launched right now by another process
            alive = self.executor.alive(row)
            if alive:
                if startup:
                    with self._lock:
                        self.running.add(run_id)
                    self.executor.adopt(
                        row, lambda code, reason, t, rid=run_id: self._on_exit(rid, code, reason, t)
                    )
                continue
            if alive is None:
                continue
            ended = row["ended_at"]
            if row["status"] in FINAL_STATUSES and ended is not None and not startup:
                ended = ended.replace(tzinfo=stale.tzinfo) if ended.tzinfo is None else ended
                if ended > stale:
                    continue  # its own watcher is finishing it
            why = "the server restarted and the process was gone" if startup else "the process disappeared"
            finished += ex.finalize(self, run_id, exit_code=None, reason=why) is not None
        self._update_gauges()
        return finished

    def _update_gauges(self) -> None:
        with self.engine.connect() as conn:
            depth = conn.execute(
                sa.select(sa.func.count()).select_from(executions).where(executions.c.state == "queued")
            ).scalar_one()
        self.metrics.queue_depth.set(depth)
        with self._lock:
            self.metrics.running.set(len(self.running))
