"""The store interface: where data lives.

Reading gives a ``pyarrow.RecordBatchReader``; writing takes one (or a table). A store reports the
technical schema of an asset (Arrow type and native type per column) so fidelity can be checked
end to end. SQL stores are also the managed connections of data jobs, and every store is an
ingestion target. Capabilities are class flags, not ``if store.type == ...`` branches.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

import pyarrow as pa

from meshkit.core.errors import ConfigError

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit

WriteMode = Literal["append", "overwrite", "merge"]
WRITE_MODES: tuple[str, ...] = get_args(WriteMode)

DataLike = pa.Table | pa.RecordBatchReader | pa.RecordBatch


@dataclass(frozen=True)
class ColumnSchema:
    """One column of an asset: Arrow type and the store's own type name."""

    name: str
    arrow_type: pa.DataType
    native_type: str
    nullable: bool = True

    def as_dict(self) -> dict[str, Any]:
        return {"name": self.name, "arrow_type": str(self.arrow_type), "native_type": self.native_type,
                "nullable": self.nullable}  # fmt: skip


@dataclass
class WriteResult:
    """What a write did."""

    rows: int
    bytes: int = 0


def as_reader(data: DataLike) -> pa.RecordBatchReader:
    """Any Arrow data as a ``RecordBatchReader``."""
    if isinstance(data, pa.RecordBatchReader):
        return data
    if isinstance(data, pa.RecordBatch):
        data = pa.Table.from_batches([data])
    if isinstance(data, pa.Table):
        return data.to_reader()
    raise TypeError(f"expected Arrow data, got {type(data).__name__}")


def url_path(url: str) -> str:
    """The path of a ``scheme:///path`` URL: ``x:///rel.db`` -> ``rel.db``, ``x:////abs.db`` -> ``/abs.db``."""
    rest = url.split("://", 1)[1]
    return rest[1:] if rest.startswith("/") else rest


def check_mode(mode: str, keys: Sequence[str] | None) -> None:
    if mode not in WRITE_MODES:
        raise ConfigError(f"Unknown write mode `{mode}`.", hint=f"Use one of: {', '.join(WRITE_MODES)}.")
    if mode == "merge" and not keys:
        raise ConfigError("Write mode `merge` needs key columns.", hint="Give `keys` (the upsert key columns).")


class Store(ABC):
    """Base of every store. Subclasses set ``type`` and implement the abstract methods."""

    #: The name used in ``[stores.NAME] type = ...`` and in URLs.
    type: ClassVar[str]
    #: URL schemes that select this store type (``postgresql://``, ``sqlite:///``).
    url_schemes: ClassVar[tuple[str, ...]] = ()
    #: The store runs SQL and gives a DB-API connection (a managed connection for jobs).
    SUPPORTS_SQL: ClassVar[bool] = False
    #: The store can upsert on keys (``merge`` write mode).
    SUPPORTS_MERGE: ClassVar[bool] = False

    def __init__(self, name: str, options: Mapping[str, Any], meshkit: Meshkit | None = None):
        self.name = name
        self.options = dict(options)
        self.meshkit = meshkit

    @classmethod
    def from_url(cls, url: str) -> dict[str, Any]:
        """Store options for ``url`` (overridden by stores that take URLs)."""
        return {"url": url}

    @abstractmethod
    def read(self, asset: str, columns: Sequence[str] | None = None, filter: str | None = None) -> pa.RecordBatchReader:
        """Stream ``asset``; ``columns`` projects, ``filter`` is a SQL predicate pushed down where possible."""

    @abstractmethod
    def write(self, asset: str, data: DataLike, mode: WriteMode = "append", keys: Sequence[str] | None = None,
              evolve: bool = True) -> WriteResult:  # fmt: skip
        """Write all of ``data`` or nothing. ``evolve`` creates the asset and adds new columns as needed."""

    @abstractmethod
    def schema(self, asset: str) -> list[ColumnSchema]:
        """The technical schema of ``asset``."""

    @abstractmethod
    def list_assets(self) -> list[str]:
        """Names of the assets (tables, files) in this store."""

    def exists(self, asset: str) -> bool:
        return asset in self.list_assets()

    def connect(self):
        """A DB-API 2.0 connection (SQL stores only)."""
        raise ConfigError(f"Store `{self.name}` ({self.type}) does not run SQL.", hint="Use a database store.")

    def close(self) -> None:
        """Release connections."""

    def describe(self) -> dict[str, Any]:
        """Options safe to show: references such as ``secret:NAME`` are shown, never their values."""
        return {"name": self.name, "type": self.type, **self.options}
