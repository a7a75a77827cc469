"""Two jobs on one ``Meshkit``: each run sees its own ``config.ini``, stores and helper modules only."""

from __future__ import annotations

import sys

from meshkit.job.runner import run_job

HELPER_STEP = """
import helpers

def run(job_input):
    job_input.set_all_properties({"said": helpers.WORD, "retries": job_input._meshkit.config.get("connection_retries")})
"""


def test_two_jobs_in_one_meshkit_do_not_share_config_or_modules(mk, make_job):
    make_job("a", {"config.ini": "[meshkit]\nconnection_retries = 7\n", "helpers/__init__.py": "WORD = 'from a'\n",
                   "10_say.py": HELPER_STEP})  # fmt: skip
    make_job("b", {"helpers/__init__.py": "WORD = 'from b'\n", "10_say.py": HELPER_STEP})
    default = mk.config.get("connection_retries")
    path_before, modules_before = list(sys.path), set(sys.modules)

    first = run_job(mk, "a", console=False)
    second = run_job(mk, "b", console=False)

    assert first.ok and second.ok, (first.error, second.error)
    properties = mk.backend("properties")
    assert properties.get_all("a") == {"said": "from a", "retries": 7}
    assert properties.get_all("b") == {"said": "from b", "retries": default}
    assert mk.config.get("connection_retries") == default
    assert sys.path == path_before
    assert {
        n for n in set(sys.modules) - modules_before if n == "helpers" or n.startswith("meshkit_run")
    } == set()


def test_a_job_store_declaration_ends_with_its_run(mk, make_job, tmp_path):
    make_job("a", {"config.ini": f"[vdk_side]\nsqlite_file = {tmp_path / 'side.db'}\n",
                   "10_make.sql": "[side]\nCREATE TABLE t AS SELECT 1 AS x"})  # fmt: skip
    make_job("b", {"10_read.sql": "[side]\nSELECT * FROM t"})

    assert run_job(mk, "a", console=False).ok
    assert "side" not in mk.store_settings
    second = run_job(mk, "b", console=False)
    assert not second.ok
    assert "side" in str(second.error)


def test_step_modules_import_under_a_name_of_their_run(mk, make_job):
    make_job(
        "a", {"10_name.py": "def run(job_input):\n    job_input.set_all_properties({'name': __name__})\n"}
    )
    assert run_job(mk, "a", console=False).ok
    assert run_job(mk, "a", console=False).ok
    name = mk.backend("properties").get_all("a")["name"]
    assert name.startswith("meshkit_run") and name.endswith("_a_10_name")


def test_threads_share_one_store_and_one_metadata_database(mk):
    import threading

    barrier = threading.Barrier(8)
    seen = []

    def open_both():
        barrier.wait()
        seen.append((mk.store("sqlite"), mk.metadata))

    threads = [threading.Thread(target=open_both) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(store) for store, _ in seen}) == 1
    assert len({id(metadata) for _, metadata in seen}) == 1
