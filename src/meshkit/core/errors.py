"""Error classes shared by every part of meshkit.

Every error says what happened, why, and what to do next. The class decides the CLI exit code:
``UserError`` 1, ``ConfigError`` 2, ``PlatformError`` 3. Retryability is part of the type: a
``TransientError`` may succeed when tried again, anything else will not.
"""

from __future__ import annotations


class MeshkitError(Exception):
    """Root of all meshkit errors."""

    exit_code = 3
    #: Run status recorded when this error ends a run.
    run_status = "platform_error"

    def __init__(self, message: str, *, hint: str | None = None, where: str | None = None):
        super().__init__(message)
        self.message = message
        self.hint = hint
        self.where = where

    def __str__(self) -> str:
        parts = [f"{self.where}: {self.message}" if self.where else self.message]
        if self.hint:
            parts.append(self.hint)
        return " ".join(parts)

    def __reduce__(self):
        return (_rebuild, (type(self), self.message, self.hint, self.where))


def _rebuild(cls, message, hint, where):
    return cls(message, hint=hint, where=where)


class UserError(MeshkitError):
    """Bad job code or bad data: the user can fix it."""

    exit_code = 1
    run_status = "user_error"


class ConfigError(MeshkitError):
    """Bad configuration, spec or command-line usage."""

    exit_code = 2
    run_status = "user_error"


class PlatformError(MeshkitError):
    """A failure of meshkit itself or of the infrastructure it talks to."""


class TransientError(PlatformError):
    """A failure that may go away when the operation is retried (lost connection, lock timeout)."""


class PluginError(ConfigError):
    """A plugin could not be loaded or does not match the hook specifications."""

    def __init__(self, message: str, *, plugin: str | None = None, **kw):
        super().__init__(message, **kw)
        self.plugin = plugin


class StoreError(PlatformError):
    """A store could not read or write data."""


class JobError(UserError):
    """A data job could not be loaded or one of its steps failed."""


class StepFailedError(JobError):
    """The user's own step code raised an exception.

    ``frames`` holds the user's frames only (file, line, function, source line), so the CLI can
    show them without meshkit's internals.
    """

    def __init__(self, message: str, *, step: str, frames: list[tuple[str, int, str, str]], cause_type: str):
        super().__init__(message, where=step)
        self.step = step
        self.frames = frames
        self.cause_type = cause_type

    def __reduce__(self):
        return (StepFailedError._rebuild, (self.message, self.step, self.frames, self.cause_type))

    @staticmethod
    def _rebuild(message, step, frames, cause_type):
        return StepFailedError(message, step=step, frames=frames, cause_type=cause_type)


class IngestionError(UserError):
    """Rows sent for ingestion could not all be written."""

    def __init__(self, message: str, *, failed_rows: int, total_rows: int, **kw):
        super().__init__(message, **kw)
        self.failed_rows = failed_rows
        self.total_rows = total_rows

    def __reduce__(self):
        return (IngestionError._rebuild, (self.message, self.failed_rows, self.total_rows, self.hint))

    @staticmethod
    def _rebuild(message, failed_rows, total_rows, hint):
        return IngestionError(message, failed_rows=failed_rows, total_rows=total_rows, hint=hint)
