"""The statuses of a run, apart from the run records so the command line can name them cheaply."""

from typing import Literal, get_args

RunStatus = Literal[
    "submitted", "running", "succeeded", "cancelled", "skipped", "user_error", "platform_error"
]
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
FINAL_STATUSES = frozenset({"succeeded", "cancelled", "skipped", "user_error", "platform_error"})
