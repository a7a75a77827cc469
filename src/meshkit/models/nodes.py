"""The objects a project is made of: relations, sources and nodes (models, seeds, snapshots, tests)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from meshkit.core.files import read_text

#: Seeds larger than this are identified by their path, not their content (as dbt does).
LARGE_SEED_BYTES = 1024 * 1024


def file_checksum(file: Path, rel: str, text: str | None = None) -> dict[str, str]:
    """dbt's checksum of a project file: sha256 of its text without surrounding whitespace; a seed over
    1 MiB by its path ``rel``. ``text`` is the file's text when already read."""
    if text is None:
        if file.suffix == ".csv" and file.stat().st_size > LARGE_SEED_BYTES:
            return {"name": "path", "checksum": rel}
        text = read_text(file)
    return {"name": "sha256", "checksum": hashlib.sha256(text.strip().encode()).hexdigest()}


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


@dataclass(frozen=True)
class Relation(Mapping):
    """A database relation, rendered ``"database"."schema"."identifier"`` as dbt-duckdb does.

    Like dbt's relations it is also a mapping (``relation.get('metadata')``), which macros test.
    """

    database: str | None
    schema: str
    identifier: str
    #: ``"table"``, ``"view"`` or ``None`` when unknown (dbt's ``relation.type``).
    type: str | None = field(default=None, compare=False)
    #: Which parts ``render`` writes (dbt's ``relation.include(...)``).
    include_database: bool = field(default=True, compare=False)
    include_schema: bool = field(default=True, compare=False)

    @property
    def name(self) -> str:
        return self.identifier

    @property
    def table(self) -> str:
        return self.identifier

    @property
    def is_table(self) -> bool:
        return self.type == "table"

    @property
    def is_view(self) -> bool:
        return self.type == "view"

    is_cte = False
    is_materialized_view = False

    def render(self) -> str:
        parts = [
            self.database if self.include_database else None,
            self.schema if self.include_schema else None,
            self.identifier,
        ]
        return ".".join(quote(p) for p in parts if p)

    def with_identifier(self, identifier: str) -> Relation:
        return Relation(self.database, self.schema, identifier)

    def include(
        self, database: bool | None = None, schema: bool | None = None, identifier: bool = True
    ) -> Relation:
        """dbt's ``relation.include``: the same relation rendered with or without its database/schema."""
        return replace(self, include_database=self.include_database if database is None else database,
                       include_schema=self.include_schema if schema is None else schema)  # fmt: skip

    def incorporate(self, path: dict[str, Any] | None = None, type: str | None = None, **_: Any) -> Relation:
        """dbt's ``relation.incorporate``: change parts of the path and the type."""
        path = {k: v for k, v in (path or {}).items() if v is not None}
        return replace(self, database=path.get("database", self.database), schema=path.get("schema", self.schema),
                       identifier=path.get("identifier", self.identifier), type=type or self.type)  # fmt: skip

    def quote(
        self, database: bool | None = None, schema: bool | None = None, identifier: bool | None = None
    ) -> Relation:
        return self

    @property
    def asset(self) -> str:
        """The name a store uses for it: ``table`` in ``main``, else ``schema.table``."""
        return self.identifier if self.schema == "main" else f"{self.schema}.{self.identifier}"

    def __str__(self) -> str:
        return self.render()

    def __html__(self) -> str:
        return self.render()

    _KEYS = ("path", "type", "metadata")

    def __getitem__(self, key: str) -> Any:
        if key == "metadata":
            return {"type": "DuckDBRelation"}
        if key == "path":
            return {"database": self.database, "schema": self.schema, "identifier": self.identifier}
        if key == "type":
            return self.type
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._KEYS)

    def __len__(self) -> int:
        return len(self._KEYS)


@dataclass(frozen=True)
class PendingRef(Relation):
    """``ref`` while the project loads: renders as a token replaced once every relation is final."""

    ref_name: str = ""

    def render(self) -> str:
        return f"\x00ref:{self.ref_name}\x00"


