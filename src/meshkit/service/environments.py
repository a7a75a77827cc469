"""A deployed job's own dependencies: its ``requirements.txt`` installed into an environment of its own.

As VDK's builder job does for images, the control service builds the environment when a source
version is deployed, before any execution, so a failed install fails the deployment with its
log. Environments are cached by the hash of the requirements (and of the interpreter), so each
distinct ``requirements.txt`` is built once however many versions share it; uv makes a build
fast. An environment is a virtual environment whose ``.pth`` adds meshkit's own site-packages
after its own, so the job's pins win and ``meshkit`` itself is still importable. Executions of a
job with requirements run in its environment's interpreter.
"""

from __future__ import annotations

import fcntl
import hashlib
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from meshkit.service.exceptions import ApiError

REQUIREMENTS = "requirements.txt"
#: How much of a failed build's log an API error quotes (the whole log stays readable).
LOG_TAIL = 2000
BUILD_TIMEOUT = 1800


class DependenciesError(ApiError):
    """A job's ``requirements.txt`` could not be installed: the deployment is refused."""

    status = 422
    code = "dependencies_failed"


@dataclass
class Environment:
    """One built (or failed) environment, named by its hash."""

    root: Path
    sha256: str

    @property
    def python(self) -> Path:
        return self.root / "bin" / "python"

    @property
    def log(self) -> Path:
        return self.root.with_name(self.root.name + ".log")

    @property
    def ready(self) -> bool:
        return (self.root / ".ready").is_file()

    def status(self) -> str:
        if self.ready:
            return "ready"
        return "failed" if self.log.is_file() else "absent"


def requirements_hash(requirements: bytes) -> str:
    """SHA-256 of the requirements (blank lines and comments aside) and of the interpreter running meshkit."""
    lines = [line.split("#", 1)[0].strip() for line in requirements.decode("utf-8", "replace").splitlines()]
    digest = hashlib.sha256(f"{sys.version}\0{sys.prefix}\0".encode())
    digest.update("\n".join(line for line in lines if line).encode())
    return digest.hexdigest()


def environment(cache: Path, requirements: bytes) -> Environment:
    sha = requirements_hash(requirements)
    return Environment(cache / sha[:24], sha)


def ensure(cache: Path, requirements: bytes, *, where: str) -> Environment:
    """The ready environment of ``requirements``, built under ``cache`` once (under a lock).

    Raises :class:`DependenciesError` quoting the end of the build log when the install fails.
    """
    env = environment(cache, requirements)
    if env.ready:
        return env
    cache.mkdir(parents=True, exist_ok=True)
    with open(env.root.with_name(env.root.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not env.ready:
            _build(env, requirements, where)
    return env


def _build(env: Environment, requirements: bytes, where: str) -> None:
    staging = env.root.with_name(env.root.name + ".building")
    shutil.rmtree(staging, ignore_errors=True)
    shutil.rmtree(env.root, ignore_errors=True)
    listed = env.root.with_name(env.root.name + ".requirements.txt")
    listed.write_bytes(requirements)
    uv = [sys.executable, "-m", "uv"]
    steps = [
        [*uv, "venv", "--quiet", "--python", sys.executable, str(staging)],
        [*uv, "pip", "install", "--python", str(staging / "bin" / "python"), "-r", str(listed)],
    ]
    with open(env.log, "w") as log:
        log.write(f"# environment {env.sha256[:24]} for {where}\n")
        for argv in steps:
            log.write("$ " + " ".join(argv[2:]) + "\n")
            log.flush()
            try:
                done = subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, timeout=BUILD_TIMEOUT)
                code = done.returncode
            except (OSError, subprocess.TimeoutExpired) as exc:
                log.write(f"{type(exc).__name__}: {exc}\n")
                code = -1
            if code:
                log.write(f"# failed (exit code {code})\n")
                break
        else:
            _link_meshkit(staging)
            log.write("# ready\n")
    if code:
        shutil.rmtree(staging, ignore_errors=True)
        tail = env.log.read_text(errors="replace")[-LOG_TAIL:]
        raise DependenciesError(
            f"Installing the job's {REQUIREMENTS} failed, so it is not deployed:\n{tail}",
            where=where,
            hint="Fix the requirements and upload the job again; the whole log is under GET .../sources/VERSION/environment.",
        )
    (staging / ".ready").touch()
    staging.rename(env.root)


def _link_meshkit(venv: Path) -> None:
    """Let the environment import meshkit and its dependencies, after its own packages."""
    site = next((venv / "lib").glob("python*/site-packages"))
    base = {sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]}
    lines = [f"import site; site.addsitedir({path!r})" for path in sorted(base)]
    (site / "_meshkit_base.pth").write_text("\n".join(lines) + "\n")


def python_for(cache: Path, job_dir: Path) -> Path | None:
    """The interpreter an execution of ``job_dir`` runs in: its environment's, or None without requirements."""
    path = job_dir / REQUIREMENTS
    if not path.is_file():
        return None
    return ensure(cache, path.read_bytes(), where=str(path)).python
