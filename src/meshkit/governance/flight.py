"""Arrow Flight server for product output ports, with the policy decision applied to every batch.

Warehouse ports are masked by one DuckDB query; ports in other stores (Parquet files, Iceberg)
stream through the transforms' Arrow path batch by batch. A column masked to one value on every
row (redacted, and ``NOT NULL`` or without nulls in its Parquet footers) is never read. Callers
authenticate with a bearer token (``[governance.subjects.NAME] token = "env:..."`` in
``meshkit.toml``), which names their user, role and team. A ticket is JSON:
``{"dataset": "warehouse/customers", "purpose": "marketing"}``; the purpose may come in the ticket
or in the ``x-meshkit-purpose`` header, and a request whose two purposes differ is refused. The
server decides like governed SQL does (same purposes, policies, cache and audit log) and streams the
masked rows; a denied caller gets ``FlightUnauthorizedError``. Every error a client sees is a Flight
error with a short message: a server failure is logged with its details and a reference the
client is given.
"""

from __future__ import annotations

import contextlib
import json
import logging
import traceback
import uuid
from typing import TYPE_CHECKING

import pyarrow as pa
import pyarrow.flight as flight
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from meshkit.core.errors import TransientError, UserError
from meshkit.data.transforms import transform_reader
from meshkit.governance.decision import Subject
from meshkit.governance.exceptions import AccessDeniedError
from meshkit.governance.governor import Governor
from meshkit.governance.masking import constant_columns, decision_transforms, masked_schema, masked_sql
from meshkit.governance.purposes import normalize_purpose
from meshkit.governance.query import GovernedSQL
from meshkit.governance.sources import null_free_columns

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit

BATCH_ROWS = 262_144
#: The most bytes sent in one message: gRPC clients refuse messages over 4 MiB unless told otherwise.
MAX_BATCH_BYTES = 3 * 1024 * 1024
#: The largest ticket or command accepted (a dataset name and a purpose fit in far less).
MAX_TICKET_BYTES = 4096
#: The longest message an error sent to a client carries.
MAX_ERROR_CHARS = 500
PURPOSE_HEADER = "x-meshkit-purpose"
TICKET_FORMAT = 'A ticket is JSON: {"dataset": "store/asset", "purpose": "..."}'
log = logging.getLogger(__name__)


class _Ticket(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset: str = Field(min_length=1, max_length=1000)
    purpose: str | None = None


class _Caller(flight.ServerMiddleware):
    def __init__(self, subject: Subject, purposes: list[str]):
        self.subject = subject
        #: The ``x-meshkit-purpose`` header's values.
        self.purposes = purposes

    def purpose(self, ticket: str | None = None) -> str | None:
        """The one purpose of a request: the header's or the ticket's; refused when they differ."""
        given = {normalize_purpose(p) for p in [*self.purposes, ticket]} - {None}
        if len(given) > 1:
            raise UserError(f"The request names several purposes ({', '.join(sorted(given))}).",
                            hint=f"Give one purpose, in the ticket or in the `{PURPOSE_HEADER}` header.")  # fmt: skip
        return given.pop() if given else None


class _TokenAuth(flight.ServerMiddlewareFactory):
    """Maps ``authorization: Bearer TOKEN`` to a subject; refuses unknown tokens."""

    def __init__(self, governor: Governor):
        self.governor = governor

    def start_call(self, info, headers):
        with _answering(self.governor.meshkit, "authentication"):
            values = headers.get("authorization") or []
            scheme, _, token = (values[0] if values else "").partition(" ")
            subject = self.governor.subject_for_token(token.strip()) if scheme.lower() == "bearer" else None
            if subject is None:
                raise flight.FlightUnauthenticatedError("A valid bearer token is required.")
            return _Caller(subject, [str(v) for v in headers.get(PURPOSE_HEADER) or []])


def _short(text: str) -> str:
    """The message a client gets (Flight appends ". Detail: ..." to it)."""
    text = text.rstrip(".")
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 3] + "..."


@contextlib.contextmanager
def _answering(meshkit: Meshkit, what: str):
    """Turn every error into a Flight error with a short message; a server failure is logged, not sent."""
    try:
        yield
    except flight.FlightError:
        raise
    except AccessDeniedError as exc:
        raise flight.FlightUnauthorizedError(_short(str(exc))) from None
    except UserError as exc:
        raise flight.FlightServerError(_short(str(exc))) from None
    except TransientError as exc:
        raise flight.FlightUnavailableError(_short(exc.message)) from None
    except Exception:  # noqa: BLE001 - anything else is ours: logged with a reference, never sent
        ref = uuid.uuid4().hex[:12]
        log.error("Flight %s failed (ref %s): %s", what, ref, meshkit.redactor.redact(traceback.format_exc()))
        raise flight.FlightInternalError(
            f"The server could not answer (ref {ref}); its log has the details"
        ) from None