@dataclass(frozen=True)
class CteRelation(Relation):
    """An ephemeral model as its CTE (``__dbt__cte__name``)."""

    is_cte = True

    def render(self) -> str:
        return self.identifier


@dataclass
class Source:
    """A table declared under ``sources:``."""

    unique_id: str
    source_name: str
    name: str
    relation: Relation
    path: str
    description: str = ""
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    checks: list[dict[str, Any]] = field(default_factory=list)
    tests: list[Any] = field(default_factory=list)
    loaded_at_field: str | None = None
    freshness: dict[str, Any] | None = None


@dataclass
class Node:
    """A model, seed, snapshot, data test or unit test."""

    unique_id: str
    resource_type: str
    name: str
    package_name: str
    path: Path
    #: Path relative to the project root, used in messages and artifacts.
    original_file_path: str
    raw_code: str = ""
    config: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    columns: dict[str, dict[str, Any]] = field(default_factory=dict)
    fqn: list[str] = field(default_factory=list)
    relation: Relation | None = None
    #: Unique ids this node depends on (models, seeds, snapshots, sources).
    depends_on: list[str] = field(default_factory=list)
    #: ``(package or None, name)`` of each ``ref`` it makes.
    refs: list[tuple[str | None, str]] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)
    #: The SQL rendered at load time (``is_incremental()`` false), before ephemeral CTEs are added.
    rendered: str = ""
    #: The SQL that runs: ``rendered`` with ephemeral models inlined as CTEs.
    compiled: str = ""
    #: Line of the properties YAML entry, for messages: ``path:line``.
    yaml_where: str | None = None
    checks: list[dict[str, Any]] = field(default_factory=list)
    #: Tests: the generic test (``not_null``, ...), its arguments and the node it tests.
    test: dict[str, Any] | None = None
    #: Unit tests: the ``unit_tests:`` entry.
    unit: dict[str, Any] | None = None
    #: Line in ``raw_code`` where the SQL of a file starts (snapshot blocks start later).
    line_offset: int = 0
    #: Its Jinja reads ``execute`` or the database: rendered again when it runs.
    needs_execute: bool = False
    #: What the project configures, without defaults (dbt's ``unrendered_config``).
    unrendered_config: dict[str, Any] = field(default_factory=dict)
    #: dbt's checksum of its file (``{"name": "sha256", "checksum": ...}``).
    checksum: dict[str, str] = field(default_factory=lambda: {"name": "none", "checksum": ""})
    #: Unique ids of the macros its rendering called.
    macros: list[str] = field(default_factory=list)

    @property
    def materialized(self) -> str:
        return self.config.get("materialized", "view")

    @property
    def is_relational(self) -> bool:
        """Builds a relation in the database (not ephemeral, not a test)."""
        return self.resource_type in ("model", "seed", "snapshot") and self.materialized != "ephemeral"

    @property
    def fingerprint(self) -> str:
        """Changes when the rendered SQL or the config that shapes the build changes."""
        config = {k: v for k, v in sorted(self.config.items()) if k not in ("tags", "meta", "docs")}
        text = f"{self.rendered}\0{config!r}"
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    @property
    def context_model(self) -> dict[str, Any]:
        """``model`` in Jinja: the parts of the node macros usually read."""
        return {"name": self.name, "unique_id": self.unique_id, "resource_type": self.resource_type,
                "config": self.config, "original_file_path": self.original_file_path, "columns": self.columns,
                "tags": self.config.get("tags", []), "schema": self.relation.schema if self.relation else None,
                "alias": self.relation.identifier if self.relation else self.name, "fqn": self.fqn,
                "package_name": self.package_name, "path": self.original_file_path, "version": None,
                "database": self.relation.database if self.relation else None, "raw_code": self.raw_code}  # fmt: skip

    @property
    def ref_entries(self) -> list[dict[str, Any]]:
        """Its refs as dbt's manifest lists them."""
        return [{"name": name, "package": package, "version": None} for package, name in self.refs]

    @property
    def where(self) -> str:
        return self.original_file_path
