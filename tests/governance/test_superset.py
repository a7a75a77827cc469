"""Superset against the PostgreSQL endpoint: two databases, two roles, two different SQL Lab answers.

Superset 6 is installed once in its own environment under ``build/`` (with the packages it needs
to start), its metadata database prepared once and copied per session; the SQL Lab query runs in
Superset's Flask app, through its REST API, as its admin.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import TOKENS
from meshkit.governance import Subject
from meshkit.governance.query import GovernedSQL
from meshkit.serving.pgwire import GovernedPgServer

pytestmark = pytest.mark.slow
BUILD = Path(__file__).resolve().parents[2] / "build"
VENV = BUILD / "superset-venv"
TEMPLATE = BUILD / "superset-metadata.db"
PACKAGES = ["apache-superset>=6,<7", "rich", "cachetools", "flask-caching==2.3.1", "psycopg2-binary"]
CONFIG = """\
import os
SECRET_KEY = "meshkit-test-superset-secret-key-0123456789"
SQLALCHEMY_DATABASE_URI = "sqlite:///" + os.path.join(os.path.dirname(__file__), "superset.db")
WTF_CSRF_ENABLED = False
TALISMAN_ENABLED = False
PREVENT_UNSAFE_DB_CONNECTIONS = False
"""
SQL = "SELECT * FROM customers ORDER BY id"


def superset(args: list[str], env: dict) -> None:
    done = subprocess.run(
        [str(VENV / "bin" / "superset"), *args], env=env, capture_output=True, text=True, timeout=1200
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


@pytest.fixture(scope="session")
def superset_env(tmp_path_factory):
    """``(python, env)`` of a prepared Superset (installed and initialised once, under ``build/``)."""
    if not (VENV / "bin" / "superset").exists():
        uv = Path(sys.executable).parent / "uv"
        subprocess.run([str(uv), "venv", "-q", "--python", sys.executable, str(VENV)], check=True)
        subprocess.run(
            [str(uv), "pip", "install", "-q", "--python", str(VENV / "bin" / "python"), *PACKAGES], check=True
        )
    home = tmp_path_factory.mktemp("superset")
    (home / "superset_config.py").write_text(CONFIG)
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIRTUAL_ENV")}
    env |= {"SUPERSET_CONFIG_PATH": str(home / "superset_config.py"), "SUPERSET_HOME": str(home)}
    if not TEMPLATE.exists():
        superset(["db", "upgrade"], env)
        superset(["fab", "create-admin", "--username", "admin", "--firstname", "A", "--lastname", "Dmin",
                  "--email", "admin@example.com", "--password", "admin"], env)  # fmt: skip
        superset(["init"], env)
        shutil.copy(home / "superset.db", TEMPLATE)
    else:
        shutil.copy(TEMPLATE, home / "superset.db")
    return str(VENV / "bin" / "python"), env


def test_sql_lab_shows_each_role_what_its_policies_allow(shared_governed, superset_env):
    python, env = superset_env
    pg = GovernedPgServer(shared_governed)
    pg.start()
    try:
        uri = "postgresql+psycopg2://{user}:{token}@127.0.0.1:" + str(pg.port) + "/meshkit?sslmode=disable"
        request = {
            "databases": {f"meshkit_{u}": uri.format(user=u, token=TOKENS[u]) for u in ("ann", "mo")},
            "sql": SQL,
        }
        done = subprocess.run([python, str(Path(__file__).with_name("superset_sqllab.py")), json.dumps(request)],
                              env=env, capture_output=True, text=True, timeout=900)  # fmt: skip
    finally:
        pg.shutdown()
        pg.server_close()
    assert done.returncode == 0, done.stderr[-3000:]
    answers = json.loads(done.stdout.strip().splitlines()[-1])
    for user, role in (("ann", "analyst"), ("mo", "marketer")):
        answer = answers[f"meshkit_{user}"]
        assert answer.get("status") == 200, answer
        want = GovernedSQL(shared_governed).execute(SQL, Subject(user, role), None).to_pylist()
        assert answer["rows"] == want and answer["columns"] == list(want[0])
        assert "warehouse" in answer["schemas"]
    assert answers["meshkit_ann"]["rows"] != answers["meshkit_mo"]["rows"]
    assert "name" not in answers["meshkit_mo"]["columns"]
