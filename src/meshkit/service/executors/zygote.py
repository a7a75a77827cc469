"""A warm process that forks executions, so a run does not pay Python's start-up (~1 s of CPU) each time.

The local executor starts it once per server process (``python -m meshkit.service.executors.zygote``).
It rehearses a run, then reads one JSON request per line on stdin (``{"run_id", "argv", "cwd",
"env", "log", "python"}``) and forks a child for each (which executes ``python``, the job's own
environment, when given). The child starts its own session, prints into its
run's log and holds an exclusive lock on it while it lives (the lock tells any server process
that the execution still runs, whatever happened to pids meanwhile), and runs the ``meshkit``
command line, ending like any Python process. The zygote writes ``{"run_id", "pid"}`` when a
child starts (or ``{"run_id", "error"}``) and ``{"pid", "code"}`` when it ends (negative: killed
by that signal). It exits when its stdin closes (the server went away); children go on and are
adopted on restart.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import gc
import importlib
import json
import os
import selectors
import signal
import sys
import tempfile
from pathlib import Path

_exit_code: int | None = None  # set in a child once its command has returned

#: Imported up front beyond what the rehearsal run loads: the driver of a PostgreSQL metadata database.
WARM_MODULES = ("sqlalchemy.dialects.postgresql.psycopg",)
#: What the rehearsal keeps of the environment (with ``LC_*`` and ``PYTHON*``).
_BARE = ("PATH", "LANG", "TMPDIR", "HOME")


def warm() -> None:
    """Rehearse a run of a one-step job in a throwaway workspace, then freeze what it loaded.

    Children then find modules imported, caches filled and the interpreter's bytecode already
    specialised for a run's code paths: less for each of them to do, and fewer pages to copy. The
    rehearsal sees none of the server's environment, so its run reaches no configured database,
    lineage endpoint or notification.
    """
    from meshkit.cli.main import main
    from meshkit.core.plugins import prebuild
    from meshkit.core.workspace import init_workspace

    try:
        with tempfile.TemporaryDirectory(prefix="meshkit-zygote-") as tmp:
            root = init_workspace(Path(tmp) / "ws").root
            job = root / "jobs" / "rehearsal"
            job.mkdir(parents=True)
            (job / "10_step.py").write_text("def run(job_input):\n    pass\n")
            with (
                open(os.devnull, "w") as quiet,
                contextlib.redirect_stdout(quiet),
                contextlib.redirect_stderr(quiet),
                _bare_environment(),
            ):
                main(["--workspace", str(root), "run", str(job)])
    except Exception as exc:  # noqa: BLE001 - runs still work unrehearsed, each doing a little more
        print(f"meshkit zygote: rehearsal skipped ({type(exc).__name__}: {exc})", file=sys.stderr)
    prebuild()
    for name in WARM_MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # an optional extra that is not installed
            pass
    gc.collect()
    gc.freeze()  # keep the warm objects out of the children's collections: fewer copied pages


@contextlib.contextmanager
def _bare_environment():
    """Only the variables any process needs (``PATH``, locale, ``PYTHON*``), for the block's duration."""
    saved = dict(os.environ)
    keep = {k: v for k, v in saved.items() if k in _BARE or k.startswith(("LC_", "PYTHON"))}
    os.environ.clear()
    os.environ.update(keep)
    try:
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)


def lock_log(path: str) -> int:
    """Open a run log for appending, locked for as long as a process keeps it open."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        raise
    return fd


def run_child(request: dict, log: int, zygote_fds: list[int]) -> None:
    """In the forked child: become the execution, then exit with the command's code.

    ``log`` is the locked run log, opened before the fork so that the lock is held before anyone
    learns the pid; stdout and stderr go to it.
    """
    os.setsid()
    signal.set_wakeup_fd(-1)
    for sig in (signal.SIGCHLD, signal.SIGINT):
        signal.signal(sig, signal.SIG_DFL)
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    for fd in (devnull, log, *zygote_fds):
        os.close(fd)
    sys.stdout.reconfigure(write_through=True)
    sys.stderr.reconfigure(write_through=True)
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(request["env"])
    if request.get("python"):  # the job's own environment: a fresh interpreter, not this warm one
        python = request["python"]
        os.execve(python, [python, "-m", "meshkit", *request["argv"]], request["env"])
    from meshkit.cli.main import main

    global _exit_code
    _exit_code = 1  # if the command line itself raises
    _exit_code = main(request["argv"])
    sys.exit(_exit_code)


def _exit_without_teardown() -> None:
    """Registered first, so it runs last at exit: a child skips tearing down the zygote's modules.

    The child has joined its threads and run every other exit handler by then; tearing down the
    inherited modules would only copy the zygote's memory page by page (about half a run's CPU).
    """
    if _exit_code is not None:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_exit_code)


def serve(requests: int, replies: int) -> None:
    """Fork a child per request line read from fd ``requests`` until it closes; report on fd ``replies``."""
    wake_read, wake_write = os.pipe()
    os.set_blocking(wake_write, False)
    signal.set_wakeup_fd(wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    selector = selectors.DefaultSelector()
    selector.register(requests, selectors.EVENT_READ)
    selector.register(wake_read, selectors.EVENT_READ)
    pending = b""

    def reply(message: dict) -> None:
        os.write(replies, json.dumps(message).encode() + b"\n")

    while True:
        for key, _ in selector.select():
            if key.fd == wake_read:
                os.read(wake_read, 4096)
                while True:
                    try:
                        pid, status = os.waitpid(-1, os.WNOHANG)
                    except ChildProcessError:
                        break
                    if not pid:
                        break
                    reply({"pid": pid, "code": os.waitstatus_to_exitcode(status)})
                continue
            chunk = os.read(requests, 65536)
            if not chunk:
                return
            *lines, pending = (pending + chunk).split(b"\n")
            for line in lines:
                request = json.loads(line)
                try:
                    log = lock_log(request["log"])
                except OSError as exc:  # e.g. the same execution still runs
                    reply({"run_id": request["run_id"], "error": f"{request['log']}: {exc}"})
                    continue
                pid = os.fork()
                if pid == 0:
                    run_child(request, log, [replies, wake_read, wake_write, selector.fileno()])
                os.close(log)
                reply({"run_id": request["run_id"], "pid": pid})


def main() -> None:
    atexit.register(_exit_without_teardown)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the server's terminal is for the server
    replies = os.dup(1)
    os.dup2(2, 1)  # anything printed while warming goes to stderr, not into the replies
    warm()
    serve(0, replies)


if __name__ == "__main__":
    main()
