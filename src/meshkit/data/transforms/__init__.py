"""Transforms: one implementation used by transfers, governance obligations and the query path.

Build them from specs (``{action, columns, options, name}``, as in a transfer's
``spec.transformation``) with ``build_transforms``; then either compile the chain to one sqlglot
``SELECT`` that an engine renders in its dialect with ``compile_select``, or run it on Arrow
batches with ``apply_transforms`` / ``transform_reader``. All give the same rows. ``column_tags`` says which transform touched
which column, for statuses and lineage. Transform classes come from the ``register_transforms``
hook, so a plugin can add its own.

>>> import pyarrow as pa
>>> chain = build_transforms([{"action": "Digest", "columns": ["email"], "options": {"algo": "md5"}}])
>>> apply_transforms(chain, pa.record_batch({"email": ["a@b.c"]})).column(0).to_pylist()
['5d60d4e28066df254d5452f92c910092']
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
from sqlglot import exp

from meshkit.core.errors import ConfigError
from meshkit.core.lazy import lazy_exports
from meshkit.data.transforms.base import Transform, Udf, quote

__all__ = [
    "BUILTIN_TRANSFORMS", "DIGEST_ALGORITHMS", "REDACT_MODES", "Cast", "Digest", "Encrypt", "Filter", "Redact",
    "RemoveColumn", "Rename", "Sample", "Transform", "apply_transforms", "build_transforms", "column_sources", "column_tags",
    "compile_expression", "compile_select", "decrypt", "output_schema", "quote", "transform_reader", "transform_types",
]  # fmt: skip

#: The built-in transforms, in this order; their modules (and ``cryptography``) load on first use, so a
#: transfer that transforms nothing never imports them.
_BUILTINS = {"RemoveColumn": "columns", "Filter": "rows", "Encrypt": "encrypt", "Sample": "rows", "Digest": "masking",
             "Redact": "masking", "Rename": "columns", "Cast": "columns"}  # fmt: skip
_load = lazy_exports(__name__, {**_BUILTINS, "decrypt": "encrypt", "DIGEST_ALGORITHMS": "masking",
                                "REDACT_MODES": "masking"})  # fmt: skip


def builtin_transforms() -> tuple[type[Transform], ...]:
    """The built-in transform classes (``BUILTIN_TRANSFORMS``), imported now."""
    return tuple(_load(name) for name in _BUILTINS)


def __getattr__(name: str) -> Any:
    return builtin_transforms() if name == "BUILTIN_TRANSFORMS" else _load(name)


def transform_types(meshkit=None) -> dict[str, type[Transform]]:
    """``{action: class}`` from every plugin's ``register_transforms`` (built-ins without ``meshkit``)."""
    if meshkit is None:
        return {cls.action: cls for cls in builtin_transforms()}
    return meshkit.registry("transforms")


def _field(spec: Any, key: str) -> Any:
    return spec.get(key) if isinstance(spec, Mapping) else getattr(spec, key, None)


def build_transforms(specs: Iterable[Any], *, meshkit=None, where: str = "transformation") -> list[Transform]:
    """Transform objects for specs (mappings or objects with ``action``, ``columns``, ``options``, ``name``).

    Key references in options (``secret:NAME``) are resolved through ``meshkit`` when given.
    """
    types = transform_types(meshkit)
    resolve = meshkit.resolve if meshkit is not None else None
    out = []
    for i, spec in enumerate(specs):
        action = _field(spec, "action")
        cls = types.get(action)
        if cls is None:
            close = difflib.get_close_matches(str(action), types, n=1)
            hint = f"Did you mean `{close[0]}`?" if close else f"Use one of: {', '.join(sorted(types))}."
            raise ConfigError(
                f"Unknown transform action `{action}`.", where=f"{where}[{i}].action", hint=hint
            )
        try:
            out.append(
                cls(
                    _field(spec, "columns") or [],
                    _field(spec, "options") or {},
                    _field(spec, "name"),
                    resolve=resolve,
                )
            )
        except ConfigError as exc:
            raise ConfigError(exc.message, where=f"{where}[{i}]", hint=exc.hint) from None
    return out


