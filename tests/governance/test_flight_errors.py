"""Flight answers every bad request with a Flight error: a short message and a code, never a traceback."""

from __future__ import annotations

import json
import logging

import pyarrow.flight as flight
import pytest

from conftest import TOKENS
from meshkit.catalog.catalog import Catalog
from meshkit.governance.flight import fetch


def call(location: str, token: str, method: str, payload, headers=()):
    """``method`` (do_get, get_flight_info, list_flights) with ``payload``; the Flight error it raised."""
    client = flight.FlightClient(location)
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode()), *headers])
    try:
        if method == "do_get":
            return client.do_get(flight.Ticket(payload), options).read_all()
        if method == "get_flight_info":
            return client.get_flight_info(flight.FlightDescriptor.for_command(payload), options)
        return list(client.list_flights(options=options))
    finally:
        client.close()


def assert_short(error: Exception) -> None:
    text = str(error)
    assert "Traceback" not in text and 'File "' not in text and ".py" not in text, text
    assert len(text.split(". Detail:")[0]) <= 500


TICKETS = {
    "not JSON": b"warehouse/customers",
    "not UTF-8": b"\xff\xfe\x00{",
    "empty": b"",
    "a JSON list": b'["warehouse/customers"]',
    "no dataset": b'{"purpose": "analytics"}',
    "a dataset that is not text": b'{"dataset": {"name": "customers"}}',
    "a purpose that is not text": b'{"dataset": "customers", "purpose": {"$ne": null}}',
    "an unknown key": b'{"dataset": "customers", "purpose": "analytics", "sql": "SELECT * FROM customers"}',
    "deep nesting": b"[" * 2000 + b"]" * 2000,
    "too large": json.dumps({"dataset": "customers", "purpose": "x" * 10_000}).encode(),
    "a purpose too long": json.dumps({"dataset": "customers", "purpose": "x" * 200}).encode(),
}


@pytest.mark.parametrize("method", ["do_get", "get_flight_info"])
@pytest.mark.parametrize("name", list(TICKETS))
def test_malformed_tickets_get_a_short_error(server, method, name):
    with pytest.raises(flight.FlightServerError) as error:
        call(server, TOKENS["ann"], method, TICKETS[name])
    assert type(error.value) is flight.FlightServerError
    assert_short(error.value)


def test_a_huge_ticket_is_refused_without_details(server):
    with pytest.raises(flight.FlightError) as error:
        call(server, TOKENS["ann"], "do_get", b"x" * 8_000_000)
    assert_short(error.value)


def test_unknown_dataset_and_non_port_get_a_short_error(governed, server):
    with pytest.raises(flight.FlightServerError, match="No dataset") as error:
        fetch(server, TOKENS["sam"], "warehouse/nope", "analytics")
    assert_short(error.value)
    Catalog(governed).register_dataset("warehouse/scratch", owner="crm")
    with pytest.raises(flight.FlightUnauthorizedError, match="not an output port") as error:
        fetch(server, TOKENS["sam"], "warehouse/scratch", "analytics")
    assert_short(error.value)


def test_one_purpose_per_request(server):
    ticket = json.dumps({"dataset": "customers", "purpose": "analytics"}).encode()
    agreeing = [(b"x-meshkit-purpose", b" ANALYTICS ")]
    assert call(server, TOKENS["ann"], "do_get", ticket, agreeing).num_rows == 4
    for headers in ([(b"x-meshkit-purpose", b"ads")], [(b"x-meshkit-purpose", b"analytics"), (b"x-meshkit-purpose", b"ads")]):  # fmt: skip
        with pytest.raises(flight.FlightServerError, match="several purposes") as error:
            call(server, TOKENS["mo"], "do_get", ticket, headers)
        assert_short(error.value)
    header_only = json.dumps({"dataset": "customers"}).encode()
    assert call(server, TOKENS["mo"], "do_get", header_only, [(b"x-meshkit-purpose", b"Ads")]).num_rows == 2


def test_a_flight_info_ticket_carries_its_purpose(server):
    info = call(
        server, TOKENS["mo"], "get_flight_info", json.dumps({"dataset": "customers", "purpose": "ADS"})
    )
    ticket = info.endpoints[0].ticket
    assert json.loads(ticket.ticket) == {"dataset": "warehouse/customers", "purpose": "ads"}
    assert call(server, TOKENS["mo"], "do_get", ticket.ticket).num_rows == 2
    with pytest.raises(flight.FlightServerError, match="several purposes"):
        call(server, TOKENS["mo"], "do_get", ticket.ticket, [(b"x-meshkit-purpose", b"analytics")])


def test_listing_uses_the_header_purpose(server):
    assert len(call(server, TOKENS["mo"], "list_flights", None, [(b"x-meshkit-purpose", b"ads")])) == 1
    assert call(server, TOKENS["ann"], "list_flights", None, [(b"x-meshkit-purpose", b"ads")]) == []


def test_a_server_failure_is_logged_and_the_client_gets_a_reference(governed, server, caplog):
    Catalog(governed).register_dataset("ghost/contacts", owner="crm", product="customers")
    with caplog.at_level(logging.ERROR, logger="meshkit.governance.flight"):
        with pytest.raises(flight.FlightInternalError, match=r"could not answer \(ref (\w+)\)") as error:
            fetch(server, TOKENS["sam"], "ghost/contacts", "analytics")
    assert_short(error.value)
    ref = error.value.args[0].split("(ref ")[1].split(")")[0]
    logged = [r.getMessage() for r in caplog.records if ref in r.getMessage()]
    assert logged and "Traceback" in logged[0]


def test_an_unresolvable_token_reference_is_not_sent_to_the_client(governed, server, monkeypatch):
    monkeypatch.delenv("MK_TEST_SAM_TOKEN")
    with pytest.raises(flight.FlightError) as error:
        fetch(server, TOKENS["ann"], "customers", "analytics")
    assert_short(error.value)
    assert "MK_TEST_SAM_TOKEN" not in str(error.value)


def test_a_failure_while_streaming_is_a_short_error(governed, server, caplog):
    policy = governed.workspace.root / "policies" / "access.rego"
    broken = '\nactions contains {"type": "FilterRows", "predicate": "CAST(name AS INTEGER) > 0"} if input.subject.role == "steward"\n'  # fmt: skip
    policy.write_text(policy.read_text() + broken)
    with caplog.at_level(logging.ERROR, logger="meshkit.governance.flight"):
        with pytest.raises(flight.FlightInternalError) as error:
            fetch(server, TOKENS["sam"], "customers", "analytics")
    assert_short(error.value)
    assert any("Conversion Error" in r.getMessage() for r in caplog.records)
