"""Process identity and the cleanup of what dead processes left in a workspace."""

from __future__ import annotations

import subprocess
import sys
import time

from meshkit.core.processes import NOTES, ProcessId, Scratch, is_alive, start_time, this_process


def _dead_process() -> ProcessId:
    """A process of this host that has ended (its pid and start time as it ran)."""
    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    process = ProcessId(this_process().host, child.pid, start_time(child.pid))
    child.communicate()
    return process


def test_a_process_is_alive_until_it_ends_and_a_reused_pid_is_not_it():
    me = this_process()
    assert is_alive(me) is True
    assert is_alive(_dead_process()) is False
    if me.start is not None:  # where start times are known, a newer process with the same pid is another one
        assert is_alive(ProcessId(me.host, me.pid, str(int(me.start) - 1))) is False
    assert is_alive(ProcessId("another-host.example", me.pid, me.start)) is None


def test_sweep_removes_only_dead_processes_litter_and_puts_back_an_asset_moved_aside(tmp_path):
    scratch = Scratch(tmp_path / "tmp")
    lake = tmp_path / "lake"
    lake.mkdir()
    dead = scratch.root / _dead_process().folder
    dead.mkdir(parents=True)
    (dead / "spill.tmp").write_bytes(b"x")
    half_written = lake / ".out.parquet.mk-tmp-0a1b2c3d.parquet"
    half_written.write_bytes(b"half")
    swapped = (
        lake / ".orders.mk-tmp-00ff00ff"
    )  # killed between moving `orders` aside and moving the new one in
    swapped.mkdir()
    (swapped / "part-1.parquet").write_bytes(b"new")
    (lake / ".orders.mk-tmp-00ff00ff-old").mkdir()
    (lake / ".orders.mk-tmp-00ff00ff-old" / "part-0.parquet").write_bytes(b"old")
    (dead / NOTES).write_text(f"{half_written}\n{swapped}\n")
    mine = lake / ".live.csv.mk-tmp-12345678.csv"
    scratch.note(str(mine))
    mine.write_bytes(b"being written")

    assert scratch.sweep() == 1
    assert not dead.exists() and not half_written.exists() and not swapped.exists()
    assert (lake / "orders" / "part-0.parquet").read_bytes() == b"old"
    assert mine.read_bytes() == b"being written" and scratch.folder.is_dir()
    assert sorted(p.name for p in lake.iterdir()) == [".live.csv.mk-tmp-12345678.csv", "orders"]


def test_a_killed_process_not_yet_reaped_is_dead():
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        process = ProcessId(this_process().host, child.pid, start_time(child.pid))
        assert is_alive(process) is True
        child.kill()
        deadline = time.monotonic() + 5
        while is_alive(process) and time.monotonic() < deadline:  # a zombie until waited for
            time.sleep(0.01)
        assert is_alive(process) is False
    finally:
        child.kill()
        child.wait()
