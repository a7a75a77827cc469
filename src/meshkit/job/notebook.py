"""Jupyter notebooks as steps (VDK's vdk-notebook): a job's ``*.ipynb`` runs its code cells tagged ``vdk``.

The tagged cells run in order, in one namespace per notebook where ``job_input`` is defined; a cell
whose first line is ``%%vdksql`` is SQL run on the managed connection. Untagged cells (exploration,
plots) are skipped. A failure names the cell: its number among the tagged cells, its id and line.
"""

from __future__ import annotations

import json
import traceback
from dataclasses import dataclass
from pathlib import Path

from meshkit.core.errors import JobError, PlatformError, StepFailedError
from meshkit.core.hookspecs import hookimpl
from meshkit.job.steps import Step, StepType

TAG = "vdk"
SQL_MAGIC = "%%vdksql"


@dataclass(frozen=True)
class Cell:
    """A tagged code cell: its number among the tagged cells, its id and source."""

    number: int
    id: str | None
    source: str
    sql: bool

    @property
    def label(self) -> str:
        return f"cell {self.number}" + (f" (id {self.id})" if self.id else "")


def tagged_cells(path: Path) -> list[Cell]:
    """The code cells of notebook ``path`` tagged ``vdk``, in order."""
    try:
        notebook = json.loads(path.read_text(encoding="utf-8"))
        cells = notebook["cells"]
    except (json.JSONDecodeError, UnicodeDecodeError, KeyError, TypeError) as exc:
        raise JobError(f"Cannot read notebook: {type(exc).__name__}: {exc}.", where=str(path),
                       hint="Save it again from Jupyter (nbformat 4).") from None  # fmt: skip
    found = []
    for cell in cells:
        if cell.get("cell_type") != "code" or TAG not in cell.get("metadata", {}).get("tags", []):
            continue
        source = cell.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        first, _, rest = source.partition("\n")
        sql = first.strip().startswith(SQL_MAGIC)
        found.append(Cell(len(found) + 1, cell.get("id"), rest if sql else source, sql))
    return found


def run_notebook_step(context, step: Step) -> None:
    scope = context.meshkit.scope
    namespace = {"__name__": scope.module_name(step.path), "job_input": context.job_input}
    scope.import_from(step.path.parent)
    for cell in tagged_cells(step.path):
        _run_cell(context, step, cell, namespace)


def _run_cell(context, step: Step, cell: Cell, namespace: dict) -> None:
    filename = f"{step.path}#{cell.label}"
    if cell.sql:
        from meshkit.job.job_input import SQLStatementError

        try:
            context.job_input.execute_query(cell.source)
        except SQLStatementError as exc:
            exc.where = f"{step.name} {cell.label}, line {exc.line + 1}"
            raise
        return
    try:
        code = compile(cell.source, filename, "exec")
    except SyntaxError as exc:
        frames = [(filename, exc.lineno or 0, "<cell>", (exc.text or "").strip())]
        raise StepFailedError(
            f"{cell.label}: {exc.msg}", step=step.name, frames=frames, cause_type="SyntaxError"
        ) from None
    try:
        exec(code, namespace)
    except (StepFailedError, PlatformError):
        raise
    except Exception as exc:  # noqa: BLE001 - the user's cell failed
        lines = cell.source.splitlines()
        frames = [(f.filename, f.lineno or 0, f.name, _line(lines, f.lineno) if f.filename == filename else (f.line or ""))
                  for f in traceback.extract_tb(exc.__traceback__) if f.filename == filename or
                  Path(f.filename).parent == step.path.parent]  # fmt: skip
        error = StepFailedError(f"{cell.label}: {exc}" if str(exc) else cell.label, step=step.name,
                                frames=frames or [(filename, 0, "<cell>", "")], cause_type=type(exc).__name__)  # fmt: skip
        error.original = exc
        raise error from None


def _line(lines: list[str], number: int | None) -> str:
    return lines[number - 1].strip() if number and 0 < number <= len(lines) else ""


@hookimpl
def register_step_types():
    return [StepType(".ipynb", run_notebook_step)]
