"""Built-in plugin: fills the catalog from run events of jobs, transfers and model builds.

``dataset_written`` notes the dataset and the schema written. ``run_finished`` registers (or
updates) every dataset the run wrote, in one transaction (a build of hundreds of models commits
once, not once a model), then records the lineage of ``run.lineage`` (``core/lineage.py``):
table-level edges from each input to each output of the run (the datasets written included), its
table edges, and its column edges.
Check results in ``run.details["quality"]``
(``{dataset: [{check, passed, observed, message}]}``) are stored as quality results unless the
run's kind is ``check`` (product tests store their own). Then the tags of the datasets written,
and of everything downstream, are propagated along the lineage (``classification.propagate``).
"""

from __future__ import annotations

import threading

from meshkit.catalog.catalog import Catalog, ColumnInfo, Edge
from meshkit.catalog.classification import propagate
from meshkit.core.hookspecs import hookimpl
from meshkit.core.redaction import strip_credentials

#: run id -> dataset written -> (its columns, the rows of its last write)
_written: dict[str, dict[str, tuple[list[ColumnInfo] | None, int | None]]] = {}
_lock = threading.Lock()


def run_lineage(run, written: set[str]) -> list[Edge]:
    """The lineage edges a finished run declares (``run.lineage``) or implies (the datasets it wrote)."""
    lineage = run.lineage
    declared = set(lineage.outputs)
    outputs = [o for o in sorted(written) if o not in declared]
    edges = [Edge(i, o, transformation=run.kind) for i in lineage.inputs for o in outputs]
    edges += [Edge(s, t, transformation=run.kind) for s, t in lineage.table_edges()]
    edges += [
        Edge(e.source, e.target, e.source_column, e.target_column, e.transformation) for e in lineage.columns
    ]
    return edges


@hookimpl
def dataset_written(meshkit, run, dataset, rows, schema):
    dataset = strip_credentials(dataset)
    if "/" not in dataset:
        return
    columns = (
        [ColumnInfo(name=f.name, type=str(f.type), nullable=f.nullable) for f in schema]
        if schema is not None
        else None
    )
    with _lock:
        _written.setdefault(run.id, {})[dataset] = (columns, rows)


@hookimpl
def run_finished(meshkit, run):
    with _lock:
        written = _written.pop(run.id, {})
    catalog = Catalog(meshkit)
    if written:
        known = catalog.get_many(written)
        catalog.register_datasets([
            (name, {"columns": columns, "run_id": run.id, "rows": rows, "kind": "table",
                    "owner": None if name in known and known[name].owner else run.team})
            for name, (columns, rows) in written.items()
        ])  # fmt: skip
    edges = run_lineage(run, set(written))
    if run.status != "succeeded":  # NOTE: what a failed run meant to write may not exist: keep what it wrote
        edges = [e for e in edges if e.target in written]
    if edges:
        catalog.add_lineage(edges, run_id=run.id, run_kind=run.kind)
    if targets := set(written) | {e.target for e in edges}:
        propagate(catalog, sorted(targets))
    if run.kind != "check":
        for dataset, results in (run.details.get("quality") or {}).items():
            catalog.record_quality(dataset, results, run_id=run.id)
