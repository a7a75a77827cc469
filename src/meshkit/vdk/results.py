"""``vdk.internal.builtin_plugins.run.execution_results``: how a job, template or step ended."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from meshkit.core.errors import PlatformError, UserError


class ExecutionStatus(str, enum.Enum):
    SUCCESS = "success"
    NOT_RUNNABLE = "not_runnable"
    ERROR = "error"
    SKIP_REQUESTED = "skip_requested"


class ResolvableBy(str, enum.Enum):
    """Who can fix a failure: VDK's names of meshkit's user and platform errors."""

    USER_ERROR = "User Error"
    PLATFORM_ERROR = "Platform Service Error"


def blamee_of(exception: BaseException | None) -> ResolvableBy | None:
    """Who can fix ``exception``: the platform for a meshkit platform error, else the user."""
    if exception is None:
        return None
    return ResolvableBy.PLATFORM_ERROR if isinstance(exception, PlatformError) else ResolvableBy.USER_ERROR


@dataclass(frozen=True)
class StepResult:
    """How one step ended."""

    name: str
    type: str
    start_time: datetime
    end_time: datetime
    status: ExecutionStatus
    details: str | None
    exception: BaseException | None = None
    blamee: ResolvableBy | None = None


class ExecutionResult:
    """How a job or template run ended, with VDK's API (``is_failed()``, ``get_exception_to_raise()``...)."""

    def __init__(self, data_job_name: str, execution_id: str, start_time: datetime, end_time: datetime,
                 status: ExecutionStatus, steps_list: list[StepResult], exception: BaseException | None,
                 blamee: ResolvableBy | None):  # fmt: skip
        self.data_job_name = data_job_name
        self.execution_id = execution_id
        self.start_time = start_time
        self.end_time = end_time
        self.status = status
        self.steps_list = steps_list
        self.exception = exception
        self.blamee = blamee

    def is_failed(self) -> bool:
        return self.status == ExecutionStatus.ERROR

    def is_success(self) -> bool:
        return self.status == ExecutionStatus.SUCCESS

    def get_exception_to_raise(self) -> BaseException | None:
        """The exception the run failed with: its own, else the first step's (``None`` if it succeeded)."""
        if self.exception is not None:
            return self.exception
        failed = next((s.exception for s in self.steps_list if s.exception is not None), None)
        if failed is None and self.is_failed():
            return UserError(f"Data job `{self.data_job_name}` failed for no reported reason.")
        return failed

    def get_exception(self) -> BaseException | None:
        """Deprecated in VDK in favour of :meth:`get_exception_to_raise`."""
        return self.get_exception_to_raise()

    def get_details(self) -> str:
        exception = self.get_exception_to_raise()
        while exception is not None and exception.__cause__ is not None:
            exception = exception.__cause__
        return str(exception)

    def get_blamee(self) -> ResolvableBy | None:
        return self.blamee or blamee_of(self.get_exception_to_raise())

    def __repr__(self) -> str:
        return (f"ExecutionResult(data_job_name={self.data_job_name!r}, execution_id={self.execution_id!r}, "
                f"status={self.status.value!r}, steps={[s.name for s in self.steps_list]})")  # fmt: skip
