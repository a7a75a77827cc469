"""Transfer state in the metadata database: last status, high-water mark, history of runs.

The ``transfer_state`` table (migration ``0003_transfer``) holds one row per transfer name. The
status of every run is also kept in its Run record (``details["status"]``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from meshkit.core.metadata import MetadataDB, metadata
from meshkit.core.redaction import scrub

transfer_state = sa.Table(
    "transfer_state",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("phase", sa.String(16), nullable=False),
    sa.Column("status", sa.JSON),
    sa.Column("watermark", sa.JSON),
    sa.Column("history", sa.JSON),
    sa.Column("spec", sa.JSON),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)


@dataclass
class TransferState:
    """What meshkit remembers of one transfer between runs."""

    name: str
    phase: str = "Pending"
    status: dict[str, Any] = field(default_factory=dict)
    #: ``{"cursor": column, "value": canonical text, "type": arrow type, "boundary": [row ids]}``.
    watermark: dict[str, Any] | None = None
    history: list[dict[str, Any]] = field(default_factory=list)
    spec: dict[str, Any] = field(default_factory=dict)


class StateStore:
    """Reads and writes ``transfer_state`` rows."""

    def __init__(self, db: MetadataDB):
        self.db = db

    def get(self, name: str) -> TransferState | None:
        with self.db.engine.connect() as conn:
            row = (
                conn.execute(sa.select(transfer_state).where(transfer_state.c.name == name))
                .mappings()
                .first()
            )
        return None if row is None else self._state(row)

    def list(self) -> list[TransferState]:
        with self.db.engine.connect() as conn:
            rows = conn.execute(sa.select(transfer_state).order_by(transfer_state.c.name)).mappings().all()
        return [self._state(r) for r in rows]

    def save(self, state: TransferState) -> None:
        # NOTE: what is stored never holds a credential written in a URL or DSN (store names, errors).
        values = {"phase": state.phase, "status": scrub(state.status), "watermark": state.watermark,
                  "history": scrub(state.history), "spec": scrub(state.spec), "updated_at": datetime.now(UTC)}  # fmt: skip
        with self.db.engine.begin() as conn:
            updated = conn.execute(
                transfer_state.update().where(transfer_state.c.name == state.name).values(values)
            )
            if updated.rowcount == 0:
                conn.execute(transfer_state.insert().values(name=state.name, **values))

    @staticmethod
    def _state(row) -> TransferState:
        return TransferState(name=row["name"], phase=row["phase"], status=row["status"] or {},
                             watermark=row["watermark"], history=row["history"] or [], spec=row["spec"] or {})  # fmt: skip


def trim_history(history: list[dict[str, Any]], successful: int, failed: int) -> list[dict[str, Any]]:
    """The newest ``successful`` succeeded runs and ``failed`` other runs, newest first."""
    kept, counts = [], {"ok": 0, "failed": 0}
    for entry in history:
        kind = "ok" if entry.get("phase") == "Succeeded" else "failed"
        limit = successful if kind == "ok" else failed
        if counts[kind] < limit:
            kept.append(entry)
            counts[kind] += 1
    return kept
