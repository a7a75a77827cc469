"""VDK's contexts (``CoreContext``, ``JobContext``), their state store and registries, over meshkit's.

What a plugin registers in ``initialize_job`` lands in meshkit's job context: templates run with
``execute_template``, connections open with ``execute_query(database=...)`` and ingesters are
ingestion methods (``method=``), for the run that is starting.
"""

from __future__ import annotations

import pathlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from meshkit.vdk.ingestion import IngesterTarget

if TYPE_CHECKING:
    from meshkit.job.context import JobContext as MeshkitJobContext
    from meshkit.vdk.config import Configuration
    from meshkit.vdk.plugin_registry import PluginRegistry

T = TypeVar("T")


class StoreKey(str, Generic[T]):
    """A key of the state store: ``StoreKey[str]("vdk.op_id")``."""


class ImmutableStoreKey(StoreKey[T]):
    """A key whose value cannot change once set."""


class CommonStoreKeys:
    OP_ID = StoreKey[str]("vdk.op_id")
    EXECUTION_ID = StoreKey[str]("vdk.execution_id")
    ATTEMPT_ID = StoreKey[str]("vdk.attempt_id")
    START_TIME = StoreKey[Any]("vdk.start_time")
    END_TIME = StoreKey[Any]("vdk.end_time")
    TEMPORARY_WRITE_DIRECTORY = StoreKey[str]("vdk.temporary_write_directory")


class ExecutionStateStoreKeys:
    JOB_NAME = StoreKey[str]("vdk.job_name")
    TEMPLATE_NAME = StoreKey[str]("vdk.template_name")


class StateStore:
    """State shared by plugins during a run: ``state.get(key)``, ``state.set(key, value)``."""

    def __init__(self, store: dict | None = None) -> None:
        self._store: dict = dict(store or {})

    def get(self, key: str, default: Any = None) -> Any:
        return self._store.get(key, default)

    def set(self, key: str, value: Any) -> None:
        if isinstance(key, ImmutableStoreKey) and key in self._store and self._store[key] != value:
            raise ValueError(f"State key `{key}` is immutable and already set.")
        self._store[key] = value

    def __getitem__(self, key: str) -> Any:
        return self._store[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.set(key, value)

    def __contains__(self, key: str) -> bool:
        return key in self._store

    def clone(self) -> StateStore:
        return StateStore(self._store)


@dataclass(frozen=True)
class CoreContext:
    """What ``vdk_initialize`` and ``vdk_exit`` receive."""

    plugin_registry: PluginRegistry
    configuration: Configuration
    state: StateStore

    def create_child_context(self) -> CoreContext:
        return CoreContext(self.plugin_registry, self.configuration, self.state.clone())


@dataclass
class Step:
    """A step a plugin adds with ``context.step_builder.add_step``: ``runner_func(step, job_input)`` runs it."""

    name: str
    type: str
    runner_func: Callable
    file_path: pathlib.Path
    job_dir: pathlib.Path
    parent: Any = None


@dataclass
class StepBuilder:
    steps: list[Step] = field(default_factory=list)

    def add_step(self, step: Step) -> None:
        self.steps.append(step)

    def get_steps(self) -> list[Step]:
        return list(self.steps)


class TemplateRegistry:
    """``context.templates``."""

    def __init__(self, job: MeshkitJobContext):
        self._job = job

    def add_template(self, name: str, template_directory: pathlib.Path, database: str = "default") -> None:
        """Make the data job in ``template_directory`` runnable with ``execute_template(name, ...)``."""
        self._job.templates[name] = pathlib.Path(template_directory)


class ConnectionRegistry:
    """``context.connections``."""

    def __init__(self, job: MeshkitJobContext):
        self._job = job

    def add_open_connection_factory_method(
        self, dbtype: str, open_connection_func: Callable[[], Any]
    ) -> None:
        """``open_connection_func()`` returns a PEP 249 connection; ``dbtype`` (any case) names it."""
        self._job.connections[dbtype.lower()] = open_connection_func

    def open_connection(self, dbtype: str):
        return self._job.job_input.get_managed_connection(dbtype)

    def open_default_connection(self):
        return self._job.job_input.get_managed_connection()


class IngesterRegistry:
    """``context.ingester``."""

    def __init__(self, job: MeshkitJobContext):
        self._job = job

    def add_ingester_factory_method(self, method: str, ingester_plugin: Callable[[], Any]) -> None:
        """``ingester_plugin()`` returns an ``IIngesterPlugin``; ``method`` (any case) names it."""
        self._job.ingesters[method.lower()] = IngesterTarget(method.lower(), ingester_plugin)

    def send_object_for_ingestion(self, *args, **kwargs) -> None:
        self._job.job_input.send_object_for_ingestion(*args, **kwargs)

    def send_tabular_data_for_ingestion(self, *args, **kwargs) -> None:
        self._job.job_input.send_tabular_data_for_ingestion(*args, **kwargs)


class JobContext:
    """What ``initialize_job``, ``run_job``, ``run_step`` and ``finalize_job`` receive."""

    def __init__(self, job: MeshkitJobContext, core_context: CoreContext):
        self.meshkit_context = job
        self.name = job.name
        self.job_directory = job.job_dir
        self.core_context = core_context
        self.step_builder = StepBuilder()
        self.templates = TemplateRegistry(job)
        self.connections = ConnectionRegistry(job)
        self.ingester = IngesterRegistry(job)
        self.job_input = job.job_input
        self.job_args = job.job_input

    @property
    def configuration(self) -> Configuration:
        return self.core_context.configuration
