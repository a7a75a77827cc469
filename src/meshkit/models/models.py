"""Run a command over a project as a Run record: build, run, test, seed, snapshot.

The run gets one step per built model, seed and snapshot; ``details`` keep the results and the
lineage; ``run_started``/``run_finished`` and ``dataset_written`` fire so the catalog can follow.
Artifacts go to ``target/`` (dbt project) or ``.meshkit/target/`` (workspace).
"""

from __future__ import annotations

import os
import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from meshkit.core.lifecycle import recorded_run
from meshkit.core.lineage import ColumnEdge, Lineage, TableEdge
from meshkit.core.runs import RunRecord, StepRecord
from meshkit.models.artifacts import catalog, manifest, run_results, write_json, write_state
from meshkit.models.compile import compile_project, compiled_path, write_sql
from meshkit.models.hooks import run_project_hooks
from meshkit.models.lineage import LineageIndex, direct_reads, known_relations, table_edges, warehouse_schema
from meshkit.models.project import Project, load_project
from meshkit.models.runner import ERROR_STATUSES, BuildOptions, NodeResult, Runner, summarize
from meshkit.models.spark_profile import dataset_store
from meshkit.models.state import read_state
from meshkit.models.warehouse import Warehouse

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit
    from meshkit.models.nodes import Node

_STEP_STATUS = {"success": "succeeded", "error": "user_error", "skipped": "skipped"}


@dataclass
class BuildReport:
    """What a command did."""

    run: RunRecord
    results: list[NodeResult]
    elapsed: float
    counts: dict[str, int] = field(default_factory=dict)
    #: The ``on-run-start``/``on-run-end`` operations that ran.
    operations: list[NodeResult] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(r.status in ERROR_STATUSES for r in self.results)


def open_project(meshkit: Meshkit, project_dir: str | Path | None = None, *, target: str | None = None,
                 vars: dict[str, Any] | None = None, flags: dict[str, Any] | None = None) -> Project:  # fmt: skip
    """Load and compile the project (a dbt project folder, or the workspace's ``models/``)."""
    project = load_project(project_dir, meshkit=meshkit, target=target, vars=vars, flags=flags)
    compile_project(project)
    return project


def write_docs_artifacts(meshkit: Meshkit, project: Project, engine: str | None = None) -> list[Path]:
    """``manifest.json`` and ``catalog.json`` in the project's target folder, as ``dbt docs generate``
    writes them, the tables described by ``engine``'s warehouse; returns their paths."""
    invocation = str(uuid.uuid4())
    wh = open_warehouse(meshkit, project, engine)
    paths = [project.target_dir / "manifest.json", project.target_dir / "catalog.json"]
    write_json(paths[0], manifest(project, invocation))
    write_json(paths[1], catalog(project, wh, invocation))
    return paths


def store_name(project: Project) -> str:
    """The store the project builds into, as ``meshkit.store()`` resolves it; for a ``spark`` target, whose
    engine keeps the tables, the engine's name (``spark:NAME``)."""
    if project.kind == "workspace":
        return project.settings.get("store", "warehouse")
    if project.profile.type == "spark":
        return dataset_store("spark", project.profile.engine or project.profile.target_name)
    return f"duckdb:///{project.profile.path}"


def open_warehouse(meshkit: Meshkit, project: Project, engine: str | None = None) -> Warehouse:
    """Where the project builds: its DuckDB store, or the tables of ``engine`` (default: the ``engine`` config
    key) when that engine does not run inside the store."""
    from meshkit.engines import engine_types, open_engine
    from meshkit.models.engine_warehouse import EngineWarehouse

    name = store_name(project)
    profile = project.profile
    materializations = meshkit.registry("materializations")
    if profile.type == "spark":  # a spark target of profiles.yml: the engine keeps the tables, no store does
        if engine is None and profile.engine_options is not None:
            options = dict(profile.engine_options)
            chosen = engine_types(meshkit)[options.pop("type")].open(
                profile.target_name, options, meshkit, ()
            )
        else:
            chosen = open_engine(meshkit, engine or profile.engine, where="--engine")
        return EngineWarehouse(
            chosen, dataset_store(chosen.type, chosen.name), materializations, profile.database
        )
    store = meshkit.store(name)
    chosen = open_engine(meshkit, engine or profile.engine, stores=(store,), where="--engine")
    if chosen.can_scan(store):  # the engine runs in the store's file: build there, in transactions
        chosen.close()
        return Warehouse(store.connection, name, materializations)
    return EngineWarehouse(chosen, name, materializations, project.profile.database)


def default_threads(project: Project) -> int:
    return project.profile.threads or os.cpu_count() or 2


#: How long the recorder gathers finished nodes before it saves them (a build of hundreds of small
#: models finishes many a second; the run shows them this much later).
BATCH_SECONDS = 0.25


