"""A password written inline in a store URL is used to connect, and is found in no stored artefact.

The test PostgreSQL trusts local logins, so any password connects: the one written in the URLs
below must then appear nowhere meshkit keeps or prints (events file, every text column of the
metadata database, run logs, the catalog, ``meshkit runs`` and ``transfer status``).
"""

from __future__ import annotations

import json
import textwrap
from urllib.parse import urlsplit, urlunsplit

import psycopg
import pytest
import sqlalchemy as sa

from meshkit.core.redaction import strip_credentials

PASSWORD = "S3cretPW123"


@pytest.mark.parametrize(
    ("text", "stripped"),
    [
        ("postgresql://ann:pw@db:5432/ops", "postgresql://ann@db:5432/ops"),
        ("postgresql://ann:pw@db/ops?password=x&sslmode=require", "postgresql://ann@db/ops?sslmode=require"),
        ("s3://b/p?format=csv&secret_key=k&token=t", "s3://b/p?format=csv"),
        ("mysql://root@h/db?api_key=k&a=1", "mysql://root@h/db?a=1"),
        ("host=db user=ann password='p w' dbname=ops", "host=db user=ann dbname=ops"),
        ("file:///data/out?format=csv", "file:///data/out?format=csv"),
        ("ops/public.orders", "ops/public.orders"),
    ],
)
def test_strip_credentials(text, stripped):
    assert strip_credentials(text) == stripped


def _with_password(dsn: str) -> str:
    parts = urlsplit(dsn)
    host = parts.netloc.rpartition("@")[2]
    user = parts.username or "postgres"
    return urlunsplit(parts._replace(netloc=f"{user}:{PASSWORD}@{host}"))


def _transfer(name: str, source: str, source_asset: str, dest: str, dest_asset: str) -> str:
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
    mode: overwrite
  maxFailedRetries: 0
"""


def _metadata_text(path) -> str:
    """Every text value of every table of the metadata database."""
    engine = sa.create_engine(f"sqlite:///{path}")
    found = []
    try:
        with engine.connect() as conn:
            for table in sa.inspect(conn).get_table_names():
                for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                    found += [json.dumps(v) if isinstance(v, dict | list) else str(v) for v in row]
    finally:
        engine.dispose()
    return "\n".join(found)


def test_url_password_reaches_no_stored_artefact(cli, workspace, pg_dsn, pg_schema):
    url = _with_password(pg_dsn)
    with psycopg.connect(pg_dsn, autocommit=True) as conn:
        conn.execute(f'CREATE TABLE "{pg_schema}".src AS SELECT g AS id, md5(g::text) AS email '
                     "FROM generate_series(1, 20) g")  # fmt: skip
    inline = (f"{{type: postgres, host: {urlsplit(pg_dsn).hostname}, port: {urlsplit(pg_dsn).port or 5432}, "
              f"user: postgres, password: {PASSWORD}, dbname: {urlsplit(pg_dsn).path.strip('/')}}}")  # fmt: skip
    specs = {
        "to-lake": _transfer("to-lake", f'"{url}"', f"{pg_schema}.src", "lake-url", "src.parquet"),
        "to-pg": _transfer(
            "to-pg", f'"{url}?password={PASSWORD}"', f"{pg_schema}.src", f'"{url}"', f"{pg_schema}.copied"
        ),
        "inline": _transfer("inline", inline, f"{pg_schema}.src", inline, f"{pg_schema}.inlined"),
        "broken": _transfer("broken", f'"{url}"', f"{pg_schema}.missing", f'"{url}"', f"{pg_schema}.never"),
    }
    lake = workspace.root / "lake"
    for name, text in specs.items():
        text = text.replace("lake-url", f'"file://{lake}?format=parquet"')
        (workspace.root / f"{name}.yaml").write_text(text)
        result = cli("transfer", "apply", str(workspace.root / f"{name}.yaml"))
        assert result.exit_code == (2 if name == "broken" else 0), result.output
    job = workspace.root / "jobs" / "pw"
    job.mkdir(parents=True)
    steps = {
        "10_query.py": f"""
            def run(job_input):
                print("connecting to {url}")
                job_input.execute_query(
                    'CREATE TABLE "{pg_schema}".from_job AS SELECT * FROM "{pg_schema}".src', database="{url}")
                job_input.send_object_for_ingestion(
                    {{"id": 1}}, destination_table="{pg_schema}.ingested", method="postgres", target="{url}")
        """,
        "20_fail.py": f"""
            def run(job_input):
                job_input.execute_query('SELECT * FROM "{pg_schema}".nowhere', database="{url}")
        """,
    }
    for filename, text in steps.items():
        (job / filename).write_text(textwrap.dedent(text))
    result = cli("run", "pw")
    assert result.exit_code == 1, result.output
    with psycopg.connect(pg_dsn) as conn:  # the password in the URLs was used and the data moved
        for table in ("copied", "inlined", "from_job"):
            assert conn.execute(f'SELECT count(*) FROM "{pg_schema}".{table}').fetchone()[0] == 20
        assert conn.execute(f'SELECT count(*) FROM "{pg_schema}".ingested').fetchone()[0] == 1
    shown = [cli("runs").output, cli("runs", "--json").output, cli("transfer", "list").output]
    for name in specs:
        shown.append(cli("transfer", "status", name, "--json").output)
    job_run = json.loads(cli("runs", "--json", "--kind", "job").output)[0]["id"]
    shown.append(cli("runs", "show", job_run).output)
    # Datasets are named by the URL, less its password.
    copied = f"{strip_credentials(url)}/{pg_schema}.copied"
    catalog = cli("catalog", "search", pg_schema, "--json")
    assert copied in catalog.output, catalog.output
    shown += [catalog.output, cli("catalog", "show", copied).output, cli("catalog", "lineage", copied).output]
    state = workspace.root / ".meshkit"
    events = (state / "openlineage" / "events.jsonl").read_text()
    assert f"{pg_schema}.copied" in events and f"{pg_schema}.from_job" in events
    artefacts = {"output": "\n".join(shown), "metadata": _metadata_text(state / "metadata.db")}
    artefacts |= {str(p): p.read_bytes().decode("latin-1") for p in state.rglob("*") if p.is_file()}
    assert copied in artefacts["metadata"]
    leaked = [where for where, text in artefacts.items() if PASSWORD in text]
    assert leaked == []
