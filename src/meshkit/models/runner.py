"""Execute a selection in DAG order on a thread pool: seeds, models, snapshots, then their tests.

A model and the tests that read only it run as one work item, so tests cost no extra scheduling
and a failing test (``error`` severity) skips everything downstream, as in ``dbt build``. Unit tests
run just before their model. ``fail_fast`` stops scheduling at the first error.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

from meshkit.core.errors import MeshkitError
from meshkit.models.datatests import TestOutcome, run_tests
from meshkit.models.graph import select, topological
from meshkit.models.materialize import adapter_response, build_node
from meshkit.models.unittests import run_unit_test
from meshkit.models.warehouse import Warehouse

if TYPE_CHECKING:
    from meshkit.models.nodes import Node
    from meshkit.models.project import Project
    from meshkit.models.state import DbtManifest, Fingerprints

Command = Literal["build", "run", "test", "seed", "snapshot"]
RESOURCES: dict[str, set[str]] = {
    "build": {"model", "seed", "snapshot", "test", "unit_test"},
    "run": {"model"},
    "test": {"test", "unit_test"},
    "seed": {"seed"},
    "snapshot": {"snapshot"},
}
ERROR_STATUSES = frozenset({"error", "fail"})


@dataclass
class BuildOptions:
    """What to run and how."""

    command: Command = "build"
    select: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    threads: int = 2
    fail_fast: bool = False
    full_refresh: bool = False
    #: The engine that builds (``--engine``); default the ``engine`` config key.
    engine: str | None = None


@dataclass
class NodeResult:
    """The outcome of one node, in dbt's vocabulary (success/error/skipped, pass/warn/fail)."""

    unique_id: str
    status: str
    message: str = ""
    rows: int = 0
    failures: int | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    thread_id: str = ""
    compiled_code: str = ""
    adapter_response: dict[str, Any] = field(default_factory=dict)
    columns: list[tuple[str, str]] = field(default_factory=list)
    #: A failed or warning test: a few of its failing rows, and where its compiled SQL was written.
    sample: tuple[list[str], list[tuple]] | None = None
    compiled_path: str = ""

    @property
    def execution_time(self) -> float:
        if self.started_at and self.completed_at:
            return (self.completed_at - self.started_at).total_seconds()
        return 0.0


@dataclass
class _Item:
    key: str
    node: Node | None
    tests: list[Node]
    units: list[Node]
    deps: set[str]


def _now() -> datetime:
    return datetime.now(UTC)


