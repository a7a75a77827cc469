"""Every kind of run goes through one life cycle: run events, status from the error class, redaction.

A plugin that fails in ``run_started`` with each error class stands for a failure inside any kind
of run: the run must end with the class's status, its stored error redacted, and ``run_finished``
must fire, for jobs, templates, ``meshkit.job()``, model builds, checks, transfers and products.
"""

from __future__ import annotations

import sys
import textwrap
import uuid

import pytest

import meshkit
from meshkit.core.errors import ConfigError, PlatformError, UserError
from meshkit.testing import plugin_workspace

SECRET = "tok-9f8e7d6c5b"
LEAK = f"postgresql://ann:{SECRET}@db.example:5432/ops"

PLUGIN = """
from meshkit.core.hookspecs import hookimpl
from meshkit.core import errors

EVENTS = []
FAIL = {}  # run kind -> (error class name, message)


@hookimpl
def run_started(meshkit, run):
    EVENTS.append(("started", run.kind, run.id))
    if run.kind in FAIL:
        name, message = FAIL[run.kind]
        raise getattr(errors, name, None)(message) if hasattr(errors, name) else RuntimeError(message)


@hookimpl
def run_finished(meshkit, run):
    EVENTS.append(("finished", run.kind, run.id, run.status))


@hookimpl
def register_templates():
    import pathlib
    return {"touch": pathlib.Path(__file__).parent / "touch_template"}
"""

PRODUCT = """\
name: parts
version: 1.0.0
team: crm
inputPorts:
  - name: raw
    dataset: warehouse/raw_parts
outputPorts:
  - name: parts
    dataset: warehouse/parts
    contract:
      schema:
        - {name: id, logicalType: integer}
"""


@pytest.fixture
def events(tmp_path, monkeypatch):
    """A plugin module, registered through MESHKIT_PLUGINS, that records run events and fails on demand."""
    name = f"lifecycle_{uuid.uuid4().hex[:8]}"
    folder = tmp_path / "plugin"
    folder.mkdir()
    (folder / f"{name}.py").write_text(PLUGIN)
    (folder / "touch_template").mkdir()
    (folder / "touch_template" / "10_touch.sql").write_text(
        "CREATE OR REPLACE TABLE touched AS SELECT id FROM src"
    )
    monkeypatch.syspath_prepend(str(folder))
    monkeypatch.setenv("MESHKIT_PLUGINS", name)
    __import__(name)
    yield sys.modules[name]
    sys.modules.pop(name, None)


def _job(root, step: str) -> None:
    job = root / "jobs" / "j"
    job.mkdir(parents=True, exist_ok=True)
    (job / "10_step.py").write_text(textwrap.dedent(step))


def run_job_kind(mk, root):
    from meshkit.job.runner import run_job

    _job(root, "def run(job_input):\n    pass\n")
    return run_job(mk, "j", console=False)


def run_template_kind(mk, root):
    import pyarrow as pa

    from meshkit.job.runner import run_job

    mk.store("warehouse").write("src", pa.table({"id": [1, 2]}), mode="overwrite")
    _job(root, "def run(job_input):\n    job_input.execute_template('touch', {})\n")
    return run_job(mk, "j", console=False)


def run_standalone_kind(mk, root):
    _job(root, "def run(job_input):\n    pass\n")
    with meshkit.job(root / "jobs" / "j", workspace=root) as job_input:
        job_input.execute_query("SELECT 1")


def run_build_kind(mk, root):
    from meshkit.models.models import execute, open_project
    from meshkit.models.runner import BuildOptions

    (root / "models").mkdir(exist_ok=True)
    (root / "models" / "parts.sql").write_text("select 1 as id")
    (root / "models" / "part_ids.sql").write_text("select id from {{ ref('parts') }}")
    return execute(mk, open_project(mk), BuildOptions(command="build"))


def run_quality_kind(mk, root):
    from meshkit.models.checks import declared_checks
    from meshkit.quality.runner import run_all_checks

    return run_all_checks(mk, declared_checks(mk))


def run_transfer_kind(mk, root):
    import pyarrow as pa

    from meshkit.data.transfer import parse_transfer, run_transfer

    mk.store("warehouse").write("src", pa.table({"id": [1, 2]}), mode="overwrite")
    spec = textwrap.dedent("""\
        apiVersion: meshkit.io/v1
        kind: BatchTransfer
        metadata: {name: copy}
        spec:
          source: {store: warehouse, asset: src}
          destination: {store: warehouse, asset: dst, mode: overwrite}
    """)
    return run_transfer(mk, parse_transfer(spec, "copy.yaml"))


def run_publish_kind(mk, root):
    import pyarrow as pa

    from meshkit.products.loader import parse_product
    from meshkit.products.products import publish

    mk.store("warehouse").write("parts", pa.table({"id": [1]}), mode="overwrite")
    return publish(mk, parse_product(PRODUCT, "parts.yaml"))


def run_check_kind(mk, root):
    import pyarrow as pa

    from meshkit.products.loader import parse_product
    from meshkit.products.products import verify_product

    mk.store("warehouse").write("parts", pa.table({"id": [1]}), mode="overwrite")
    return verify_product(mk, parse_product(PRODUCT, "parts.yaml"))


