"""The store interface: where data lives.

Reading gives a ``pyarrow.RecordBatchReader``; writing takes one (or a table). A store reports the
technical schema of an asset (Arrow type and native type per column) so fidelity can be checked
end to end. SQL stores are also the managed connections of data jobs, and every store is an
ingestion target. Capabilities are class flags, not ``if store.type == ...`` branches.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Literal, get_args

import pyarrow as pa

from meshkit.core.config import convert
from meshkit.core.errors import ConfigError, TransientError, UserError
from meshkit.core.redaction import MASK, strip_credentials
from meshkit.core.references import is_reference, resolve
from meshkit.core.retry import retrying

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


def canonical_type(arrow_type: pa.DataType) -> pa.DataType:
    """``arrow_type`` as stores that keep instants return it: time zones as UTC, list items named ``item``."""
    t = pa.types
    if t.is_timestamp(arrow_type) and arrow_type.tz:
        return pa.timestamp(arrow_type.unit, tz="UTC")
    if t.is_list(arrow_type) or t.is_large_list(arrow_type):
        make = pa.list_ if t.is_list(arrow_type) else pa.large_list
        return make(pa.field("item", canonical_type(arrow_type.value_type), arrow_type.value_field.nullable))
    if t.is_struct(arrow_type):
        return pa.struct([f.with_type(canonical_type(f.type)) for f in arrow_type])
    return arrow_type


def cast_reader(reader: pa.RecordBatchReader, schema: pa.Schema) -> pa.RecordBatchReader:
    """``reader`` with every batch cast to ``schema`` (returned as is when the schemas already match)."""
    if reader.schema.equals(schema):
        return reader

    def batches():
        for batch in reader:
            yield batch.cast(schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def url_path(url: str) -> str:
    """The path of a ``scheme:///path`` URL: ``x:///rel.db`` -> ``rel.db``, ``x:////abs.db`` -> ``/abs.db``."""
    rest = url.split("://", 1)[1]
    return rest[1:] if rest.startswith("/") else rest


def check_mode(mode: str, keys: Sequence[str] | None) -> None:
    if mode not in WRITE_MODES:
        raise ConfigError(f"Unknown write mode `{mode}`.", hint=f"Use one of: {', '.join(WRITE_MODES)}.")
    if mode == "merge" and not keys:
        raise ConfigError(
            "Write mode `merge` needs key columns.", hint="Give `keys` (the upsert key columns)."
        )


def check_keys(asset: str, schema: pa.Schema, keys: Sequence[str] | None) -> None:
    """Merge keys must be columns of the data written."""
    missing = [k for k in keys or () if k not in schema.names]
    if missing:
        raise UserError(f"Merge key column(s) {', '.join(missing)} are not in the data written to `{asset}`.",
                        hint=f"Columns written: {', '.join(schema.names)}.")  # fmt: skip


class StoreConnectionError(TransientError):
    """A store could not be reached after every retry (refused, timed out, connection lost)."""


def unsupported_column(store: Store, field: pa.Field, why: str = "") -> UserError:
    """The error for a column ``store`` cannot hold, raised before anything is written."""
    return UserError(
        f"Column `{field.name}` has type {field.type}, which store `{store.name}` ({store.type}) cannot hold{why}.",
        hint=f"Add a Cast of `{field.name}` (for example to string) before writing it to this store.",
    )


class MissingAssetError(UserError):
    """An asset that was read (or merged into) does not exist in its store."""


def missing_asset(store: Store, asset: str) -> MissingAssetError:
    return MissingAssetError(
        f"Asset `{asset}` does not exist in store `{store.name}` ({store.type}).",
        hint=f"Check the name; `meshkit store assets {store.name}` lists what exists.",
    )


def with_retries(attempt: Callable[[], Any], *, is_transient: Callable[[BaseException], bool], retries: int,
                 backoff: float, what: str) -> Any:  # fmt: skip
    """``attempt()``, retried with exponential backoff (:func:`meshkit.core.retry.retrying`) while it
    fails with an error ``is_transient`` accepts.

    When the tries run out the last error becomes a :class:`StoreConnectionError` saying ``what``
    failed; errors that are not transient propagate at once.
    """
    tries = 0

    def counted() -> Any:
        nonlocal tries
        tries += 1
        return attempt()

    def transient(exc: BaseException) -> StoreConnectionError | None:
        if not is_transient(exc):
            return None
        return StoreConnectionError(f"{what} failed after {tries} attempt(s): {first_line(exc)}.",
                                    hint="Check that the server is up and reachable; the operation can be retried.")  # fmt: skip

    return retrying(counted, retries=retries, backoff=backoff, transient=transient)


