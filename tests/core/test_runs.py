import uuid

import pytest
import sqlalchemy as sa

from meshkit.core.metadata import MetadataDB
from meshkit.core.runs import RunStore, StepRecord, now
from meshkit.core.statuses import RUN_STATUSES


def exercise(store: RunStore):
    run = store.create("job", "orders", arguments={"day": "2024-01-01"}, team="sales")
    assert run.status == "submitted"
    store.start(run)
    step = StepRecord(1, "10_load.sql", "running", started_at=now())
    store.save_step(run, step)
    step.status, step.ended_at, step.rows_written = "succeeded", now(), 42
    store.save_step(run, step)
    run.rows_written = 42
    store.finish(run, "succeeded")
    loaded = store.get(run.id)
    assert loaded.status == "succeeded" and loaded.rows_written == 42 and loaded.team == "sales"
    assert loaded.arguments == {"day": "2024-01-01"}
    assert [(s.name, s.status, s.rows_written) for s in loaded.steps] == [("10_load.sql", "succeeded", 42)]
    assert loaded.duration >= 0 and loaded.started_at.tzinfo is not None
    other = store.create("transfer", "copy")
    store.finish(other, "user_error", "boom")
    assert [r.id for r in store.list(name="orders")] == [run.id]
    assert [r.id for r in store.list(status="user_error")] == [other.id]
    assert {r.id for r in store.list()} == {run.id, other.id}


def test_runs_on_sqlite(tmp_path):
    db = MetadataDB(f"sqlite:///{tmp_path / 'metadata.db'}")
    exercise(RunStore(db))
    MetadataDB(f"sqlite:///{tmp_path / 'metadata.db'}")  # second open: already at head


def test_runs_on_postgres(pg_dsn):
    import psycopg

    name = f"mk_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = sa.engine.make_url(pg_dsn.replace("postgresql://", "postgresql+psycopg://", 1)).set(database=name)
    try:
        db = MetadataDB(url.render_as_string(hide_password=False))
        exercise(RunStore(db))
        db.dispose()
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')


def test_statuses_are_the_documented_vocabulary():
    assert RUN_STATUSES == (
        "submitted",
        "running",
        "succeeded",
        "cancelled",
        "skipped",
        "user_error",
        "platform_error",
    )


def test_bad_metadata_url_is_a_config_error():
    from meshkit.core.errors import ConfigError

    with pytest.raises(ConfigError, match="metadata_url"):
        MetadataDB("nosuchdialect://x")


def _open(url: str) -> str:
    MetadataDB(url).dispose()
    return "ok"


def test_processes_opening_a_fresh_database_at_once_migrate_it_once(tmp_path):
    import multiprocessing

    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert pool.map(_open, [url] * 4) == ["ok"] * 4
    assert RunStore(MetadataDB(url)).list() == []


def test_migration_heads_match_alembic():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from meshkit.core.metadata import MIGRATIONS, migration_heads

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert migration_heads() == set(ScriptDirectory.from_config(config).get_heads())


def _stored_steps(db: MetadataDB, run_id: str) -> list[tuple[str, str]]:
    """What another reader of the database sees of a run's steps."""
    from meshkit.core.metadata import run_steps

    query = sa.select(run_steps.c.name, run_steps.c.status).where(run_steps.c.run_id == run_id)
    with db.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(query.order_by(run_steps.c.position))]


def test_a_short_run_writes_its_steps_with_its_end(tmp_path, monkeypatch):
    monkeypatch.setattr("meshkit.core.runs.STEP_FLUSH_SECONDS", 60.0)
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    store, reader = RunStore(MetadataDB(url)), MetadataDB(url)
    run = store.create("job", "orders")
    store.start(run)
    step = StepRecord(1, "10_load.sql", "running", started_at=now())
    store.save_step(run, step)
    assert _stored_steps(reader, run.id) == []  # waiting for the run's next save
    step.status, step.ended_at = "succeeded", now()
    store.save_step(run, step)
    store.finish(run, "succeeded")
    assert _stored_steps(reader, run.id) == [("10_load.sql", "succeeded")]


def test_a_long_step_shows_as_running(tmp_path, monkeypatch):
    import time

    monkeypatch.setattr("meshkit.core.runs.STEP_FLUSH_SECONDS", 0.2)
    url = f"sqlite:///{tmp_path / 'metadata.db'}"
    store, reader = RunStore(MetadataDB(url)), MetadataDB(url)
    run = store.create("job", "orders")
    store.start(run)
    store.save_step(run, StepRecord(1, "10_load.sql", "running", started_at=now()))
    deadline = time.monotonic() + 10
    while not _stored_steps(reader, run.id) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _stored_steps(reader, run.id) == [("10_load.sql", "running")]
    assert store.get(run.id).steps[0].status == "running"
