"""A warm process that starts executions, so a run does not pay Python's start-up (~1 s of CPU) each time.

The local executor starts it once per server process (``python -m meshkit.service.executors.zygote``).
It rehearses a run, then reads one JSON request per line on stdin (``{"run_id", "argv", "cwd",
"env", "log", "python", "pooled"}``, or ``{"run_id", "signal"}``). It locks the run's log (the lock
tells any server process that the execution still runs, whatever happened to pids meanwhile), then:

- a ``pooled`` request (a job run in meshkit's own environment) goes to an idle warm worker of its
  pool, forked from it when none is idle (:mod:`meshkit.service.executors.worker`): the worker runs
  many executions one after another, so a run does not pay a fork's copied pages either;
- any other is a child forked for it, which starts its own session, prints into the run's log,
  runs the ``meshkit`` command line (or executes ``python``, the job's own environment) and ends
  like any Python process.

A ``signal`` request sends the signal to the session of the process running that execution, if
it still does (a worker's next run is never hit by the stop of its previous one). The zygote writes
``{"run_id", "pid"}`` when an execution starts (or ``{"run_id", "error"}``) and ``{"run_id",
"code"}`` when it ends (negative: killed by that signal). It exits when its stdin closes (the
server went away); runs go on and are adopted on restart.
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
import socket
import sys
import tempfile
import time
from pathlib import Path

from meshkit.service.executors import worker

_exit_code: int | None = None  # set in a child once its command has returned

#: Imported up front beyond what the rehearsal run loads: the driver of a PostgreSQL metadata database.
WARM_MODULES = ("sqlalchemy.dialects.postgresql.psycopg",)
#: Idle workers kept however long they wait; more leave after ``IDLE_SECONDS`` without a run.
IDLE_WORKERS = max(2, os.cpu_count() or 1)
IDLE_SECONDS = 60.0
#: Workers a burst of short runs goes through: beyond them a run waits for a busy worker to end its
#: run (up to ``HANDOFF_WAIT`` seconds, while a run ended within the last second) rather than fork
#: another: a fork costs more CPU than a short run, and more workers than cores only wait on each other.
BURST_WORKERS = 2 * (os.cpu_count() or 1)
HANDOFF_WAIT = 0.5
#: Runs a worker takes before it leaves the pool (a new one starts from the warm zygote).
WORKER_RUNS = 1000
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


class _Worker:
    """A worker of the pool, as the zygote sees it: its pid, channel, current run and runs so far."""

    def __init__(self, pid: int, channel: socket.socket):
        self.pid = pid
        self.channel = channel
        self.run_id: str | None = None
        self.runs = 0
        self.idle_since = time.monotonic()


class _Zygote:
    """The zygote's state: the one-shot children, the workers of the pool, where replies go."""

    def __init__(self, requests: int, replies: int):
        self.requests = requests
        self.replies = replies
        self.wake_read, self.wake_write = os.pipe()
        os.set_blocking(self.wake_write, False)
        self.selector = selectors.DefaultSelector()
        self.children: dict[int, str] = {}  # pid -> run id of processes forked for one run
        self.workers: dict[int, _Worker] = {}
        self.idle: list[_Worker] = []
        self.channels = selectors.DefaultSelector()  # the workers' channels alone
        self.last_done = 0.0

    def reply(self, message: dict) -> None:
        os.write(self.replies, json.dumps(message).encode() + b"\n")

    def _own_fds(self) -> list[int]:
        channels = [w.channel.fileno() for w in self.workers.values()]
        return [
            self.replies,
            self.wake_read,
            self.wake_write,
            self.selector.fileno(),
            self.channels.fileno(),
            *(c for c in channels if c >= 0),
        ]

    def handle(self, request: dict) -> None:
        if "signal" in request:
            self.signal(request["run_id"], request["signal"])
            return
        try:
            log = lock_log(request["log"])
        except OSError as exc:  # e.g. the same execution still runs
            self.reply({"run_id": request["run_id"], "error": f"{request['log']}: {exc}"})
            return
        try:
            if request.get("pooled"):
                pid = self._hand_over(request, log)
            else:
                pid = os.fork()
                if pid == 0:
                    run_child(request, log, self._own_fds())
                self.children[pid] = request["run_id"]
        finally:
            os.close(log)
        self.reply({"run_id": request["run_id"], "pid": pid})

    def _hand_over(self, request: dict, log: int) -> int:
        """Send ``request`` to an idle worker (a new one if none is idle); returns its pid."""
        message = json.dumps(request).encode()
        while True:
            worker = self._idle_worker() or self._fork_worker(log)
            try:
                socket.send_fds(worker.channel, [message], [log])
            except OSError:  # it died while idle: its exit is reaped apart
                self._drop(worker)
                continue
            worker.run_id = request["run_id"]
            return worker.pid

    def _idle_worker(self) -> _Worker | None:
        """An idle worker, after waiting ``HANDOFF_WAIT`` for one when runs are short; None if there is none."""
        if not self.idle and len(self.workers) >= BURST_WORKERS and time.monotonic() - self.last_done < 1.0:
            deadline = time.monotonic() + HANDOFF_WAIT
            while not self.idle and (left := deadline - time.monotonic()) > 0:
                for key, _ in self.channels.select(left):
                    self.answered(key.data)
        return self.idle.pop() if self.idle else None

    def _fork_worker(self, log: int) -> _Worker:
        """A new worker; ``log`` (the locked log being handed over) is closed in it: it gets its own copy."""
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        pid = os.fork()
        if pid == 0:
            ours.close()
            for fd in (log, *self._own_fds()):
                os.close(fd)
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            global _exit_code
            _exit_code = 0
            _exit_code = worker.serve(theirs)
            sys.exit(_exit_code)
        theirs.close()
        ours.setblocking(False)  # NOTE: a select may report an answer that another one has read since
        self.workers[pid] = found = _Worker(pid, ours)
        self.selector.register(ours, selectors.EVENT_READ, found)
        self.channels.register(ours, selectors.EVENT_READ, found)
        return found

    def _drop(self, worker: _Worker) -> None:
        """Forget ``worker``: it has left the pool, or is made to leave (its channel closes)."""
        if worker in self.idle:
            self.idle.remove(worker)
        for selector in (self.selector, self.channels):
            with contextlib.suppress(KeyError, ValueError):
                selector.unregister(worker.channel)
        worker.channel.close()

    def answered(self, worker: _Worker) -> None:
        """Read what ``worker`` sent: a run ended, and the worker is idle again."""
        try:
            message = worker.channel.recv(4096)
        except (BlockingIOError, OSError):
            return
        if not message:  # it is leaving: its exit is reaped apart
            self._drop(worker)
            return
        done = json.loads(message)
        worker.run_id, worker.runs, worker.idle_since = None, worker.runs + 1, time.monotonic()
        self.last_done = worker.idle_since
        self.reply({"run_id": done["run_id"], "code": done["code"]})
        if worker.pid not in self.workers or worker.runs >= WORKER_RUNS:
            self._drop(worker)
        else:
            self.idle.append(worker)

    def reap(self) -> None:
        os.read(self.wake_read, 4096)
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if not pid:
                return
            code = os.waitstatus_to_exitcode(status)
            if pid in self.children:
                self.reply({"run_id": self.children.pop(pid), "code": code})
            elif (worker := self.workers.pop(pid, None)) is not None:
                if worker.channel.fileno() >= 0:
                    self.answered(worker)  # a run it ended before it went
                self._drop(worker)
                if (
                    worker.run_id is not None
                ):  # it ended with its run (crashed, killed, or ended like a process)
                    self.reply({"run_id": worker.run_id, "code": code})

    def signal(self, run_id: str, signum: int) -> None:
        """Send ``signum`` to the session of the process running ``run_id``, if it still runs it."""
        pid = next((p for p, r in self.children.items() if r == run_id), None)
        if pid is None:
            pid = next((w.pid for w in self.workers.values() if w.run_id == run_id), None)
        if pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signum)

    def retire(self) -> None:
        """Let idle workers beyond ``IDLE_WORKERS`` go once they have been idle ``IDLE_SECONDS``."""
        while len(self.idle) > IDLE_WORKERS and time.monotonic() - self.idle[0].idle_since > IDLE_SECONDS:
            self._drop(self.idle[0])


def serve(requests: int, replies: int) -> None:
    """Start a run per request line read from fd ``requests`` until it closes; report on fd ``replies``."""
    zygote = _Zygote(requests, replies)
    signal.set_wakeup_fd(zygote.wake_write)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    zygote.selector.register(requests, selectors.EVENT_READ)
    zygote.selector.register(zygote.wake_read, selectors.EVENT_READ)
    pending = b""
    while True:
        for key, _ in zygote.selector.select(timeout=IDLE_SECONDS):
            if key.fd == zygote.wake_read:
                zygote.reap()
            elif isinstance(key.data, _Worker):
                zygote.answered(key.data)
            else:
                chunk = os.read(requests, 65536)
                if not chunk:
                    return
                *lines, pending = (pending + chunk).split(b"\n")
                for line in lines:
                    zygote.handle(json.loads(line))
        zygote.retire()


def main() -> None:
    atexit.register(_exit_without_teardown)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C in the server's terminal is for the server
    replies = os.dup(1)
    os.dup2(2, 1)  # anything printed while warming goes to stderr, not into the replies
    warm()
    serve(0, replies)


if __name__ == "__main__":
    main()