def _guarded(meshkit: Meshkit, reader: pa.RecordBatchReader, close=None):
    """The batches of ``reader``, none over ``MAX_BATCH_BYTES``; an error while streaming reaches the
    client as a short Flight error."""
    try:
        with _answering(meshkit, "stream"):
            for batch in reader:
                yield from sized(batch)
    finally:
        if close is not None:
            close()


def sized(batch: pa.RecordBatch):
    """``batch`` in slices of at most ``MAX_BATCH_BYTES`` (a single larger row goes alone)."""
    if batch.nbytes <= MAX_BATCH_BYTES or batch.num_rows <= 1:
        yield batch
        return
    rows = max(1, batch.num_rows * MAX_BATCH_BYTES // batch.nbytes)
    for start in range(0, batch.num_rows, rows):
        yield batch.slice(start, rows)


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
        """The dataset and the one purpose of a ticket (or command) and the call's headers."""
        if len(raw) > MAX_TICKET_BYTES:
            raise UserError(f"The ticket has {len(raw)} bytes; at most {MAX_TICKET_BYTES} are accepted.",
                            hint=TICKET_FORMAT)  # fmt: skip
        try:
            document = json.loads(raw)
        except (ValueError, RecursionError):
            raise UserError("The ticket is not JSON.", hint=TICKET_FORMAT) from None
        if not isinstance(document, dict):
            raise UserError("The ticket is not a JSON object.", hint=TICKET_FORMAT)
        try:
            ticket = _Ticket.model_validate(document)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"])
            raise UserError(f"The ticket's `{field}`: {first['msg']}.", hint=TICKET_FORMAT) from None
        return ticket.dataset, context.get_middleware("auth").purpose(ticket.purpose)

    def _port(self, name: str):
        dataset = self.governor.dataset(name)
        if not dataset.product:
            raise AccessDeniedError(f"`{dataset.id}` is not an output port of a published product.",
                                    dataset=dataset.id, reason="not a product port")  # fmt: skip
        return dataset

    def _info(self, dataset, decision, purpose: str | None) -> flight.FlightInfo:
        source = self.sql.sources.resolve(dataset)
        descriptor = flight.FlightDescriptor.for_path(dataset.id)
        ticket = flight.Ticket(json.dumps({"dataset": dataset.id, "purpose": purpose}).encode())
        endpoint = flight.FlightEndpoint(ticket, [])
        return flight.FlightInfo(
            masked_schema(source.schema, decision), descriptor, [endpoint], dataset.rows or -1, -1
        )

    # ------------------------------------------------------------------ Flight methods

    def list_flights(self, context, criteria):
        with _answering(self.meshkit, "list_flights"):
            caller = context.get_middleware("auth")
            purpose = self.governor.purpose(caller.purpose())
            infos = []
            for dataset in self.governor.catalog.datasets():
                if not dataset.product:
                    continue
                decision = self.governor.decide(
                    caller.subject, purpose, dataset, channel="flight-list", audit_log=False
                )
                if decision.allowed:
                    infos.append(self._info(dataset, decision, purpose))
        yield from infos

    def get_flight_info(self, context, descriptor):
        with _answering(self.meshkit, "get_flight_info"):
            caller = context.get_middleware("auth")
            if descriptor.descriptor_type == flight.DescriptorType.CMD:
                name, purpose = self._request(descriptor.command, context)
            else:
                name = "/".join(p.decode(errors="replace") for p in descriptor.path)
                purpose = caller.purpose()
            dataset = self._port(name)
            decision = self.governor.require(
                caller.subject, purpose, dataset, channel="flight-info", audit_log=False
            )
            return self._info(dataset, decision, self.governor.purpose(purpose))

    def do_get(self, context, ticket):
        with _answering(self.meshkit, "do_get"):
            name, purpose = self._request(ticket.ticket, context)
            caller = context.get_middleware("auth")
            dataset = self._port(name)
            decision = self.governor.require(
                caller.subject, purpose, dataset, channel="flight", statement=f"do_get {name}"
            )
            source = self.sql.sources.resolve(dataset)
            if source.load is not None:
                reader, close = self._external(dataset, source.schema, decision), None
            else:
                conn = self.sql.engine.connect()
                close = conn.close
                try:
                    sql = masked_sql(source.relation, source.schema, decision)
                    reader = conn.execute(sql).to_arrow_reader(BATCH_ROWS)
                except BaseException:
                    conn.close()
                    raise
            return flight.GeneratorStream(reader.schema, _guarded(self.meshkit, reader, close))

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


def fetch(location: str, token: str, dataset: str, purpose: str | None = None) -> pa.Table:
    """Read one port from a meshkit Flight server (a small client for scripts and tests)."""
    client = flight.FlightClient(location)
    options = flight.FlightCallOptions(headers=[(b"authorization", f"Bearer {token}".encode())])
    ticket = flight.Ticket(json.dumps({"dataset": dataset, "purpose": purpose}).encode())
    try:
        return client.do_get(ticket, options).read_all()
    finally:
        client.close()
