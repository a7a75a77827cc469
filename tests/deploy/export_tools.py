"""Tools of the exporter tests: Airflow 3 in its own virtual environment, and the Argo and
Kubernetes schema validators. A tool that cannot be had skips its tests (fails them with
MESHKIT_REQUIRE_SERVICES=1, as in CI).
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
#: Airflow 3's own environment, built once and kept (``.ci/run`` builds it before the tests).
AIRFLOW_VENV = Path(os.environ.get("MESHKIT_AIRFLOW_VENV", ROOT / "build" / "airflow3"))
AIRFLOW_REQUIREMENT = "apache-airflow==3.*"
SCHEMAS = Path(__file__).parent / "schemas"
KUBERNETES_VERSION = "1.34.0"


def missing(reason: str) -> None:
    if os.environ.get("MESHKIT_REQUIRE_SERVICES") == "1":
        pytest.fail(f"required tool unavailable: {reason}")
    pytest.skip(reason)


def ensure_airflow(venv: Path = AIRFLOW_VENV) -> Path:
    """The ``airflow`` executable of ``venv``, installing Airflow 3 there first if needed (under a lock)."""
    airflow = venv / "bin" / "airflow"
    stamp = venv / ".meshkit-installed"
    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f"{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not stamp.is_file():
            uv = [sys.executable, "-m", "uv"]
            subprocess.run(
                [*uv, "venv", "-q", "--allow-existing", str(venv), "--python", sys.executable], check=True
            )
            subprocess.run([*uv, "pip", "install", "-q", "--python", str(venv / "bin" / "python"),
                            AIRFLOW_REQUIREMENT], check=True)  # fmt: skip
            stamp.touch()
    return airflow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def airflow_environment(home: Path) -> dict[str, str]:
    """Variables for an Airflow in ``home``: no examples, little parallelism, a local execution API."""
    meshkit_bin = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "PATH": f"{meshkit_bin}{os.pathsep}{os.environ.get('PATH', '')}",
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(home / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__PARALLELISM": "2",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{free_port()}/execution/",
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "INFO",
    }


def validate_kubernetes(paths: list[Path]) -> subprocess.CompletedProcess:
    """``kubernetes-validate --strict`` on ``paths`` against a recent Kubernetes."""
    tool = shutil.which("kubernetes-validate", path=str(Path(sys.executable).parent))
    if tool is None:
        missing("kubernetes-validate is not installed (the dev extra has it)")
    return subprocess.run([tool, "--strict", "-k", KUBERNETES_VERSION, *map(str, paths)],
                          capture_output=True, text=True)  # fmt: skip


def ensure_argo_schema() -> Path:
    """The validator script, with ``@kubernetes-models/argo-workflows`` installed from the lock file."""
    if not (SCHEMAS / "node_modules" / "@kubernetes-models" / "argo-workflows").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            missing("npm is not installed: cannot install @kubernetes-models/argo-workflows")
        with open(SCHEMAS / ".install.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            if not (SCHEMAS / "node_modules" / "@kubernetes-models" / "argo-workflows").is_dir():
                done = subprocess.run(
                    [npm, "ci", "--no-audit", "--no-fund"], cwd=SCHEMAS, capture_output=True, text=True
                )
                if done.returncode:
                    missing(f"npm ci failed: {done.stderr[-500:]}")
    return SCHEMAS / "validate.mjs"


def validate_argo(path: Path) -> subprocess.CompletedProcess:
    """Validate the Argo objects of YAML file ``path`` with Argo's published schema."""
    script = ensure_argo_schema()
    objects = [o for o in yaml.safe_load_all(path.read_text()) if o]
    return subprocess.run(["node", str(script)], input=json.dumps(objects), capture_output=True, text=True,
                          cwd=SCHEMAS)  # fmt: skip
