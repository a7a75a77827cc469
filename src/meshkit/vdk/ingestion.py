"""A VDK ingester plugin as a meshkit ingestion method, and VDK's payload processors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any


class IngesterTarget:
    """The ingestion method ``name``: rows go to the plugin's ``ingest_payload`` as a list of dicts."""

    type = "vdk-ingester"
    #: VDK lets ``destination_table`` be ``None``: the plugin may take it from the payload.
    TAKES_DESTINATION_FROM_PAYLOAD = True

    def __init__(self, name: str, factory: Callable[[], Any]):
        self.name = name
        self._factory = factory
        self._plugin = None

    @property
    def plugin(self):
        """The plugin's ingester, created on first use."""
        if self._plugin is None:
            self._plugin = self._factory()
        return self._plugin

    def ingest(self, payload) -> int:
        """Write an ``IngestPayload`` through the plugin; returns the rows handed to it."""
        rows = payload.table.to_pylist()
        result = self.plugin.ingest_payload(payload=rows, destination_table=payload.destination, target=payload.target,
                                            collection_id=payload.collection_id, metadata=payload.metadata or None)  # fmt: skip
        if isinstance(result, dict):
            payload.metadata.update(result)
        return len(rows)
