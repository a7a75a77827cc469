"""The REST data API: a port's rows as each role may read them, filtered, paged, as JSON, CSV and Arrow."""

from __future__ import annotations

import pyarrow as pa
import pytest

from conftest import TOKENS
from meshkit.governance import Subject, audit
from meshkit.governance.query import GovernedSQL

ROLES = {"sam": "steward", "ann": "analyst", "mo": "marketer"}
URL = "/api/v1/products/customers/ports/customers/rows"


@pytest.fixture(scope="module")
def api(shared_governed):
    from fastapi.testclient import TestClient

    from meshkit.service.app import create_app

    return TestClient(create_app(shared_governed, worker=False))


def get(api, user: str | None, **params):
    headers = {"authorization": f"Bearer {TOKENS[user]}"} if user else {}
    return api.get(URL, params=params, headers=headers)


@pytest.mark.parametrize("user", ROLES)
def test_rows_are_what_the_governed_query_gives(api, shared_governed, user):
    body = get(api, user).json()
    table = GovernedSQL(shared_governed).execute(
        "SELECT * FROM customers ORDER BY ALL", Subject(user, ROLES[user]), None
    )
    assert body["rows"] == table.to_pylist() and body["columns"] == table.column_names
    assert body["dataset"] == "warehouse/customers" and body["next_offset"] is None


def test_paging_and_filters(api):
    first = get(api, "sam", limit=3).json()
    second = get(api, "sam", limit=3, offset=first["next_offset"]).json()
    assert [r["id"] for r in first["rows"] + second["rows"]] == [1, 2, 3, 4] and second["next_offset"] is None
    assert [r["id"] for r in get(api, "sam", region="US").json()["rows"]] == [2, 4]
    assert get(api, "ann", email="ann@example.com").json()["rows"] == []  # masked values compare masked
    removed = get(api, "mo", name="Ann Lee")
    assert removed.status_code == 404 and "`name`" in removed.json()["error"]["message"]
    assert "Ann Lee" not in removed.text


def test_csv_and_arrow(api):
    csv = get(api, "ann", format="csv")
    assert csv.headers["content-type"].startswith("text/csv")
    assert csv.text.splitlines()[0] == '"id","name","email","region","score"' and "***" in csv.text
    arrow = get(api, "mo", format="arrow")
    table = pa.ipc.open_stream(arrow.content).read_all()
    assert table.column_names == ["id", "email", "region", "score"] and table.column("id").to_pylist() == [
        1,
        3,
    ]


def test_authentication_denial_and_audit(api, shared_governed):
    assert get(api, None).status_code == 401
    denied = get(api, "ian")
    assert denied.status_code == 403 and "interns may not" in denied.json()["error"]["message"]
    assert (
        api.get(
            "/api/v1/products/nope/ports/x/rows", headers={"authorization": f"Bearer {TOKENS['sam']}"}
        ).status_code
        == 404
    )
    get(api, "ann", region="EU")
    entries = audit.entries(shared_governed.metadata.engine, user="ann", channel="api-rows")
    assert any("'EU'" in (e["statement"] or "") for e in entries)