def _empty(schema: pa.Schema) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=schema)


def output_schema(transforms: Sequence[Transform], schema: pa.Schema) -> pa.Schema:
    """Check every transform against the schema it receives; the schema the chain gives."""
    for transform in transforms:
        transform.check(schema)
        schema = transform.apply(_empty(schema)).schema
    return schema


def compile_expression(
    transforms: Sequence[Transform], relation: exp.Expression, schema: pa.Schema
) -> exp.Select:
    """One sqlglot ``SELECT`` applying ``transforms`` to ``relation`` (a table or subquery of ``schema``)."""
    source = relation
    query = exp.select("*").from_(source)
    for i, transform in enumerate(transforms):
        transform.check(schema)
        query = transform.select(source, schema)
        source = query.subquery(f"_t{i + 1}")
        schema = transform.apply(_empty(schema)).schema
    return query


#: Stands for the relation in the compiled tree; the rendered SQL gets the relation's own SQL there.
_RELATION = "__mk_relation__"
_RELATION_RENDERED = re.compile(rf"[`\"]?{_RELATION}[`\"]?")


def compile_select(transforms: Sequence[Transform], relation: str, schema: pa.Schema, engine=None) -> str:
    """One ``SELECT`` applying ``transforms`` to ``relation`` (of ``schema``), in ``engine``'s dialect.

    ``relation`` is SQL to put after ``FROM``, already in the engine's dialect. ``engine``
    (:class:`meshkit.engines.Engine`) is where the ``SELECT`` runs: it renders the expression and
    registers the UDFs the chain needs (it is required when any transform has one). Without it the
    ``SELECT`` is DuckDB's.
    """
    query = compile_expression(transforms, exp.to_table(_RELATION), schema)
    udfs: list[Udf] = []
    for transform in transforms:
        udfs += transform.udfs(schema)
        schema = transform.apply(_empty(schema)).schema
    if udfs and engine is None:
        raise ConfigError("The transforms need an engine to register their functions on.")
    for udf in udfs:
        engine.register_udf(udf)
    sql = engine.sql(query) if engine is not None else query.sql(dialect="duckdb")
    return _RELATION_RENDERED.sub(lambda _: relation, sql, count=1)


def apply_transforms(transforms: Sequence[Transform], batch: pa.RecordBatch) -> pa.RecordBatch:
    """``transforms`` applied in order to one Arrow batch."""
    for transform in transforms:
        batch = transform.apply(batch)
    return batch


def transform_reader(transforms: Sequence[Transform], reader: pa.RecordBatchReader) -> pa.RecordBatchReader:
    """A reader giving ``reader``'s batches with ``transforms`` applied (checked before any batch)."""
    if not transforms:
        return reader
    schema = output_schema(transforms, reader.schema)

    def batches():
        for batch in reader:
            out = apply_transforms(transforms, batch)
            yield out if out.schema == schema else out.cast(schema)

    return pa.RecordBatchReader.from_batches(schema, batches())


def column_tags(transforms: Sequence[Transform], schema: pa.Schema) -> dict[str, list[str]]:
    """``{output column: [labels]}``: which transform touched which column (``*`` for rows)."""
    tags: dict[str, list[str]] = {}
    for transform in transforms:
        transform.check(schema)
        renames = transform.renames()
        tags = {renames.get(k, k): v for k, v in tags.items()}
        for column, label in transform.tags(schema).items():
            tags.setdefault(column, []).append(label)
        schema = transform.apply(_empty(schema)).schema
    return tags


def column_sources(transforms: Sequence[Transform], names: Sequence[str]) -> dict[str, str]:
    """``{column after the chain: source column}`` for the source ``names`` it carries (following renames)."""
    sources = {name: name for name in names}
    for transform in transforms:
        renames = transform.renames()
        sources = {renames.get(k, k): v for k, v in sources.items()}
    return sources
