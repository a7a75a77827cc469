"""Table lineage of the SQL a job runs: which tables each statement reads and writes."""

from __future__ import annotations

from meshkit.core.lazy import lazy_import
from meshkit.core.lineage import Lineage

sqlglot = lazy_import("sqlglot")


def _name(table) -> str:
    return ".".join(part for part in (table.db, table.name) if part)


def statement_lineage(sql: str, dialect: str | None) -> tuple[set[str], set[str]]:
    """``(reads, writes)``: table names ``sql`` reads from and writes to (empty if it cannot be parsed)."""
    exp = sqlglot.exp
    try:
        tree = sqlglot.parse_one(sql, read=dialect)
    except (sqlglot.errors.ParseError, sqlglot.errors.TokenError, ValueError):
        return set(), set()
    if tree is None:
        return set(), set()
    writes: set[str] = set()
    target = None
    if isinstance(tree, (exp.Insert, exp.Create, exp.Merge, exp.Update, exp.Delete)):
        target = tree.find(exp.Table) if not isinstance(tree.this, exp.Table) else tree.this
        if isinstance(tree, exp.Create) and tree.kind not in ("TABLE", "VIEW"):
            target = None
        if target is not None:
            writes.add(_name(target))
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    reads = {_name(t) for t in tree.find_all(exp.Table) if t is not target and t.name and t.name not in ctes}
    return reads, writes


def record(lineage: Lineage, store: str, reads: set[str], writes: set[str]) -> None:
    """Add one statement's reads and writes, on ``store``, to a run's lineage."""
    if not reads and not writes:
        return
    lineage.transformation = lineage.transformation or "sql"
    if not writes:
        lineage.read(*sorted(f"{store}/{r}" for r in reads))
        return
    lineage.wrote(*sorted(f"{store}/{w}" for w in writes))
    for source, target in sorted((f"{store}/{r}", f"{store}/{w}") for r in reads for w in writes):
        lineage.link(source, target)
