"""The local executor: each execution runs in a process of its own session on this machine.

A warm zygote (:mod:`meshkit.service.executors.zygote`) starts them: a job run in meshkit's own
environment goes to a warm worker of its pool, which runs one execution at a time in a run scope;
other executions are ``meshkit`` processes it forks. Either way the process writes the run record
and log itself (what it prints goes to the same log) and holds a lock on the log for as long as
it runs the execution; this executor watches it, enforces the deployment's timeout, and stops the
whole session on cancel (SIGTERM, then SIGKILL after a grace period). If the zygote dies, running
executions are watched through their locks and the next launch starts a new zygote.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from meshkit.core.errors import PlatformError
from meshkit.core.hookspecs import hookimpl
from meshkit.pipelines import DEPLOYED_FILE
from meshkit.service.executors import ExecutionSpec, ExitCallback, run_log

log = logging.getLogger("meshkit.service")

GRACE_SECONDS = 10.0
POLL_SECONDS = 0.5
START_TIMEOUT = 120.0


def pipeline_file(spec: ExecutionSpec) -> Path | None:
    """The deployed pipeline an execution runs, if it is one."""
    path = spec.job_dir / DEPLOYED_FILE
    return path if spec.kind == "job" and path.is_file() else None


def arguments(spec: ExecutionSpec) -> list[str]:
    """The ``meshkit`` command line of an execution (``pipeline run`` for a deployed pipeline)."""
    pipeline = pipeline_file(spec)
    if pipeline is not None:
        return ["--workspace", str(spec.workspace), "pipeline", "run", str(pipeline), "--run-id", spec.run_id]
    return spec.command(str(spec.workspace), str(spec.job_dir))


def process_runs(pid: int | None, log: Path) -> bool:
    """Whether process ``pid`` exists and is the execution whose run log is ``log``."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    try:
        fd = os.open(log, os.O_RDONLY)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True  # its process (or one it started) still holds the lock
    finally:
        os.close(fd)
    return False


class _Watch:
    """One launched execution: its process's pid, and its exit code once the zygote reports it."""

    def __init__(self, run_id: str, pid: int):
        self.run_id = run_id
        self.pid = pid
        self.code: int | None = None
        self.ended = threading.Event()
        self.lost = False  # the zygote died: only the log's lock tells when the process ends


class Zygote:
    """The warm process that forks executions, and the thread that reads its replies."""

    def __init__(self):
        cmd = [sys.executable, "-m", "meshkit.service.executors.zygote"]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        self.watches: dict[str, _Watch] = {}
        self.starting: dict[str, tuple[threading.Event, list[_Watch | str]]] = {}
        self.lock = threading.Lock()
        threading.Thread(target=self._read, name="meshkit-zygote", daemon=True).start()

    def alive(self) -> bool:
        return self.proc.poll() is None

    def fork(self, run_id: str, request: dict[str, Any]) -> _Watch:
        """Ask for a process; returns once it has a pid."""
        started, box = threading.Event(), []
        with self.lock:
            self.starting[run_id] = (started, box)
            self._send(request)
        if not started.wait(START_TIMEOUT) or not isinstance(box[0] if box else None, _Watch):
            with self.lock:
                self.starting.pop(run_id, None)
            why = box[0] if box else "it did not answer"
            raise PlatformError(f"The local executor could not start the execution: {why}.")
        return box[0]

    def signal(self, run_id: str, signum: int) -> bool:
        """Have the zygote send ``signum`` to the execution if it started it; False if it did not."""
        with self.lock:
            if run_id not in self.watches:
                return False
            try:
                self._send({"run_id": run_id, "signal": signum})
            except (BrokenPipeError, ValueError):
                return False
        return True

    def _send(self, request: dict[str, Any]) -> None:
        self.proc.stdin.write(json.dumps(request).encode() + b"\n")
        self.proc.stdin.flush()

    def _read(self) -> None:
        for line in self.proc.stdout:
            message = json.loads(line)
            run_id = message["run_id"]
            with self.lock:
                if "code" in message:
                    if (watch := self.watches.pop(run_id, None)) is not None:
                        watch.code = message["code"]
                        watch.ended.set()
                    continue
                started, box = self.starting.pop(run_id, (threading.Event(), []))
                if "pid" in message:
                    box.append(self.watches.setdefault(run_id, _Watch(run_id, message["pid"])))
                else:
                    box.append(message["error"])
                started.set()
        with self.lock:  # the zygote is gone: its children go on, unwatched by it
            for started, _ in self.starting.values():
                started.set()
            for watch in self.watches.values():
                watch.lost = True
                watch.ended.set()
            self.watches.clear()
        self.proc.wait()


