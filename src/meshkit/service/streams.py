"""SyncTransfers run by the control service: long-lived processes, restarted when they die.

Each applied SyncTransfer runs as ``meshkit transfer apply FILE`` in a child process of the server
(its spec kept under ``.meshkit/service/streams/``). A process that ends without being asked to
is started again after a backoff that doubles up to a minute; stopping sends SIGTERM, so the
transfer ends after its current batch. Positions live in the destination, so a restart resumes
exactly where the data ends. The figures of a running transfer (lag, batches, last commit) are in
its status, which the runner keeps current.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_MAX_BACKOFF = 60.0
_MAIN = "import sys; from meshkit.cli.main import main; sys.exit(main(sys.argv[1:]))"


@dataclass
class Supervised:
    """One SyncTransfer the service keeps running."""

    name: str
    spec: Path
    process: subprocess.Popen | None = None
    restarts: int = 0
    last_exit: int | None = None
    stopping: threading.Event = field(default_factory=threading.Event)
    thread: threading.Thread | None = None

    def describe(self) -> dict[str, Any]:
        running = self.process is not None and self.process.poll() is None
        return {"running": running, "pid": self.process.pid if running else None, "restarts": self.restarts,
                "lastExitCode": self.last_exit}  # fmt: skip


class StreamSupervisor:
    """Starts, watches and stops the service's SyncTransfer processes."""

    def __init__(self, workspace: Path, folder: Path):
        self.workspace, self.folder = workspace, folder
        self.streams: dict[str, Supervised] = {}
        self._lock = threading.Lock()

    def start(self, name: str, spec_text: str) -> Supervised:
        """Run SyncTransfer ``name`` (its YAML ``spec_text``) until stopped; an earlier one is stopped first."""
        self.stop(name)
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.folder / f"{name}.yaml"
        path.write_text(spec_text)
        entry = Supervised(name, path)
        entry.thread = threading.Thread(target=self._watch, args=(entry,), name=f"stream-{name}", daemon=True)
        with self._lock:
            self.streams[name] = entry
        entry.thread.start()
        return entry

    def _watch(self, entry: Supervised) -> None:
        backoff = 1.0
        while not entry.stopping.is_set():
            command = [
                sys.executable,
                "-c",
                _MAIN,
                "-w",
                str(self.workspace),
                "transfer",
                "apply",
                str(entry.spec),
            ]
            started = time.monotonic()
            entry.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                             stdin=subprocess.DEVNULL)  # fmt: skip
            entry.last_exit = entry.process.wait()
            if entry.stopping.is_set():
                break
            entry.restarts += 1
            backoff = 1.0 if time.monotonic() - started > _MAX_BACKOFF else min(_MAX_BACKOFF, backoff * 2)
            entry.stopping.wait(backoff)

    def stop(self, name: str) -> bool:
        """Stop SyncTransfer ``name`` (SIGTERM: it ends after its current batch); whether it was running."""
        with self._lock:
            entry = self.streams.pop(name, None)
        if entry is None:
            return False
        entry.stopping.set()
        process = entry.process
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        if entry.thread is not None:
            entry.thread.join(5)
        return True

    def describe(self, name: str) -> dict[str, Any] | None:
        entry = self.streams.get(name)
        return entry.describe() if entry is not None else None

    def stop_all(self) -> None:
        for name in list(self.streams):
            self.stop(name)
