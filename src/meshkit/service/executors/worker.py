"""A warm worker: a process forked by the zygote that runs many job executions, one after another.

A process forked per run pays for the pages it copies from the zygote as it touches them, which
costs several times the CPU of a short run itself; a burst of runs on one cron tick is bound by
that CPU. A worker pays it once: it keeps one ``Meshkit`` of the workspace, and each execution is
``run_job`` in a run scope of it (:mod:`meshkit.core.scope`), so each run still starts from the
workspace alone: its config layers, declared stores, import folders and modules go with it, and
the stores it opened are closed after it. For the time of an execution the worker is that
execution as a forked process would be: it prints into the run's log and holds the log's lock,
its environment and folder are the request's, and SIGTERM cancels the run.

The zygote sends one request per message (``{"run_id", "job", "arguments", "cwd", "env"}``, the
locked log as the message's file descriptor) and the worker answers ``{"run_id", "code"}`` once
the run ended and the log is released. It leaves the pool instead, ending like a process (joining
threads, running exit handlers; the zygote then reports its exit code), after a run that left
threads or exit handlers behind or that was asked to stop. It exits when the zygote closes the
channel, and on SIGTERM while idle.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import signal
import socket
import sys
import threading
from typing import Any

#: The largest request message (the server's environment is part of it).
MAX_REQUEST = 1 << 20


class _State:
    """What the SIGTERM handler needs to know: is a run in progress, was the worker asked to stop."""

    idle = True
    stopping = False


def _on_sigterm(signum, frame) -> None:
    _State.stopping = True
    if _State.idle:
        raise SystemExit(0)


def serve(channel: socket.socket) -> int:
    """In the forked worker: run the executions sent on ``channel``; returns the exit code to end with."""
    os.setsid()  # a session of its own: a stop reaches the worker and what its run started, nothing else
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    sys.stdout.reconfigure(write_through=True)
    sys.stderr.reconfigure(write_through=True)
    signal.signal(signal.SIGTERM, _on_sigterm)
    workspace: tuple[str, dict[str, str]] | None = None
    meshkit = None
    try:
        while True:
            try:
                message, fds, _, _ = socket.recv_fds(channel, MAX_REQUEST, 1)
            except SystemExit:
                return 0
            if not message:
                return 0
            _State.idle = False
            request = json.loads(message)
            os.dup2(fds[0], 1)
            os.dup2(fds[0], 2)
            os.close(fds[0])
            os.chdir(request["cwd"])
            if os.environ != request["env"]:  # a burst's requests share one environment: set it once
                os.environ.clear()
                os.environ.update(request["env"])
            if workspace != (request["cwd"], request["env"]):
                if meshkit is not None:
                    meshkit.close()
                meshkit, workspace = _open(request["cwd"]), (request["cwd"], request["env"])
            threads, exit_handlers = set(threading.enumerate()), atexit._ncallbacks()
            path, handlers = list(sys.path), list(logging.root.handlers)
            code = execute(meshkit, request)
            sys.path[:], logging.root.handlers[:] = path, handlers  # what a step may change beyond its scope
            sys.stdout.flush()
            sys.stderr.flush()
            # NOTE: what a run leaves in the process beyond its scope is undone only by ending the process.
            left = [t for t in threading.enumerate() if t not in threads and not t.daemon and t.is_alive()]
            if left or atexit._ncallbacks() != exit_handlers or _State.stopping:
                return code
            os.dup2(devnull, 1)  # the log's last descriptor: its lock goes with it
            os.dup2(devnull, 2)
            _State.idle = True
            channel.send(json.dumps({"run_id": request["run_id"], "code": code}).encode())
    except OSError:  # the zygote went away mid-answer
        return 0
    finally:
        if meshkit is not None:
            meshkit.close()


def _open(root: str):
    from meshkit.core.context import Meshkit
    from meshkit.core.workspace import Workspace

    return Meshkit(Workspace.require(root))


def execute(meshkit, request: dict[str, Any]) -> int:
    """Run one execution as ``meshkit run JOB --run-id RUN_ID`` would; returns its exit code."""
    from meshkit.cli.main import render_error
    from meshkit.core.errors import MeshkitError, PlatformError
    from meshkit.job.runner import run_job

    error: MeshkitError | None
    try:
        error = run_job(meshkit, request["job"], request["arguments"], run_id=request["run_id"]).error
    except MeshkitError as exc:
        error = exc
    except Exception as exc:  # an error of meshkit itself, as the command line reports it
        error = PlatformError(f"Internal error: {type(exc).__name__}: {exc}.", hint="Run again with --debug.")
    finally:
        meshkit.close_stores()
    code = 0 if error is None else error.exit_code
    if error is not None:
        render_error(error)
    meshkit.pm.hook.shutdown(meshkit=None, exit_code=code)
    return code