def declared_schema(store: Store) -> pa.Schema | None:
    """The Arrow schema of ``store``'s ``schema`` option (``{column = "SQL type"}``), ``None`` without one."""
    declared = store.options.get("schema")
    if declared is None:
        return None
    from meshkit.data.transforms.columns import duckdb_type_to_arrow

    try:
        return pa.schema([(name, duckdb_type_to_arrow(sql)) for name, sql in dict(declared).items()])
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"Store `{store.name}` option `schema` is not valid: {first_line(exc)}.",
                          hint='Give `{column = "SQL type"}` such as `{id = "BIGINT", amount = "DECIMAL(12, 2)"}`.') from None  # fmt: skip


def first_line(exc: BaseException) -> str:
    """The first line of an exception's message, without trailing punctuation."""
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__).rstrip(".")


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
    #: The store is a stream a SyncTransfer consumes (``fetch`` gives batches to acknowledge).
    IS_STREAM: ClassVar[bool] = False
    #: Option names whose values are credentials (masked by ``describe``).
    SECRET_OPTIONS: ClassVar[tuple[str, ...]] = (
        "password",
        "secret_key",
        "access_key",
        "token",
        "session_token",
        "credential",
        "dsn",
        "url",
    )

    def __init__(self, name: str, options: Mapping[str, Any], meshkit: Meshkit | None = None):
        self.name = name
        self.options = dict(options)
        self.meshkit = meshkit

    @classmethod
    def from_url(cls, url: str) -> dict[str, Any]:
        """Store options for ``url`` (overridden by stores that take URLs)."""
        return {"url": url}

    @abstractmethod
    def read(
        self, asset: str, columns: Sequence[str] | None = None, filter: str | None = None
    ) -> pa.RecordBatchReader:
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

    def check_schema(self, schema: pa.Schema) -> None:  # noqa: B027 - optional for subclasses
        """Raise (naming the column) if this store cannot hold a column of ``schema``; called before writing."""

    def local_paths(self, asset: str) -> list[str]:
        """The local files and folders that reading or writing ``asset`` touches (none for a remote store)."""
        return []

    def exists(self, asset: str) -> bool:
        return asset in self.list_assets()

    def connect(self):
        """A DB-API 2.0 connection (SQL stores only)."""
        raise ConfigError(
            f"Store `{self.name}` ({self.type}) does not run SQL.", hint="Use a database store."
        )

    def close(self) -> None:  # noqa: B027 - optional for subclasses
        """Release connections."""

    def describe(self) -> dict[str, Any]:
        """Options safe to show: references such as ``secret:NAME`` are shown, never their values."""
        return {"name": self.name, "type": self.type, **shown_options(self.options, self.SECRET_OPTIONS)}

    def number_option(self, key: str, default: float, bounds: tuple[float, float], type: type = int) -> Any:
        """Option ``key`` as a number within ``bounds`` (``default`` when unset); else a ConfigError naming it."""
        what = f"Option `{key}` of store `{self.redact(self.name)}`"
        return convert(self.options.get(key, default), type, bounds, what)

    def resolve(self, value: Any) -> Any:
        """A credential reference (``env:``, ``secret:``, ``vaultPath``) resolved in memory, never stored."""
        if self.meshkit is not None:
            return self.meshkit.resolve(value)
        return resolve(value)

    def redact(self, text: str) -> str:
        """``text`` with resolved secrets and URL passwords masked."""
        if self.meshkit is not None:
            return self.meshkit.redactor.redact(text)
        from meshkit.core.redaction import Redactor

        return Redactor().redact(text)


def shown_options(options: Mapping[str, Any], secret: Sequence[str] = Store.SECRET_OPTIONS) -> dict[str, Any]:
    """Store ``options`` safe to show or store: literal credentials among ``secret`` masked."""
    return {k: _masked(v) if k in secret else v for k, v in options.items()}


def _masked(value: Any) -> Any:
    """References are safe to show; literal credentials are not (URLs keep all but their password)."""
    if isinstance(value, dict) or is_reference(value):
        return value
    if isinstance(value, str) and "://" in value:
        return strip_credentials(value, MASK)
    return MASK if value else value
