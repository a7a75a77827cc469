"""Arrow Flight SQL beside the Flight tickets: ADBC and JDBC Flight SQL clients run governed SQL.

A statement (``CommandStatementQuery``, or a prepared statement without parameters) is planned,
decided, rewritten, audited (channel ``flight-sql``) and run by ``GovernedSQL`` when the client
asks for its ``FlightInfo``; the result waits under a random handle, bound to the caller, until
the client fetches it with the ``TicketStatementQuery`` it was given (or for
``RESULT_SECONDS``). ``CommandGetCatalogs``, ``CommandGetDbSchemas`` and ``CommandGetTables`` list
only what the caller's role may read. Callers authenticate and give their purpose as for Flight
tickets (``authorization: Bearer TOKEN``, ``x-meshkit-purpose``). The Flight SQL messages are
declared here from the Flight SQL specification and encoded by protobuf.
"""

from __future__ import annotations

import fnmatch
import re
import secrets
import threading
import time
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.flight as flight
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory

from meshkit.core.errors import UserError
from meshkit.governance.flight import GovernedFlightServer, _answering, sized
from meshkit.serving.pgcatalog import SessionCatalog

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit
    from meshkit.governance.decision import Subject

CHANNEL = "flight-sql"
PACKAGE = "arrow.flight.protocol.sql"
TYPE_PREFIX = f"type.googleapis.com/{PACKAGE}."
RESULT_SECONDS = 120.0
#: Rows per streamed batch (a gRPC message holds at most 16 MiB by default).
BATCH_ROWS = 65_536
MAX_RESULTS = 64
CATALOG = "meshkit"
_CATALOG_NAME = pa.field("catalog_name", pa.string())
_STRING, _BYTES, _BOOL, _UINT32 = (descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
                                   descriptor_pb2.FieldDescriptorProto.TYPE_BYTES,
                                   descriptor_pb2.FieldDescriptorProto.TYPE_BOOL,
                                   descriptor_pb2.FieldDescriptorProto.TYPE_UINT32)  # fmt: skip
_REPEATED = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED
#: The messages used here, with their fields (name, number, type, repeated) as the specification numbers them.
_MESSAGES = {
    "CommandStatementQuery": [("query", 1, _STRING), ("transaction_id", 2, _BYTES)],
    "TicketStatementQuery": [("statement_handle", 1, _BYTES)],
    "CommandGetCatalogs": [],
    "CommandGetDbSchemas": [("catalog", 1, _STRING), ("db_schema_filter_pattern", 2, _STRING)],
    "CommandGetTables": [("catalog", 1, _STRING), ("db_schema_filter_pattern", 2, _STRING),
                         ("table_name_filter_pattern", 3, _STRING), ("table_types", 4, _STRING, True),
                         ("include_schema", 5, _BOOL)],
    "CommandGetSqlInfo": [("info", 1, _UINT32, True)],
    "ActionCreatePreparedStatementRequest": [("query", 1, _STRING), ("transaction_id", 2, _BYTES)],
    "ActionCreatePreparedStatementResult": [("prepared_statement_handle", 1, _BYTES),
                                            ("dataset_schema", 2, _BYTES), ("parameter_schema", 3, _BYTES)],
    "ActionClosePreparedStatementRequest": [("prepared_statement_handle", 1, _BYTES)],
    "CommandPreparedStatementQuery": [("prepared_statement_handle", 1, _BYTES)],
}  # fmt: skip


def _message_classes() -> dict[str, type]:
    file = descriptor_pb2.FileDescriptorProto(
        name="meshkit_flight_sql.proto", package=PACKAGE, syntax="proto3"
    )
    for name, fields in _MESSAGES.items():
        message = file.message_type.add(name=name)
        for field_name, number, type_, *repeated in fields:
            message.field.add(name=field_name, number=number, type=type_,
                              label=_REPEATED if repeated else descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL)  # fmt: skip
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return {
        n: message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{PACKAGE}.{n}")) for n in _MESSAGES
    }


MESSAGES = _message_classes()


def pack(name: str, **fields) -> bytes:
    """A Flight SQL message packed in ``google.protobuf.Any``, serialized."""
    return any_pb2.Any(
        type_url=TYPE_PREFIX + name, value=MESSAGES[name](**fields).SerializeToString()
    ).SerializeToString()


def unpack(raw: bytes):
    """``(name, message)`` of a packed Flight SQL message, or ``None`` when ``raw`` is not one."""
    wrapper = any_pb2.Any()
    try:
        wrapper.ParseFromString(raw)
    except Exception:  # noqa: BLE001 - not protobuf: a plain Flight ticket
        return None
    name = wrapper.type_url.removeprefix(TYPE_PREFIX)
    if not wrapper.type_url.startswith(TYPE_PREFIX) or name not in MESSAGES:
        return None
    message = MESSAGES[name]()
    message.ParseFromString(wrapper.value)
    return name, message