KINDS = {
    "job": run_job_kind,
    "template": run_template_kind,
    "standalone": run_standalone_kind,
    "build": run_build_kind,
    "quality": run_quality_kind,
    "transfer": run_transfer_kind,
    "publish": run_publish_kind,
    "check": run_check_kind,
}
#: The kind of run record each runs under.
RECORD_KIND = {"standalone": "job"}
ERRORS = [("UserError", "user_error"), ("ConfigError", "user_error"), ("PlatformError", "platform_error"),
          ("RuntimeError", "platform_error")]  # fmt: skip


def _mk(workspace):
    instance = plugin_workspace(workspace.root)
    instance.redactor.add(SECRET)
    return instance


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_of_run_fires_started_and_finished(kind, workspace, events):
    mk = _mk(workspace)
    try:
        KINDS[kind](mk, workspace.root)
        record_kind = RECORD_KIND.get(kind, kind)
        ran = [r for r in mk.runs.list(limit=10) if r.kind == record_kind]
        assert ran and all(r.status == "succeeded" for r in ran), [(r.kind, r.status, r.error) for r in ran]
        for run in ran:
            assert ("started", record_kind, run.id) in events.EVENTS
            assert ("finished", record_kind, run.id, "succeeded") in events.EVENTS
    finally:
        mk.close()


@pytest.mark.parametrize(("error", "status"), ERRORS)
@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_of_run_maps_each_error_class_to_its_status(kind, error, status, workspace, events):
    record_kind = RECORD_KIND.get(kind, kind)
    # NOTE: `meshkit.job()` opens its own Meshkit, whose redactor knows no SECRET: only the URL's is there.
    bare = "" if kind == "standalone" else f" with {SECRET}"
    events.FAIL[record_kind] = (error, f"broke while talking to {LEAK}{bare}")
    mk = _mk(workspace)
    try:
        with (
            pytest.raises((UserError, ConfigError, PlatformError, RuntimeError))
            if kind != "template"
            else _any()
        ):
            KINDS[kind](mk, workspace.root)
        run = next(r for r in mk.runs.list(limit=10) if r.kind == record_kind)
        assert run.status == status, (run.status, run.error)
        assert "broke while talking to postgresql://ann" in run.error
        assert SECRET not in run.error
        assert ("finished", record_kind, run.id, status) in events.EVENTS
        assert not [r for r in mk.runs.list(limit=10) if r.status == "running"]
    finally:
        mk.close()


class _any:
    """A template's failure ends its calling step, whose job records it and returns."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_a_failing_finalize_hook_still_finishes_the_run(workspace, tmp_path, monkeypatch):
    from meshkit.core.hookspecs import hookimpl
    from meshkit.job.runner import run_job

    class Broken:
        @hookimpl
        def finalize_job(self, context, result):
            raise RuntimeError("the finalizer broke")

    _job(workspace.root, "def run(job_input):\n    pass\n")
    mk = plugin_workspace(workspace.root, plugins=[Broken()])
    try:
        with pytest.raises(RuntimeError, match="the finalizer broke"):
            run_job(mk, "j", console=False)
        (run,) = mk.runs.list(kind="job")
        assert run.status == "platform_error" and "the finalizer broke" in run.error
        assert run.ended_at is not None
    finally:
        mk.close()


def test_template_runs_are_in_the_catalog(workspace, events):
    import sqlalchemy as sa

    from meshkit.catalog.tables import lineage_edges

    mk = _mk(workspace)
    try:
        result = run_template_kind(mk, workspace.root)
        assert result.status == "succeeded", result.error
        (template,) = mk.runs.list(kind="template")
        assert template.status == "succeeded" and template.parent_id == mk.runs.list(kind="job")[0].id
        assert ("finished", "template", template.id, "succeeded") in events.EVENTS
        with mk.metadata.engine.connect() as conn:
            rows = (
                conn.execute(sa.select(lineage_edges).where(lineage_edges.c.run_id == template.id))
                .mappings()
                .all()
            )
        assert {(r["source"], r["target"], r["run_kind"]) for r in rows if not r["target_column"]} == {
            ("warehouse/src", "warehouse/touched", "template")
        }
    finally:
        mk.close()


def test_a_check_on_an_unreachable_store_is_a_platform_error_redacted(workspace, pg_dsn):
    from meshkit.models.checks import declared_checks
    from meshkit.quality.runner import run_all_checks

    (workspace.root / "checks").mkdir()
    (workspace.root / "checks" / "orders.yaml").write_text(
        "dataset: down/orders\nchecks:\n  - {type: row_count, min: 1}\n"
    )
    url = f"postgresql://ann:{SECRET}@127.0.0.1:1/ops"
    with (workspace.root / "meshkit.toml").open("a") as handle:
        handle.write(f'\n[stores.down]\ntype = "postgres"\ndsn = "{url}"\n')
    mk = plugin_workspace(workspace.root)
    try:
        with pytest.raises(PlatformError):
            run_all_checks(mk, declared_checks(mk))
        (run,) = mk.runs.list(kind="quality")
        assert run.status == "platform_error", run.error
        assert SECRET not in run.error
    finally:
        mk.close()
