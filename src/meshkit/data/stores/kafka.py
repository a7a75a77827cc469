"""Kafka store (confluent-kafka, the standard Kafka protocol only): an asset is a topic, a message a row.

Reads turn message values (JSON objects, Avro with the store option ``avro_schema``, or Avro in the
schema-registry wire format, see ``meshkit.data.stores.kafka_registry``) into Arrow
columns, with the message's metadata as columns too (option ``metadata``: ``key``, ``partition``,
``offset``, ``timestamp``, ``topic``, ``headers``; named ``_key``, ``_partition``...). Writes
produce one message per row through an idempotent producer (``acks=all``), keyed on the key
columns, batched by the client and flushed before the write returns; the topic is created on the
first write (option ``partitions``). A SyncTransfer consumes a topic with :meth:`KafkaStore.fetch`
under the consumer group named after the transfer; its partitions are assigned explicitly, from the
positions the destination committed with the data when there are any (see
``meshkit.data.transfer.offsets``), else from the group's committed offsets. Partitions added to the
topic while it runs are assigned from their first message (checked every
``partition_check_seconds``, default 10).

Security settings (``security_protocol``, ``sasl_*``, ``ssl_*``) and any librdkafka setting under
``properties`` are passed to the client; credentials are secret references resolved in memory.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
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
from meshkit.data.stores.kafka_registry import Schemas, check_options, frame

log = logging.getLogger("meshkit.stores")

METADATA = ("key", "partition", "offset", "timestamp", "topic", "headers")
DEFAULT_METADATA = ("key", "partition", "offset", "timestamp")
#: Empty fetches for this long make a consumer idle even when the broker's watermarks say otherwise.
IDLE_AFTER_SECONDS = 5.0
#: Messages taken from the client at a time within a fetch, each lot decoded as it comes.
_CHUNK = 20_000
_SECURITY = ("security_protocol", "sasl_mechanism", "sasl_username", "sasl_password", "ssl_ca_location",
             "ssl_certificate_location", "ssl_key_location", "ssl_key_password")  # fmt: skip
_METADATA_TYPES = {"key": pa.string(), "partition": pa.int32(), "offset": pa.int64(),
                   "timestamp": pa.timestamp("ms", tz="UTC"), "topic": pa.string(),
                   "headers": pa.map_(pa.string(), pa.string())}  # fmt: skip


def client_config(options: dict[str, Any], resolve: Callable[[Any], Any]) -> dict[str, Any]:
    """librdkafka settings of Kafka ``options`` (a store's, a trigger's): servers, security, ``properties``.

    ``resolve`` resolves the secret references (``Meshkit.resolve``: the value is kept for redaction).
    """
    config: dict[str, Any] = {"bootstrap.servers": resolve(options["bootstrap_servers"])}
    for key in _SECURITY:
        if options.get(key) is not None:
            config[key.replace("_", ".")] = resolve(options[key])
    for key, value in options.get("properties", {}).items():
        config[key] = resolve(value)
    return config


def position_key(topic: str, partition: int) -> str:
    """How a partition is named in committed positions: ``topic:partition``."""
    return f"{topic}:{partition}"


@dataclass
class KafkaBatch:
    """Messages fetched for a consumer, as Arrow, with the positions that follow them."""

    table: pa.Table
    #: Messages behind the high watermark of each assigned partition (the broker's figure: a hint).
    lag: int
    #: ``{"topic:partition": next offset}`` after this batch, for the partitions it holds.
    positions: dict[str, int]
    #: ``{"topic:partition": messages behind}``.
    lag_by_partition: dict[str, int] = field(default_factory=dict)
    #: Seconds between the newest message's timestamp and its fetch (0 when nothing came).
    lag_seconds: float = 0.0
    #: Change records (store option ``changes``), applied by key instead of appending ``table``.
    changes: list | None = None
    _store: KafkaStore | None = None
    _asset: str = ""
    _consumer_name: str = ""

    #: Nothing arrived within the fetch timeout and the broker holds nothing more for this consumer
    #: (or nothing has arrived for ``IDLE_AFTER_SECONDS``, should its watermarks be wrong).
    idle: bool = False

    def ack(self) -> None:
        """The batch is written: commit its offsets to the consumer group (for monitoring tools)."""
        if self._store is not None and self.positions:
            self._store._commit_group(self._asset, self._consumer_name, self.positions)

    def nak(self) -> None:
        """The batch was not written: the next fetch starts again at its first message."""
        if self._store is not None:
            self._store._rewind(self._asset, self._consumer_name)


class KafkaStore(Store):
    """A Kafka cluster (``bootstrap_servers``), or any broker speaking its protocol."""

    type = "kafka"
    url_schemes = ("kafka",)
    IS_STREAM = True
    #: A fetch only reads, so a SyncTransfer fetches the next batch while it writes one.
    READ_AHEAD = True
    SECRET_OPTIONS = (*Store.SECRET_OPTIONS, "sasl_password", "ssl_key_password", "schema_registry_password")

    def __init__(self, name, options, meshkit=None):
        super().__init__(name, options, meshkit)
        if not self.options.get("bootstrap_servers"):
            raise ConfigError(f"Store `{name}` (kafka) needs `bootstrap_servers`.",
                              hint='Add `bootstrap_servers = "host:9092"` to its [stores] table.')  # fmt: skip
        check_options(self)
        #: Schemas by id for values in the schema-registry wire format (see ``kafka_registry``).
        self.registry = Schemas(self)
        avro = "avro_schema" in self.options or self.registry.configured
        self.format = self.options.get("format", "avro" if avro else "json")
        if self.format not in ("json", "avro"):
            raise ConfigError(f"Store `{name}` option `format` is `{self.format}`.", hint="Use json or avro.")
        self.metadata = tuple(self.options.get("metadata", DEFAULT_METADATA))
        unknown = [m for m in self.metadata if m not in METADATA]
        if unknown:
            raise ConfigError(f"Store `{name}` option `metadata` has unknown column(s) {', '.join(unknown)}.",
                              hint=f"Choose among {', '.join(METADATA)}.")  # fmt: skip
        self.changes = self.options.get("changes")
        if self.changes not in (None, "debezium", "keyed"):
            raise ConfigError(f"Store `{name}` option `changes` is `{self.changes}`.",
                              hint="Use debezium (Debezium envelopes) or keyed (upserts by key, tombstones delete).")  # fmt: skip
        self._consumers: dict[tuple[str, str], _Consumer] = {}
        self._producer = None
        self._admin = None

    @classmethod
    def from_url(cls, url: str) -> dict[str, Any]:
        return {"bootstrap_servers": url.split("://", 1)[1].strip("/")}

    def client_config(self) -> dict[str, Any]:
        """librdkafka settings: servers, security (references resolved), then ``properties``."""
        return client_config(self.options, self.resolve)

    def _kafka_error(self, exc: BaseException, what: str):
        text = self.redact(first_line(exc))
        return StoreConnectionError(f"Kafka store `{self.name}` failed to {what}: {text}.",
                                    hint="Check `bootstrap_servers` and the security settings.")  # fmt: skip

    @property
    def admin(self):
        if self._admin is None:
            from confluent_kafka.admin import AdminClient

            self._admin = AdminClient(self.client_config())
        return self._admin

    def close(self) -> None:
        for consumer in self._consumers.values():
            consumer.close()
        self._consumers.clear()
        if "_decoder" in self.__dict__:
            self.__dict__.pop("_decoder").shutdown(wait=True)
        if self._producer is not None:
            self._producer.flush(10)
        self._producer = self._admin = None

    # ------------------------------------------------------------------ topics

    def _topics(self) -> dict:
        from confluent_kafka import KafkaException

        try:
            return self.admin.list_topics(
                timeout=self.number_option("timeout", 10, (0.1, 3600), float)
            ).topics
        except KafkaException as exc:
            raise self._kafka_error(exc, "list topics") from None

    def list_assets(self) -> list[str]:
        return sorted(t for t in self._topics() if not t.startswith("__"))

    def exists(self, asset: str) -> bool:
        topic = self._topics().get(asset)
        return topic is not None and topic.error is None and bool(topic.partitions)

    def partitions(self, asset: str) -> list[int]:
        topic = self._topics().get(asset)
        if topic is None or topic.error is not None or not topic.partitions:
            raise missing_asset(self, asset)
        return sorted(topic.partitions)

    def create_topic(self, asset: str) -> None:
        from confluent_kafka import KafkaException
        from confluent_kafka.admin import NewTopic

        count = self.number_option("partitions", 1, (1, 100_000))
        replication = self.number_option("replication_factor", 1, (1, 100))
        future = self.admin.create_topics(
            [NewTopic(asset, num_partitions=count, replication_factor=replication)]
        )[asset]
        try:
            future.result(30)
        except KafkaException as exc:
            if "TOPIC_ALREADY_EXISTS" not in str(exc):
                raise self._kafka_error(exc, f"create topic `{asset}`") from None
        for _ in range(50):  # the metadata of a new topic reaches every broker shortly after
            if self.exists(asset):
                return
            time.sleep(0.1)

    # ------------------------------------------------------------------ values

    @functools.cached_property
    def _declared_schema(self) -> pa.Schema | None:
        return declared_schema(self)

    @functools.cached_property
    def avro_schema(self):
        """The parsed Avro schema of the values (option ``avro_schema``: a mapping, JSON text or a file)."""
        import fastavro

        raw = self.options.get("avro_schema")
        if raw is None and self.registry.configured and "schema_id" in self.options:
            return self.registry.schema(self.options["schema_id"])
        if raw is None:
            raise ConfigError(f"Store `{self.name}` has format avro but no `avro_schema`.",
                              hint="Give the values' Avro schema (JSON text, a table, or a .avsc file).")  # fmt: skip
        if isinstance(raw, str) and not raw.lstrip().startswith("{"):
            path = self.meshkit.workspace.root / raw if self.meshkit is not None else raw
            raw = open(path, encoding="utf-8").read()  # noqa: SIM115
        try:
            return fastavro.parse_schema(json.loads(raw) if isinstance(raw, str) else dict(raw))
        except (ValueError, fastavro.schema.SchemaParseException) as exc:
            raise ConfigError(
                f"Store `{self.name}` option `avro_schema` is not valid: {first_line(exc)}."
            ) from None

    def decode(self, asset: str, values: list[bytes], known: pa.Schema | None = None) -> pa.Table:
        """Message values as Arrow: JSON objects (types kept from ``known``), or Avro records."""
        if self.format == "avro":
            import fastavro

            if self.registry.configured:  # each value names its schema
                framed = [self.registry.split(v, f"topic `{asset}`") for v in values]
                rows = [fastavro.schemaless_reader(io.BytesIO(body), schema, None) for schema, body in framed]
                if self._declared_schema is not None:
                    return pa.Table.from_pylist(rows, schema=self._declared_schema)
                names = list(dict.fromkeys(name for row in rows for name in row))  # every version's fields
                return pa.table({name: [row.get(name) for row in rows] for name in names})
            skip = 5 if self.options.get("avro_confluent_framing") else 0  # magic byte and schema id
            rows = [fastavro.schemaless_reader(io.BytesIO(v[skip:]), self.avro_schema, None) for v in values]
            return pa.Table.from_pylist(rows, schema=self._declared_schema)
        import pyarrow.json as pj

        if not values:
            return pa.table({})
        schema = self._declared_schema or known
        text = b"\n".join(values)
        inner_newlines = text.count(b"\n") != len(values) - 1  # NOTE: one count in C, not a test per value
        parse = pj.ParseOptions(explicit_schema=schema, newlines_in_values=inner_newlines,
                                unexpected_field_behavior="ignore" if self._declared_schema else "infer")  # fmt: skip
        try:  # NOTE: one block, parsed on this thread: Arrow's pool would only add hand-offs (measured 10% CPU)
            table = pj.read_json(io.BytesIO(text), parse_options=parse,
                                 read_options=pj.ReadOptions(use_threads=False, block_size=max(1 << 20, len(text) + 1)))  # fmt: skip
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            if (
                known is not None and self._declared_schema is None
            ):  # a field widened (1 then 1.5): infer again
                return self.decode(asset, values)
            raise UserError(f"Messages of topic `{asset}` are not JSON objects of consistent types: {first_line(exc)}.",
                            hint=f"Publish one JSON object per message, or declare the columns in the `schema` option of `{self.name}`.") from None  # fmt: skip
        if table.num_rows != len(values):
            raise UserError(f"A message of topic `{asset}` is not one JSON object.",
                            hint="Publish one JSON object per message.")  # fmt: skip
        nulls = [i for i, f in enumerate(table.schema) if pa.types.is_null(f.type)]
        return table.drop_columns([table.schema.names[i] for i in nulls]) if nulls else table

    def _with_metadata(self, table: pa.Table, messages: list) -> pa.Table:
        for name in self.metadata:
            if name == "key":
                column = [None if (k := m.key()) is None else k.decode("utf-8", "replace") for m in messages]
            elif name == "partition":
                column = [m.partition() for m in messages]
            elif name == "offset":
                column = [m.offset() for m in messages]
            elif name == "timestamp":
                column = [m.timestamp()[1] for m in messages]
            elif name == "topic":
                column = [m.topic() for m in messages]
            else:
                column = [[(k, None if v is None else v.decode("utf-8", "replace")) for k, v in m.headers() or []]
                          for m in messages]  # fmt: skip
            table = table.append_column(pa.field(f"_{name}", _METADATA_TYPES[name]),
                                        pa.array(column, _METADATA_TYPES[name]))  # fmt: skip
        return table

    def encode(self, rows: list[dict]) -> list[bytes]:
        if self.format == "avro":
            import fastavro

            out = []
            schema_id = self.options.get("schema_id")
            for row in rows:
                buffer = io.BytesIO()
                fastavro.schemaless_writer(buffer, self.avro_schema, row)
                out.append(buffer.getvalue() if schema_id is None else frame(schema_id, buffer.getvalue()))
            return out
        from meshkit.data.stores.nats import _json_value

        return [json.dumps(r, default=_json_value).encode() for r in rows]

    # ------------------------------------------------------------------ reading

    def schema(self, asset: str) -> list[ColumnSchema]:
        table = self._read_table(asset, limit=1_000)
        return [ColumnSchema(f.name, f.type, "kafka metadata" if f.name.startswith("_") else self.format)
                for f in table.schema]  # fmt: skip

    def read(
        self, asset: str, columns: Sequence[str] | None = None, filter: str | None = None
    ) -> pa.RecordBatchReader:
        """The messages in the topic now (read until no message came for ``read_idle_seconds``)."""
        from meshkit.data.stores.predicates import table_reader

        return table_reader(self._read_table(asset), columns, filter)

    def _read_table(self, asset: str, limit: int | None = None) -> pa.Table:
        from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

        parts = self.partitions(asset)
        consumer = Consumer({**self.client_config(), "group.id": f"meshkit-read-{asset}", "enable.auto.commit": False,
                             "isolation.level": "read_committed"})  # fmt: skip
        idle = self.number_option("read_idle_seconds", 1.0, (0.05, 600), float)
        messages: list = []
        try:
            consumer.assign([TopicPartition(asset, p, OFFSET_BEGINNING) for p in parts])
            while limit is None or len(messages) < limit:
                got = consumer.consume(10_000 if limit is None else min(10_000, limit - len(messages)), idle)
                if not got:
                    break
                messages += _checked(self, got)
        finally:
            consumer.close()
        return self._table(asset, messages)

    def _table(self, asset: str, messages: list, known: pa.Schema | None = None) -> pa.Table:
        values = [m.value() or b"{}" for m in messages]
        table = self.decode(asset, values, known)
        if table.num_columns == 0:
            table = pa.Table.from_batches([pa.record_batch({"__": pa.nulls(len(values))})]).drop_columns(
                ["__"]
            )
        return self._with_metadata(table, messages)

    @functools.cached_property
    def _decoder(self) -> ThreadPoolExecutor:
        """The thread that decodes the lots of a fetch, in order (Arrow's parser releases the GIL)."""
        return ThreadPoolExecutor(1, f"meshkit-kafka-decode-{self.name}")

    def _lot(self, asset: str, messages: list, state: _Consumer) -> pa.Table:
        """One lot of a fetch as Arrow, its value columns typed as the consumer's previous lot."""
        table = self._table(asset, messages, state.schema)
        state.schema = pa.schema([f for f in table.schema if not f.name.startswith("_")])
        return table

    def fetch(self, asset: str, consumer: str, max_messages: int, timeout: float,
              busy: Callable[[], bool] | None = None) -> KafkaBatch:  # fmt: skip
        """Up to ``max_messages`` messages for ``consumer``, waiting at most ``timeout`` s for any.

        ``busy`` (a fetch ahead of the writes) says the previous batch is still being written: until
        it is, the fetch goes on past ``timeout``, filling the batch instead of waiting idle.
        """
        state = self._consumer(asset, consumer)
        self._add_partitions(asset, state)
        deadline = time.monotonic() + timeout
        messages: list = []
        tables: list[pa.Table] = []
        while len(messages) < max_messages:
            left = deadline - time.monotonic()
            waiting = busy is not None and busy()
            if left <= 0 and not waiting:
                break
            wait = max(left, 0.05) if waiting else max(left, 0)
            with state.lock:
                got = _checked(self, state.client.consume(min(max_messages - len(messages), _CHUNK), wait))
            if got and not self.changes:  # NOTE: decoded on another thread while this one takes the next lot
                tables.append(self._decoder.submit(self._lot, asset, got, state))
            messages += got
            if not got and not waiting:
                break
        changes = self._changes(asset, messages) if self.changes else None
        table = pa.table({"change": pa.nulls(len(changes))}) if changes is not None else (
            _concat([t.result() for t in tables]) if tables else pa.table({}))  # fmt: skip
        positions = {
            position_key(m.topic(), p): m.offset() + 1
            for p, m in _newest(messages, len(state.assigned)).items()
        }
        state.positions.update(positions)
        state.empty_since = None if messages else (state.empty_since or time.monotonic() - timeout)
        if messages:
            with state.lock:  # NOTE: beside a group commit of another thread
                lags = state.lags()
        else:  # an empty fetch asks the broker
            lags = state.lags(self._high_watermarks(state.assigned))
        seconds = max(0.0, time.time() - messages[-1].timestamp()[1] / 1000) if messages else 0.0
        batch = KafkaBatch(
            table, sum(lags.values()), positions, lags, seconds, changes, self, asset, consumer
        )
        batch.idle = not messages and (
            batch.lag == 0 or time.monotonic() - state.empty_since >= IDLE_AFTER_SECONDS
        )
        return batch

    def _high_watermarks(self, assigned: list) -> dict[str, int]:
        """The broker's last stable offset of each partition in ``assigned``, by one admin ``ListOffsets``
        request (a consumer's watermark query costs a round of its own per partition); -1 when unanswered."""
        from confluent_kafka import IsolationLevel, KafkaException, TopicPartition
        from confluent_kafka.admin import OffsetSpec

        futures = self.admin.list_offsets({TopicPartition(tp.topic, tp.partition): OffsetSpec.latest() for tp in assigned},
                                          isolation_level=IsolationLevel.READ_COMMITTED, request_timeout=5)  # fmt: skip
        out = {}
        for tp, future in futures.items():
            try:
                out[position_key(tp.topic, tp.partition)] = future.result().offset
            except KafkaException:  # the broker's figure is a hint; an unanswered query is none
                out[position_key(tp.topic, tp.partition)] = -1
        return out

    def _add_partitions(self, asset: str, state: _Consumer) -> None:
        """Assign the partitions added to the topic since the consumer started (every
        ``partition_check_seconds``), from their first message: a running transfer needs no restart."""
        from confluent_kafka import OFFSET_BEGINNING, KafkaException, TopicPartition

        if time.monotonic() - state.checked_at < self.number_option(
            "partition_check_seconds", 10, (0, 86_400), float
        ):
            return
        state.checked_at = time.monotonic()
        known = {tp.partition for tp in state.assigned}
        try:
            with state.lock:
                topic = state.client.list_topics(asset, timeout=10).topics.get(asset)
        except KafkaException as exc:
            raise self._kafka_error(exc, f"list the partitions of topic `{asset}`") from None
        added = [TopicPartition(asset, p, OFFSET_BEGINNING) for p in sorted(topic.partitions if topic else ())
                 if p not in known]  # fmt: skip
        if added:
            with state.lock:
                state.client.incremental_assign(added)
            state.assigned = [*state.assigned, *added]

    def _changes(self, asset: str, messages: list) -> list:
        """The change records of ``messages`` (Debezium envelopes or keyed records), with their positions."""
        from meshkit.data.transfer.changes import from_debezium, from_keyed

        parse = from_debezium if self.changes == "debezium" else from_keyed
        table_field = self.options.get("table_field")
        out = []
        for m in messages:
            change = parse(
                m.value(), m.key(), f"topic `{m.topic()}` (partition {m.partition()}, offset {m.offset()})"
            )
            if change is None:
                continue
            if table_field == "topic":
                change.table = m.topic()
            elif table_field:
                change.table = change.row.get(table_field, change.table)
            change.part, change.position = position_key(m.topic(), m.partition()), m.offset()
            out.append(change)
        return out

    def seek(self, asset: str, consumer: str, positions: dict[str, Any]) -> None:
        """Start ``consumer`` at ``positions`` (``{"topic:partition": offset}``, as the destination committed)."""
        self._consumer(asset, consumer, {k: int(v) for k, v in positions.items()})

    def _consumer(self, asset: str, name: str, start: dict[str, int] | None = None) -> _Consumer:
        state = self._consumers.get((asset, name))
        if state is not None and start is None:
            return state
        if state is not None:
            state.close()
        from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, TopicPartition

        parts = self.partitions(asset)
        reset = self.options.get("start", "earliest")
        client = Consumer({**self.client_config(), "group.id": name, "enable.auto.commit": False,
                           "enable.auto.offset.store": False, "auto.offset.reset": reset,
                           "isolation.level": "read_committed"})  # fmt: skip
        if start is None:  # no positions in the destination: the group's committed offsets
            committed = client.committed([TopicPartition(asset, p) for p in parts], timeout=10)
            start = {position_key(asset, tp.partition): tp.offset for tp in committed if tp.offset >= 0}
        default = OFFSET_BEGINNING if reset == "earliest" else OFFSET_END
        assigned = [TopicPartition(asset, p, start.get(position_key(asset, p), default)) for p in parts]
        client.assign(assigned)
        state = _Consumer(
            client, {position_key(asset, tp.partition): tp.offset for tp in assigned if tp.offset >= 0}
        )
        state.assigned, state.checked_at = assigned, time.monotonic()
        self._consumers[(asset, name)] = state
        return state

    def _commit_group(self, asset: str, name: str, positions: dict[str, int]) -> None:
        from confluent_kafka import KafkaException, TopicPartition

        state = self._consumers.get((asset, name))
        offsets = [
            TopicPartition(k.rsplit(":", 1)[0], int(k.rsplit(":", 1)[1]), v) for k, v in positions.items()
        ]
        try:
            with state.lock:
                state.client.commit(offsets=offsets, asynchronous=False)
        except KafkaException as exc:  # NOTE: the destination holds the positions; the group's are a copy
            log.warning("Store `%s`: the consumer group %s kept its old offsets of %s (%s); the destination "
                        "holds the positions, only the group's lag reads behind", self.name, name, asset,
                        self.redact(first_line(exc)))  # fmt: skip

    def _rewind(self, asset: str, name: str) -> None:
        """Drop the consumer: the next fetch starts from the positions committed before."""
        state = self._consumers.pop((asset, name), None)
        if state is not None:
            state.close()

    # ------------------------------------------------------------------ writing

    def write(self, asset: str, data: DataLike, mode: WriteMode = "append", keys: Sequence[str] | None = None,
              evolve: bool = True) -> WriteResult:  # fmt: skip
        if mode != "append":
            raise ConfigError(f"Store `{self.name}` (kafka) only appends to a topic, it cannot {mode}.",
                              hint="Write with mode append (keys still set the message keys).")  # fmt: skip
        from confluent_kafka import KafkaException, Producer

        reader = as_reader(data)
        key_columns = list(keys or self.options.get("key", []) or [])
        if isinstance(key_columns, str):
            key_columns = [key_columns]
        missing = [k for k in key_columns if k not in reader.schema.names]
        if missing:
            raise UserError(f"Key column(s) {', '.join(missing)} are not in the data written to topic `{asset}`.",
                            hint=f"Columns written: {', '.join(reader.schema.names)}.")  # fmt: skip
        if not self.exists(asset):
            if not evolve:
                raise missing_asset(self, asset)
            self.create_topic(asset)
        if self._producer is None:
            self._producer = Producer({**self.client_config(), "enable.idempotence": True, "acks": "all",
                                       "linger.ms": self.number_option("linger_ms", 20, (0, 60_000))})  # fmt: skip
        producer, failures, total, size = self._producer, [], 0, 0

        def delivered(err, _msg):
            if err is not None:
                failures.append(err)

        try:
            for batch in reader:
                rows = batch.to_pylist()
                values = self.encode(rows)
                for row, value in zip(rows, values, strict=True):
                    key = _key(row, key_columns)
                    while True:
                        try:
                            producer.produce(asset, value=value, key=key, on_delivery=delivered)
                            break
                        except BufferError:  # the client's queue is full: let it send
                            producer.poll(0.1)
                    size += len(value)
                producer.poll(0)
                total += len(rows)
            left = producer.flush(self.number_option("timeout", 60, (0.1, 3600), float))
        except KafkaException as exc:
            raise self._kafka_error(exc, f"write topic `{asset}`") from None
        if failures or left:
            raise PlatformError(
                f"{len(failures) + left} of {total} messages written to topic `{asset}` were not acknowledged "
                f"({self.redact(str(failures[0])) if failures else 'flush timed out'}).",
                hint="The others are in the topic; write the missing ones again (readers must tolerate duplicates).",
            )
        return WriteResult(rows=total, bytes=size)


@dataclass
class _Consumer:
    """A consumer of one topic for one consumer group, and what it read."""

    client: Any
    #: Next offset of each partition (what the destination would commit after the last batch).
    positions: dict[str, int]
    schema: pa.Schema | None = None
    assigned: list = field(default_factory=list)
    #: When the current run of empty fetches began (``time.monotonic()``), None after a message.
    empty_since: float | None = None
    #: NOTE: a commit waits for a consume of a fetch ahead (another thread): together they deadlock.
    lock: threading.Lock = field(default_factory=threading.Lock)
    #: When the topic's partitions were last compared with ``assigned`` (``time.monotonic()``).
    checked_at: float = 0.0

    def lags(self, highs: dict[str, int] | None = None) -> dict[str, int]:
        """Messages behind the high watermark, per partition (never below 0): the one the client last
        saw, or the broker's ``highs`` (``{"topic:partition": offset}``)."""
        out = {}
        for tp in self.assigned:
            key = position_key(tp.topic, tp.partition)
            if highs is not None:
                high = highs.get(key, -1)
            else:
                try:
                    _, high = self.client.get_watermark_offsets(tp, cached=True) or (0, 0)
                except Exception:  # noqa: BLE001 - the broker's figure is a hint; an unanswered query is none
                    high = -1
            out[key] = max(0, high - self.positions.get(key, 0)) if high >= 0 else 0
        return out

    def close(self) -> None:
        try:
            self.client.close()
        except RuntimeError:  # already closed
            pass


def _concat(tables: list[pa.Table]) -> pa.Table:
    """One table of the chunks of a batch (a column missing from a chunk is null there)."""
    if len(tables) == 1:
        return tables[0]
    return pa.concat_tables(tables, promote_options="permissive")


def _newest(messages: list, partitions: int) -> dict[int, Any]:
    """The last message of each partition in ``messages`` (one topic of ``partitions``), scanning from the end."""
    newest: dict[int, Any] = {}
    for m in reversed(messages):
        partition = m.partition()
        if partition not in newest:
            newest[partition] = m
            if len(newest) == partitions:
                break
    return newest


def _checked(store: KafkaStore, messages: list) -> list:
    """``messages`` without end-of-partition events; a real error stops the read."""
    from confluent_kafka import KafkaError

    flagged = [m for m in messages if m.error() is not None]  # NOTE: one comprehension: most lots have none
    for m in flagged:
        if m.error().code() != KafkaError._PARTITION_EOF:
            raise store._kafka_error(Exception(m.error().str()), f"read topic `{m.topic()}`")
    return [m for m in messages if m.error() is None] if flagged else messages


def _key(row: dict, columns: list[str]) -> bytes | None:
    if not columns:
        return None
    if len(columns) == 1:
        value = row[columns[0]]
        return None if value is None else str(value).encode()
    from meshkit.data.stores.nats import _json_value

    return json.dumps([row[c] for c in columns], default=_json_value).encode()
