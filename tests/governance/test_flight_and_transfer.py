"""The same decision on the other read paths: Arrow Flight serving and transfers."""

from __future__ import annotations

import pyarrow.flight as flight
import pytest

from conftest import CLEAR, CUSTOMERS, TOKENS
from meshkit.governance import AccessDeniedError, Subject, audit
from meshkit.governance.flight import fetch
from meshkit.governance.transfers import transforms_for_purpose


def test_flight_serves_three_subjects_three_results(governed, server):
    steward = fetch(server, TOKENS["sam"], "warehouse/customers", "analytics").sort_by("id").to_pylist()
    analyst = fetch(server, TOKENS["ann"], "customers", "analytics").sort_by("id").to_pylist()
    marketer = fetch(server, TOKENS["mo"], "customers", "analytics").sort_by("id").to_pylist()
    assert {r["email"] for r in steward} == {
        "ann@example.com",
        "bob@example.com",
        "cy@example.com",
        "di@example.com",
    }
    assert {r["email"] for r in analyst} == {"***"} and {r["name"] for r in analyst} == {"***"}
    assert [r["id"] for r in marketer] == [1, 3] and "name" not in marketer[0]
    assert not any(clear in repr(analyst + marketer) for clear in CLEAR)
    users = {e["user"] for e in audit.entries(governed.metadata.engine, channel="flight")}
    assert users == {"sam", "ann", "mo"}


def test_flight_refuses_unknown_tokens_and_denied_subjects(governed, server):
    with pytest.raises(flight.FlightUnauthenticatedError):
        fetch(server, "not-a-token", "customers", "analytics")
    with pytest.raises(flight.FlightUnauthorizedError, match="interns"):
        fetch(server, TOKENS["ian"], "customers", "analytics")


def test_flight_lists_ports_with_masked_schemas(governed, server):
    client = flight.FlightClient(server)
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {TOKENS['mo']}".encode())])
    infos = list(client.list_flights(options=options))
    client.close()
    assert [i.descriptor.path for i in infos] == [[b"warehouse/customers"]]
    assert infos[0].schema.names == ["id", "email", "region", "score"]


def test_transfer_applies_the_decision_before_writing(governed):
    from meshkit.data.transfer.runner import run_transfer
    from meshkit.data.transfer.spec import BatchTransfer

    results = {}
    for user, role in (("sam", "steward"), ("ann", "analyst"), ("mo", "marketer")):
        transfer = BatchTransfer.model_validate({
            "metadata": {"name": f"copy-{user}"},
            "spec": {"source": {"store": "warehouse", "asset": "customers"},
                     "destination": {"store": "sqlite", "asset": f"customers_{user}", "mode": "overwrite"}},
        })  # fmt: skip
        extra = transforms_for_purpose(governed, "warehouse/customers", "analytics", Subject(user, role))
        run_transfer(governed, transfer, extra_transforms=extra)
        results[user] = (
            governed.store("sqlite").read(f"customers_{user}").read_all().sort_by("id").to_pylist()
        )
    assert results["sam"][0]["email"] == "ann@example.com"
    assert {r["email"] for r in results["ann"]} == {"***"}
    assert [r["id"] for r in results["mo"]] == [1, 3] and "name" not in results["mo"][0]
    assert not any(clear in repr(results["ann"] + results["mo"]) for clear in CLEAR)
    users = {e["user"] for e in audit.entries(governed.metadata.engine, channel="transfer")}
    assert users == {"sam", "ann", "mo"}
    with pytest.raises(AccessDeniedError):
        transforms_for_purpose(governed, "warehouse/customers", "analytics", Subject("ian", "intern"))


def test_wide_rows_reach_a_client_that_accepts_only_4_mib_messages(governed, server):
    import pyarrow as pa

    wide = CUSTOMERS.set_column(4, "score", pa.array([1.0, 2.0, 3.0, 4.0])).append_column(
        "notes", pa.array(["n" * 3_000_000] * 4)
    )
    governed.store("warehouse").write("customers", wide, mode="overwrite")
    client = flight.FlightClient(
        server, generic_options=[("grpc.max_receive_message_length", 4 * 1024 * 1024)]
    )
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {TOKENS['sam']}".encode())])
    try:
        table = client.do_get(flight.Ticket(b'{"dataset": "customers"}'), options).read_all()
    finally:
        client.close()
    assert table.num_rows == 4 and table.column("notes").to_pylist() == ["n" * 3_000_000] * 4
