"""A transfer killed (SIGKILL) while rows are flowing leaves its destination exactly as it was."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from transfer_helpers import spec_yaml

from meshkit.testing import plugin_workspace

ROWS = 1_000_000
MESHKIT = str(Path(sys.executable).parent / "meshkit")


def _snapshot(dsn: str, table: str) -> list[tuple]:
    with psycopg.connect(dsn) as conn:
        return conn.execute(f"SELECT * FROM {table} ORDER BY id").fetchall()


def test_sigkill_mid_write_leaves_every_destination_unchanged(workspace, stores, pg_dsn, pg_schema):
    """Overwrite and merge into PostgreSQL (staged in a transaction) and overwrite of a Parquet file."""
    stores("pg", type="postgres", dsn=pg_dsn)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".big AS SELECT g::bigint AS id, md5(g::text) AS email, '
                     f"(g % 1000)::numeric(12, 2) AS amount FROM generate_series(1, {ROWS}) g")  # fmt: skip
        for dest in ("over", "merged"):
            conn.execute(f'CREATE TABLE "{pg_schema}".{dest} (id bigint, email text, amount numeric(12, 2))')
            conn.execute(
                f"INSERT INTO \"{pg_schema}\".{dest} VALUES (1, 'kept', 1.00), (2, 'kept', 2.00), (-5, 'mine', 0)"
            )
    before = {d: _snapshot(pg_dsn, f'"{pg_schema}".{d}') for d in ("over", "merged")}
    lake = workspace.root / "lake"
    lake.mkdir()
    (lake / "big.parquet").write_bytes(b"PAR1 not really, but it must stay as it is")
    digest = "  transformation:\n  - {action: Digest, columns: [email], options: {algo: sha512}}\n"
    specs = {
        "over": spec_yaml("kill-over", "pg", f"{pg_schema}.big", "pg", f"{pg_schema}.over"),
        "merged": spec_yaml(
            "kill-merged", "pg", f"{pg_schema}.big", "pg", f"{pg_schema}.merged", mode="merge", keys=["id"]
        ),
        "parquet": spec_yaml(
            "kill-pq", "pg", f"{pg_schema}.big", "lake", "big.parquet", transformation=digest
        ),
    }
    with plugin_workspace(
        workspace.root
    ) as mk:  # NOTE: migrate the metadata database once, not in three processes
        mk.runs  # noqa: B018
    procs = {}
    for dest, text in specs.items():
        path = workspace.root / f"{dest}.yaml"
        path.write_text(text)
        procs[dest] = subprocess.Popen([MESHKIT, "-w", str(workspace.root), "transfer", "apply", str(path)],
                                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)  # fmt: skip
    with psycopg.connect(pg_dsn, autocommit=True) as watcher:

        def copying(dest):
            found = watcher.execute("SELECT count(*) FROM pg_stat_activity WHERE query LIKE %s",
                                    (f'COPY "{pg_schema}"."{dest}__mk_stage_%',)).fetchone()[0]  # fmt: skip
            return found > 0

        flowing = {
            "over": lambda: copying("over"),
            "merged": lambda: copying("merged"),
            "parquet": lambda: any(".mk-tmp-" in p.name and p.stat().st_size > 0 for p in lake.iterdir()),
        }
        pending = dict(procs)
        deadline = time.monotonic() + 120
        while pending and time.monotonic() < deadline:
            for dest, proc in list(pending.items()):
                if proc.poll() is not None:
                    pytest.fail(
                        f"transfer {dest} ended (code {proc.returncode}) before it was killed: {proc.stdout.read()}"
                    )
                if flowing[dest]():
                    os.kill(proc.pid, signal.SIGKILL)
                    proc.wait(timeout=30)
                    assert proc.returncode == -signal.SIGKILL
                    del pending[dest]
            time.sleep(0.05)
        for proc in pending.values():
            proc.kill()
        assert not pending, f"rows never flowed into {', '.join(pending)}"
    deadline = time.monotonic() + 30  # the server notices the dropped connections and rolls back
    while _staging_tables(pg_dsn, pg_schema) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _staging_tables(pg_dsn, pg_schema) == []
    for dest in ("over", "merged"):
        assert _snapshot(pg_dsn, f'"{pg_schema}".{dest}') == before[dest]
    assert (lake / "big.parquet").read_bytes() == b"PAR1 not really, but it must stay as it is"


def _staging_tables(dsn: str, schema: str) -> list[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND "
                            "table_name LIKE '%%__mk_stage_%%'", (schema,)).fetchall()  # fmt: skip
    return [r[0] for r in rows]