class _Recorder:
    """Writes steps and fires ``dataset_written`` from one background thread, in completion order."""

    def __init__(self, meshkit: Meshkit, run: RunRecord, project: Project, wh: Warehouse):
        self.meshkit, self.run, self.project, self.wh = meshkit, run, project, wh
        self.queue: queue.Queue[NodeResult | None] = queue.Queue()
        self.position = 0
        self.hooked = bool(meshkit.pm.hook.dataset_written.get_hookimpls())
        self.thread = threading.Thread(target=self._work, name="meshkit-recorder", daemon=True)
        self.thread.start()

    def put(self, result: NodeResult) -> None:
        node = self.project.nodes.get(result.unique_id)
        if node is not None and node.is_relational:
            self.queue.put(result)

    def close(self) -> None:
        self.queue.put(None)
        self.thread.join()

    def _work(self) -> None:
        done = False
        while not done:
            batch = [self.queue.get()]  # and what arrives within BATCH_SECONDS, saved in one transaction
            deadline = time.monotonic() + BATCH_SECONDS
            while batch[-1] is not None:
                try:
                    batch.append(self.queue.get(timeout=max(0.0, deadline - time.monotonic())))
                except queue.Empty:
                    break
            done = batch[-1] is None
            self._save([r for r in batch if r is not None])
        self.wh.close()  # this thread's cursor

    def _save(self, results: list[NodeResult]) -> None:
        steps = []
        for result in results:
            self.position += 1
            steps.append(StepRecord(self.position, result.unique_id, _STEP_STATUS.get(result.status, "user_error"),
                                    result.started_at, result.completed_at, result.rows,
                                    result.message if result.status == "error" else None))  # fmt: skip
        if steps:
            self.meshkit.runs.save_steps(self.run, steps)
        for result in results:
            node = self.project.nodes[result.unique_id]
            if (
                self.hooked
                and self.wh.in_store
                and result.status == "success"
                and node.materialized != "ephemeral"
            ):
                schema = self.wh.arrow_schema(node.relation)
                if schema is None:  # a post-hook dropped it: nothing was written
                    continue
                self.meshkit.pm.hook.dataset_written(meshkit=self.meshkit, run=self.run,
                                                     dataset=f"{self.wh.store_name}/{node.relation.asset}",
                                                     rows=result.rows, schema=schema)  # fmt: skip


class _LineageWorker:
    """Computes column lineage of each built model on a background thread while the build goes on.

    DuckDB releases the GIL while it builds, so parsing SQL with sqlglot here mostly overlaps it.
    A model's inputs finish before it starts, so their columns are known when it arrives.
    """

    def __init__(self, project: Project, wh: Warehouse, enabled: bool):
        self.project, self.enabled = project, enabled
        self.edges: dict[str, list] = {}
        self.index = LineageIndex(project, wh) if enabled else None
        self.queue: queue.Queue[NodeResult | None] = queue.Queue()
        self.thread = threading.Thread(target=self._work, name="meshkit-lineage", daemon=True)
        if enabled:
            self.thread.start()

    def put(self, result: NodeResult) -> None:
        node = self.project.nodes.get(result.unique_id)
        if self.enabled and node is not None and node.is_relational and result.status == "success":
            self.queue.put(result)

    def close(self) -> dict[str, list]:
        if self.enabled:
            self.queue.put(None)
            self.thread.join()
            self.index.save()
        return self.edges

    def _work(self) -> None:
        while (result := self.queue.get()) is not None:
            node = self.project.nodes[result.unique_id]
            rel = node.relation
            if result.columns:
                tables = self.index.schema.setdefault(rel.database or "", {}).setdefault(rel.schema, {})
                tables[rel.identifier] = dict(result.columns)
            try:
                self.edges[node.unique_id] = self.index.columns(node)
            except Exception:  # lineage is best effort: a model sqlglot cannot analyse has none
                self.edges[node.unique_id] = []


def execute(meshkit: Meshkit, project: Project, options: BuildOptions, *, state_dir: Path | None = None,
            on_plan: Callable[[int], None] | None = None, on_start: Callable[[Node], None] | None = None,
            on_result: Callable[[NodeResult], None] | None = None) -> BuildReport:  # fmt: skip
    """Run ``options.command`` over ``project`` as one Run record; returns the report.

    ``on_plan`` gets the number of nodes to run, then ``on_start`` and ``on_result`` each node.
    """
    started = time.perf_counter()
    wh = open_warehouse(meshkit, project, options.engine)
    previous = read_state(state_dir or project.target_dir)
    arguments = {"command": options.command, "select": options.select, "exclude": options.exclude,
                 "threads": options.threads, "project_dir": str(project.root)}  # fmt: skip
    with recorded_run(meshkit, options.command, project.name, arguments=arguments,
                      team=meshkit.config.get("team")) as run:  # fmt: skip
        recorder = _Recorder(meshkit, run, project, wh)
        lineage = _LineageWorker(project, wh, bool(meshkit.config.get("models_column_lineage")))

        def record(result: NodeResult) -> None:
            if result.status in ("fail", "warn") and result.compiled_code:  # where to read and rerun it
                path = compiled_path(project, project.nodes[result.unique_id])
                result.compiled_path = str(write_sql(path, result.compiled_code))
            recorder.put(result)
            lineage.put(result)
            if on_result is not None:
                on_result(result)

        results: list[NodeResult] = []
        operations: list[NodeResult] = []
        try:
            operations = run_project_hooks(project, wh, "on-run-start")
            results = Runner(project, wh, previous=previous, on_plan=on_plan, on_start=on_start,
                             on_result=record).run(options)  # fmt: skip
            operations += run_project_hooks(project, wh, "on-run-end", results)
        finally:
            recorder.close()
            edges = lineage.close()
            counts = summarize(results)
            elapsed = time.perf_counter() - started
            _finish(meshkit, project, wh, run, results, counts, elapsed, options, edges, operations)
    return BuildReport(run, results, elapsed, counts, operations)


