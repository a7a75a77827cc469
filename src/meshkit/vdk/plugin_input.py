"""``vdk.api.plugin.plugin_input``: the interfaces a VDK plugin implements or registers with."""

from __future__ import annotations

from typing import Any, NewType


class IIngesterPlugin:
    """An ingestion method (``ingest_payload``) or a payload processor (``pre_ingest_process``,
    ``post_ingest_process``), registered with ``context.ingester.add_ingester_factory_method``.

    Processors run in the order of ``INGEST_PAYLOAD_PREPROCESS_SEQUENCE`` and
    ``INGEST_PAYLOAD_POSTPROCESS_SEQUENCE`` (comma-separated method names).
    """

    IngestionMetadata = NewType("IngestionMetadata", dict)
    UPDATED_DYNAMIC_PARAMS = "updated_dynamic_params"
    TARGET_KEY = "target"
    DESTINATION_TABLE_KEY = "destination_table"
    COLLECTION_ID_KEY = "collection_id"

    def ingest_payload(self, payload: list[dict], destination_table: str | None, target: str | None = None,
                       collection_id: str | None = None, metadata: dict | None = None) -> dict | None:  # fmt: skip
        """Write ``payload`` (rows as dicts); return metadata for the post-processors."""

    def pre_ingest_process(self, payload: list[dict], destination_table: str | None = None, target: str | None = None,
                           collection_id: str | None = None, metadata: dict | None = None,
                           method: str | None = None) -> tuple[list[dict], dict | None]:  # fmt: skip
        """Return the payload to ingest and the metadata; ``metadata[UPDATED_DYNAMIC_PARAMS]`` may change
        ``destination_table``."""
        return payload, metadata

    def post_ingest_process(self, payload: list[dict] | None = None, destination_table: str | None = None,
                            target: str | None = None, collection_id: str | None = None, metadata: dict | None = None,
                            exception: Exception | None = None, method: str | None = None) -> dict | None:  # fmt: skip
        """Called after the payload was written, or failed (``exception``)."""
        return metadata


class ITemplateRegistry:
    """``context.templates``: ``add_template(name, template_directory, database="default")``."""


class IManagedConnectionRegistry:
    """``context.connections``: ``add_open_connection_factory_method(dbtype, open_connection_func)``."""


class IIngesterRegistry:
    """``context.ingester``: ``add_ingester_factory_method(method, ingester_plugin)``."""


PEP249Connection = Any
