"""Avro values in the Confluent wire format: a zero byte, the schema id (4 bytes, big-endian), the Avro body.

A Kafka store reads such values when it names where the schemas are: a Confluent-compatible schema
registry (option ``schema_registry_url``, asked ``GET /schemas/ids/{id}``, with
``schema_registry_username``/``schema_registry_password`` as secret references), or a folder of the
workspace holding ``<id>.avsc`` files (option ``schema_registry_dir``) where no registry runs. Each
message is decoded with the schema of its own id, fetched once per id. Writes frame the values with
option ``schema_id`` (its schema from the same place, or ``avro_schema``).
"""

from __future__ import annotations

import base64
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

from meshkit.core.errors import ConfigError, UserError
from meshkit.data.stores.base import StoreConnectionError, first_line

MAGIC = b"\0"


def frame(schema_id: int, body: bytes) -> bytes:
    """``body`` behind the wire-format header of ``schema_id``."""
    return MAGIC + schema_id.to_bytes(4, "big") + body


class Schemas:
    """The Avro schemas of a store's values by id, from its registry or schema folder (cached)."""

    def __init__(self, store):
        self.store = store
        self.url = store.options.get("schema_registry_url")
        self.folder = store.options.get("schema_registry_dir")
        self._parsed: dict[int, Any] = {}

    @property
    def configured(self) -> bool:
        return bool(self.url or self.folder)

    def split(self, value: bytes, where: str) -> tuple[Any, bytes]:
        """The parsed schema of a framed ``value`` and its Avro body."""
        if len(value) < 5 or value[:1] != MAGIC:
            raise UserError(f"A message of {where} is not in the schema-registry wire format (magic byte 0, schema id).",
                            hint=f"Produce through a schema-registry serializer, or drop the registry options of store `{self.store.name}`.")  # fmt: skip
        return self.schema(int.from_bytes(value[1:5], "big")), value[5:]

    def schema(self, schema_id: int):
        """The parsed Avro schema of ``schema_id``."""
        import fastavro

        if schema_id not in self._parsed:
            text = self._fetch(schema_id) if self.url else self._read(schema_id)
            try:
                self._parsed[schema_id] = fastavro.parse_schema(json.loads(text))
            except (ValueError, fastavro.schema.SchemaParseException) as exc:
                raise UserError(f"Schema {schema_id} of store `{self.store.name}` is not a valid Avro schema: {first_line(exc)}.",
                                hint="Register an Avro schema under that id.") from None  # fmt: skip
        return self._parsed[schema_id]

    def _read(self, schema_id: int) -> str:
        folder = Path(self.folder)
        if not folder.is_absolute() and self.store.meshkit is not None:
            folder = self.store.meshkit.workspace.root / folder
        path = folder / f"{schema_id}.avsc"
        if not path.is_file():
            raise UserError(f"No schema {schema_id} for store `{self.store.name}`: `{path}` does not exist.",
                            hint=f"Save the schema registered under id {schema_id} as {schema_id}.avsc in `{self.folder}`.")  # fmt: skip
        return path.read_text(encoding="utf-8")

    def _fetch(self, schema_id: int) -> str:
        url = f"{self.store.resolve(self.url).rstrip('/')}/schemas/ids/{schema_id}"
        request = urllib.request.Request(url, headers={"Accept": "application/vnd.schemaregistry.v1+json"})
        user = self.store.options.get("schema_registry_username")
        if user:
            secret = f"{self.store.resolve(user)}:{self.store.resolve(self.store.options.get('schema_registry_password', ''))}"
            request.add_header("Authorization", "Basic " + base64.b64encode(secret.encode()).decode())
        try:
            with urllib.request.urlopen(
                request, timeout=self.store.number_option("timeout", 10, (0.1, 3600), float)
            ) as response:  # noqa: S310 - the configured registry
                body = json.loads(response.read())
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                raise UserError(f"The schema registry of store `{self.store.name}` has no schema {schema_id}.",
                                hint="Check `schema_registry_url`: the messages name a schema it does not hold.") from None  # fmt: skip
            raise self._error(exc) from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise self._error(exc) from None
        if body.get("schemaType", "AVRO") != "AVRO" or "schema" not in body:
            raise UserError(f"Schema {schema_id} of store `{self.store.name}` is not an Avro schema.",
                            hint="Only Avro values are read through the schema registry.")  # fmt: skip
        return body["schema"]

    def _error(self, exc: BaseException) -> StoreConnectionError:
        return StoreConnectionError(f"The schema registry of store `{self.store.name}` did not answer: {self.store.redact(first_line(exc))}.",
                                    hint="Check `schema_registry_url` and its credentials.")  # fmt: skip


def check_options(store) -> None:
    """Registry options that contradict each other are a configuration error."""
    if store.options.get("schema_registry_url") and store.options.get("schema_registry_dir"):
        raise ConfigError(f"Store `{store.name}` sets both `schema_registry_url` and `schema_registry_dir`.",
                          hint="Keep one: the registry, or a folder of <id>.avsc files.")  # fmt: skip
    if "schema_id" in store.options and not isinstance(store.options["schema_id"], int):
        raise ConfigError(
            f"Store `{store.name}` option `schema_id` is not a number.",
            hint="Give the registered schema's id.",
        )
