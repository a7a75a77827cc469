"""Data quality: the ``checks:`` block (freshness, row counts, ranges, regex, schema, duplicates,
missing values, custom SQL) on any dataset of any store."""

from meshkit.quality.checks import Check
from meshkit.quality.runner import CheckResult, run_all_checks, run_checks

__all__ = ["Check", "CheckResult", "run_all_checks", "run_checks"]
