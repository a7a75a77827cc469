"""Live output of long commands: each piece of work as it starts and ends, as ``dbt build`` prints it.

On a terminal, running work shows as spinner rows under the lines of finished work; otherwise
(a pipe, a log file, CI) every start and end is a plain line with the time of day, no spinner.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from meshkit.core.hookspecs import hookimpl

if TYPE_CHECKING:
    from rich.progress import Progress

WIDTH = 70  # a line with the time of day in front stays within 80 columns
STATUS_STYLE = {"RUN": "", "OK": "green", "PASS": "green", "WARN": "yellow", "SKIP": "yellow",
                "ERROR": "red", "FAIL": "red", "CANCELLED": "yellow"}  # fmt: skip


def dotted(text: str, status: str, detail: str = "") -> str:
    """``text`` padded with dots and ``[STATUS detail]`` at the end, in markup (text escaped)."""
    label = f"{status} {detail}".strip()
    dots = "." * max(3, WIDTH - len(text) - len(label) - 4)
    style = STATUS_STYLE.get(status, "")
    shown = f"[{style}]{escape(label)}[/]" if style else escape(label)
    return f"{escape(text)} {dots} \\[{shown}]"


class _Shown:
    """A rich ``Progress`` shown while the ``with`` block runs (``None``: plain lines, no terminal)."""

    progress: Progress | None = None

    def __enter__(self):
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()


class LiveLines(_Shown):
    """Prints work as it starts and ends; use as a context manager around the work."""

    def __init__(self, console: Console):
        self.console = console
        self.live = console.is_terminal
        if self.live:  # NOTE: plain lines (a pipe, a log) need no spinner, nor its import
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                                     console=console, transient=True)  # fmt: skip
        self._tasks: dict[object, int] = {}
        self._write_lock = threading.Lock()

    def print(self, markup: str) -> None:
        """A finished line (above the spinners on a terminal)."""
        if self.progress is not None:
            self.progress.console.print(markup, soft_wrap=True)
            return
        # not a terminal: no style to render, so the plain text goes out as it is (a build of a
        # thousand nodes prints two thousand lines, and rich's rendering of each costs more than the line)
        line = f"{datetime.now():%H:%M:%S}  {Text.from_markup(markup).plain}\n"
        with self._write_lock:
            self.console.file.write(line)
            self.console.file.flush()

    def start(self, key: object, markup: str) -> None:
        """Work ``key`` began: a spinner row on a terminal, else a line."""
        if self.progress is not None:
            self._tasks[key] = self.progress.add_task(markup, total=None)
        else:
            self.print(markup)

    def finish(self, key: object, markup: str) -> None:
        """Work ``key`` ended: its spinner row goes, ``markup`` stays."""
        task = self._tasks.pop(key, None)
        if task is not None:
            self.progress.remove_task(task)
        self.print(markup)


_STEP_STATUS = {"succeeded": "OK", "cancelled": "CANCELLED", "skipped": "SKIP"}


class JobSteps:
    """A plugin that shows a job's steps live (a template's own steps stay in the run log)."""

    def __init__(self, lines: LiveLines):
        self.lines = lines

    @hookimpl
    def step_started(self, context, step, record):
        if context.parent is None:
            text = f"{record.position} of {len(context.steps)} START {step.name}"
            self.lines.start(record.position, dotted(text, "RUN"))

    @hookimpl
    def step_finished(self, context, step, record):
        if context.parent is not None:
            return
        status = _STEP_STATUS.get(record.status, "ERROR")
        rows = record.rows_written
        rows = f", {rows:,} row{'s' if rows != 1 else ''}" if rows else ""
        text = f"{record.position} of {len(context.steps)} {status} {step.name}"
        self.lines.finish(record.position, dotted(text, status, f"in {record.duration or 0:.2f}s{rows}"))


class RowsProgress(_Shown):
    """``progress(rows, fraction=None)`` of a transfer: rows and rows/s as they move.

    On a terminal a bar (the share of the source read, when the engine says it) with the counts;
    otherwise a line at most every ``interval`` seconds.
    """

    def __init__(self, console: Console, name: str, interval: float):
        import time

        self.console, self.name, self.interval = console, name, interval
        self._clock = time.monotonic
        self._started = self._clock()
        self._last: float | None = None
        if console.is_terminal:  # NOTE: plain lines (a pipe, a log) need no bar, nor its import
            from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            self.progress = Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(),
                                     TextColumn("{task.fields[shown]}"), TimeElapsedColumn(),
                                     console=console, transient=True)  # fmt: skip
            self._task = self.progress.add_task(f"transfer {escape(name)}", total=None, shown="starting")

    def __call__(self, rows: int, fraction: float | None = None) -> None:
        elapsed = self._clock() - self._started
        if fraction is not None:
            shown = f"{fraction:.0%} of the source read"
        else:
            rate = f", {rows / elapsed:,.0f} rows/s" if elapsed > 0 else ""
            shown = f"{rows:,} rows{rate}"
        if self.progress is not None:
            total, done = (100, fraction * 100) if fraction is not None else (None, rows)
            self.progress.update(self._task, total=total, completed=done, shown=shown)
            return
        now = self._clock()
        if self._last is None or now - self._last >= self.interval:
            self._last = now
            self.console.print(
                f"{datetime.now():%H:%M:%S}  transfer {escape(self.name)}: {shown}", soft_wrap=True
            )
