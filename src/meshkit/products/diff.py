"""Changes between two versions of a product, and which of them break consumers.

Breaking: a removed output port or column, a changed logical type, a physical type that is not a
widening, a new required column, a constraint tightened (required, unique, primary key, length,
range, pattern), a looser freshness SLA, a changed port dataset. Everything else (added optional
columns, descriptions, tags, loosened constraints, classification) is reported but not breaking.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from meshkit.products.spec import Column, OutputPort, Product

Severity = Literal["breaking", "compatible"]

#: Physical types each type may widen to without breaking readers.
WIDENINGS = {
    "TINYINT": {"SMALLINT", "INTEGER", "BIGINT", "HUGEINT"},
    "SMALLINT": {"INTEGER", "BIGINT", "HUGEINT"},
    "INTEGER": {"BIGINT", "HUGEINT"},
    "BIGINT": {"HUGEINT"},
    "REAL": {"DOUBLE"},
    "FLOAT": {"DOUBLE"},
    "DATE": {"TIMESTAMP"},
}
_ALIASES = {"INT": "INTEGER", "INT4": "INTEGER", "INT8": "BIGINT", "INT2": "SMALLINT", "FLOAT4": "REAL",
            "FLOAT8": "DOUBLE", "TEXT": "VARCHAR", "STRING": "VARCHAR", "BOOL": "BOOLEAN"}  # fmt: skip
_UNITS = {"s": 1, "sec": 1, "second": 1, "seconds": 1, "m": 60, "min": 60, "minute": 60, "minutes": 60,
          "h": 3600, "hr": 3600, "hour": 3600, "hours": 3600, "d": 86400, "day": 86400, "days": 86400}  # fmt: skip


@dataclass(frozen=True)
class Change:
    """One difference between versions."""

    severity: Severity
    kind: str
    port: str
    column: str | None
    message: str

    def as_dict(self) -> dict[str, str | None]:
        return {"severity": self.severity, "kind": self.kind, "port": self.port, "column": self.column,
                "message": self.message}  # fmt: skip


def _base_type(physical: str) -> tuple[str, int | None]:
    match = re.match(r"^\s*([A-Za-z ]+?)\s*(?:\((\d+)(?:\s*,\s*\d+)?\))?\s*$", physical or "")
    if not match:
        return physical.upper(), None
    name = _ALIASES.get(match[1].upper(), match[1].upper())
    return name, int(match[2]) if match[2] else None


def is_widening(old: str, new: str) -> bool:
    """Whether physical type ``new`` holds every value of ``old`` (``INT`` -> ``BIGINT``, ``VARCHAR(10)`` -> ``VARCHAR(20)``)."""
    (old_name, old_len), (new_name, new_len) = _base_type(old), _base_type(new)
    if old_name == new_name:
        return new_len is None or (old_len is not None and new_len >= old_len)
    return new_name in WIDENINGS.get(old_name, set())


def seconds(value, unit: str | None) -> float | None:
    """A duration in seconds from an SLA value and unit (default hours)."""
    try:
        return float(value) * _UNITS.get((unit or "h").lower(), 3600)
    except (TypeError, ValueError):
        return None


def _tightened_options(old: dict, new: dict) -> list[str]:
    found = []
    for key, tighter in (("minLength", lambda a, b: b > a), ("maxLength", lambda a, b: b < a),
                         ("minimum", lambda a, b: b > a), ("maximum", lambda a, b: b < a),
                         ("exclusiveMinimum", lambda a, b: b > a), ("exclusiveMaximum", lambda a, b: b < a)):  # fmt: skip
        if key in new and (key not in old or tighter(old[key], new[key])):
            found.append(f"{key} {old.get(key, 'unset')} -> {new[key]}")
    for key in ("pattern", "format"):
        if key in new and old.get(key) != new[key]:
            found.append(f"{key} {old.get(key, 'unset')!r} -> {new[key]!r}")
    return found


def _column_changes(port: str, old: Column, new: Column) -> list[Change]:
    changes = []

    def add(severity: Severity, kind: str, message: str) -> None:
        changes.append(Change(severity, kind, port, new.name, message))

    if old.logicalType != new.logicalType and old.logicalType and new.logicalType:
        add("breaking", "column_retyped", f"logical type {old.logicalType} -> {new.logicalType}")
    if old.physicalType and new.physicalType and _base_type(old.physicalType) != _base_type(new.physicalType):
        widening = is_widening(old.physicalType, new.physicalType)
        add("compatible" if widening else "breaking", "column_retyped",
            f"physical type {old.physicalType} -> {new.physicalType}" + (" (widening)" if widening else ""))  # fmt: skip
    for flag in ("required", "unique", "primaryKey"):
        before, after = getattr(old, flag), getattr(new, flag)
        if before != after:
            add("breaking" if after else "compatible", "constraint_tightened" if after else "constraint_loosened",
                f"{flag} {str(before).lower()} -> {str(after).lower()}")  # fmt: skip
    tightened = _tightened_options(old.logicalTypeOptions or {}, new.logicalTypeOptions or {})
    for text in tightened:
        add("breaking", "constraint_tightened", text)
    if not tightened and (old.logicalTypeOptions or {}) != (new.logicalTypeOptions or {}):
        add("compatible", "constraint_loosened", "logicalTypeOptions loosened")
    if old.classification != new.classification or sorted(old.tags) != sorted(new.tags):
        add("compatible", "classification_changed",
            f"classification/tags {old.classification}/{old.tags} -> {new.classification}/{new.tags}")  # fmt: skip
    if old.description != new.description:
        add("compatible", "description_changed", "description changed")
    return changes


def _freshness(port: OutputPort) -> float | None:
    sla = next((s for s in port.contract.slaProperties if s.property.lower() == "freshness"), None)
    return seconds(sla.value, sla.unit) if sla else None


def _port_changes(old: OutputPort, new: OutputPort) -> list[Change]:
    changes = []
    if old.dataset != new.dataset:
        changes.append(
            Change("breaking", "port_moved", new.name, None, f"dataset {old.dataset} -> {new.dataset}")
        )
    for column in old.contract.schema_:
        if new.contract.column(column.name) is None:
            changes.append(Change("breaking", "column_removed", new.name, column.name, "column removed"))
    for column in new.contract.schema_:
        before = old.contract.column(column.name)
        if before is None:
            severity: Severity = "breaking" if column.required or column.primaryKey else "compatible"
            changes.append(Change(severity, "column_added", new.name, column.name,
                                  "required column added" if severity == "breaking" else "optional column added"))  # fmt: skip
        else:
            changes.extend(_column_changes(new.name, before, column))
    old_rules = {r.label() for r in old.contract.quality}
    for rule in new.contract.quality:
        if rule.label() not in old_rules:
            changes.append(Change("compatible", "quality_rule_added", new.name, None, rule.label()))
    before, after = _freshness(old), _freshness(new)
    if before is not None and (after is None or after > before):
        changes.append(
            Change("breaking", "sla_loosened", new.name, None, f"freshness {before:g}s -> {after or 'none'}s")
        )
    elif after is not None and (before is None or after < before):
        changes.append(
            Change(
                "compatible", "sla_tightened", new.name, None, f"freshness {before or 'none'}s -> {after:g}s"
            )
        )
    return changes


def diff_products(old: Product, new: Product) -> list[Change]:
    """Every change from ``old`` to ``new``, breaking ones first."""
    changes = []
    for port in old.outputPorts:
        if new.port(port.name) is None:
            changes.append(Change("breaking", "port_removed", port.name, None, "output port removed"))
    for port in new.outputPorts:
        before = old.port(port.name)
        if before is None:
            changes.append(Change("compatible", "port_added", port.name, None, "output port added"))
        else:
            changes.extend(_port_changes(before, port))
    return sorted(changes, key=lambda c: (c.severity != "breaking", c.port, c.column or "", c.kind))


def breaking(changes: list[Change]) -> list[Change]:
    return [c for c in changes if c.severity == "breaking"]
