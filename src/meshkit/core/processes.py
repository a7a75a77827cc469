"""Which process owns a run or a temporary file, whether it still lives, and cleaning after the dead.

A process is known by its host, its pid and its start time (``/proc/PID/stat`` where there is
one), so a pid the system gave to a newer process does not pass for the old one. Each process
keeps its temporary files in its own folder, ``.meshkit/tmp/proc-HOST.PID.START/``, and notes
there the hidden temporary names it writes elsewhere (``.orders.parquet.mk-tmp-*`` beside an
asset). A process killed before it could clean up (``kill -9``, power loss) leaves both behind;
``Scratch.sweep`` removes them once their process is gone, and never touches a live process's.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import re
import shutil
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

_FOLDER = re.compile(r"proc-(?P<host>.+)\.(?P<pid>\d+)\.(?P<start>\d+)")
_TEMP_NAME = re.compile(r"\.(?P<asset>.+)\.mk-tmp-[0-9a-f]+(?:\.\w+)?")
NOTES = "temporary-paths"


@dataclass(frozen=True)
class ProcessId:
    """A process: the host it runs on, its pid, and its start time (``None`` where unknown)."""

    host: str
    pid: int
    start: str | None

    @property
    def folder(self) -> str:
        """The name of its scratch folder."""
        return f"proc-{_safe(self.host)}.{self.pid}.{self.start or 0}"


_current: ProcessId | None = None


def this_process() -> ProcessId:
    """The calling process (known again after a fork)."""
    global _current
    pid = os.getpid()
    if _current is None or _current.pid != pid:
        _current = ProcessId(socket.gethostname(), pid, start_time(pid))
    return _current


def start_time(pid: int) -> str | None:
    """When process ``pid`` started, in clock ticks since boot (Linux), or ``None``."""
    return _stat(pid)[1]


def _stat(pid: int) -> tuple[str | None, str | None]:
    """The state (``R``, ``S``, ``Z`` ...) and start time of process ``pid``, from ``/proc`` where it exists."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None, None
    return fields[0], fields[19]  # fields 3 and 22 of the line: state, starttime


def is_alive(process: ProcessId) -> bool | None:
    """Whether ``process`` still runs; ``None`` when it runs on another host (this one cannot tell)."""
    if _safe(process.host) != _safe(socket.gethostname()):
        return None
    try:
        os.kill(process.pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # it exists, under another user
    state, start = _stat(process.pid)
    if state == "Z":  # killed, not yet reaped by its parent
        return False
    return process.start is None or start is None or start == process.start


def _safe(host: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", host)


class Scratch:
    """The temporary folders of the processes using one workspace (``.meshkit/tmp``)."""

    def __init__(self, root: Path):
        self.root = root
        self._lock = threading.Lock()
        self._folders: dict[int, Path] = {}

    @property
    def folder(self) -> Path:
        """This process's folder (created on first use, removed when the process exits)."""
        process = this_process()
        if process.pid not in self._folders:
            self._folders[process.pid] = self.root / process.folder
            atexit.register(_remove_own, self._folders[process.pid], process.pid)
        path = self._folders[process.pid]
        path.mkdir(parents=True, exist_ok=True)
        return path

    def note(self, path: str) -> None:
        """Remember ``path``, a temporary name about to be written outside the folder, for ``sweep``."""
        with self._lock, open(self.folder / NOTES, "a") as notes:
            notes.write(path + "\n")

    def sweep(self) -> int:
        """Remove the folders of this host's dead processes and the temporary paths they noted.

        Returns how many folders were removed.
        """
        if not self.root.is_dir():
            return 0
        removed = 0
        for entry in self.root.iterdir():
            match = _FOLDER.fullmatch(entry.name)
            if match is None or not entry.is_dir():
                continue
            owner = ProcessId(
                match["host"], int(match["pid"]), None if match["start"] == "0" else match["start"]
            )
            if is_alive(owner) is not False:
                continue
            notes = entry / NOTES
            if notes.is_file():
                for line in notes.read_text().splitlines():
                    _remove_temporary(line)
            shutil.rmtree(entry, ignore_errors=True)
            removed += 1
        return removed


def _remove_temporary(path: str) -> None:
    """Remove a temporary path; an asset moved aside (``TEMP-old``) goes back if its new data never came."""
    if not path:
        return
    old = f"{path}-old"
    if os.path.lexists(old):
        match = _TEMP_NAME.fullmatch(os.path.basename(path))
        asset = os.path.join(os.path.dirname(path), match["asset"]) if match else None
        if asset is not None and not os.path.lexists(asset):
            with contextlib.suppress(OSError):
                os.replace(old, asset)
        else:
            _remove(old)
    _remove(path)


def _remove(path: str) -> None:
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.remove(path)


def _remove_own(path: Path, pid: int) -> None:
    if os.getpid() == pid:  # NOTE: a forked child inherits the handler, not the folder
        shutil.rmtree(path, ignore_errors=True)
