"""Run inside Superset's own environment: add meshkit's PostgreSQL endpoint per role, query it in SQL Lab.

Arguments: a JSON object ``{"databases": {NAME: SQLALCHEMY_URI}, "sql": SQL}``; prints, as JSON, the
rows SQL Lab gives for each database (or its error).
"""

import json
import sys

from superset.app import create_app

request = json.loads(sys.argv[1])
app = create_app()
out = {}
with app.app_context():
    client = app.test_client()
    login = client.post("/login/", data={"username": "admin", "password": "admin"})
    assert login.status_code == 302, login.status_code
    headers = {}
    for name, uri in request["databases"].items():
        created = client.post(
            "/api/v1/database/",
            headers=headers,
            json={"database_name": name, "sqlalchemy_uri": uri, "expose_in_sqllab": True},
        )
        if created.status_code != 201:
            out[name] = {"error": created.json}
            continue
        schemas = client.get(f"/api/v1/database/{created.json['id']}/schemas/", headers=headers)
        ran = client.post(
            "/api/v1/sqllab/execute/",
            headers=headers,
            json={
                "database_id": created.json["id"],
                "sql": request["sql"],
                "runAsync": False,
                "schema": "warehouse",
            },
        )
        body = ran.json
        out[name] = {
            "status": ran.status_code,
            "rows": body.get("data"),
            "columns": [c["column_name"] for c in body.get("columns", [])],
            "error": body.get("errors") or body.get("message"),
            "schemas": schemas.json.get("result"),
        }
print(json.dumps(out, default=str))
