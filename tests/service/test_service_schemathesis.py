"""schemathesis against the OpenAPI document: generated requests never make the server fail (no 5xx)."""

from __future__ import annotations

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from service_helpers import HELLO, TEAM, make_tokens, zip_bytes

from meshkit.service.app import create_app
from meshkit.service.deployments import deploy
from meshkit.service.jobs import create_job
from meshkit.service.sources import upload

MAX_EXAMPLES = 6


def test_generated_requests_get_no_server_errors(mk):
    app = create_app(mk, worker=False)  # executions stay queued: the fuzzer needs no subprocesses
    svc = app.state.service
    admin = make_tokens(svc.engine)["admin"]
    create_job(svc.engine, TEAM, "hello", actor="setup")
    upload(svc.engine, TEAM, "hello", zip_bytes(HELLO), max_bytes=10**6, actor="setup")
    deploy(svc.engine, TEAM, "hello", {"version": 1}, actor="setup")
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    headers = {"Authorization": f"Bearer {admin}"}
    tested = []
    for result in schema.get_all_operations():
        operation = result.ok()
        tested.append(operation.label)

        @settings(max_examples=MAX_EXAMPLES, deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))  # fmt: skip
        @given(case=operation.as_strategy())
        def check(case):
            case.call_and_validate(headers=headers, checks=[not_a_server_error])

        check()
    assert len(tested) >= 25
    served = sum(s.value for m in svc.metrics.registry.collect() if m.name == "meshkit_api_request_seconds"
                 for s in m.samples if s.name.endswith("_count"))  # fmt: skip
    assert served >= len(tested) * 2  # the requests really reached the app
