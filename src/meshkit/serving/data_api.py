"""The REST data API: the rows of a product's output port, governed, filtered, paged, as JSON, CSV or Arrow.

``GET /api/v1/products/{product}/ports/{port}/rows?limit=100&offset=0&format=json&city=Rome``
reads the port's dataset through the same governed query as ``meshkit query`` (channel
``api-rows``: decision, rewrite, audit record). Any other query parameter is an equality filter
on a column the caller may see (removed columns cannot be filtered on, masked ones compare
their masked value). Callers authenticate with ``Authorization: Bearer TOKEN``, a meshkit token
of ``[governance.subjects.NAME]``, and may give ``purpose``. Rows are ordered by every column, so
pages are stable.
"""

from __future__ import annotations

import io
import threading
from typing import Annotated, Literal

import pyarrow as pa
from fastapi import APIRouter, Query, Request, Response

from meshkit.governance.decision import Subject
from meshkit.governance.exceptions import AccessDeniedError
from meshkit.governance.masking import masked_schema
from meshkit.governance.query import GovernedSQL
from meshkit.service.auth import credential_of
from meshkit.service.exceptions import AuthenticationError, ForbiddenError, NotFoundError
from meshkit.service.routes import API

CHANNEL = "api-rows"
MAX_LIMIT = 10_000
RESERVED = {"limit", "offset", "format", "purpose"}
MEDIA = {"json": "application/json", "csv": "text/csv", "arrow": "application/vnd.apache.arrow.stream"}
router = APIRouter(prefix=API, tags=["data"])
_lock = threading.Lock()


def _governed(request: Request) -> GovernedSQL:
    with _lock:
        if getattr(request.app.state, "governed", None) is None:
            request.app.state.governed = GovernedSQL(request.app.state.service.meshkit)
        return request.app.state.governed


def _subject(governed: GovernedSQL, request: Request) -> Subject:
    token = credential_of(request)
    subject = governed.governor.subject_for_token(token) if token else None
    if subject is None:
        raise AuthenticationError("A meshkit token is required to read data.",
                                  hint="Send `Authorization: Bearer TOKEN` with a token of [governance.subjects.NAME].")  # fmt: skip
    return subject


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


@router.get(
    "/products/{product}/ports/{port}/rows",
    responses={200: {"content": {m: {} for m in MEDIA.values()}}, 401: {}, 403: {}, 404: {}},
)
def port_rows(
    request: Request,
    product: str,
    port: str,
    limit: Annotated[int, Query(ge=0, le=MAX_LIMIT, description="Rows per page.")] = 100,
    offset: Annotated[int, Query(ge=0, description="Rows to skip.")] = 0,
    format: Annotated[Literal["json", "csv", "arrow"], Query(description="Response format.")] = "json",  # noqa: A002
    purpose: Annotated[str | None, Query(max_length=1000, description="Why the data is read.")] = None,
):
    """Rows of an output port, with the caller's policies applied; other parameters filter columns by equality."""
    governed = _governed(request)
    subject = _subject(governed, request)
    governor = governed.governor
    spec = governor.catalog.product(product)
    ports = {p.get("name"): p for p in (spec or {}).get("spec", {}).get("outputPorts", [])}
    if port not in ports:
        raise NotFoundError(f"No output port `{port}` of a published product `{product}`.",
                            hint="`meshkit product list` shows the published products.")  # fmt: skip
    dataset = governor.dataset(ports[port]["dataset"])
    decision = governor.decide(subject, purpose, dataset, channel=CHANNEL, audit_log=False)
    visible = (
        masked_schema(governed.sources.resolve(dataset).schema, decision).names if decision.allowed else []
    )
    filters = {k: v for k, v in request.query_params.items() if k not in RESERVED}
    if unknown := sorted(set(filters) - set(visible)) if decision.allowed else []:
        raise NotFoundError(f"No column {', '.join(f'`{c}`' for c in unknown)} to filter `{product}/{port}` on.",
                            hint=f"Columns you may filter on: {', '.join(visible)}.")  # fmt: skip
    where = " AND ".join(f"{_quote(c)} = {_literal(v)}" for c, v in filters.items())
    sql = (f"SELECT * FROM {_quote(dataset.store)}.{_quote(dataset.asset)}{' WHERE ' + where if where else ''} "
           f"ORDER BY ALL LIMIT {limit + 1} OFFSET {offset}")  # fmt: skip
    try:
        table = governed.execute(sql, subject, purpose, channel=CHANNEL)
    except AccessDeniedError as exc:
        raise ForbiddenError(exc.message, hint=exc.hint) from None
    more, table = table.num_rows > limit, table.slice(0, limit)
    headers = {"x-total-returned": str(table.num_rows), "x-next-offset": str(offset + limit) if more else ""}
    if format == "csv":
        import pyarrow.csv as pacsv

        buffer = io.BytesIO()
        pacsv.write_csv(table, buffer)
        return Response(buffer.getvalue(), media_type=MEDIA["csv"], headers=headers)
    if format == "arrow":
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
        return Response(sink.getvalue().to_pybytes(), media_type=MEDIA["arrow"], headers=headers)
    next_offset = offset + limit if more else None
    return {"product": product, "port": port, "dataset": dataset.id, "columns": table.column_names,
            "rows": table.to_pylist(), "offset": offset, "limit": limit, "next_offset": next_offset}  # fmt: skip
