"""The PostgreSQL-wire endpoint: psql, psycopg and SQLAlchemy get what ``meshkit query`` gives each role."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from conftest import TOKENS
from meshkit.governance import Subject, audit
from meshkit.governance.query import GovernedSQL
from meshkit.serving.pgwire import GovernedPgServer, startup_settings, substitute
from meshkit.testing import run_cli

psycopg = pytest.importorskip("psycopg")
ROLES = {"sam": "steward", "ann": "analyst", "mo": "marketer"}
SQL = "SELECT * FROM customers ORDER BY id"


@pytest.fixture(scope="module")
def pg(shared_governed):
    server = GovernedPgServer(shared_governed)
    server.start()
    yield server
    server.shutdown()
    server.server_close()


def connect(pg, user: str, **kw):
    return psycopg.connect(host="127.0.0.1", port=pg.port, user=user, password=TOKENS[user], dbname="meshkit",
                           sslmode="disable", autocommit=True, **kw)  # fmt: skip


def expected(mk, user: str, sql: str = SQL, purpose: str | None = None) -> list[tuple]:
    table = GovernedSQL(mk).execute(sql, Subject(user, ROLES[user]), purpose)
    return [tuple(r.values()) for r in table.to_pylist()]


@pytest.mark.parametrize("user", ROLES)
def test_psycopg_gets_what_the_governed_query_gives(pg, shared_governed, user):
    with connect(pg, user) as conn:
        rows = conn.execute(SQL).fetchall()
        counted = conn.execute("SELECT count(*) FROM customers WHERE id > %s", [1]).fetchone()
    assert rows == expected(shared_governed, user)
    assert counted == expected(shared_governed, user, "SELECT count(*) FROM customers WHERE id > 1")[0]
    clear = {"ann@example.com", "Ann Lee"}
    assert bool(clear & {v for r in rows for v in r}) == (user == "sam")


@pytest.mark.parametrize("user", ROLES)
def test_meshkit_query_and_the_endpoint_agree(pg, shared_governed, user):
    result = run_cli(["query", SQL, "--user", user, "--role", ROLES[user], "--format", "json"],
                     workspace=shared_governed.workspace.root)  # fmt: skip
    assert result.exit_code == 0, result.output
    cli = [tuple(json.loads(line).values()) for line in result.stdout.splitlines() if line.strip()]
    with connect(pg, user) as conn:
        assert conn.execute(SQL).fetchall() == cli


@pytest.mark.skipif(shutil.which("psql") is None and not os.environ.get("CI"), reason="psql is not installed")
@pytest.mark.parametrize("user", ROLES)
def test_psql(pg, shared_governed, user):
    env = dict(os.environ, PGPASSWORD=TOKENS[user], PGSSLMODE="disable")
    args = [
        "psql",
        "-h",
        "127.0.0.1",
        "-p",
        str(pg.port),
        "-U",
        user,
        "-d",
        "meshkit",
        "-X",
        "-A",
        "-t",
        "-F",
        "|",
    ]
    done = subprocess.run([*args, "-c", SQL], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    rows = [tuple(line.split("|")) for line in done.stdout.splitlines() if line]
    assert rows == [tuple("" if v is None else str(v) for v in r) for r in expected(shared_governed, user)]
    listed = subprocess.run(
        [*args, "-c", r"\dt warehouse.*"], env=env, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0 and "customers" in listed.stdout, listed.stderr


@pytest.mark.parametrize("user", ROLES)
def test_sqlalchemy_browses_only_what_the_role_reads(pg, shared_governed, user):
    import sqlalchemy as sa

    engine = sa.create_engine(
        f"postgresql+psycopg://{user}:{TOKENS[user]}@127.0.0.1:{pg.port}/meshkit?sslmode=disable"
    )
    try:
        with engine.connect() as conn:
            rows = [tuple(r) for r in conn.execute(sa.text(SQL))]
        inspector = sa.inspect(engine)
        assert "warehouse" in inspector.get_schema_names()
        assert inspector.get_table_names(schema="warehouse") == ["customers"]
        columns = [c["name"] for c in inspector.get_columns("customers", schema="warehouse")]
    finally:
        engine.dispose()
    assert rows == expected(shared_governed, user)
    visible = ["id", "name", "email", "region", "score"]
    assert columns == ([c for c in visible if c != "name"] if user == "mo" else visible)


def test_purpose_from_the_connection_options_and_set(pg, shared_governed):
    with connect(pg, "mo", options="-c meshkit.purpose=ads") as conn:
        assert conn.execute("SHOW meshkit.purpose").fetchone() == ("ads",)
        assert conn.execute(SQL).fetchall() == expected(shared_governed, "mo", purpose="ads")
    with connect(pg, "ian") as conn:
        conn.execute("SET meshkit.purpose = 'ads'")
        with pytest.raises(psycopg.Error) as denied:
            conn.execute(SQL)
    assert denied.value.sqlstate == "42501" and "ads" in denied.value.diag.message_primary


def test_every_query_is_audited_on_the_pg_channel(pg, shared_governed):
    with connect(pg, "ann") as conn:
        conn.execute("SELECT id FROM customers WHERE id = 2 -- audited").fetchall()
    entries = audit.entries(shared_governed.metadata.engine, user="ann", channel="pg")
    assert any("audited" in (e["statement"] or "") for e in entries)


def test_a_wrong_password_is_refused(pg):
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        psycopg.connect(host="127.0.0.1", port=pg.port, user="sam", password="nope", sslmode="disable")


def test_writes_and_other_statements_are_refused(pg):
    with connect(pg, "sam") as conn:
        for sql in (
            "CREATE TABLE x AS SELECT 1",
            "DELETE FROM customers",
            "SET enable_external_access = true",
        ):
            with pytest.raises(psycopg.Error, match="only one SELECT"):
                conn.execute(sql)
        conn.execute("BEGIN")
        conn.execute("COMMIT")


def test_startup_options_and_parameters():
    assert startup_settings({"options": r"-c meshkit.purpose=ads --search_path=x -c other=1"}) == {
        "meshkit.purpose": "ads",
        "search_path": "x",
    }
    assert substitute("SELECT $1, '$2', $2", ["it's", "7"], [25, 20]) == "SELECT 'it''s', '$2', 7"
