"""The transfer spec: a YAML file shaped like Fybrik's BatchTransfer custom resource.

``kind: BatchTransfer`` copies an asset once (or on a schedule); ``kind: SyncTransfer`` takes the
same fields and consumes a stream continuously, batch by batch (``batchSize``).

``load_transfer`` parses the YAML keeping line numbers, so a validation error names the field
path and the file line (``transfers/orders.yaml:12: spec.destination.mode: ...``). The JSON Schema
published in ``docs/schemas/batchtransfer.schema.json`` is generated from these models.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from meshkit.core.specs import load_spec, parse_spec
from meshkit.data.stores.base import WriteMode

API_VERSIONS = ("meshkit.io/v1", "fybrik.io/v1")
SCHEMA_ID = "https://meshkit.dev/schemas/batchtransfer.schema.json"
_NAME = r"^[a-z0-9]([-a-z0-9_.]*[a-z0-9])?$"
_MEMORY = r"^\d+(\.\d+)?\s*([KMGT]i?B)$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)


def _data_asset_schema(schema: dict[str, Any]) -> None:
    schema["properties"]["dataAsset"] = {"type": "string", "description": "Fybrik's name for `asset`."}
    schema["required"] = [r for r in schema["required"] if r != "asset"]
    schema["oneOf"] = [{"required": ["asset"]}, {"required": ["dataAsset"]}]


class Endpoint(_Model):
    """One end of a transfer: a store and an asset in it."""

    model_config = ConfigDict(json_schema_extra=_data_asset_schema)

    store: str | dict[str, Any] = Field(
        description="A store name from meshkit.toml, a default store (warehouse, sqlite, postgres, mysql), a URL, "
        "or an inline store `{type: ..., options...}` whose credentials are references (secret:NAME, env:VAR, vaultPath)."
    )
    asset: str = Field(
        description="The table (`schema.table`) or file path in the store (Fybrik: `dataAsset`)."
    )
    format: Literal["parquet", "csv", "jsonl", "orc"] | None = Field(
        None, description="File format, for file stores."
    )

    @model_validator(mode="before")
    @classmethod
    def _fybrik_data_asset(cls, data):
        if isinstance(data, dict) and "dataAsset" in data and "asset" not in data:
            data = {**data, "asset": data["dataAsset"]}
            del data["dataAsset"]
        return data

    @field_validator("store")
    @classmethod
    def _store_has_type(cls, value):
        if isinstance(value, dict) and "type" not in value:
            raise ValueError("an inline store needs a `type`")
        return value


class Destination(Endpoint):
    """Where the data goes, and how it is written."""

    mode: WriteMode = Field(
        "append", description="append adds rows, overwrite replaces the asset, merge upserts on `keys`."
    )
    keys: list[str] = Field(default_factory=list, description="Key columns of `merge` (upsert) writes.")

    @model_validator(mode="after")
    def _merge_needs_keys(self):
        if self.mode == "merge" and not self.keys:
            raise ValueError("mode `merge` needs `keys` (the upsert key columns)")
        return self


class Transformation(_Model):
    """One transform applied on the way (Fybrik's Transformation)."""

    name: str | None = Field(None, description="A label shown in statuses and errors.")
    action: str = Field(
        description="RemoveColumn, Filter, Encrypt, Sample, Digest, Redact, Rename, Cast, or a plugin's."
    )
    columns: list[str] = Field(default_factory=list, description="The columns it applies to.")
    options: dict[str, Any] = Field(
        default_factory=dict, description="Options of the action (see the reference)."
    )


class Incremental(_Model):
    """Transfer only new rows: those past the high-water mark of a cursor column."""

    cursor: str = Field(description="A column that grows with new rows, such as `updated_at` or an id.")
    keys: list[str] = Field(
        default_factory=list,
        description="Columns identifying a row, to skip rows at the high-water mark already sent "
        "(default: the destination keys, else every column).",
    )


class Metadata(_Model):
    name: str = Field(
        pattern=_NAME, max_length=120, description="Unique name of the transfer in the workspace."
    )
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)


