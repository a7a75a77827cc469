"""Arrow Flight SQL: ADBC gets, as each role, what ``meshkit query`` gives, and lists only what the role reads."""

from __future__ import annotations

import threading

import pytest

from conftest import TOKENS
from meshkit.governance import Subject, audit
from meshkit.governance.query import GovernedSQL
from meshkit.serving.flightsql import GovernedFlightSqlServer, bind, pack, unpack

flight_sql = pytest.importorskip("adbc_driver_flightsql.dbapi")
ROLES = {"sam": "steward", "ann": "analyst", "mo": "marketer"}
SQL = "SELECT * FROM customers ORDER BY id"


@pytest.fixture(scope="module")
def location(shared_governed):
    server = GovernedFlightSqlServer(shared_governed)
    thread = threading.Thread(target=server.serve, daemon=True)
    thread.start()
    yield f"grpc://127.0.0.1:{server.port}"
    server.shutdown()
    thread.join(5)


def connect(location: str, user: str, purpose: str | None = None):
    options = {"adbc.flight.sql.authorization_header": f"Bearer {TOKENS[user]}"}
    if purpose:
        options["adbc.flight.sql.rpc.call_header.x-meshkit-purpose"] = purpose
    return flight_sql.connect(location, db_kwargs=options, autocommit=True)


@pytest.mark.parametrize("user", ROLES)
def test_adbc_gets_what_the_governed_query_gives(location, shared_governed, user):
    with connect(location, user) as conn, conn.cursor() as cursor:
        cursor.execute(SQL)
        got = cursor.fetch_arrow_table()
        objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
    assert got == GovernedSQL(shared_governed).execute(SQL, Subject(user, ROLES[user]), None)
    tables = [
        t["table_name"] for c in objects for s in c["catalog_db_schemas"] for t in s["db_schema_tables"]
    ]
    assert tables == ["customers"]


def test_parameters_of_a_prepared_statement_and_the_purpose_header(location, shared_governed):
    with connect(location, "mo", "ads") as conn, conn.cursor() as cursor:
        cursor.execute("SELECT id, email FROM customers WHERE id = ? OR region = ?", parameters=(1, "US"))
        rows = cursor.fetchall()
    subject = Subject("mo", "marketer")
    assert rows == [tuple(r.values()) for r in GovernedSQL(shared_governed).execute(
        "SELECT id, email FROM customers WHERE id = 1 OR region = 'US'", subject, "ads").to_pylist()]  # fmt: skip
    assert [r[0] for r in rows] == [1]  # marketers see the EU rows only


def test_denied_and_audited(location, shared_governed):
    from adbc_driver_manager import AdbcStatusCode, Error

    with connect(location, "ian") as conn, conn.cursor() as cursor:
        with pytest.raises(Error) as denied:
            cursor.execute(SQL)
    assert denied.value.status_code == AdbcStatusCode.UNAUTHORIZED and "interns may not" in str(denied.value)
    with connect(location, "ann") as conn, conn.cursor() as cursor:
        cursor.execute("SELECT count(*) AS n FROM customers -- flight sql audited")
        cursor.fetchall()
    entries = audit.entries(shared_governed.metadata.engine, user="ann", channel="flight-sql")
    assert any("flight sql audited" in (e["statement"] or "") for e in entries)


def test_a_result_is_fetched_only_by_its_caller(location):
    import json

    import pyarrow.flight as flight

    client = flight.FlightClient(location)
    as_ann = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {TOKENS['ann']}".encode())])
    as_sam = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {TOKENS['sam']}".encode())])
    info = client.get_flight_info(
        flight.FlightDescriptor.for_command(pack("CommandStatementQuery", query=SQL)), as_ann
    )
    ticket = info.endpoints[0].ticket
    with pytest.raises(flight.FlightServerError, match="result is gone"):
        client.do_get(ticket, as_sam).read_all()
    assert client.do_get(ticket, as_ann).read_all().num_rows == 4
    with pytest.raises(flight.FlightServerError, match="result is gone"):
        client.do_get(ticket, as_ann).read_all()  # fetched once
    plain = client.do_get(flight.Ticket(json.dumps({"dataset": "warehouse/customers"}).encode()), as_ann)
    assert plain.read_all().num_rows == 4  # today's tickets still work
    client.close()


def test_messages_and_placeholders():
    name, message = unpack(pack("CommandStatementQuery", query="SELECT 1"))
    assert (name, message.query) == ("CommandStatementQuery", "SELECT 1")
    assert unpack(b'{"dataset": "x"}') is None
    assert bind("SELECT ?, '?', ?", ["it's", 2]) == "SELECT 'it''s', '?', 2"
