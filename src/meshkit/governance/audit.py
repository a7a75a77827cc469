"""The governance audit log: every decision, who asked, for what purpose, and what was applied.

Rows are written in batches by a background writer per database, so auditing adds no commit to
a query's latency; ``flush`` waits for the rows queued so far, and runs before every read of the
log and when the process exits.
"""

from __future__ import annotations

import atexit
import logging
import queue
import threading
from typing import Any

import sqlalchemy as sa

from meshkit.catalog.tables import audit_log
from meshkit.core.runs import now
from meshkit.governance.decision import Decision, Subject

log = logging.getLogger(__name__)
BATCH = 500


class _Writer:
    """Inserts queued audit rows into one database on a daemon thread."""

    def __init__(self, engine: sa.Engine):
        self.engine = engine
        self.queue: queue.Queue[dict[str, Any]] = queue.Queue()
        threading.Thread(target=self._run, name="meshkit-audit", daemon=True).start()

    def _run(self) -> None:
        while True:
            batch = [self.queue.get()]
            while len(batch) < BATCH:
                try:
                    batch.append(self.queue.get_nowait())
                except queue.Empty:
                    break
            try:
                with self.engine.begin() as conn:
                    conn.execute(audit_log.insert(), batch)
            except Exception as exc:  # noqa: BLE001 - the writer must keep running; the loss is logged
                log.error("Could not write %d audit record(s): %s", len(batch), exc)
            finally:
                for _ in batch:
                    self.queue.task_done()


_writers: dict[str, _Writer] = {}
_lock = threading.Lock()


def _writer(engine: sa.Engine) -> _Writer:
    key = str(engine.url)
    with _lock:
        if key not in _writers:
            _writers[key] = _Writer(engine)
        return _writers[key]


def record(engine: sa.Engine, decision: Decision, *, subject: Subject, purpose: str | None, operation: str,
           channel: str, location: str | None = None, statement: str | None = None) -> None:  # fmt: skip
    """Queue one decision for the log."""
    values = {
        "at": now(), "user": subject.user, "role": subject.role, "team": subject.team, "purpose": purpose,
        "location": location, "operation": operation, "channel": channel, "dataset": decision.dataset,
        "allowed": decision.allowed, "reason": decision.reason,
        "actions": [a.model_dump(exclude_none=True) for a in decision.actions] if decision.allowed else [],
        "statement": statement,
    }  # fmt: skip
    _writer(engine).queue.put(values)


def flush(engine: sa.Engine | None = None) -> None:
    """Wait until the queued records (of ``engine``, or of every database) are written."""
    with _lock:
        writers = (
            list(_writers.values())
            if engine is None
            else [w for k, w in _writers.items() if k == str(engine.url)]
        )
    for writer in writers:
        writer.queue.join()


atexit.register(flush)


def entries(engine: sa.Engine, *, dataset: str | None = None, user: str | None = None, channel: str | None = None,
            limit: int = 50) -> list[dict[str, Any]]:  # fmt: skip
    """Newest first, filtered by dataset, user and channel."""
    flush(engine)
    query = sa.select(audit_log).order_by(audit_log.c.id.desc()).limit(limit)
    for column, value in (
        (audit_log.c.dataset, dataset),
        (audit_log.c.user, user),
        (audit_log.c.channel, channel),
    ):
        if value is not None:
            query = query.where(column == value)
    with engine.connect() as conn:
        return [dict(row) for row in conn.execute(query).mappings()]