def _around(results: list[NodeResult], operations: list[NodeResult]) -> list[NodeResult]:
    """The nodes' results between the ``on-run-start`` and the ``on-run-end`` operations'."""
    start = [r for r in operations if "-on-run-start-" in r.unique_id]
    return [*start, *results, *(r for r in operations if r not in start)]


def _finish(meshkit, project, wh, run, results, counts, elapsed, options, edges, operations) -> None:
    """Keep the results, lineage and artifacts (``operations``: the hooks' results, in ``run_results.json``
    around the nodes' as dbt writes them); a build with failures ends ``user_error``."""
    invocation = str(uuid.uuid4())
    built = [r.unique_id for r in results if r.status == "success"]
    details: dict[str, Any] = {"project": project.name, "store": wh.store_name, "counts": counts, "elapsed": round(elapsed, 3),
                               "results": [{"unique_id": r.unique_id, "status": r.status, "rows": r.rows,
                                            "failures": r.failures, "execution_time": round(r.execution_time, 4),
                                            "message": r.message or None} for r in results]}  # fmt: skip
    quality = _model_checks(meshkit, project, wh, built)
    if quality:
        details["quality"] = quality
    write_json(project.target_dir / "manifest.json", manifest(project, invocation))
    write_json(project.target_dir / "run_results.json",
               run_results(project, _around(results, operations), invocation, elapsed, {"which": options.command, "select": options.select,
                                                                   "exclude": options.exclude, "threads": options.threads}))  # fmt: skip
    if options.command != "test":
        write_state(project, results)
    run.details = details
    schema = warehouse_schema(wh)  # tables models read by name, not through ref() or source()
    known = known_relations(project)
    reads = [
        (uid, *read) for uid in built for read in direct_reads(project, project.nodes[uid], schema, known)
    ]
    run.lineage = _lineage(project, wh, built, edges, reads)
    if reads:  # for the note that declares them as sources
        details["undeclared"] = [
            {"model": project.nodes[u].name, "schema": sc, "table": t} for u, sc, t in reads
        ]
    run.rows_written = sum(r.rows for r in results if r.status == "success")
    failed = [project.nodes[r.unique_id].name for r in results if r.status in ERROR_STATUSES]
    failed += [
        f"check {c['check']}"
        for checks in quality.values()
        for c in checks
        if c["status"] in ("fail", "error")
    ]
    if failed:
        run.status, run.error = "user_error", f"{len(failed)} failures: " + ", ".join(failed[:5])


def _lineage(project: Project, wh: Warehouse, built: list[str], edges: dict[str, list],
             reads: list[tuple[str, str, str]]) -> Lineage:  # fmt: skip
    """Lineage of the built nodes (datasets as ``store/asset``); ``reads``: tables they read by name."""

    def dataset(uid: str) -> str:
        return f"{wh.store_name}/{project.relation_of(uid).asset}"

    wanted = set(built)
    lineage = Lineage(transformation="model")
    links = [
        TableEdge(dataset(a), dataset(b), a, b)
        for a, b in table_edges(project)
        if b in wanted
        and project.relation_of(a) is not None
        and (a in project.sources or project.nodes[a].is_relational)
    ]
    for uid, table_schema, table in reads:
        asset = table if table_schema == "main" else f"{table_schema}.{table}"
        links.append(TableEdge(f"{wh.store_name}/{asset}", dataset(uid), None, uid))
    lineage.tables = list(dict.fromkeys(links))  # once each, as Lineage.link keeps them (in linear time)
    for uid in built:
        for e in edges.get(uid, []):
            lineage.columns.append(
                ColumnEdge(dataset(e.source), e.source_column, dataset(e.target), e.target_column, "model")
            )
    return lineage


def _model_checks(
    meshkit, project: Project, wh: Warehouse, built: list[str]
) -> dict[str, list[dict[str, Any]]]:
    """Run the ``checks:`` of built models; results keyed by dataset."""
    from meshkit.quality.runner import run_checks

    quality: dict[str, list[dict[str, Any]]] = {}
    if not wh.in_store:  # NOTE: the tables are the engine's, not the store's
        return quality
    for uid in built:
        node = project.nodes[uid]
        if node.checks:
            for result in run_checks(meshkit, wh.store_name, node.relation.asset, node.checks,
                                     where=node.yaml_where or node.original_file_path):  # fmt: skip
                quality.setdefault(result.dataset, []).append(result.as_quality())
    return quality
