"""``meshkit demo run``: the SmartPizza workspace end to end, each stage timed and recorded.

The stages: generate data, land the live order stream, then run the SmartPizza pipeline
(``pipelines/smartpizza.yaml``, :mod:`meshkit.demo.pipeline`: every transfer, the jobs for each
day, the model build with its tests, the data checks, the products published with their contracts
checked), test the access policy, and read the customer product as three roles. Each pipeline
node is a stage, run in this process on the demo's open workspace by the pipeline runner. A
failing node stops the pipeline (the nodes after it are shown skipped); the policy tests and the
reads still run, and the demo fails if any stage failed.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from meshkit.core.errors import ConfigError, MeshkitError, UserError
from meshkit.demo.generate import GenerateResult, write_demo_data

#: The demo workspace in a source checkout (``examples/smartpizza``).
EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "smartpizza"


@dataclass
class Stage:
    """One step of the demo and what it did."""

    kind: str
    name: str
    domain: str | None = None
    status: str = "succeeded"
    seconds: float = 0.0
    rows: int = 0
    checks_passed: int = 0
    checks_failed: int = 0
    detail: str = ""
    run_id: str | None = None
    #: ``(check, passed, message)`` of every check the stage ran.
    checks: list[tuple[str, bool, str]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status in ("succeeded", "skipped")


@dataclass
class GovernedRead:
    """One governed query: who asked, why, what the policies did and what came back."""

    user: str
    role: str
    purpose: str
    sql: str
    columns: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)
    total_rows: int = 0
    actions: list[str] = field(default_factory=list)
    error: str | None = None


#: The three governed reads of the customer product: (user, role, purpose).
READERS = [("ana", "analyst", "analytics"), ("mia", "marketer", "marketing"), ("sam", "steward", "audit")]
READ_SQL = "SELECT * FROM customers_current ORDER BY customer_id"


@dataclass
class DemoResult:
    """Everything the summary and the HTML report show."""

    workspace: Path
    scale: float
    stages: list[Stage] = field(default_factory=list)
    reads: list[GovernedRead] = field(default_factory=list)
    data: GenerateResult | None = None
    seconds: float = 0.0
    #: Run records the demo left in the metadata database (jobs, templates, transfers, builds, publishes, checks).
    runs: int = 0
    #: The pipeline run with its graph and each node's status (:func:`meshkit.pipelines.runner.run_graph`).
    pipeline: dict[str, Any] | None = None

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.stages) and all(r.error is None for r in self.reads)

    @property
    def rows(self) -> int:
        return sum(s.rows for s in self.stages if s.kind != "generate")

    @property
    def checks(self) -> tuple[int, int]:
        return sum(s.checks_passed for s in self.stages), sum(s.checks_failed for s in self.stages)


def prepare_workspace(destination: str | Path, source: str | Path | None = None) -> Path:
    """Copy the demo workspace to ``destination``, replacing a workspace there (never other folders)."""
    source = Path(source) if source else EXAMPLE
    destination = Path(destination).resolve()
    if not (source / "meshkit.toml").is_file():
        raise ConfigError(f"No demo workspace at {source}.",
                          hint="Run from a meshkit source checkout, or pass --from with the examples/smartpizza folder.")  # fmt: skip
    if destination.exists() and any(destination.iterdir()):
        if not (destination / "meshkit.toml").is_file():
            raise ConfigError(f"{destination} is not empty and is not a workspace an earlier demo made.",
                              hint="Pick an empty or new folder for --workspace.")  # fmt: skip
        shutil.rmtree(destination)
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns(".meshkit", "data", "__pycache__"))
    return destination


class DemoRunner:
    """Runs the stages on one workspace and collects a :class:`DemoResult`."""

    def __init__(self, workspace: Path, scale: float, *, days: int = 2,
                 progress: Callable[[str], None] | None = None):  # fmt: skip
        self.workspace = workspace
        self.days = days
        self.result = DemoResult(workspace, scale)
        self.progress = progress or (lambda message: None)
        self.mk = None

    def stage(self, kind: str, name: str, domain: str | None, action: Callable[[Stage], None]) -> Stage:
        """Run ``action(stage)``; a failure is recorded on the stage (message only) and not raised."""
        return self._stage(kind, name, domain, action)[0]

    def _stage(self, kind: str, name: str, domain: str | None,
               action: Callable[[Stage], None]) -> tuple[Stage, Exception | None]:  # fmt: skip
        stage = Stage(kind, name, domain)
        self.progress(f"{kind} {name}")
        started = time.perf_counter()
        error: Exception | None = None
        try:
            action(stage)
        except MeshkitError as exc:
            stage.status, stage.detail, error = exc.run_status, self._redact(str(exc)), exc
        except Exception as exc:  # a bug anywhere must still end in a summary, not a traceback
            stage.status, stage.detail = "platform_error", self._redact(f"{type(exc).__name__}: {exc}")
            error = exc
        stage.seconds = time.perf_counter() - started
        self.result.stages.append(stage)
        return stage, error

    def _redact(self, text: str) -> str:
        return self.mk.redactor.redact(text) if self.mk is not None else text

    def run(self) -> DemoResult:
        from meshkit.core.context import Meshkit

        started = time.perf_counter()
        self.stage("generate", "SmartPizza data", None, self._generate)
        self.mk = Meshkit.open(self.workspace)
        try:
            self.stage("stream", "live orders", "orders", self._live_orders)
            if self.result.data is not None:
                self._pipeline(self.result.data.days)
            self.stage("policy", "access tests", None, self._policy_tests)
            for user, role, purpose in READERS:
                self._read(user, role, purpose)
            self.result.runs = len(self.mk.runs.list(limit=100_000))
        finally:
            self.mk.close()
        self.result.seconds = time.perf_counter() - started
        return self.result

    # ------------------------------------------------------------------ the pipeline

    def _pipeline(self, days: list) -> None:
        """Write the SmartPizza pipeline for ``days`` and run it, each node a stage."""
        from meshkit.demo.pipeline import write_pipeline
        from meshkit.pipelines.runner import PipelineRunner, run_graph
        from meshkit.pipelines.spec import load_pipeline

        self.progress("pipeline smartpizza")
        path = write_pipeline(self.workspace, days)
        pipeline = load_pipeline(path)
        result = PipelineRunner(self.mk, pipeline, source=path.parent, in_process=self._node).run()
        for node in pipeline.nodes:
            record = result.nodes[node.name]
            if record.status in ("skipped", "cancelled"):
                kind, name, domain, _ = self._node_stage(node)
                self.result.stages.append(
                    Stage(kind, name, domain, status=record.status, detail=record.error or "")
                )
        self.result.pipeline = run_graph(self.mk, result.run.id)

    def _node(self, node, record) -> None:
        """Pipeline node ``node`` as a stage: the stage's failure is the node's."""
        stage, error = self._stage(*self._node_stage(node))
        if error is not None:
            raise error
        if not stage.ok:
            raise UserError(stage.detail or f"Node `{node.name}` ended {stage.status}.")

    def _node_stage(self, node) -> tuple[str, str, str | None, Callable[[Stage], None]]:
        """``(kind, name, domain, action)`` of the stage doing the work of ``node`` of the demo's pipeline.

        The action does what the node's command does (the build and the checks cover every model
        and check, as the demo's pipeline says), and keeps what the report shows.
        """
        if node.transfer is not None:
            path = self.mk.workspace.resolve(node.command()[2])
            return "transfer", node.name, None, lambda s: self._transfer(s, path)
        if node.job is not None:
            day = node.arguments.get("day")
            name = f"{node.job} {day}" if day else node.job
            return "job", name, None, lambda s: self._job(s, node.job, dict(node.arguments))
        if node.build is not None:
            return "build", "models", None, self._build
        if node.check is not None:
            return "check", "data checks", None, self._checks
        from meshkit.products.loader import product_path

        return (
            "publish",
            str(node.publish),
            None,
            lambda s: self._publish(s, product_path(self.mk.workspace, node.publish)),
        )

    # ------------------------------------------------------------------ stages

    def _generate(self, stage: Stage) -> None:
        data = write_demo_data(self.workspace / "data", scale=self.result.scale, days=self.days)
        self.result.data = data
        stage.rows = sum(v for k, v in data.rows.items() if k != "pizzas")
        stage.detail = f"{data.rows['pizzas']:,} pizzas, {data.rows['orders']:,} orders, {data.rows['customers']:,} customers"

    def _transfer(self, stage: Stage, path: Path) -> None:
        from meshkit.data.transfer import load_transfer, run_transfer

        transfer = load_transfer(path)
        stage.name, stage.domain = transfer.name, transfer.metadata.labels.get("domain")
        result = run_transfer(self.mk, transfer)
        stage.run_id = result.status.get("runId")
        stage.rows = int(result.status.get("numRecords") or 0)
        stage.detail = f"{transfer.spec.source.store}/{transfer.spec.source.asset} -> " \
                       f"{transfer.spec.destination.store}/{transfer.spec.destination.asset}"  # fmt: skip
        if result.error is not None:
            raise result.error

    def _live_orders(self, stage: Stage) -> None:
        from meshkit.demo.stream import live_orders

        live_orders(self.mk, self.workspace, stage)

    def _job(self, stage: Stage, job: str, arguments: dict[str, str]) -> None:
        from meshkit.job.job_config import load_job_config
        from meshkit.job.runner import run_job

        job_dir = self.mk.workspace.find_job(job)
        stage.domain = load_job_config(job_dir, set(self.mk.config.keys)).team
        result = run_job(self.mk, job, arguments, console=False)
        run = self.mk.runs.list(kind="job", name=job, limit=1)[0]
        stage.run_id, stage.rows = run.id, self._rows_of_job(run)
        if result.error is not None:
            raise result.error

    def _rows_of_job(self, run) -> int:
        """Rows the job and the templates it ran wrote."""
        children = [r for r in self.mk.runs.list(kind="template", limit=200) if r.parent_id == run.id]
        return run.rows_written + sum(r.rows_written for r in children)

    def _build(self, stage: Stage) -> None:
        from meshkit.models import BuildOptions, execute, open_project

        project = open_project(self.mk)
        report = execute(self.mk, project, BuildOptions("build", threads=2))
        stage.run_id, stage.rows = report.run.id, report.run.rows_written
        tests = [r for r in report.results if r.unique_id.startswith(("test.", "unit_test."))]
        stage.checks = [
            (_test_name(project, r.unique_id), r.status in ("pass", "warn"), r.message or "") for r in tests
        ]
        stage.checks_passed = sum(passed for _, passed, _ in stage.checks)
        stage.checks_failed = len(stage.checks) - stage.checks_passed
        stage.detail = f"{report.counts.get('success', 0)} models, {stage.checks_passed} tests passed"
        if report.failed:
            failed = [r for r in report.results if r.status in ("error", "fail")]
            stage.status = "user_error"
            stage.detail = "; ".join(f"{r.unique_id}: {r.message}" for r in failed[:3])

    def _checks(self, stage: Stage) -> None:
        from meshkit.models.checks import declared_checks
        from meshkit.quality.runner import run_all_checks

        report = run_all_checks(self.mk, declared_checks(self.mk))
        stage.run_id = report.run.id
        stage.checks = [(f"{r.dataset.split('/', 1)[1]}: {r.name}", r.status in ("pass", "warn"), r.message)
                        for r in report.results]  # fmt: skip
        stage.checks_passed = sum(passed for _, passed, _ in stage.checks)
        stage.checks_failed = len(stage.checks) - stage.checks_passed
        stage.detail = f"{len({r.dataset for r in report.results})} datasets"
        if stage.checks_failed:
            stage.status = "user_error"
            stage.detail = "; ".join(f"{name}: {message}" for name, ok, message in stage.checks if not ok)[
                :300
            ]

    def _publish(self, stage: Stage, path: Path) -> None:
        from meshkit.products.loader import load_product
        from meshkit.products.products import publish, verify_product

        product = load_product(path)
        stage.name, stage.domain = product.name, product.domain
        publish(self.mk, product)
        reports = verify_product(self.mk, product)
        results = [r for report in reports for r in report.results]
        stage.checks = [
            (f"{report.port}: {r.check}", r.passed, r.message) for report in reports for r in report.results
        ]
        stage.checks_passed = sum(r.passed for r in results)
        stage.checks_failed = sum(not r.passed for r in results)
        stage.detail = f"{product.name} {product.version}: {len(product.outputPorts)} ports"
        if stage.checks_failed:
            stage.status = "user_error"
            stage.detail = "; ".join(f"{r.check}: {r.message}" for r in results if not r.passed)[:300]

    def _policy_tests(self, stage: Stage) -> None:
        from meshkit.governance.governor import Governor
        from meshkit.governance.policy_tests import run_decision_tests

        engine = Governor(self.mk).engine
        results = run_decision_tests(engine) + engine.run_tests()
        stage.checks = [(r.name, r.passed, r.message) for r in results]
        stage.checks_passed = sum(r.passed for r in results)
        stage.checks_failed = len(results) - stage.checks_passed
        stage.detail = f"{len(results)} decisions tested"
        if stage.checks_failed:
            stage.status = "user_error"
            stage.detail = "; ".join(f"{r.name}: {r.message}" for r in results if not r.passed)[:300]

    def _read(self, user: str, role: str, purpose: str) -> None:
        from meshkit.governance import Subject
        from meshkit.governance.query import GovernedSQL

        read = GovernedRead(user, role, purpose, READ_SQL)

        def action(stage: Stage) -> None:
            governed = GovernedSQL(self.mk)
            plan = governed.plan(READ_SQL, Subject(user, role), purpose)
            read.actions = sorted({_describe(a) for d in plan.decisions for a in d.actions})
            table = governed.run(plan)
            read.columns, read.total_rows = table.column_names, table.num_rows
            read.rows = table.slice(0, 5).to_pylist()
            stage.rows = table.num_rows
            stage.detail = ", ".join(read.actions) or "no masking"

        stage = self.stage("query", f"{role} ({purpose})", "customer", action)
        if not stage.ok:
            read.error = stage.detail
        self.result.reads.append(read)


def _test_name(project, unique_id: str) -> str:
    node = project.nodes.get(unique_id)
    return node.name if node is not None else unique_id


def _describe(action) -> str:
    what = getattr(action, "column", None) or getattr(action, "predicate", None)
    return f"{action.type} {what}" if what else action.type


def run_demo(destination: str | Path, *, scale: float = 1.0, days: int = 2, source: str | Path | None = None,
             progress: Callable[[str], None] | None = None) -> DemoResult:  # fmt: skip
    """Copy the demo workspace to ``destination`` and run it end to end."""
    workspace = prepare_workspace(destination, source)
    return DemoRunner(workspace, scale, days=days, progress=progress).run()
