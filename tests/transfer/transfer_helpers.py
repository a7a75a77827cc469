"""Helpers of the transfer tests: a sample table, spec text, running a transfer."""

from __future__ import annotations

import datetime as dt
import decimal

import pyarrow as pa

from meshkit.data.transfer import parse_transfer, run_transfer

ORDERS = pa.table({
    "id": pa.array([1, 2, 3, 4, 5], pa.int64()),
    "email": ["ann@example.org", "bob@example.org", None, "zoë@exämple.org", "eve@example.org"],
    "amount": pa.array([decimal.Decimal(v) for v in ("10.50", "0.01", "99999.99", "-3.00", "7.25")], pa.decimal128(12, 2)),
    "created": pa.array([dt.date(2024, 1, d) for d in (1, 2, 3, 4, 5)], pa.date32()),
    "updated_at": pa.array([dt.datetime(2024, 1, 1, 12, 0, s, 123456, tzinfo=dt.UTC) for s in range(5)], pa.timestamp("us", "UTC")),
    "paid": [True, False, None, True, False],
})  # fmt: skip


def spec_yaml(name: str, source: str, source_asset: str, dest: str, dest_asset: str, *, mode: str = "overwrite",
              keys: list[str] | None = None, transformation: str = "", extra: str = "") -> str:  # fmt: skip
    keys_line = f"\n    keys: [{', '.join(keys)}]" if keys else ""
    return f"""\
apiVersion: meshkit.io/v1
kind: BatchTransfer
metadata:
  name: {name}
spec:
  source:
    store: {source}
    asset: {source_asset}
  destination:
    store: {dest}
    asset: {dest_asset}
    mode: {mode}{keys_line}
  maxFailedRetries: 1
  retryBackoffSeconds: 0.05
{transformation}{extra}"""


def transfer(mk, text: str):
    """Run a transfer given as YAML text."""
    return run_transfer(mk, parse_transfer(text))
