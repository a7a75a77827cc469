"""Start a Spark standalone cluster, or a Spark Connect server, on this machine from pyspark's bundled Spark.

A master and ``workers`` workers run as separate JVMs on 127.0.0.1, each on free ports, with
their logs and work folders under ``folder``; ``start_cluster`` returns once every worker is
alive in the master's JSON status page, and ``Cluster.stop`` ends them by pid. ``start_connect``
runs pyspark's bundled Spark Connect server (``jars/spark-connect*.jar``) as one JVM and returns
once its port answers. Tests, CI and benchmarks use them; ``python -m meshkit.engines.cluster
FOLDER`` starts a cluster and prints its URL (``--connect``: a Connect server and its ``sc://`` URL).
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


def _spawn(
    home: Path, folder: Path, name: str, args: list[str], script: str = "spark-class"
) -> subprocess.Popen:
    env = {**os.environ, "SPARK_HOME": str(home), "SPARK_LOCAL_IP": "127.0.0.1", "PYSPARK_PYTHON": sys.executable,
           "SPARK_LOG_DIR": str(folder), "SPARK_NO_DAEMONIZE": "1"}  # fmt: skip
    log = open(folder / f"{name}.log", "ab")  # noqa: SIM115 - the child process owns it
    try:
        return subprocess.Popen([str(home / "bin" / script), *args], env=env, stdout=log,
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


def connect_jar() -> Path | None:
    """The Spark Connect server's jar bundled in pyspark (4.x), or ``None`` (pyspark 3.x has none)."""
    return next(iter(sorted((spark_home() / "jars").glob("spark-connect_*.jar"))), None)


def start_connect(folder: str | Path, *, master: str = "local[2]", timeout: float = 180,
                  settings: dict[str, str] | None = None) -> Cluster:  # fmt: skip
    """Start a Spark Connect server (one JVM, the driver of ``master``) on a free port of 127.0.0.1.

    The server reads PostgreSQL and MariaDB through the JDBC drivers in ``/usr/share/java``. The
    returned ``Cluster``'s ``master_url`` is the ``sc://`` URL, and ``stop`` ends the server by pid.
    """
    from meshkit.engines.spark import JDBC_JARS, LOG_CONFIG

    if connect_jar() is None:
        raise PlatformError("pyspark bundles no Spark Connect server (it comes with pyspark 4).",
                            hint="pip install 'pyspark[connect]>=4'")  # fmt: skip
    home, folder = spark_home(), Path(folder).resolve()
    folder.mkdir(parents=True, exist_ok=True)
    port = free_port()
    jars = [j for j in JDBC_JARS if os.path.exists(j)]
    conf = {"spark.connect.grpc.binding.address": "127.0.0.1", "spark.connect.grpc.binding.port": str(port),
            "spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1", "spark.ui.enabled": "false",
            "spark.sql.session.timeZone": "UTC", "spark.pyspark.python": sys.executable,
            "spark.sql.warehouse.dir": (folder / "warehouse").as_uri(),
            "spark.driver.extraJavaOptions": f"-Dlog4j2.configurationFile=file:{LOG_CONFIG}", **(settings or {})}  # fmt: skip
    args = ["--class", "org.apache.spark.sql.connect.service.SparkConnectServer", "--name", "Spark Connect server",
            "--master", master]  # fmt: skip
    if jars:
        args += ["--jars", ",".join(jars), "--driver-class-path", ":".join(jars)]
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    server = Cluster(f"sc://127.0.0.1:{port}", "", folder)
    server.processes.append(_spawn(home, folder, "connect", args, script="spark-submit"))
    deadline = time.monotonic() + timeout
    try:
        while not _listening(port):
            if server.processes[0].poll() is not None or time.monotonic() > deadline:
                raise PlatformError(
                    f"The Spark Connect server did not start on port {port}"
                    f"{' (it exited)' if server.processes[0].poll() is not None else ''}.",
                    hint=f"See {folder / 'connect.log'}.",
                )
            time.sleep(1)
    except BaseException:
        server.stop()
        raise
    return server


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2):
            return True
    except OSError:
        return False


if __name__ == "__main__":  # pragma: no cover - used by hand and by .ci/run
    connect = "--connect" in sys.argv
    paths = [a for a in sys.argv[1:] if not a.startswith("--")]
    started = (start_connect if connect else start_cluster)(paths[0] if paths else "build/spark")
    print(started.master_url, " ".join(str(p.pid) for p in started.processes), flush=True)
