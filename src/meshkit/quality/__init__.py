"""Data quality: the ``checks:`` block (freshness, row counts, ranges, regex, schema, duplicates,
missing values, custom SQL) on any dataset of any store."""

from meshkit.core.lazy import lazy_exports

#: Loaded on first use: importing ``meshkit.quality.checks`` (a plugin of every start) then loads
#: no YAML or pydantic.
_EXPORTS = {"Check": "checks", "CheckResult": "runner", "run_all_checks": "runner", "run_checks": "runner"}
__all__ = sorted(_EXPORTS)
__getattr__ = lazy_exports(__name__, _EXPORTS)
