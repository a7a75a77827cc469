"""NATS JetStream store: an asset is a stream whose subject has the stream's name; a message is a row.

Writes publish one JSON object per row and wait for every JetStream acknowledgement (the stream is
created on the first write). Reads give the messages currently in the stream as Arrow; the store
option ``schema`` (``{column = "SQL type"}``, DuckDB type names as in a Cast) fixes the columns and
their types, otherwise they are inferred from the messages. A SyncTransfer consumes a stream
through a durable pull consumer with :meth:`NatsStore.fetch`, acknowledging each batch once it is
written. ``nats-py`` is asyncio: every call runs on the store's private event loop and connection.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import decimal
import functools
import json
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from meshkit.core.errors import ConfigError, PlatformError, UserError
from meshkit.data.stores.base import (
    ColumnSchema,
    DataLike,
    Store,
    StoreConnectionError,
    WriteMode,
    WriteResult,
    as_reader,
    declared_schema,
    first_line,
    missing_asset,
)

_CHUNK = 1_000  # publishes awaited together
_SAMPLE = 1_000  # messages read to infer a schema


def _json_value(value: Any) -> Any:
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return str(value)


@dataclass
class StreamBatch:
    """Messages fetched by a durable consumer, as Arrow, until they are acknowledged."""

    table: pa.Table
    #: Messages of the stream not yet delivered to the consumer.
    lag: int
    _store: NatsStore
    _messages: list

    def ack(self) -> None:
        """The batch is written: the stream will not deliver it again."""
        self._store._call(self._settle("ack"))

    def nak(self) -> None:
        """The batch was not written: the stream delivers it again on the next fetch."""
        self._store._call(self._settle("nak"))

    async def _settle(self, how: str) -> None:
        await asyncio.gather(*(getattr(m, how)() for m in self._messages))
        await self._store._nc.flush()


class NatsStore(Store):
    """A NATS server with JetStream (``url``, default config ``nats_url``)."""

    type = "nats"
    url_schemes = ("nats",)
    IS_STREAM = True

    def __init__(self, name, options, meshkit=None):
        super().__init__(name, options, meshkit)
        default = meshkit.config.get("nats_url") if meshkit is not None else "nats://127.0.0.1:4222"
        self.url = self.resolve(self.options.get("url") or default)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._nc = None
        self._consumers: dict[tuple[str, str], Any] = {}

    # ------------------------------------------------------------------ asyncio plumbing

    def _call(self, coro: Coroutine) -> Any:
        """Run ``coro`` on the private event loop; NATS errors become meshkit errors naming the server."""
        import nats.errors

        if self._loop is None:
            self._loop = asyncio.new_event_loop()
        try:
            return self._loop.run_until_complete(coro)
        except nats.errors.NoRespondersError:
            raise ConfigError(f"JetStream is not enabled on the NATS server of store `{self.name}` "
                              f"({self.redact(self.url)}).", hint="Start nats-server with -js.") from None  # fmt: skip
        except (OSError, nats.errors.NoServersError, nats.errors.TimeoutError,
                nats.errors.ConnectionClosedError) as exc:  # fmt: skip
            self._nc = None
            self._consumers.clear()
            raise StoreConnectionError(
                f"Cannot reach NATS at {self.redact(self.url)} (store `{self.name}`): "
                f"{self.redact(first_line(exc))}.",
                hint="Check that the server is up, or set the store option `url` (config `nats_url`).",
            ) from None

    async def _js(self):
        if self._nc is None or self._nc.is_closed:
            import nats

            async def quiet(exc: Exception) -> None:  # errors reach the caller; no log of each attempt
                pass

            self._nc = await nats.connect(self.url, connect_timeout=5, allow_reconnect=False,
                                          max_reconnect_attempts=1, error_cb=quiet)  # fmt: skip
        return self._nc.jetstream()

    def close(self) -> None:
        if self._loop is not None:
            if self._nc is not None and not self._nc.is_closed:
                self._loop.run_until_complete(self._nc.close())
            self._loop.close()
        self._loop, self._nc = None, None
        self._consumers.clear()

    # ------------------------------------------------------------------ assets

    async def _stream_info(self, asset: str):
        import nats.js.errors

        js = await self._js()
        try:
            return await js.stream_info(asset)
        except nats.js.errors.NotFoundError:
            return None

    def exists(self, asset: str) -> bool:
        return self._call(self._stream_info(asset)) is not None

    def list_assets(self) -> list[str]:
        async def names():
            js = await self._js()
            return sorted(s.config.name for s in await js.streams_info())

        return self._call(names())

    def schema(self, asset: str) -> list[ColumnSchema]:
        declared = self._declared_schema
        schema = declared if declared is not None else self._read_table(asset, _SAMPLE).schema
        return [ColumnSchema(f.name, f.type, "json") for f in schema]

    @functools.cached_property
    def _declared_schema(self) -> pa.Schema | None:
        return declared_schema(self)

    def to_table(self, asset: str, payloads: Sequence[bytes]) -> pa.Table:
        """Messages (JSON objects) as an Arrow table with the declared or inferred schema."""
        rows = []
        for n, payload in enumerate(payloads):
            try:
                row = json.loads(payload)
            except ValueError:
                row = None
            if not isinstance(row, dict):
                raise UserError(f"Message {n + 1} of the batch read from stream `{asset}` is not a JSON object.",
                                hint="Publish one JSON object per message.")  # fmt: skip
            rows.append(row)
        schema = self._declared_schema
        names = schema.names if schema is not None else list(dict.fromkeys(k for r in rows for k in r))
        columns = {}
        for name in names:
            try:
                column = pa.array([r.get(name) for r in rows])
                columns[name] = column.cast(schema.field(name).type) if schema is not None else column
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
                raise UserError(f"Field `{name}` of the messages in stream `{asset}` cannot be read: {first_line(exc)}.",
                                hint=f"Declare its type in the store option `schema` of `{self.name}`.") from None  # fmt: skip
        return pa.table(columns, schema=schema) if schema is not None else pa.table(columns)

    # ------------------------------------------------------------------ reading

    def read(
        self, asset: str, columns: Sequence[str] | None = None, filter: str | None = None
    ) -> pa.RecordBatchReader:
        from meshkit.data.stores.predicates import table_reader

        return table_reader(self._read_table(asset), columns, filter)

    def _read_table(self, asset: str, limit: int | None = None) -> pa.Table:
        return self.to_table(asset, self._call(self._payloads(asset, limit)))

    async def _payloads(self, asset: str, limit: int | None) -> list[bytes]:
        """The messages in the stream now (at most ``limit``), through an ephemeral consumer."""
        from nats.js.api import AckPolicy, ConsumerConfig

        info = await self._stream_info(asset)
        if info is None:
            raise missing_asset(self, asset)
        wanted = info.state.messages if limit is None else min(limit, info.state.messages)
        if wanted == 0:
            return []
        js = await self._js()
        config = ConsumerConfig(ack_policy=AckPolicy.NONE, inactive_threshold=60)
        sub = await js.pull_subscribe(asset, stream=asset, config=config)
        payloads: list[bytes] = []
        try:
            while len(payloads) < wanted:
                messages = await sub.fetch(min(wanted - len(payloads), 10_000), timeout=5)
                payloads += [m.data for m in messages]
                if messages[-1].metadata.num_pending == 0:
                    break
        finally:
            await sub.unsubscribe()
        return payloads

    def fetch(self, asset: str, consumer: str, max_messages: int, timeout: float) -> StreamBatch:
        """Up to ``max_messages`` messages for durable ``consumer`` (waiting at most ``timeout`` s for any)."""
        return self._call(self._fetch(asset, consumer, max_messages, timeout))

    async def _fetch(self, asset: str, consumer: str, max_messages: int, timeout: float) -> StreamBatch:
        import nats.errors
        from nats.js.api import ConsumerConfig

        sub = self._consumers.get((asset, consumer))
        if sub is None:
            if await self._stream_info(asset) is None:
                raise missing_asset(self, asset)
            js = await self._js()
            config = ConsumerConfig(max_ack_pending=-1, ack_wait=300)
            sub = await js.pull_subscribe(asset, durable=consumer, stream=asset, config=config)
            self._consumers[(asset, consumer)] = sub
        try:
            messages = await sub.fetch(max_messages, timeout=timeout)
        except nats.errors.TimeoutError:
            messages = []
        lag = messages[-1].metadata.num_pending if messages else (await sub.consumer_info()).num_pending
        return StreamBatch(self.to_table(asset, [m.data for m in messages]), lag, self, messages)

    # ------------------------------------------------------------------ writing

    def write(self, asset: str, data: DataLike, mode: WriteMode = "append", keys: Sequence[str] | None = None,
              evolve: bool = True) -> WriteResult:  # fmt: skip
        if mode != "append":
            raise ConfigError(f"Store `{self.name}` (nats) only appends to a stream, it cannot {mode}.",
                              hint="Write with mode append.")  # fmt: skip
        acked, total, size = self._call(self._publish(asset, as_reader(data), evolve))
        if acked < total:
            raise PlatformError(
                f"Only {acked} of {total} rows written to stream `{asset}` were acknowledged by JetStream.",
                hint="The others may or may not be in the stream; write them again (readers must tolerate duplicates).",
            )
        return WriteResult(rows=total, bytes=size)

    async def _publish(self, asset: str, reader: pa.RecordBatchReader, create: bool) -> tuple[int, int, int]:
        js = await self._js()
        if await self._stream_info(asset) is None:
            if not create:
                raise missing_asset(self, asset)
            await js.add_stream(name=asset, subjects=[asset])
        acked = total = size = 0
        for batch in reader:
            rows = batch.to_pylist()
            for start in range(0, len(rows), _CHUNK):
                chunk = rows[start : start + _CHUNK]
                if acked == total:  # after a failed publish the rest is only counted
                    payloads = [json.dumps(r, default=_json_value).encode() for r in chunk]
                    results = await asyncio.gather(*(js.publish(asset, p, stream=asset) for p in payloads),
                                                   return_exceptions=True)  # fmt: skip
                    acked += sum(not isinstance(r, BaseException) for r in results)
                    size += sum(len(p) for p in payloads)
                total += len(chunk)
        return acked, total, size
