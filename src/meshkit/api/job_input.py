"""``IJobInput``: what a data job step receives, with VDK's method names and meanings.

``from vdk.api.job_input import IJobInput`` resolves to this class when VDK is not installed, so
existing VDK jobs run unchanged. The meshkit additions (``query``, ``ingest``) take and return
Arrow, pandas or polars tables directly.
"""

from __future__ import annotations

import pathlib
from abc import ABC, abstractmethod
from typing import Any


class IProperties(ABC):
    @abstractmethod
    def get_property(self, name: str, default_value: Any = None) -> Any:
        """The job property ``name`` or ``default_value``."""

    @abstractmethod
    def get_all_properties(self) -> dict:
        """All job properties."""

    @abstractmethod
    def set_all_properties(self, properties: dict) -> None:
        """Replace all job properties with ``properties``."""


class ISecrets(ABC):
    @abstractmethod
    def get_secret(self, name: str, default_value: Any = None) -> Any:
        """The job secret ``name`` or ``default_value`` (never logged)."""

    @abstractmethod
    def get_all_secrets(self) -> dict:
        """All job secrets."""

    @abstractmethod
    def set_all_secrets(self, secrets: dict) -> None:
        """Replace all job secrets with ``secrets``."""


class IManagedConnection(ABC):
    @abstractmethod
    def execute_query(self, query: str, database: str | None = None) -> list[tuple]:
        """Run ``query`` on the managed connection (``database`` picks another store); returns the rows.

        ``{name}`` placeholders are replaced by job arguments, execution properties, then job properties.
        """

    @abstractmethod
    def get_managed_connection(self, database: str | None = None):
        """A PEP 249 connection (works with ``pandas.read_sql``)."""


class IIngester(ABC):
    @abstractmethod
    def send_object_for_ingestion(self, payload: dict, destination_table: str | None = None, method: str | None = None,
                                  target: str | None = None, collection_id: str | None = None) -> None:  # fmt: skip
        """Queue one record (a dict) for ``destination_table``."""

    @abstractmethod
    def send_tabular_data_for_ingestion(self, rows: Any, column_names: list, destination_table: str | None = None,
                                        method: str | None = None, target: str | None = None,
                                        collection_id: str | None = None) -> None:  # fmt: skip
        """Queue rows (an iterable of sequences, a DataFrame or an Arrow table) for ``destination_table``."""


class ITemplate(ABC):
    @abstractmethod
    def execute_template(self, template_name: str, template_args: dict, database: str | None = None):
        """Run the template job ``template_name`` with ``template_args`` as its arguments."""


class IJobArguments(ABC):
    @abstractmethod
    def get_arguments(self) -> dict:
        """The arguments the job was started with."""


class IJobInput(IProperties, ISecrets, IManagedConnection, IIngester, ITemplate, IJobArguments):
    """Everything a step's ``run(job_input)`` can use."""

    @abstractmethod
    def get_name(self) -> str:
        """The job name."""

    @abstractmethod
    def get_job_directory(self) -> pathlib.Path:
        """The folder holding the job's steps."""

    @abstractmethod
    def get_execution_properties(self) -> dict:
        """Facts about this execution: ``pa__execution_id``, ``pa__job_start_unixtime``, ..."""

    @abstractmethod
    def get_temporary_write_directory(self) -> pathlib.Path:
        """A folder the step may write scratch files to."""

    @abstractmethod
    def skip_remaining_steps(self) -> None:
        """Finish the job successfully after the current step."""
