"""What VDK's ``db_connection_*`` hooks receive: the operation, and a cursor that executes it."""

from __future__ import annotations

from collections.abc import Container
from typing import Any


class ManagedOperation:
    """An SQL operation and its parameters, which ``db_connection_before_operation`` may change."""

    def __init__(self, operation: str, parameters: Container | None):
        self._operation = operation
        self._parameters = parameters

    def get_operation(self) -> str:
        return self._operation

    def get_parameters(self) -> Container | None:
        return self._parameters

    def set_operation(self, operation: str) -> None:
        self._operation = operation

    def set_parameters(self, parameters: Container | None) -> None:
        self._parameters = parameters

    def get_operation_parameters_tuple(self) -> tuple[str, Container | None]:
        return self._operation, self._parameters


class ExecuteOperationResult:
    """What ``db_connection_execute_operation`` returns."""

    def __init__(self, result: Any):
        self.result = result

    def get_result(self) -> Any:
        return self.result


class ExecutionCursor:
    """The cursor ``db_connection_execute_operation`` executes the operation with.

    ``execute()`` runs on meshkit's managed cursor, so retries, lineage and row counts still apply;
    other attributes are those of the database's own cursor.
    """

    def __init__(self, cursor, operation: ManagedOperation):
        self._cursor = cursor
        self._operation = operation

    def get_managed_operation(self) -> ManagedOperation:
        return self._operation

    def execute(self, operation: str, parameters: Container | None = None) -> Any:
        self._cursor.operation, self._cursor.parameters = operation, parameters
        self._cursor.execute_native()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor._cursor, name)
