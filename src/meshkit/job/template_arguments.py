"""Arguments of the built-in templates: pydantic models that check them and derive the script's placeholders.

Imported when a template runs, so that loading the templates plugin imports no pydantic.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator, model_validator

from meshkit.core.errors import UserError
from meshkit.job.templates import STANDARD, Dialect


def _columns(value: Any) -> Any:
    """Accept a list or a comma-separated string (as given with ``--arg``)."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class LoadArguments(BaseModel):
    """Arguments every template takes: where the rows come from and where they go."""

    model_config = ConfigDict(extra="allow")

    source_view: str
    target_table: str
    #: Omitted schemas mean the connection's default schema (``main`` in DuckDB, ``public`` in PostgreSQL).
    source_schema: str | None = None
    target_schema: str | None = None

    def placeholders(self, dialect: Dialect = STANDARD) -> dict[str, Any]:
        return {
            "source": dialect.qualified(self.source_schema, self.source_view),
            "target": dialect.qualified(self.target_schema, self.target_table),
        }


class PeriodicSnapshotArguments(LoadArguments):
    #: The timestamp column that tells which snapshot period a row belongs to.
    last_arrival_ts: str

    def placeholders(self, dialect: Dialect = STANDARD) -> dict[str, Any]:
        return {
            **super().placeholders(dialect),
            "last_arrival_ts_column": dialect.quote(self.last_arrival_ts),
        }


class Scd2Arguments(LoadArguments):
    id_column: str
    value_columns: list[str]
    #: Columns whose change opens a new version (default: all value columns).
    tracked_columns: list[str] | None = None
    updated_at_column: str = "updated_at"
    sk_column: str = "sk"
    active_from_column: str = "active_from"
    active_to_column: str = "active_to"
    active_to_max_value: str = "9999-12-31"

    @field_validator("value_columns", "tracked_columns", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return _columns(value)

    @model_validator(mode="after")
    def _check_columns(self) -> Scd2Arguments:
        if not self.value_columns:
            raise ValueError("value_columns must name at least one column")
        tracked = self.tracked_columns if self.tracked_columns is not None else self.value_columns
        if not tracked:
            raise ValueError("tracked_columns must name at least one column")
        unknown = [c for c in tracked if c not in self.value_columns]
        if unknown:
            raise ValueError(f"tracked_columns {unknown} are not among value_columns")
        self.tracked_columns = tracked
        return self

    def placeholders(self, dialect: Dialect = STANDARD) -> dict[str, Any]:
        quote = dialect.quote
        values = [quote(c) for c in self.value_columns]
        lags = [f"LAG({quote(c)}) OVER w AS _mk_prev_{i}" for i, c in enumerate(self.tracked_columns)]
        same = [dialect.same.format(quote(c), f"_mk_prev_{i}") for i, c in enumerate(self.tracked_columns)]
        match = [dialect.same.format(f"t.{q}", f"n.{q}") for q in values]
        return {
            **super().placeholders(dialect),
            "id": quote(self.id_column),
            "sk": quote(self.sk_column),
            "updated_at": quote(self.updated_at_column),
            "active_from": quote(self.active_from_column),
            "active_to": quote(self.active_to_column),
            "active_to_max": "'" + self.active_to_max_value.replace("'", "''") + "'",
            "values": ", ".join(values),
            "previous_tracked_values": ", ".join(lags),
            "same_as_previous": " AND ".join(same),
            "same_values": " AND ".join(match),
        }


#: Argument models of the built-in templates.
ARGUMENTS: dict[str, type[LoadArguments]] = {
    "scd1": LoadArguments,
    "scd2": Scd2Arguments,
    "periodic_snapshot": PeriodicSnapshotArguments,
    "insert": LoadArguments,
}


def validate_arguments(template: str, args: dict[str, Any], dialect: Dialect = STANDARD) -> dict[str, Any]:
    """The placeholders of ``template`` for ``args`` in ``dialect``; a UserError naming a missing or
    bad argument."""
    model = ARGUMENTS[template]
    try:
        parsed = model(**args)
    except ValidationError as exc:
        error = exc.errors()[0]
        field = ".".join(str(p) for p in error["loc"])
        required = [name for name, info in model.model_fields.items() if info.is_required()]
        if error["type"] == "missing":
            message = f"Template `{template}` needs the argument `{field}`."
        elif field:
            message = f"Template `{template}`: argument `{field}` is invalid: {error['msg']}."
        else:
            message = f"Template `{template}`: {error['msg'].removeprefix('Value error, ')}."
        raise UserError(
            message, where=f"template {template}", hint=f"Required arguments: {', '.join(required)}."
        ) from None
    return parsed.placeholders(dialect)
