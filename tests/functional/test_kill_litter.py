"""A process killed (SIGKILL) mid-write leaves litter; the next command cleans it and ends its runs.

Real ``meshkit transfer apply`` and ``meshkit run`` processes are killed while a hidden temporary
file (``.NAME.mk-tmp-*``) is being written; a live process writing at the same time keeps its own
temporary file and its run.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from meshkit.core.runs import ABANDONED
from meshkit.testing import plugin_workspace

MESHKIT = str(Path(sys.executable).parent / "meshkit")
ROWS = 1_000_000

TRANSFER = """\
apiVersion: meshkit.io/v1
kind: BatchTransfer
metadata:
  name: {name}
spec:
  source: {{store: src, asset: big.parquet}}
  destination: {{store: lake, asset: {asset}, mode: overwrite}}
  transformation:
  - {{action: Digest, columns: [email], options: {{algo: sha512}}}}
"""

JOB_STEP = """\
import pyarrow as pa

def run(job_input):
    (job_input.get_temporary_write_directory() / "scratch.txt").write_text("mine")
    n = {rows}
    table = pa.table({{"id": pa.array(range(n), pa.int64()), "email": pa.array([f"user{{i}}@example.org" for i in range(n)])}})
    job_input.send_tabular_data_for_ingestion(table, table.column_names, destination_table="events.csv",
                                              method="files", target="lake")
"""

# A live writer: a run in progress, and a write held open after its first batch.
LIVE = """\
import sys, time
import pyarrow as pa
from meshkit.core.context import Meshkit

mk = Meshkit.open(sys.argv[1])
run = mk.runs.create("transfer", "live")
mk.runs.start(run)
schema = pa.schema([("id", pa.int64())])

def batches():
    yield pa.record_batch([pa.array([1, 2, 3], pa.int64())], schema=schema)
    print("writing", flush=True)
    time.sleep(600)

mk.store("lake").write("live.csv", pa.RecordBatchReader.from_batches(schema, batches()), mode="overwrite")
"""


def _temporaries(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if ".mk-tmp-" in p.name]


def _kill_mid_write(args: list[str], lake: Path, pattern: str) -> None:
    proc = subprocess.Popen([MESHKIT, *args], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise AssertionError(
                    f"{args} ended (code {proc.returncode}) before it was killed: {proc.stdout.read()}"
                )
            if any(pattern in p.name and p.is_file() and p.stat().st_size > 0 for p in lake.rglob(".*")):
                os.kill(proc.pid, signal.SIGKILL)
                assert proc.wait(timeout=30) == -signal.SIGKILL
                return
            time.sleep(0.01)
        raise AssertionError(f"{args} never wrote a temporary file")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_next_command_cleans_what_killed_processes_left(workspace, cli):
    root = workspace.root
    (root / "meshkit.toml").write_text(
        (root / "meshkit.toml").read_text()
        + '\n[stores.src]\ntype = "files"\npath = "src"\n\n[stores.lake]\ntype = "files"\npath = "lake"\n'
    )
    (root / "src").mkdir()
    lake = root / "lake"
    lake.mkdir()
    emails = pa.array([f"user{i}@example.org" for i in range(ROWS)])
    pq.write_table(
        pa.table({"id": pa.array(range(ROWS), pa.int64()), "email": emails}), root / "src" / "big.parquet"
    )
    (lake / "copy.parquet").write_bytes(b"the old copy, kept")
    for name, asset in (("to-csv", "out.csv"), ("to-parquet", "copy.parquet")):
        (root / f"{name}.yaml").write_text(TRANSFER.format(name=name, asset=asset))
    job = root / "jobs" / "ingest"
    job.mkdir(parents=True)
    (job / "10_ingest.py").write_text(JOB_STEP.format(rows=ROWS))
    with plugin_workspace(root) as mk:  # NOTE: migrate the metadata database once, before the processes
        mk.runs  # noqa: B018

    live = subprocess.Popen([sys.executable, "-c", LIVE, str(root)], stdout=subprocess.PIPE, text=True)
    try:
        assert live.stdout.readline().strip() == "writing"
        live_temporaries = _temporaries(lake)
        assert len(live_temporaries) == 1

        _kill_mid_write(
            ["-w", str(root), "transfer", "apply", str(root / "to-csv.yaml")], lake, "out.csv.mk-tmp-"
        )
        _kill_mid_write(
            ["-w", str(root), "transfer", "apply", str(root / "to-parquet.yaml")],
            lake,
            "copy.parquet.mk-tmp-",
        )
        _kill_mid_write(["-w", str(root), "run", "ingest"], lake, "events.csv.mk-tmp-")
        # Each command cleans what the ones killed before it left: the last one's litter is still there.
        assert len(_temporaries(lake)) >= 2  # the live writer's and the job's
        assert len(list((root / ".meshkit" / "tmp").rglob("ingest-*/scratch.txt"))) == 1

        result = cli("runs", "--json")  # the next command, whatever it is
        assert result.exit_code == 0, result.output
        runs = {r["name"]: r for r in json.loads(result.stdout)}
        for name in ("to-csv", "to-parquet", "ingest"):
            assert runs[name]["status"] == "platform_error", runs[name]
            assert runs[name]["error"].startswith(ABANDONED), runs[name]
        assert runs["live"]["status"] == "running"
        assert _temporaries(lake) == live_temporaries  # the live writer's file survives
        assert len(list((root / ".meshkit" / "tmp").iterdir())) == 1
        assert (lake / "copy.parquet").read_bytes() == b"the old copy, kept"
        assert not (lake / "out.csv").exists() and not (lake / "events.csv").exists()
        for name in ("to-csv", "to-parquet"):
            status = json.loads(cli("transfer", "status", name, "--json").stdout)
            assert status["phase"] == "Failed" and status["error"].startswith(ABANDONED), status
            assert status["history"][0]["phase"] == "Failed"
        steps = cli("runs", "show", runs["ingest"]["id"]).stdout
        assert re.search(r"10_ingest.py +platform_error", steps), steps
        events = [
            json.loads(line)
            for line in (root / ".meshkit" / "openlineage" / "events.jsonl").read_text().splitlines()
        ]
        assert {e["job"]["name"] for e in events if e["eventType"] == "FAIL"} == {
            "to-csv",
            "to-parquet",
            "ingest",
        }
    finally:
        live.kill()
        live.wait()
    result = cli("runs", "--json", "--name", "live")  # killed too: now its litter goes
    assert json.loads(result.stdout)[0]["status"] == "platform_error"
    assert _temporaries(lake) == []
    assert list((root / ".meshkit" / "tmp").iterdir()) == []
