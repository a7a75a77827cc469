"""Steps of a data job: ``*.py`` and ``*.sql`` files run in alphanumeric order.

A Python step defines ``run(job_input)``; a SQL step is run on the managed connection with
``{name}`` placeholders substituted. As in VDK, a line ``[name]`` in a SQL step names the connection
it runs on (several such lines run it on each). More step types come from the
``register_step_types`` hook.
"""

from __future__ import annotations

import importlib.util
import inspect
import re
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from meshkit.core.errors import JobError, PlatformError, StepFailedError
from meshkit.core.files import read_text
from meshkit.core.hookspecs import hookimpl

if TYPE_CHECKING:
    from meshkit.core.scope import RunScope


@dataclass(frozen=True)
class StepType:
    """A kind of step: the file suffix it is found by and the function that runs it."""

    suffix: str
    run: Callable  # run(context, step)


@dataclass(frozen=True)
class Step:
    """One step file of a job."""

    name: str
    path: Path
    type: StepType

    @property
    def suffix(self) -> str:
        return self.type.suffix


def discover_steps(job_dir: Path, step_types: dict[str, StepType]) -> list[Step]:
    """Step files directly in ``job_dir`` whose suffix has a step type, in alphanumeric order."""
    steps = [
        Step(p.name, p, step_types[p.suffix])
        for p in job_dir.iterdir()
        if p.is_file() and p.suffix in step_types
    ]
    return sorted(steps, key=lambda s: s.name)


def user_frames(tb, roots: list[Path]) -> list[tuple[str, int, str, str]]:
    """Frames of ``tb`` whose file lies under one of ``roots`` (the user's own code)."""
    frames = []
    for frame in traceback.extract_tb(tb):
        path = Path(frame.filename)
        if any(path == r or r in path.parents for r in roots):
            frames.append((frame.filename, frame.lineno or 0, frame.name, (frame.line or "").strip()))
    return frames


def step_failed(step: Step, exc: BaseException, roots: list[Path]) -> StepFailedError:
    """A ``StepFailedError`` showing only the user's frames of ``exc`` (kept as ``original``)."""
    frames = user_frames(exc.__traceback__, roots) or [(str(step.path), 0, "<module>", "")]
    error = StepFailedError(
        str(exc) or type(exc).__name__, step=step.name, frames=frames, cause_type=type(exc).__name__
    )
    error.original = exc
    return error


def load_python_step(path: Path, scope: RunScope):
    """Import a step file as a fresh module of the run (its folder importable so it can import siblings)."""
    name = scope.module_name(path)
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    scope.import_from(path.parent)
    try:
        spec.loader.exec_module(module)
    finally:
        sys.modules.pop(name, None)
    return module


def run_python_step(context, step: Step) -> None:
    roots = [step.path.parent]
    try:
        module = load_python_step(step.path, context.meshkit.scope)
    except SyntaxError as exc:
        frames = [(exc.filename or str(step.path), exc.lineno or 0, "<module>", (exc.text or "").strip())]
        raise StepFailedError(exc.msg, step=step.name, frames=frames, cause_type="SyntaxError") from None
    except Exception as exc:  # noqa: BLE001 - the user's module failed at import
        raise step_failed(step, exc, roots) from None
    func = getattr(module, "run", None)
    if not callable(func):
        raise JobError("Python step defines no `run(job_input)` function.", where=str(step.path),
                       hint="Add `def run(job_input): ...` to the step file.")  # fmt: skip
    params = inspect.signature(func).parameters
    try:
        func(context.job_input) if params else func()
    except (StepFailedError, PlatformError):
        raise
    except Exception as exc:  # noqa: BLE001 - the user's code failed
        raise step_failed(step, exc, roots) from None


_CONNECTION_LINE = re.compile(r"\s*\[([^\]]+)\]\s*")


def split_connections(sql: str) -> tuple[list[str], str]:
    """The connections the ``[name]`` lines of ``sql`` name, and the SQL with those lines blanked
    (so line numbers stay those of the file)."""
    names, lines = [], []
    for line in sql.splitlines(keepends=True):
        if match := _CONNECTION_LINE.fullmatch(line.rstrip("\r\n")):
            names.append(match.group(1).strip())
            line = "\n" if line.endswith("\n") else ""
        lines.append(line)
    return names, "".join(lines)


def run_sql_step(context, step: Step) -> None:
    from meshkit.job.job_input import SQLStatementError
    from meshkit.job.sqltext import substitute

    names, sql = split_connections(read_text(step.path))
    values = context.job_input._substitutions()
    try:
        for name in [substitute(n, values) for n in names] or [None]:
            context.job_input.execute_query(sql, database=name)
    except SQLStatementError as exc:
        exc.where = f"{step.path}:{exc.line}"
        raise


@hookimpl
def register_step_types():
    return [StepType(".py", run_python_step), StepType(".sql", run_sql_step)]


@hookimpl(trylast=True)
def run_step(context, step):
    step.type.run(context, step)
    return True
