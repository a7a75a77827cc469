"""Concurrent ``meshkit run`` processes ingesting into one PostgreSQL table: a step is all-or-nothing."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import psycopg
import pytest

pytestmark = pytest.mark.integration

ROWS = 5_000
STEP = """
    def run(job_input):
        args = job_input.get_arguments()
        base = int(args["base"])
        for start in range(0, {rows}, 500):  # ten batches of 500: several are written during the step
            rows = [(base + i, "r") for i in range(start, start + 500)]
            job_input.send_tabular_data_for_ingestion(rows, ["id", "label"], args["table"])
        if str(args.get("fail")) == "1":
            raise RuntimeError("the step failed after sending its rows")
    """


@pytest.fixture
def loader(workspace, pg_dsn, pg_schema) -> Path:
    """A job sending ``ROWS`` rows to ``--arg table`` in batches of 1,000, failing with ``--arg fail=1``."""
    toml = workspace.root / "meshkit.toml"
    dsn = f"{pg_dsn}?options=-csearch_path%3D{pg_schema}"
    toml.write_text(toml.read_text().replace("[config]\n", f'[config]\npostgres_dsn = "{dsn}"\n', 1))
    folder = workspace.root / "jobs" / "loader"
    folder.mkdir(parents=True)
    (folder / "config.ini").write_text(
        "[vdk]\ndb_default_type = postgres\n\n[meshkit]\ningest_batch_rows = 1000\n"
    )
    (folder / "10_send.py").write_text(textwrap.dedent(STEP.format(rows=ROWS)))
    return workspace.root


def _start(root: Path, *args: str) -> subprocess.Popen:
    exe = Path(sys.executable).parent / "meshkit"
    command = [str(exe), "run", "loader", *(a for arg in args for a in ("--arg", arg))]
    return subprocess.Popen(command, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _ids(pg_dsn: str, schema: str, table: str) -> list[int]:
    with psycopg.connect(pg_dsn) as conn:
        return [r[0] for r in conn.execute(f'SELECT id FROM "{schema}"."{table}" ORDER BY id').fetchall()]


def test_a_failed_step_leaves_none_of_its_rows_and_runs_again_without_duplicates(loader, pg_dsn, pg_schema):
    for round_ in range(3):
        table = f"facts_{round_}"
        good = _start(loader, "base=0", f"table={table}")
        bad = _start(loader, f"base={10 * ROWS}", f"table={table}", "fail=1")
        (_, good_err), (_, bad_err) = good.communicate(timeout=120), bad.communicate(timeout=120)
        assert good.returncode == 0, good_err
        assert bad.returncode == 1 and "the step failed after sending its rows" in bad_err
        assert _ids(pg_dsn, pg_schema, table) == list(range(ROWS)), f"round {round_}"

        again = _start(loader, f"base={10 * ROWS}", f"table={table}")
        _, again_err = again.communicate(timeout=120)
        assert again.returncode == 0, again_err
        expected = list(range(ROWS)) + list(range(10 * ROWS, 11 * ROWS))
        assert _ids(pg_dsn, pg_schema, table) == expected, f"round {round_}"