class BatchTransferSpec(_Model):
    source: Endpoint
    destination: Destination
    transformation: list[Transformation] = Field(
        default_factory=list, description="Transforms, applied in order."
    )
    incremental: Incremental | None = None
    engine: str | None = Field(None, description="The engine that runs the transfer: `duckdb` or an [engines.NAME] "
                               "of meshkit.toml (default: the `engine` config key).")  # fmt: skip
    schedule: str | None = Field(
        None, description="Cron schedule, run by the control service; none means on demand."
    )
    suspend: bool = Field(False, description="A suspended transfer is not scheduled.")
    max_failed_retries: int = Field(3, ge=0, le=100, alias="maxFailedRetries",
                                    description="Retries of transient failures before the run is Failed.")  # fmt: skip
    retry_backoff: float = Field(1.0, ge=0, le=3600, alias="retryBackoffSeconds",
                                 description="First wait between retries; it doubles on every retry.")  # fmt: skip
    successful_jobs_history_limit: int = Field(3, ge=0, le=1000, alias="successfulJobsHistoryLimit")
    failed_jobs_history_limit: int = Field(5, ge=0, le=1000, alias="failedJobsHistoryLimit")
    memory_limit: str | None = Field(None, pattern=_MEMORY, alias="memoryLimit",
                                     description="Memory the transfer may use, e.g. `1GB` (default: `transfer_memory_limit`).")  # fmt: skip
    batch_size: int = Field(10_000, ge=1, le=1_000_000, alias="batchSize",
                            description="SyncTransfer: most messages fetched, transformed and written at once.")  # fmt: skip
    batch_timeout: float = Field(1.0, gt=0, le=60, alias="batchTimeoutSeconds",
                                 description="SyncTransfer: longest wait for messages before a batch is cut.")  # fmt: skip

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value):
        if value is not None and len(value.split()) not in (5, 6) and not value.startswith("@"):
            raise ValueError(f"`{value}` is not a cron expression (five fields such as `0 * * * *`)")
        return value


class BatchTransfer(_Model):
    """A copy of one data asset from a source store to a destination store: once or scheduled
    (BatchTransfer), or continuously from a stream (SyncTransfer)."""

    api_version: Literal["meshkit.io/v1", "fybrik.io/v1"] = Field("meshkit.io/v1", alias="apiVersion")
    kind: Literal["BatchTransfer", "SyncTransfer"] = "BatchTransfer"
    metadata: Metadata
    spec: BatchTransferSpec

    @property
    def name(self) -> str:
        return self.metadata.name

    @property
    def is_sync(self) -> bool:
        return self.kind == "SyncTransfer"

    def kind_problem(self) -> tuple[tuple, str] | None:
        """The field (path) and problem of a field the kind does not allow, if any."""
        spec = self.spec
        if not self.is_sync:
            extra = spec.model_fields_set & {"batch_size", "batch_timeout"}
            if extra:
                alias = BatchTransferSpec.model_fields[sorted(extra)[0]].alias
                return ("spec", alias), f"`{alias}` applies to kind SyncTransfer only"
            return None
        if spec.destination.mode == "overwrite":
            why = "a SyncTransfer writes every batch: use mode append or merge"
            return ("spec", "destination", "mode"), why
        if spec.incremental is not None:
            why = "a SyncTransfer already reads only new messages: remove `incremental`"
            return ("spec", "incremental"), why
        return None


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a transfer file (published under ``docs/schemas/``)."""
    schema = BatchTransfer.model_json_schema(by_alias=True)
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", "$id": SCHEMA_ID, **schema}


def schema_text() -> str:
    return json.dumps(json_schema(), indent=2, sort_keys=False) + "\n"


# ---------------------------------------------------------------------------- loading


HINT = "See docs/reference/transfer-spec.md for the fields."


def parse_transfer(text: str, source: str = "<transfer>") -> BatchTransfer:
    """A transfer from YAML text; errors name ``source``, the line and the field."""
    return parse_spec(
        text, source, BatchTransfer, hint=HINT, check=BatchTransfer.kind_problem, problem="Malformed YAML"
    )


def load_transfer(path: str | Path) -> BatchTransfer:
    """Read and validate the transfer file at ``path``."""
    return load_spec(
        path, BatchTransfer, hint=HINT, check=BatchTransfer.kind_problem, problem="Malformed YAML"
    )