class Runner:
    """Runs one command over a project against a warehouse."""

    def __init__(self, project: Project, warehouse: Warehouse, *, previous: Fingerprints | DbtManifest | None = None,
                 on_plan: Callable[[int], None] | None = None, on_start: Callable[[Node], None] | None = None,
                 on_result: Callable[[NodeResult], None] | None = None):  # fmt: skip
        self.project = project
        self.wh = warehouse
        self.previous = previous
        self.on_plan = on_plan
        self.on_start = on_start
        self.on_result = on_result
        self.results: dict[str, NodeResult] = {}
        self._lock = threading.Lock()

    def plan(self, options: BuildOptions) -> list[_Item]:
        """The work items of ``options``, in topological order."""
        p = self.project
        chosen = select(
            p,
            options.select,
            options.exclude,
            previous=self.previous,
            resource_types=RESOURCES[options.command],
        )
        order = [
            u
            for u in topological(p, chosen)
            if p.nodes[u].materialized != "ephemeral" or p.nodes[u].resource_type != "model"
        ]
        items: dict[str, _Item] = {}
        owner: dict[str, str] = {}
        building = options.command != "test"
        for uid in order:
            node = p.nodes[uid]
            if node.resource_type in ("model", "seed", "snapshot"):
                items[uid] = _Item(uid, node, [], [], set())
                owner[uid] = uid
        for uid in order:
            node = p.nodes[uid]
            if node.resource_type == "unit_test":
                model_uid = node.unit["model_uid"]
                if building and model_uid in items:
                    items[model_uid].units.append(node)
                else:
                    items[uid] = _Item(uid, None, [], [node], set())
            elif node.resource_type == "test":
                parents = [d for d in node.depends_on if d in p.nodes or d in p.sources]
                attached = node.test["attached"] if node.test else (parents[0] if len(parents) == 1 else None)
                if building and attached in items and len(set(parents)) == 1:
                    items[attached].tests.append(node)
                else:
                    key = f"tests:{attached}" if attached and len(set(parents)) == 1 else uid
                    items.setdefault(key, _Item(key, None, [], [], set())).tests.append(node)
                    items[key].deps |= {owner[d] for d in parents if d in owner}
        for item in items.values():
            if item.node is not None:
                item.deps |= {owner[d] for d in _ancestors_built(p, item.node, owner)}
        return list(items.values())

    def run(self, options: BuildOptions) -> list[NodeResult]:
        """Run every item of the plan; results are in completion order."""
        items = {i.key: i for i in self.plan(options)}
        if self.on_plan is not None:  # how many nodes will start
            self.on_plan(sum(len(i.units) + len(i.tests) + (1 if i.node else 0) for i in items.values()))
        children: dict[str, list[str]] = {k: [] for k in items}
        for item in items.values():
            for dep in item.deps:
                children[dep].append(item.key)
        remaining = {k: len(i.deps) for k, i in items.items()}
        ready = [k for k, n in remaining.items() if n == 0]
        done: set[str] = set()
        stop = False
        with ThreadPoolExecutor(max_workers=max(1, options.threads), thread_name_prefix="Thread") as pool:
            running: dict[Future, str] = {}
            while ready or running:
                while ready and not stop:
                    key = ready.pop(0)
                    running[pool.submit(self._run_item, items[key], options)] = key
                if stop:
                    ready.clear()
                if not running:
                    break
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in finished:
                    key = running.pop(future)
                    failed = future.result()
                    done.add(key)
                    if failed:
                        stop = stop or options.fail_fast
                        for skipped in _descendants(key, children):
                            if skipped not in done:
                                done.add(skipped)
                                self._skip(
                                    items[skipped],
                                    f"upstream `{items[key].node.name if items[key].node else key}` failed",
                                )
                    for child in children[key]:
                        remaining[child] -= 1
                        if remaining[child] == 0 and child not in done:
                            ready.append(child)
        for key, item in items.items():
            if key not in done:
                self._skip(item, "the run stopped early (--fail-fast)")
        self.wh.close()
        return list(self.results.values())

    # ------------------------------------------------------------------ one item

    def _record(self, result: NodeResult) -> None:
        with self._lock:
            self.results[result.unique_id] = result
        if self.on_result is not None:
            self.on_result(result)

    def _start(self, *nodes: Node) -> datetime:
        if self.on_start is not None:
            for node in nodes:
                self.on_start(node)
        return _now()

    def _skip(self, item: _Item, reason: str) -> None:
        for node in [*item.units, *([item.node] if item.node else []), *item.tests]:
            if node.unique_id not in self.results:
                self._record(NodeResult(node.unique_id, "skipped", f"SKIP: {reason}"))

    def _run_item(self, item: _Item, options: BuildOptions) -> bool:
        """Run the item; ``True`` when it failed (downstream must be skipped)."""
        thread = threading.current_thread().name
        try:
            for unit in item.units:
                started = self._start(unit)
                outcome = run_unit_test(self.project, self.wh, unit)
                self._record(_test_result(unit, outcome, started, thread))
                if outcome.status in ERROR_STATUSES and item.node is not None:
                    self._skip(item, f"unit test `{unit.name}` failed")
                    return True
            if item.node is not None and options.command != "test":
                started = self._start(item.node)
                try:
                    built = build_node(self.project, self.wh, item.node, full_refresh=options.full_refresh)
                except MeshkitError as exc:
                    self._record(NodeResult(item.node.unique_id, "error", str(exc), started_at=started, completed_at=_now(),
                                            thread_id=thread, compiled_code=item.node.compiled))  # fmt: skip
                    self._skip(item, f"`{item.node.name}` failed")
                    return True
                self._record(NodeResult(item.node.unique_id, "success", built.message, built.rows, None, started, _now(),
                                        thread, built.sql, adapter_response(built), built.columns))  # fmt: skip
            if item.tests:
                started = self._start(*item.tests)
                outcomes = run_tests(self.project, self.wh, item.tests)
                failed = False
                for test in item.tests:
                    outcome = outcomes[test.unique_id]
                    self._record(_test_result(test, outcome, started, thread))
                    failed = failed or outcome.status in ERROR_STATUSES
                return failed
            return False
        except Exception as exc:  # keep the pool alive; the error is reported on the item
            node = item.node or (item.tests or item.units)[0]
            self._record(
                NodeResult(node.unique_id, "error", f"{type(exc).__name__}: {exc}", thread_id=thread)
            )
            self._skip(item, "an internal error")
            return True


def _test_result(node: Node, outcome: TestOutcome, started: datetime, thread: str) -> NodeResult:
    return NodeResult(node.unique_id, outcome.status, outcome.message, 0, outcome.failures, started, _now(), thread,
                      outcome.sql, {}, sample=outcome.sample)  # fmt: skip


def _ancestors_built(project: Project, node: Node, owner: dict[str, str]) -> set[str]:
    """The nearest built ancestors of ``node``, looking through ephemeral models."""
    out, stack, seen = set(), list(node.depends_on), set()
    while stack:
        uid = stack.pop()
        if uid in seen:
            continue
        seen.add(uid)
        if uid in owner:
            out.add(uid)
        elif uid in project.nodes:
            stack.extend(project.nodes[uid].depends_on)
    return out


def _descendants(key: str, children: dict[str, list[str]]) -> set[str]:
    out, stack = set(), list(children.get(key, []))
    while stack:
        k = stack.pop()
        if k not in out:
            out.add(k)
            stack.extend(children.get(k, []))
    return out


def summarize(results: list[NodeResult]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in results:
        counts[r.status] = counts.get(r.status, 0) + 1
    return counts