class GovernedFlightSqlServer(GovernedFlightServer):
    """The governed Flight server, also answering Flight SQL commands."""

    def __init__(self, meshkit: Meshkit, location: str = "grpc://127.0.0.1:0", **kwargs):
        super().__init__(meshkit, location, **kwargs)
        self._lock = threading.Lock()
        #: handle -> (subject, expiry, table) of results waiting to be fetched.
        self._results: dict[bytes, tuple[Subject, float, pa.Table]] = {}
        #: handle -> (subject, query) of prepared statements.
        self._prepared: dict[bytes, tuple[Subject, str]] = {}
        #: handle -> rows of parameter values bound to a prepared statement.
        self._bound: dict[bytes, list[dict]] = {}

    # ------------------------------------------------------------------ Flight methods

    def get_flight_info(self, context, descriptor):
        command = (
            unpack(descriptor.command) if descriptor.descriptor_type == flight.DescriptorType.CMD else None
        )
        if command is None:
            return super().get_flight_info(context, descriptor)
        with _answering(self.meshkit, "flight-sql get_flight_info"):
            name, message = command
            caller = context.get_middleware("auth")
            if name in ("CommandStatementQuery", "CommandPreparedStatementQuery"):
                query = (
                    message.query
                    if name == "CommandStatementQuery"
                    else self._statement(caller.subject, message)
                )
                table = self.sql.execute(query, caller.subject, caller.purpose(), channel=CHANNEL)
                handle = self._keep(caller.subject, table)
                ticket = pack("TicketStatementQuery", statement_handle=handle)
                return self._sql_info(descriptor, table.schema, ticket, table.num_rows)
            if name in ("CommandGetCatalogs", "CommandGetDbSchemas", "CommandGetTables"):
                table = self._metadata(name, message, caller)
                return self._sql_info(descriptor, table.schema, descriptor.command, table.num_rows)
            raise UserError(f"The Flight SQL command `{name}` is not supported.")

    def do_get(self, context, ticket):
        command = unpack(ticket.ticket)
        if command is None:
            return super().do_get(context, ticket)
        with _answering(self.meshkit, "flight-sql do_get"):
            name, message = command
            caller = context.get_middleware("auth")
            if name == "TicketStatementQuery":
                table = self._take(caller.subject, message.statement_handle)
                batches = (
                    piece for batch in table.to_batches(max_chunksize=BATCH_ROWS) for piece in sized(batch)
                )
                return flight.RecordBatchStream(pa.RecordBatchReader.from_batches(table.schema, batches))
            if name in ("CommandGetCatalogs", "CommandGetDbSchemas", "CommandGetTables"):
                return flight.RecordBatchStream(self._metadata(name, message, caller))
            raise UserError(f"The Flight SQL ticket `{name}` is not supported.")

    def do_put(self, context, descriptor, reader, writer):
        with _answering(self.meshkit, "flight-sql do_put"):
            command = unpack(descriptor.command)
            if not command or command[0] != "CommandPreparedStatementQuery":
                raise UserError("Only the parameters of a prepared statement can be put.")
            caller = context.get_middleware("auth")
            handle = command[1].prepared_statement_handle
            self._statement(caller.subject, command[1])
            rows = reader.read_all().to_pylist()
            if len(rows) != 1:
                raise UserError(f"Bind one row of parameters ({len(rows)} given).")
            with self._lock:
                self._bound[handle] = rows

    def do_action(self, context, action):
        with _answering(self.meshkit, "flight-sql do_action"):
            caller = context.get_middleware("auth")
            command = unpack(action.body.to_pybytes())
            if (
                action.type == "CreatePreparedStatement"
                and command
                and command[0] == "ActionCreatePreparedStatementRequest"
            ):
                handle = secrets.token_bytes(24)
                with self._lock:
                    if len(self._prepared) >= MAX_RESULTS * 16:
                        self._prepared.clear()
                    self._prepared[handle] = (caller.subject, command[1].query)
                result = pack("ActionCreatePreparedStatementResult", prepared_statement_handle=handle)
                return [flight.Result(pa.py_buffer(result))]
            if (
                action.type == "ClosePreparedStatement"
                and command
                and command[0] == "ActionClosePreparedStatementRequest"
            ):
                with self._lock:
                    self._prepared.pop(command[1].prepared_statement_handle, None)
                    self._bound.pop(command[1].prepared_statement_handle, None)
                return []
            raise UserError(f"The action `{action.type}` is not supported.")

    def list_actions(self, context):
        return [("CreatePreparedStatement", "Prepare a governed query."),
                ("ClosePreparedStatement", "Forget a prepared query.")]  # fmt: skip

    # ------------------------------------------------------------------ helpers

    @staticmethod
    def _sql_info(descriptor, schema: pa.Schema, ticket: bytes, rows: int) -> flight.FlightInfo:
        endpoint = flight.FlightEndpoint(flight.Ticket(ticket), [])
        return flight.FlightInfo(schema, descriptor, [endpoint], rows, -1)

    def _statement(self, subject: Subject, message) -> str:
        with self._lock:
            found = self._prepared.get(message.prepared_statement_handle)
        if found is None or found[0] != subject:
            raise UserError("The prepared statement does not exist (or was closed).")
        with self._lock:
            bound = self._bound.get(message.prepared_statement_handle)
        return bind(found[1], list(bound[0].values())) if bound else found[1]

    def _keep(self, subject: Subject, table: pa.Table) -> bytes:
        handle = secrets.token_bytes(24)
        now = time.monotonic()
        with self._lock:
            for key in [k for k, v in self._results.items() if v[1] < now]:
                del self._results[key]
            while len(self._results) >= MAX_RESULTS:
                del self._results[next(iter(self._results))]
            self._results[handle] = (subject, now + RESULT_SECONDS, table)
        return handle

    def _take(self, subject: Subject, handle: bytes) -> pa.Table:
        with self._lock:
            found = self._results.get(handle)
            if found is not None and found[0] == subject:
                del self._results[handle]
        if found is None or found[0] != subject:
            raise UserError(
                "The statement's result is gone (fetched, expired or another caller's); run it again."
            )
        return found[2]

    def _metadata(self, name: str, message, caller) -> pa.Table:
        visible = SessionCatalog(self.sql, caller.subject, caller.purpose(), CATALOG).visible()
        if name == "CommandGetCatalogs":
            return pa.table(
                {"catalog_name": [CATALOG]}, schema=pa.schema([pa.field("catalog_name", pa.string(), False)])
            )
        schemas = [s for s in sorted(visible) if _matches(s, message.db_schema_filter_pattern)]
        if name == "CommandGetDbSchemas":
            return pa.table({"catalog_name": [CATALOG] * len(schemas), "db_schema_name": schemas},
                            schema=pa.schema([_CATALOG_NAME, pa.field("db_schema_name", pa.string(), False)]))  # fmt: skip
        rows = [(s, t, schema) for s in schemas for t, schema in sorted(visible[s].items())
                if _matches(t, message.table_name_filter_pattern)]  # fmt: skip
        if message.table_types and "TABLE" not in message.table_types:
            rows = []
        columns = {
            "catalog_name": pa.array([CATALOG] * len(rows), pa.string()),
            "db_schema_name": pa.array([r[0] for r in rows], pa.string()),
            "table_name": pa.array([r[1] for r in rows], pa.string()),
            "table_type": pa.array(["TABLE"] * len(rows), pa.string()),
        }
        fields = [_CATALOG_NAME, pa.field("db_schema_name", pa.string()), pa.field("table_name", pa.string(), False),
                  pa.field("table_type", pa.string(), False)]  # fmt: skip
        if message.include_schema:
            columns["table_schema"] = pa.array([r[2].serialize().to_pybytes() for r in rows], pa.binary())
            fields.append(pa.field("table_schema", pa.binary(), False))
        return pa.table(columns, schema=pa.schema(fields))


_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|(\?)")


def bind(sql: str, values: list) -> str:
    """``sql`` with its ``?`` placeholders replaced by ``values`` as SQL literals."""
    queue = list(values)

    def literal(match: re.Match) -> str:
        if match.group(1) is None:
            return match.group(0)
        if not queue:
            raise UserError("The statement has more `?` placeholders than bound values.")
        value = queue.pop(0)
        if value is None:
            return "NULL"
        if isinstance(value, bool):
            return "TRUE" if value else "FALSE"
        if isinstance(value, (int, float)):
            return repr(value)
        return "'" + str(value).replace("'", "''") + "'"

    return _PLACEHOLDER.sub(literal, sql)


def _matches(name: str, pattern: str) -> bool:
    """SQL ``LIKE`` pattern matching (``%`` and ``_``); an empty pattern matches everything."""
    if not pattern:
        return True
    return fnmatch.fnmatchcase(
        name, pattern.replace("*", "[*]").replace("?", "[?]").replace("%", "*").replace("_", "?")
    )
