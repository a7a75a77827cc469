"""Arrow Flight server for product output ports, with the policy decision applied to every batch.

Warehouse ports are masked by one DuckDB query; ports in other stores (Parquet files, Iceberg)
stream through the transforms' Arrow path batch by batch. A column masked to one value on every
row (redacted, and ``NOT NULL`` or without nulls in its Parquet footers) is never read. Callers authenticate with a bearer token (``[governance.subjects.NAME] token = "env:..."`` in
``meshkit.toml``), which names their user, role and team. A ticket is JSON:
``{"dataset": "warehouse/customers", "purpose": "marketing"}``. The server decides like governed
SQL does (same policies, cache and audit log) and streams the masked rows; a denied caller gets
``FlightUnauthorizedError``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pyarrow as pa
import pyarrow.flight as flight

from meshkit.core.errors import MeshkitError
from meshkit.data.transforms import transform_reader
from meshkit.governance.decision import Subject
from meshkit.governance.exceptions import AccessDeniedError
from meshkit.governance.governor import Governor
from meshkit.governance.masking import constant_columns, decision_transforms, masked_schema, masked_sql
from meshkit.governance.query import GovernedSQL
from meshkit.governance.sources import null_free_columns

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit

BATCH_ROWS = 262_144


class _Caller(flight.ServerMiddleware):
    def __init__(self, subject: Subject, purpose: str | None):
        self.subject = subject
        self.purpose = purpose


class _TokenAuth(flight.ServerMiddlewareFactory):
    """Maps ``authorization: Bearer TOKEN`` to a subject; refuses unknown tokens."""

    def __init__(self, governor: Governor):
        self.governor = governor

    def start_call(self, info, headers):
        values = headers.get("authorization") or []
        scheme, _, token = (values[0] if values else "").partition(" ")
        subject = self.governor.subject_for_token(token.strip()) if scheme.lower() == "bearer" else None
        if subject is None:
            raise flight.FlightUnauthenticatedError("A valid bearer token is required.")
        purpose = (headers.get("x-meshkit-purpose") or [None])[0]
        return _Caller(subject, purpose)


def _flight_error(exc: MeshkitError) -> Exception:
    if isinstance(exc, AccessDeniedError):
        return flight.FlightUnauthorizedError(str(exc))
    return flight.FlightServerError(str(exc))


class GovernedFlightServer(flight.FlightServerBase):
    """Serves the output ports of published products to authenticated callers."""

    def __init__(self, meshkit: Meshkit, location: str = "grpc://127.0.0.1:0", **kwargs):
        self.meshkit = meshkit
        self.governor = Governor(meshkit)
        self.sql = GovernedSQL(meshkit, self.governor)
        super().__init__(location, middleware={"auth": _TokenAuth(self.governor)}, **kwargs)

    # ------------------------------------------------------------------ requests

    @staticmethod
    def _request(raw: bytes, context) -> tuple[str, str | None]:
        try:
            request = json.loads(raw)
        except ValueError:
            request = {"dataset": raw.decode(errors="replace")}
        if not isinstance(request, dict) or not request.get("dataset"):
            raise flight.FlightServerError('A ticket is JSON: {"dataset": "store/asset", "purpose": "..."}.')
        caller = context.get_middleware("auth")
        return str(request["dataset"]), request.get("purpose") or caller.purpose

    def _port(self, name: str):
        dataset = self.governor.dataset(name)
        if not dataset.product:
            raise AccessDeniedError(f"`{dataset.id}` is not an output port of a published product.",
                                    dataset=dataset.id, reason="not a product port")  # fmt: skip
        return dataset

    def _info(self, dataset, decision) -> flight.FlightInfo:
        source = self.sql.sources.resolve(dataset)
        descriptor = flight.FlightDescriptor.for_path(dataset.id)
        ticket = flight.Ticket(json.dumps({"dataset": dataset.id}).encode())
        endpoint = flight.FlightEndpoint(ticket, [])
        return flight.FlightInfo(
            masked_schema(source.schema, decision), descriptor, [endpoint], dataset.rows or -1, -1
        )

    # ------------------------------------------------------------------ Flight methods

    def list_flights(self, context, criteria):
        caller = context.get_middleware("auth")
        for dataset in self.governor.catalog.datasets():
            if not dataset.product:
                continue
            decision = self.governor.decide(
                caller.subject, caller.purpose, dataset, channel="flight-list", audit_log=False
            )
            if decision.allowed:
                yield self._info(dataset, decision)

    def get_flight_info(self, context, descriptor):
        raw = descriptor.command if descriptor.descriptor_type == flight.DescriptorType.CMD else "/".join(
            p.decode() for p in descriptor.path).encode()  # fmt: skip
        name, purpose = self._request(raw, context)
        caller = context.get_middleware("auth")
        try:
            dataset = self._port(name)
            decision = self.governor.require(
                caller.subject, purpose, dataset, channel="flight-info", audit_log=False
            )
            return self._info(dataset, decision)
        except MeshkitError as exc:
            raise _flight_error(exc) from None

    def do_get(self, context, ticket):
        name, purpose = self._request(ticket.ticket, context)
        caller = context.get_middleware("auth")
        try:
            dataset = self._port(name)
            decision = self.governor.require(
                caller.subject, purpose, dataset, channel="flight", statement=f"do_get {name}"
            )
            source = self.sql.sources.resolve(dataset)
            if source.load is not None:
                return flight.RecordBatchStream(self._external(dataset, source.schema, decision))
            sql = masked_sql(source.relation, source.schema, decision)
            # The cursor lives as long as the reader streams; it is closed when both are collected.
            return flight.RecordBatchStream(
                self.sql.engine.connect().execute(sql).to_arrow_reader(BATCH_ROWS)
            )
        except MeshkitError as exc:
            raise _flight_error(exc) from None

    def _external(self, dataset, schema: pa.Schema, decision) -> pa.RecordBatchReader:
        """A port outside the warehouse through the transforms' Arrow path, batch by batch.

        Columns masked to a constant (redacted, no nulls) and, without a row filter, removed
        columns are not read from the store at all; the constants are added to each batch.
        """
        store = self.meshkit.store(dataset.store)
        free = null_free_columns(store, dataset.asset)
        schema = pa.schema([f.with_nullable(f.nullable and f.name not in free) for f in schema])
        constants = constant_columns(decision, schema)
        skipped = set(constants)
        if not decision.predicates():
            chosen = decision.column_actions()
            skipped |= {n for n in schema.names if chosen.get(n.lower()) == "RemoveColumn"}
        read = [n for n in schema.names if n not in skipped]
        if not read:  # nothing left to read: read (and mask) everything to keep the row count
            read, constants = schema.names, {}
        reader = store.read(dataset.asset, columns=read)
        masked = transform_reader(decision_transforms(decision, reader.schema), reader)
        if not constants:
            return masked
        names = masked_schema(schema, decision).names
        out = pa.schema(
            [pa.field(n, pa.string()) if n in constants else masked.schema.field(n) for n in names]
        )

        def batches():
            for batch in masked:
                fill = {n: pa.repeat(value, batch.num_rows) for n, value in constants.items()}
                yield pa.RecordBatch.from_arrays(
                    [fill[n] if n in fill else batch.column(n) for n in names], schema=out
                )

        return pa.RecordBatchReader.from_batches(out, batches())


def fetch(location: str, token: str, dataset: str, purpose: str | None = None, **request: Any) -> pa.Table:
    """Read one port from a meshkit Flight server (a small client for scripts and tests)."""
    client = flight.FlightClient(location)
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])
    ticket = flight.Ticket(json.dumps({"dataset": dataset, "purpose": purpose, **request}).encode())
    try:
        return client.do_get(ticket, options).read_all()
    finally:
        client.close()
