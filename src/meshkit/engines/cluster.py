"""Start a Spark standalone cluster on this machine from pyspark's bundled scripts.

A master and ``workers`` workers run as separate JVMs on 127.0.0.1, each on free ports, with
their logs and work folders under ``folder``; ``start_cluster`` returns once every worker is
alive in the master's JSON status page, and ``Cluster.stop`` ends them by pid. Tests, CI and
benchmarks use it; ``python -m meshkit.engines.cluster FOLDER`` starts one and prints its URL.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from meshkit.core.errors import PlatformError


def free_port() -> int:
    """A TCP port nothing listens on now, on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spark_home() -> Path:
    """The Spark distribution bundled in pyspark."""
    import pyspark

    return Path(pyspark.__file__).parent


@dataclass
class Cluster:
    """A running standalone cluster: its master URL, status page and processes."""

    master_url: str
    status_url: str
    folder: Path
    processes: list[subprocess.Popen] = field(default_factory=list)

    def workers_alive(self) -> int:
        """How many workers the master reports alive."""
        try:
            with urllib.request.urlopen(f"{self.status_url}/json/", timeout=5) as response:
                status = json.load(response)
        except OSError:
            return 0
        return sum(w.get("state") == "ALIVE" for w in status.get("workers", []))

    def stop(self) -> None:
        """Stop the workers, then the master, by pid."""
        for process in reversed(self.processes):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in reversed(self.processes):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes.clear()


def _spawn(home: Path, folder: Path, name: str, args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable,
           "SPARK_LOG_DIR": str(folder), "SPARK_NO_DAEMONIZE": "1"}  # fmt: skip
    log = open(folder / f"{name}.log", "ab")  # noqa: SIM115 - the child process owns it
    try:
        return subprocess.Popen([str(home / "bin" / "spark-class"), *args], env=env, stdout=log,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)  # fmt: skip
    finally:
        log.close()


def start_cluster(folder: str | Path, *, workers: int = 2, cores: int = 2, memory: str = "2g",
                  timeout: float = 180) -> Cluster:  # fmt: skip
    """Start a master and ``workers`` workers (``cores`` and ``memory`` each) and wait until all are alive.

    Two cores a worker let two applications (two test processes) hold an executor on each worker at once.
    """
    home, folder = spark_home(), Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    port, ui = free_port(), free_port()
    cluster = Cluster(f"spark://127.0.0.1:{port}", f"http://127.0.0.1:{ui}", folder)
    try:
        cluster.processes.append(_spawn(home, folder, "master", ["org.apache.spark.deploy.master.Master",
                                        "--host", "127.0.0.1", "--port", str(port), "--webui-port", str(ui)]))  # fmt: skip
        for i in range(workers):
            work = folder / f"worker-{i}"
            work.mkdir(exist_ok=True)
            cluster.processes.append(_spawn(home, folder, f"worker-{i}", [
                "org.apache.spark.deploy.worker.Worker", cluster.master_url, "--host", "127.0.0.1",
                "--port", str(free_port()), "--webui-port", str(free_port()), "--cores", str(cores),
                "--memory", memory, "--work-dir", str(work)]))  # fmt: skip
        deadline = time.monotonic() + timeout
        while cluster.workers_alive() < workers:
            dead = [p for p in cluster.processes if p.poll() is not None]
            if dead or time.monotonic() > deadline:
                raise PlatformError(
                    f"The Spark cluster did not start: {cluster.workers_alive()} of {workers} workers alive"
                    f"{' (a process exited)' if dead else ''}.", hint=f"See the logs in {folder}.")  # fmt: skip
            time.sleep(1)
    except BaseException:
        cluster.stop()
        raise
    return cluster


if __name__ == "__main__":  # pragma: no cover - used by hand and by .ci/run
    started = start_cluster(sys.argv[1] if len(sys.argv) > 1 else "build/spark")
    print(started.master_url, " ".join(str(p.pid) for p in started.processes), flush=True)
