"""Run ``checks:`` blocks on any dataset of any store, as Run records.

The checks run on an engine (the workspace's, a checks file's ``engine:`` or ``--engine``), which
reads the dataset where it is: DuckDB tables in place, PostgreSQL and Parquet through scans that
stream, Spark through JDBC. All checks of a dataset run as one SQL statement. Checks are declared on
models and sources in properties YAML, and in ``checks/*.yaml`` files of the workspace::

    dataset: warehouse/orders        # store/asset
    checks:
      - {type: row_count, min: 1}
      - {type: freshness, column: updated_at, max_age: 24h, severity: warn}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from meshkit.core.errors import ConfigError, UserError
from meshkit.core.lifecycle import recorded_run
from meshkit.core.runs import RunRecord
from meshkit.core.specs import read_yaml
from meshkit.engines import Engine, open_engine
from meshkit.quality.checks import Check, Schema
from meshkit.quality.scans import RELATION, DatasetScans, bounded

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit


@dataclass
class CheckResult:
    """The outcome of one check on one dataset."""

    dataset: str
    name: str
    type: str
    status: str  # pass, warn, fail, error
    value: Any = None
    message: str = ""

    def as_quality(self) -> dict[str, Any]:
        """The shape the catalog stores: ``{check, passed, observed, message}``."""
        return {"check": self.name, "type": self.type, "passed": self.status in ("pass", "warn"), "status": self.status,
                "observed": _jsonable(self.value), "message": self.message}  # fmt: skip


@dataclass
class CheckReport:
    run: RunRecord
    results: list[CheckResult] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return sum(r.status in ("fail", "error") for r in self.results)


def _jsonable(value: Any) -> Any:
    return value if value is None or isinstance(value, int | float | str | bool) else str(value)


def check_types(meshkit: Meshkit) -> dict[str, type[Check]]:
    """Every registered check type by name."""
    return meshkit.registry("check_types")


def make_checks(meshkit: Meshkit, specs: list[dict[str, Any]], where: str) -> list[Check]:
    types = check_types(meshkit)
    checks = []
    for spec in specs:
        if not isinstance(spec, dict) or "type" not in spec:
            raise ConfigError(
                f"A check needs a `type` (got {spec!r}).",
                where=where,
                hint=f"Use one of: {', '.join(sorted(types))}.",
            )
        if spec["type"] not in types:
            raise ConfigError(
                f"Unknown check type `{spec['type']}`.",
                where=where,
                hint=f"Use one of: {', '.join(sorted(types))}.",
            )
        checks.append(types[spec["type"]](spec, where))
    return checks


def _evaluate(engine: Engine, scans: DatasetScans, dataset: str, checks: list[Check]) -> list[CheckResult]:
    results: list[CheckResult] = []
    columns = None
    if any(isinstance(c, Schema) for c in checks):
        columns = engine.column_types(scans.relation)  # NOTE: binds the relation without reading it
    scalar = [c for c in checks if not isinstance(c, Schema)]
    # NOTE: the aggregates share one scan of the dataset: a remote table streams through once, never held.
    folded = [c for c in scalar if c.aggregate() is not None]
    alone = [c for c in scalar if c.aggregate() is None]
    values = scans.values(
        [c.aggregate() for c in folded], [(f"SELECT {c.expression(RELATION)}", c.reads()) for c in alone]
    )
    scalar = folded + alone
    by_check = dict(zip(map(id, scalar), values, strict=True))
    for check in checks:
        if isinstance(check, Schema):
            status, message = check.judge_columns(columns)
            value = None
        else:
            value = by_check[id(check)]
            if isinstance(value, Exception):
                results.append(
                    CheckResult(dataset, check.name, check.type, "error", None, str(value).replace("\n", " "))
                )
                continue
            status, message = check.judge(value)
        if status == "fail" and check.severity == "warn":
            status = "warn"
        results.append(CheckResult(dataset, check.name, check.type, status, value, message))
    return results


def run_checks(meshkit: Meshkit, store_name: str, asset: str, specs: list[dict[str, Any]], *,
               where: str = "checks", engine: str | None = None) -> list[CheckResult]:  # fmt: skip
    """Run ``specs`` on ``asset`` of store ``store_name`` on ``engine``; no Run record (callers keep the results).

    The engine reads the dataset where it lies (a DuckDB table in place, PostgreSQL through its
    scanner, files, JDBC on Spark); a dataset the engine can only stream is read again for each
    check that cannot share the one scan (:class:`meshkit.quality.scans.DatasetScans`).
    """
    checks = make_checks(meshkit, specs, where)
    dataset = f"{store_name}/{asset}"
    store = meshkit.store(store_name)
    if store.type == "duckdb" and not store.exists(asset) and "." not in asset:
        raise UserError(f"Dataset `{dataset}` does not exist.", where=where, hint="Build or load it first.")
    with open_engine(meshkit, engine, stores=(store,), where=where) as runner, bounded(meshkit, runner):
        scans = DatasetScans(runner, store, asset)
        try:
            return _evaluate(runner, scans, dataset, checks)
        finally:
            scans.close()


#: A ``checks:`` block: ``(store, asset, check specs, where it is declared, engine or None)``.
CheckBlock = tuple[str, str, list[dict[str, Any]], str, str | None]


def workspace_checks(meshkit: Meshkit) -> list[CheckBlock]:
    """The blocks of the workspace's ``checks/*.yaml`` files."""
    out = []
    folder = meshkit.workspace.root / "checks"
    for path in sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")]) if folder.is_dir() else []:
        rel = str(path.relative_to(meshkit.workspace.root))
        data = read_yaml(path, rel).data
        for block in data if isinstance(data, list) else [data]:
            if not isinstance(block, dict) or "/" not in str(block.get("dataset", "")):
                raise ConfigError("A checks file needs `dataset: store/asset` and `checks:`.", where=rel)
            store, asset = str(block["dataset"]).split("/", 1)
            out.append((store, asset, list(block.get("checks") or []), rel, block.get("engine")))
    return out


def run_all_checks(meshkit: Meshkit, blocks: list[CheckBlock], *, names: list[str] | None = None,
                   engine: str | None = None) -> CheckReport:  # fmt: skip
    """Run the ``checks:`` ``blocks`` (those of ``names`` when given) as one Run of kind ``quality``.

    The models layer collects the blocks of a workspace: ``meshkit.models.checks.declared_checks``.
    ``engine`` (``--engine``) runs them all there; else a checks file's ``engine:``, else the workspace's.
    """
    declared = [b for b in blocks if b[1] in names or f"{b[0]}/{b[1]}" in names] if names else blocks
    with recorded_run(meshkit, "quality", meshkit.workspace.name, arguments={"names": names or []}) as run:
        report = CheckReport(run)
        try:
            for store, asset, specs, where, chosen in declared:
                report.results += run_checks(
                    meshkit, store, asset, specs, where=where, engine=engine or chosen
                )
        finally:
            quality: dict[str, list] = {}
            for r in report.results:
                quality.setdefault(r.dataset, []).append(r.as_quality())
            run.details = {
                "quality": quality,
                "counts": {
                    s: sum(r.status == s for r in report.results) for s in ("pass", "warn", "fail", "error")
                },
            }
        if report.failed:
            run.status, run.error = "user_error", f"{report.failed} of {len(report.results)} checks failed"
    return report
