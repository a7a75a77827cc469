"""OpenLineage: every run emits START and COMPLETE/FAIL events that validate against the spec."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jsonschema
import pyarrow as pa
import pytest
from referencing import Registry, Resource

from meshkit.core.lineage import Lineage
from meshkit.lineage.openlineage import run_uuid
from meshkit.products.loader import load_product
from meshkit.products.products import verify_product
from meshkit.testing import plugin_workspace


@pytest.fixture(scope="module")
def validate(specs_dir):
    """Validate an event against OpenLineage.json and each of its facets against its facet schema."""
    folder = specs_dir / "openlineage"
    core = json.loads((folder / "OpenLineage.json").read_text())
    facets = [json.loads(p.read_text()) for p in sorted((folder / "facets").glob("*.json"))]
    registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in [core, *facets])
    by_key = {key: schema for schema in facets for key in schema.get("properties", {})}

    def check_facets(group: dict) -> None:
        for key, facet in (group or {}).items():
            assert key in by_key, f"facet `{key}` has no schema"
            jsonschema.Draft202012Validator(by_key[key], registry=registry).validate({key: facet})

    def run(event: dict) -> None:
        jsonschema.Draft202012Validator(core, registry=registry).validate(event)
        check_facets(event["run"].get("facets"))
        check_facets(event["job"].get("facets"))
        for dataset in event.get("inputs", []):
            check_facets(dataset.get("facets"))
            check_facets(dataset.get("inputFacets"))
        for dataset in event.get("outputs", []):
            check_facets(dataset.get("facets"))
            check_facets(dataset.get("outputFacets"))

    return run


def events(mk) -> list[dict]:
    path = mk.workspace.state_dir / "openlineage" / "events.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()]


def simulate_job(mk, name: str, fail: bool = False):
    """A run as the job runtime drives it: started, a dataset written, lineage in details, finished."""
    run = mk.runs.create("job", name)
    mk.runs.start(run)
    mk.pm.hook.run_started(meshkit=mk, run=run)
    table = pa.table({"id": [1, 2], "email_hash": ["a", "b"]})
    mk.store("warehouse").write("contacts", table, mode="overwrite")
    mk.pm.hook.dataset_written(meshkit=mk, run=run, dataset="warehouse/contacts", rows=2, schema=table.schema)
    run.lineage = Lineage.from_dict({
        "inputs": ["warehouse/customers"],
        "columns": {"warehouse/contacts": {"id": [{"dataset": "warehouse/customers", "column": "id"}],
                                           "email_hash": [{"dataset": "warehouse/customers", "column": "email",
                                                           "transformation": "TRANSFORMATION"}]}},
    })  # fmt: skip
    if fail:
        mk.runs.finish(run, "user_error", "step 20_load.py failed: ValueError")
    else:
        mk.runs.finish(run, "succeeded")
    mk.pm.hook.run_finished(meshkit=mk, run=run)
    return run


def test_job_run_events_validate_with_schema_column_lineage_and_statistics(governed, validate):
    run = simulate_job(governed, "load_contacts")
    mine = [e for e in events(governed) if e["run"]["runId"] == run_uuid(run.id)]
    assert [e["eventType"] for e in mine] == ["START", "COMPLETE"]
    for event in mine:
        validate(event)
    complete = mine[1]
    assert complete["inputs"][0]["name"] == "customers"
    output = complete["outputs"][0]
    assert output["name"] == "contacts" and output["outputFacets"]["outputStatistics"]["rowCount"] == 2
    assert [f["name"] for f in output["facets"]["schema"]["fields"]] == ["id", "email_hash"]
    lineage = output["facets"]["columnLineage"]["fields"]["email_hash"]["inputFields"][0]
    assert (lineage["name"], lineage["field"]) == ("customers", "email")
    assert complete["job"]["facets"]["jobType"]["jobType"] == "JOB"


def test_failed_run_emits_fail_with_error_message(governed, validate):
    run = simulate_job(governed, "broken_job", fail=True)
    final = [e for e in events(governed) if e["run"]["runId"] == run_uuid(run.id)][-1]
    validate(final)
    assert final["eventType"] == "FAIL"
    assert "ValueError" in final["run"]["facets"]["errorMessage"]["message"]


def test_checks_and_publish_emit_quality_assertions(governed, validate):
    verify_product(governed, load_product(governed.workspace.root / "products" / "customers.yaml"))
    all_events = events(governed)
    for event in all_events:
        validate(event)
    check = [e for e in all_events if e["job"]["facets"]["jobType"]["jobType"] == "CHECK"][-1]
    assertions = check["inputs"][0]["inputFacets"]["dataQualityAssertions"]["assertions"]
    unique = next(a for a in assertions if a["assertion"] == "id.unique")
    assert (unique["success"], unique["column"], unique["actual"]) == (True, "id", "0.0")
    publish = [e for e in all_events if e["job"]["facets"]["jobType"]["jobType"] == "PUBLISH"]
    assert [e["eventType"] for e in publish] == ["START", "COMPLETE"]
    assert publish[1]["outputs"][0]["name"] == "customers"


def test_catalog_records_lineage_from_runs(governed):
    from meshkit.catalog.catalog import Catalog

    simulate_job(governed, "load_contacts")
    catalog = Catalog(governed)
    graph = catalog.lineage("warehouse/contacts")
    assert graph.upstream() == ["warehouse/customers", "sqlite/crm_customers"]
    columns = {(e.source_column, e.target_column) for e in graph.edges if e.source_column}
    assert columns == {("id", "id"), ("email", "email_hash")}
    assert catalog.get("warehouse/contacts").rows == 2


def test_http_transport_posts_the_same_events_with_the_api_key(tmp_path, validate):
    received: list[tuple[str | None, dict]] = []

    class Endpoint(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 - http.server's name
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.headers.get("Authorization"), json.loads(body)))
            self.send_response(201)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Endpoint)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    mk = plugin_workspace(
        tmp_path / "ws", openlineage_transport="http", openlineage_url=url, openlineage_api_key="k1"
    )
    try:
        run = simulate_job(mk, "load_contacts")
    finally:
        mk.close()
        server.shutdown()
    assert [(auth, e["eventType"], e["run"]["runId"]) for auth, e in received] == [
        ("Bearer k1", "START", run_uuid(run.id)),
        ("Bearer k1", "COMPLETE", run_uuid(run.id)),
    ]
    for _, event in received:
        validate(event)
    assert not (mk.workspace.state_dir / "openlineage" / "events.jsonl").exists()
