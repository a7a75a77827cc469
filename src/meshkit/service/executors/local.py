"""The local executor: each execution is a ``meshkit run`` subprocess in its own process group.

The process writes its run record and log itself; this executor watches it, enforces the
deployment's timeout, and stops the whole process group on cancel (SIGTERM, then SIGKILL after
a grace period).
"""

from __future__ import annotations

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

from meshkit.core.hookspecs import hookimpl
from meshkit.service.executors import ExecutionSpec, ExitCallback

log = logging.getLogger("meshkit.service")

_BOOT = "import sys; from meshkit.cli.main import main; sys.exit(main(sys.argv[1:]))"
GRACE_SECONDS = 10.0


def command(spec: ExecutionSpec) -> list[str]:
    """The command line of an execution."""
    cmd = [
        sys.executable,
        "-c",
        _BOOT,
        "--workspace",
        str(spec.workspace),
        "run",
        str(spec.job_dir),
        "--run-id",
        spec.run_id,
    ]
    if spec.arguments:
        cmd += ["--arguments", json.dumps(spec.arguments)]
    return cmd


def process_runs(pid: int | None, run_id: str) -> bool:
    """Whether process ``pid`` exists and is the execution ``run_id`` (not a reused pid)."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.parent.parent.is_dir() and Path("/proc/self").exists():
        try:
            return run_id.encode() in cmdline.read_bytes()
        except OSError:
            return False
    return True


class LocalExecutor:
    """Runs executions as subprocesses on this machine."""

    name = "local"

    def __init__(self, meshkit=None):
        self.host = socket.gethostname()

    def launch(self, spec: ExecutionSpec, on_exit: ExitCallback) -> dict[str, Any]:
        spec.log_path.parent.mkdir(parents=True, exist_ok=True)
        console = spec.log_path.with_name(f"{spec.run_id}.console.log")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **spec.env}
        with console.open("ab") as out:
            proc = subprocess.Popen(command(spec), cwd=spec.workspace, stdin=subprocess.DEVNULL, stdout=out,
                                    stderr=subprocess.STDOUT, env=env, start_new_session=True)  # fmt: skip
        threading.Thread(
            target=self._wait, args=(proc, spec, on_exit), name=f"exec-{spec.run_id}", daemon=True
        ).start()
        return {"host": self.host, "pid": proc.pid}

    def _wait(self, proc: subprocess.Popen, spec: ExecutionSpec, on_exit: ExitCallback) -> None:
        timed_out = False
        try:
            code = proc.wait(timeout=spec.timeout or None)
        except subprocess.TimeoutExpired:
            timed_out = True
            self._stop(proc.pid, spec.run_id)
            code = proc.wait()
        reason = f"timed out after {spec.timeout} s" if timed_out else "the process exited"
        on_exit(code, reason, timed_out)

    def cancel(self, execution: dict[str, Any]) -> None:
        if execution.get("host") == self.host and process_runs(execution.get("pid"), execution["run_id"]):
            threading.Thread(
                target=self._stop, args=(execution["pid"], execution["run_id"]), daemon=True
            ).start()

    def _stop(self, pid: int, run_id: str) -> None:
        try:
            os.killpg(pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + GRACE_SECONDS
        while time.monotonic() < deadline:
            if not process_runs(pid, run_id):
                return
            time.sleep(0.1)
        try:
            os.killpg(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def alive(self, execution: dict[str, Any]) -> bool | None:
        if execution.get("host") != self.host:
            return None
        return process_runs(execution.get("pid"), execution["run_id"])

    def adopt(self, execution: dict[str, Any], on_exit: ExitCallback) -> None:
        def poll() -> None:
            while process_runs(execution.get("pid"), execution["run_id"]):
                time.sleep(0.5)
            on_exit(None, "the process ended while the server was away", False)

        threading.Thread(target=poll, name=f"adopt-{execution['run_id']}", daemon=True).start()


@hookimpl
def register_executors():
    return {"local": LocalExecutor}