class LocalExecutor:
    """Runs executions as processes on this machine."""

    name = "local"

    def __init__(self, meshkit):
        self.host = socket.gethostname()
        self.log_dir = meshkit.workspace.state_dir / "runs"
        self._zygote: Zygote | None = None
        self._lock = threading.Lock()

    def _log(self, execution: dict[str, Any]) -> Path:
        return run_log(self.log_dir, execution["run_id"])

    def prepare(self) -> None:
        """Start the zygote now, so that the first execution does not wait for it to warm up."""
        self.zygote()

    def zygote(self) -> Zygote:
        """The running zygote, started (again) when needed."""
        with self._lock:
            if self._zygote is None or not self._zygote.alive():
                self._zygote = Zygote()
            return self._zygote

    def launch(self, spec: ExecutionSpec, on_exit: ExitCallback) -> dict[str, Any]:
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        request = {"run_id": spec.run_id, "argv": arguments(spec), "cwd": str(spec.workspace),
                   "env": {**os.environ, "PYTHONUNBUFFERED": "1", **spec.env}, "log": str(spec.log_path),
                   "python": str(spec.python) if spec.python else None}  # fmt: skip
        if spec.kind == "job" and spec.python is None and pipeline_file(spec) is None:
            request.update(pooled=True, job=str(spec.job_dir), arguments=spec.arguments)
        try:
            zygote = self.zygote()
            watch = zygote.fork(spec.run_id, request)
        except BrokenPipeError:  # the zygote died since it was last asked: once more with a new one
            zygote = self.zygote()
            watch = zygote.fork(spec.run_id, request)
        threading.Thread(
            target=self._wait, args=(zygote, watch, spec, on_exit), name=f"exec-{spec.run_id}", daemon=True
        ).start()
        return {"host": self.host, "pid": watch.pid}

    def _wait(self, zygote: Zygote, watch: _Watch, spec: ExecutionSpec, on_exit: ExitCallback) -> None:
        deadline = time.monotonic() + spec.timeout if spec.timeout else None
        timed_out = False
        while not self._ended(watch, spec.log_path, deadline):
            timed_out = True
            self._stop(spec.run_id, watch.pid, spec.log_path, zygote)
            deadline = None
        reason = f"timed out after {spec.timeout} s" if timed_out else "the process exited"
        on_exit(watch.code, reason, timed_out)

    @staticmethod
    def _ended(watch: _Watch, log: Path, deadline: float | None) -> bool:
        """Wait until the process ends (True) or ``deadline`` passes (False)."""
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                return False
            if not watch.lost:
                if watch.ended.wait(left):
                    if not watch.lost:
                        return True
                continue
            if not process_runs(watch.pid, log):
                return True
            time.sleep(POLL_SECONDS if left is None else min(POLL_SECONDS, left))

    def cancel(self, execution: dict[str, Any]) -> None:
        log = self._log(execution)
        if execution.get("host") == self.host and process_runs(execution.get("pid"), log):
            with self._lock:
                zygote = self._zygote
            args = (execution["run_id"], execution["pid"], log, zygote)
            threading.Thread(target=self._stop, args=args, daemon=True).start()

    def _stop(self, run_id: str, pid: int, log: Path, zygote: Zygote | None) -> None:
        """SIGTERM the execution's session, then SIGKILL after a grace period.

        Through the zygote that started it when it still can (it knows whether the process still
        runs this execution: a worker may have gone on to the next), else straight to the pid.
        """
        for signum, wait in ((signal.SIGTERM, GRACE_SECONDS), (signal.SIGKILL, 0.0)):
            if zygote is None or not zygote.alive() or not zygote.signal(run_id, signum):
                try:
                    os.killpg(pid, signum)
                except ProcessLookupError:
                    return
            deadline = time.monotonic() + wait
            while time.monotonic() < deadline:
                if not process_runs(pid, log):
                    return
                time.sleep(0.1)

    def alive(self, execution: dict[str, Any]) -> bool | None:
        if execution.get("host") != self.host:
            return None
        return process_runs(execution.get("pid"), self._log(execution))

    def adopt(self, execution: dict[str, Any], on_exit: ExitCallback) -> None:
        def poll() -> None:
            while process_runs(execution.get("pid"), self._log(execution)):
                time.sleep(POLL_SECONDS)
            on_exit(None, "the process ended while the server was away", False)

        threading.Thread(target=poll, name=f"adopt-{execution['run_id']}", daemon=True).start()

    def close(self) -> None:
        """Let the zygote go (running executions go on)."""
        with self._lock:
            if self._zygote is not None and self._zygote.alive():
                self._zygote.proc.stdin.close()
            self._zygote = None


@hookimpl
def register_executors():
    return {"local": LocalExecutor}
