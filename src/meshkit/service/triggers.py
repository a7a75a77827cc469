"""Triggers beyond cron: a deployment (a job's or a pipeline's) starts on an event.

Kinds (:mod:`meshkit.pipelines.spec`): an HMAC-signed webhook, a new object under an S3 prefix,
a message on a NATS subject or a Kafka topic, and new data (a successful run wrote a dataset the
pipeline reads, as the catalog records). Each event has a key (the webhook's signature, the
object's path and modification time, the NATS message's ``Nats-Msg-Id`` or delivery, the Kafka
message's topic, partition and offset, the dataset and the run that wrote it). An event fires by inserting ``(trigger, key)`` into ``service_trigger_events``,
whose primary key admits it once, and by recording the execution in the same transaction: of
several server processes on one database that see the same event, exactly one starts it, as
with cron ticks (:mod:`meshkit.service.scheduler`). The events table is the trigger history.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import threading
import time
import uuid
from datetime import UTC
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from pydantic import TypeAdapter, ValidationError

from meshkit.core.errors import ConfigError, MeshkitError
from meshkit.core.metadata import metadata, runs
from meshkit.core.runs import now
from meshkit.pipelines.spec import KAFKA_SECURITY, Trigger
from meshkit.service.exceptions import ApiError, NotFoundError
from meshkit.service.tables import TS

if TYPE_CHECKING:
    from meshkit.service.runtime import ControlService

log = logging.getLogger("meshkit.service")
#: Seconds between two looks for new data.
DATASET_INTERVAL = 1.0
#: Seconds between two reloads of the message triggers to listen to.
MESSAGE_REFRESH = 2.0
SIGNATURE_HEADER = "X-Meshkit-Signature"
TIMESTAMP_HEADER = "X-Meshkit-Timestamp"

triggers = sa.Table(
    "service_triggers",
    metadata,
    sa.Column("id", sa.String(300), primary_key=True),
    sa.Column("team", sa.String(64), nullable=False),
    sa.Column("job", sa.String(64), nullable=False),
    sa.Column("deployment", sa.String(64), nullable=False),
    sa.Column("position", sa.Integer, nullable=False),
    sa.Column("type", sa.String(16), nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),
    sa.Column("created_at", TS, nullable=False),
    sa.Index("ix_service_triggers_deployment", "team", "job", "deployment"),
)

trigger_events = sa.Table(
    "service_trigger_events",
    metadata,
    sa.Column("trigger_id", sa.String(300), primary_key=True),
    sa.Column("event", sa.String(500), primary_key=True),
    sa.Column("at", TS, nullable=False),
    sa.Column("run_id", sa.String(200)),
    sa.Column("outcome", sa.String(16), nullable=False),
    sa.Column("detail", sa.JSON),
    sa.Index("ix_service_trigger_events_at", "trigger_id", "at"),
)

_TRIGGERS = TypeAdapter(list[Trigger])


def trigger_id(team: str, job: str, deployment: str, position: int) -> str:
    return f"{team}/{job}/{deployment}/{position}"


# ---------------------------------------------------------------------------- registry


def set_triggers(engine: sa.Engine, team: str, job: str, deployment: str, specs: list[dict[str, Any]], *,
                 actor: str) -> list[dict[str, Any]]:  # fmt: skip
    """Replace the triggers of a deployment; an unchanged trigger keeps its start (and its history)."""
    from meshkit.service import audit
    from meshkit.service.deployments import get as get_deployment

    try:
        parsed = _TRIGGERS.validate_python(specs)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"])
        raise ApiError(f"Trigger `{where}`: {error['msg']}.", where="triggers", code="invalid_trigger",
                       hint="See docs/pipelines.md#triggers.") from None  # fmt: skip
    at = now()
    with engine.begin() as conn:
        get_deployment(conn, team, job, deployment)
        where = (triggers.c.team == team) & (triggers.c.job == job) & (triggers.c.deployment == deployment)
        old = {r["id"]: dict(r) for r in conn.execute(sa.select(triggers).where(where)).mappings()}
        conn.execute(triggers.delete().where(where))
        rows = []
        for position, trigger in enumerate(parsed):
            spec = trigger.model_dump(mode="json", exclude_none=True)
            tid = trigger_id(team, job, deployment, position)
            kept = old.get(tid)
            created = kept["created_at"] if kept and kept["spec"] == spec else at
            rows.append({"id": tid, "team": team, "job": job, "deployment": deployment, "position": position,
                         "type": trigger.type, "spec": spec, "created_at": created})  # fmt: skip
        if rows:
            conn.execute(triggers.insert(), rows)
        audit.record(conn, actor, "triggers.set", team=team, target=f"{job}/{deployment}",
                     details={"types": [r["type"] for r in rows]})  # fmt: skip
    return [_shape(r) for r in rows]


def list_triggers(
    engine: sa.Engine, team: str, job: str, deployment: str | None = None
) -> list[dict[str, Any]]:
    query = sa.select(triggers).where(triggers.c.team == team, triggers.c.job == job)
    if deployment is not None:
        query = query.where(triggers.c.deployment == deployment)
    with engine.connect() as conn:
        return [
            _shape(r)
            for r in conn.execute(query.order_by(triggers.c.deployment, triggers.c.position)).mappings()
        ]


def history(engine: sa.Engine, team: str, job: str, *, limit: int = 50) -> list[dict[str, Any]]:
    """The events of a job's triggers, newest first, with the execution each started."""
    query = (sa.select(trigger_events, triggers.c.type, triggers.c.deployment, runs.c.status)
             .select_from(trigger_events.join(triggers, triggers.c.id == trigger_events.c.trigger_id)
                          .outerjoin(runs, runs.c.id == trigger_events.c.run_id))
             .where(triggers.c.team == team, triggers.c.job == job)
             .order_by(trigger_events.c.at.desc()).limit(limit))  # fmt: skip
    with engine.connect() as conn:
        return [
            {"trigger": r["trigger_id"], "type": r["type"], "deployment": r["deployment"], "event": r["event"],
             "at": r["at"], "outcome": r["outcome"], "run_id": r["run_id"], "status": r["status"],
             "detail": r["detail"] or {}}
            for r in conn.execute(query).mappings()
        ]  # fmt: skip


def _shape(row) -> dict[str, Any]:
    return {"id": row["id"], "deployment": row["deployment"], "type": row["type"], "spec": row["spec"],
            "created_at": row["created_at"]}  # fmt: skip


# ---------------------------------------------------------------------------- firing


def _insert_once(conn: sa.Connection, values: dict[str, Any]) -> bool:
    """Insert the event unless it is there; whether this call inserted it."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        try:
            with conn.begin_nested():
                conn.execute(trigger_events.insert().values(values))
        except sa.exc.IntegrityError:
            return False
        return True
    statement = (
        insert(trigger_events).values(values).on_conflict_do_nothing().returning(trigger_events.c.event)
    )
    return conn.execute(statement).first() is not None


def fire(
    svc: ControlService, trigger: dict[str, Any], event: str, detail: dict[str, Any] | None = None
) -> str | None:
    """Start the trigger's deployment for ``event`` unless that event fired already (here or elsewhere).

    Returns the run id of the execution started, or ``None`` when the event had fired already
    or the deployment is paused (recorded as ``ignored``).
    """
    from meshkit.service.deployments import get as get_deployment
    from meshkit.service.executions import submit

    event = event[:500]
    with svc.engine.begin() as conn:
        values = {
            "trigger_id": trigger["id"],
            "event": event,
            "at": now(),
            "outcome": "fired",
            "detail": detail or {},
        }
        if not _insert_once(conn, values):
            return None
        try:
            deployment = get_deployment(conn, trigger["team"], trigger["job"], trigger["deployment"])
        except NotFoundError:
            deployment = None
        if deployment is None or not deployment.enabled:
            conn.execute(_event(trigger["id"], event).values(outcome="ignored"))
            return None
        run = submit(svc, conn, deployment, trigger=trigger["type"], actor=f"trigger:{trigger['type']}")
        outcome = "fired" if run.status == "submitted" else run.status
        conn.execute(_event(trigger["id"], event).values(run_id=run.id, outcome=outcome))
    log.info("trigger %s fired for %s: execution %s", trigger["id"], event, run.id)
    svc.wake()
    return run.id


def _event(tid: str, event: str):
    return trigger_events.update().where(trigger_events.c.trigger_id == tid, trigger_events.c.event == event)


def sign(secret: str, body: bytes, timestamp: int) -> str:
    """The ``X-Meshkit-Signature`` of a webhook call: ``sha256=`` HMAC of ``TIMESTAMP.BODY``."""
    return "sha256=" + hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def receive_webhook(svc: ControlService, team: str, job: str, deployment: str, body: bytes,
                    headers: dict[str, str]) -> str:  # fmt: skip
    """Check a webhook call against the deployment's webhook triggers and fire it; returns the run id.

    Refused (401) unless the signature matches one trigger's secret and the timestamp is within its
    replay window; a call seen before is refused (409).
    """
    from meshkit.service.exceptions import AuthenticationError, ConflictError

    signature = headers.get(SIGNATURE_HEADER.lower(), "")
    stamp = headers.get(TIMESTAMP_HEADER.lower(), "")
    refused = AuthenticationError("The webhook call is not signed with this deployment's key, or is too old.",
                                hint=f"Send {TIMESTAMP_HEADER} (Unix seconds) and {SIGNATURE_HEADER}: "
                                     "sha256=HMAC-SHA256(key, TIMESTAMP + '.' + BODY).")  # fmt: skip
    if not stamp.isdigit() or not signature.startswith("sha256="):
        raise refused
    found = [t for t in list_triggers(svc.engine, team, job, deployment) if t["type"] == "webhook"]
    for trigger in found:
        secret = str(svc.meshkit.resolve(trigger["spec"]["secret"]))
        if not hmac.compare_digest(sign(secret, body, int(stamp)), signature):
            continue
        if abs(time.time() - int(stamp)) > trigger["spec"].get("replay_window", 300):
            raise refused
        row = {**trigger, "team": team, "job": job}
        run_id = fire(svc, row, signature, {"bytes": len(body), "timestamp": int(stamp)})
        if run_id is None:
            raise ConflictError("This webhook call was received before.", hint="Sign each call anew.")
        return run_id
    raise refused


# ---------------------------------------------------------------------------- watching


class TriggerWatcher:
    """Looks for new data and new objects on the worker's ticks, and listens to NATS subjects and
    Kafka topics."""

    def __init__(self, svc: ControlService):
        self.svc = svc
        self._next_dataset = 0.0
        self._next_object: dict[str, float] = {}
        self._messages: MessageListener | None = None
        self._kafka: KafkaListener | None = None

    def _of_type(self, *types: str) -> list[dict[str, Any]]:
        with self.svc.engine.connect() as conn:
            return [
                dict(r)
                for r in conn.execute(sa.select(triggers).where(triggers.c.type.in_(types))).mappings()
            ]

    def poll(self) -> int:
        """Fire the new-data and object events due now; returns how many this process started."""
        fired = 0
        clock = time.monotonic()
        if clock >= self._next_dataset:
            self._next_dataset = clock + DATASET_INTERVAL
            fired += self.poll_datasets()
        for trigger in self._of_type("object"):
            if clock >= self._next_object.get(trigger["id"], 0.0):
                self._next_object[trigger["id"]] = clock + float(trigger["spec"].get("interval", 10))
                try:
                    fired += self.poll_objects(trigger)
                except Exception as exc:  # noqa: BLE001 - an unreachable bucket must not stop the worker
                    log.warning("trigger %s cannot list %s: %s", trigger["id"], trigger["spec"]["path"],
                                self.svc.meshkit.redactor.redact(str(exc)))  # fmt: skip
        return fired

    def poll_datasets(self) -> int:
        """New data: the last successful writer of each watched dataset, since the trigger was set."""
        from meshkit.catalog.tables import datasets

        fired = 0
        for trigger in self._of_type("dataset"):
            watched = trigger["spec"].get("datasets") or []
            if not watched:
                continue
            query = (sa.select(datasets.c.id, datasets.c.last_run_id, runs.c.kind, runs.c.name)
                     .select_from(datasets.join(runs, runs.c.id == datasets.c.last_run_id))
                     .where(datasets.c.id.in_(watched), runs.c.status == "succeeded",
                            runs.c.ended_at >= trigger["created_at"],
                            ~sa.exists().where(trigger_events.c.trigger_id == trigger["id"],
                                               trigger_events.c.event == datasets.c.id + "@" + datasets.c.last_run_id)))  # fmt: skip
            with self.svc.engine.connect() as conn:
                found = conn.execute(query).all()
            for dataset, run_id, kind, name in found:
                detail = {"dataset": dataset, "written_by": run_id, "kind": kind, "name": name}
                fired += fire(self.svc, trigger, f"{dataset}@{run_id}", detail) is not None
        return fired

    def poll_objects(self, trigger: dict[str, Any]) -> int:
        """New objects under the trigger's S3 prefix, modified since the trigger was set."""
        import pyarrow.fs as pafs

        spec = trigger["spec"]
        bucket_and_prefix = spec["path"][5:].rstrip("/")
        fs = self._s3(spec)
        try:
            infos = fs.get_file_info(
                pafs.FileSelector(bucket_and_prefix, recursive=True, allow_not_found=True)
            )
        except OSError as exc:
            raise OSError(f"cannot list s3://{bucket_and_prefix}: {exc}") from None
        since = trigger["created_at"]

        new = [i for i in infos if i.type == pafs.FileType.File and i.mtime is not None
               and i.mtime.astimezone(UTC) >= since.replace(microsecond=0)]  # fmt: skip
        if not new:
            return 0
        keys = {f"s3://{i.path}@{i.mtime.astimezone(UTC).isoformat()}": i for i in new}
        with self.svc.engine.connect() as conn:
            seen = set(conn.execute(sa.select(trigger_events.c.event).where(
                trigger_events.c.trigger_id == trigger["id"], trigger_events.c.event.in_(list(keys)))).scalars())  # fmt: skip
        fired = 0
        for key, info in sorted(keys.items()):
            if key not in seen:
                detail = {"object": f"s3://{info.path}", "size": info.size}
                fired += fire(self.svc, trigger, key, detail) is not None
        return fired

    def _s3(self, spec: dict[str, Any]):
        from urllib.parse import urlsplit

        import pyarrow.fs as pafs

        options = dict(self.svc.meshkit.store_settings.get(spec["store"], {})) if spec.get("store") else {}
        options.update(
            {k: v for k, v in spec.items() if k in ("endpoint_url", "region", "access_key", "secret_key")}
        )
        opts = {
            k: str(self.svc.meshkit.resolve(options[k]))
            for k in ("access_key", "secret_key")
            if options.get(k)
        }
        endpoint = options.get("endpoint_url")
        if endpoint:
            parsed = urlsplit(endpoint if "://" in endpoint else f"https://{endpoint}")
            opts.update(endpoint_override=parsed.netloc, scheme=parsed.scheme)
        return pafs.S3FileSystem(region=options.get("region") or "us-east-1", **opts)

    def start(self) -> None:
        """Listen to the NATS subjects and Kafka topics of message triggers (in threads, until ``stop``)."""
        self._messages = MessageListener(self)
        self._messages.start()
        self._kafka = KafkaListener(self)
        self._kafka.start()

    def wait_listening(self, timeout: float) -> bool:
        """Wait until the listeners have tried every message trigger found at start; whether they did."""
        deadline = time.monotonic() + timeout
        return all(listener.listening.wait(max(0.0, deadline - time.monotonic()))
                   for listener in (self._messages, self._kafka) if listener is not None)  # fmt: skip

    def stop(self) -> None:
        for listener in (self._messages, self._kafka):
            if listener is not None:
                listener.stop()


class _Listener:
    """A thread (``_run``) that fires the message triggers of ``watcher`` until stopped."""

    #: The thread's name.
    THREAD: str

    def __init__(self, watcher: TriggerWatcher):
        self.watcher = watcher
        self._stop = threading.Event()
        #: Set once the triggers found at start are listened to (subscribed, or their topics assigned).
        self.listening = threading.Event()
        self._thread = threading.Thread(target=self._run, name=self.THREAD, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        raise NotImplementedError


class MessageListener(_Listener):
    """One thread with an event loop subscribed to every NATS message trigger.

    Every server process subscribes in the queue group of the trigger, so NATS hands each
    message to one of them; the event key (``Nats-Msg-Id`` when the publisher sets one) keeps a
    message redelivered to another process from firing twice.
    """

    THREAD = "meshkit-triggers"

    def _run(self) -> None:
        import asyncio

        try:
            asyncio.run(self._listen())
        except Exception:  # noqa: BLE001 - logged; the rest of the service goes on
            log.exception("message triggers stopped")

    async def _listen(self) -> None:
        import asyncio

        connections: dict[str, Any] = {}  # url -> nats client
        subscriptions: dict[str, tuple[str, Any]] = {}  # trigger id -> (spec signature, subscription)
        loop = asyncio.get_running_loop()
        try:
            while not self._stop.is_set():
                wanted = {t["id"]: t for t in await loop.run_in_executor(None, self.watcher._of_type, "message")
                          if t["spec"].get("broker", "nats") == "nats"}  # fmt: skip
                for tid in [
                    t
                    for t in subscriptions
                    if t not in wanted or subscriptions[t][0] != str(wanted[t]["spec"])
                ]:
                    await subscriptions.pop(tid)[1].unsubscribe()
                for tid, trigger in wanted.items():
                    if tid in subscriptions:
                        continue
                    try:
                        url = str(self.watcher.svc.meshkit.resolve(trigger["spec"]["url"]))
                        if url not in connections:
                            import nats

                            connections[url] = await nats.connect(
                                url, connect_timeout=3, max_reconnect_attempts=-1
                            )
                        sub = await connections[url].subscribe(trigger["spec"]["subject"], queue=f"meshkit.{tid}",
                                                               cb=self._handler(trigger, loop))  # fmt: skip
                        subscriptions[tid] = (str(trigger["spec"]), sub)
                    except Exception as exc:  # noqa: BLE001 - tried again on the next refresh
                        log.warning(
                            "trigger %s cannot listen to %s: %s", tid, trigger["spec"].get("subject"), exc
                        )
                if not self.listening.is_set():
                    for client in connections.values():
                        await client.flush(timeout=5)  # the server has the subscriptions
                    self.listening.set()
                await asyncio.sleep(MESSAGE_REFRESH)
        finally:
            for client in connections.values():
                try:
                    await client.drain()
                except Exception:  # noqa: BLE001, S110 - closing anyway
                    pass

    def _handler(self, trigger: dict[str, Any], loop):
        async def on_message(msg) -> None:
            key = (msg.headers or {}).get("Nats-Msg-Id") or f"delivery-{uuid.uuid4().hex}"
            detail = {"subject": msg.subject, "bytes": len(msg.data)}
            await loop.run_in_executor(None, fire, self.watcher.svc, trigger, f"{msg.subject}#{key}", detail)

        return on_message


class KafkaListener(_Listener):
    """One thread reading the Kafka topic of every Kafka message trigger.

    Every server process reads every message of the topic (its partitions are assigned, with no
    group rebalancing to wait for): the event key ``topic:partition@offset`` is admitted once by
    the events table, so exactly one process fires each message. A partition starts at the
    offset the trigger's consumer group (``meshkit-trigger-ID``) committed, which each process
    moves past what it handled, else at the first message produced since the trigger was set;
    messages whose timestamp is older than the trigger do not fire.
    """

    THREAD = "meshkit-kafka-triggers"

    def _run(self) -> None:
        readers: dict[str, TopicReader] = {}
        refresh = 0.0
        try:
            while not self._stop.is_set():
                if time.monotonic() >= refresh:
                    self._refresh(readers)
                    self.listening.set()
                    refresh = time.monotonic() + MESSAGE_REFRESH
                if not any(reader.partitions for reader in readers.values()):
                    self._stop.wait(0.2)
                for reader in list(readers.values()):
                    if self._stop.is_set():
                        break
                    reader.poll(timeout=0.2 / len(readers))
        except Exception:  # noqa: BLE001 - logged; the rest of the service goes on
            log.exception("Kafka message triggers stopped")
        finally:
            for reader in readers.values():
                reader.close()

    def _refresh(self, readers: dict[str, TopicReader]) -> None:
        wanted = {t["id"]: t for t in self.watcher._of_type("message") if t["spec"].get("broker") == "kafka"}
        for tid in [t for t in readers if t not in wanted or readers[t].trigger["spec"] != wanted[t]["spec"]]:
            readers.pop(tid).close()
        for tid, trigger in wanted.items():
            try:
                if tid not in readers:
                    readers[tid] = TopicReader(self.watcher.svc, trigger)
                readers[tid].assign_new_partitions()
            except Exception as exc:  # noqa: BLE001 - tried again on the next refresh
                message = exc.message if isinstance(exc, MeshkitError) else str(exc)
                log.warning("trigger %s cannot read Kafka topic %s: %s", tid, trigger["spec"].get("subject"),
                            self.watcher.svc.meshkit.redactor.redact(message))  # fmt: skip


def kafka_config(meshkit, spec: dict[str, Any]) -> dict[str, Any]:
    """The client settings of a Kafka message trigger: its ``store``'s, overridden by its own ``url``
    and security settings; secret references are resolved by ``meshkit`` (and so redacted in its output)."""
    from meshkit.data.stores.kafka import client_config

    options: dict[str, Any] = {}
    if spec.get("store"):
        options = dict(meshkit.store_settings.get(spec["store"]) or {})
        if options.get("type") != "kafka":
            found = f"a {options['type']} store" if options.get("type") else "no store"
            raise ConfigError(f"Trigger store `{spec['store']}` is {found}, not a Kafka store.",
                              hint="Name a [stores.NAME] of meshkit.toml with type = \"kafka\", or give `url`.")  # fmt: skip
    if spec.get("url"):
        options["bootstrap_servers"] = spec["url"]
    options.update({key: spec[key] for key in KAFKA_SECURITY if spec.get(key) is not None})
    return client_config(options, meshkit.resolve)


#: librdkafka's own log lines (e.g. a failed SASL handshake) go to meshkit's service log, not to stderr.
_KAFKA_LOG = logging.getLogger("meshkit.service.kafka")


class TopicReader:
    """The consumer of one Kafka message trigger: fires each message of its topic."""

    def __init__(self, svc: ControlService, trigger: dict[str, Any]):
        from confluent_kafka import Consumer

        self.svc = svc
        self.trigger = trigger
        self.topic = trigger["spec"]["subject"]
        self.partitions: set[int] = set()
        created = trigger["created_at"]
        #: Milliseconds since the epoch when the trigger was set: older messages do not fire.
        self.since = int((created if created.tzinfo else created.replace(tzinfo=UTC)).timestamp() * 1000)
        self.consumer = Consumer({**kafka_config(svc.meshkit, trigger["spec"]),
                                  "group.id": f"meshkit-trigger-{trigger['id']}", "enable.auto.commit": False,
                                  "enable.auto.offset.store": False, "isolation.level": "read_committed",
                                  "logger": _KAFKA_LOG})  # fmt: skip

    def assign_new_partitions(self) -> None:
        """Read the topic's partitions not read yet (all at first; new ones as they are added)."""
        from confluent_kafka import OFFSET_END, TopicPartition

        try:
            found = self.consumer.list_topics(self.topic, timeout=10).topics.get(self.topic)
        except Exception:
            self.consumer.poll(0)  # the client's own log says why (e.g. a refused SASL handshake)
            raise
        if found is None or found.error is not None:
            return  # no such topic yet: looked for again on the next refresh
        new = sorted(set(found.partitions) - self.partitions)
        if not new:
            return
        committed = self.consumer.committed([TopicPartition(self.topic, p) for p in new], timeout=10)
        # NOTE: the offset for the time only saves reading older messages; some brokers (Tansu) answer
        # an earlier one, so `poll` checks each message's timestamp too.
        by_time = self.consumer.offsets_for_times(
            [TopicPartition(self.topic, p, self.since) for p in new], timeout=10
        )
        first = {tp.partition: tp.offset for tp in by_time}
        start = [TopicPartition(self.topic, tp.partition, tp.offset if tp.offset >= 0 else first.get(tp.partition, OFFSET_END))
                 for tp in committed]  # fmt: skip
        self.consumer.incremental_assign(start)
        self.partitions.update(new)

    def poll(self, timeout: float) -> int:
        """Fire the messages that arrived; returns how many this process started.

        When a message cannot be fired (the database is away), its partition is read again from
        that message.
        """
        from confluent_kafka import TIMESTAMP_NOT_AVAILABLE, KafkaError, TopicPartition

        fired = 0
        done: dict[int, int] = {}  # partition -> next offset
        failed: set[int] = set()
        for message in self.consumer.consume(500, timeout) if self.partitions else []:
            if message.error() is not None:
                if message.error().code() != KafkaError._PARTITION_EOF:
                    log.warning("trigger %s: Kafka error on %s: %s", self.trigger["id"], self.topic,
                                self.svc.meshkit.redactor.redact(str(message.error())))  # fmt: skip
                continue
            partition, offset = message.partition(), message.offset()
            if partition in failed:
                continue
            kind, stamp = message.timestamp()
            if kind != TIMESTAMP_NOT_AVAILABLE and stamp < self.since:
                done[partition] = offset + 1  # produced before the trigger was set
                continue
            detail = {"topic": message.topic(), "partition": partition, "offset": offset,
                      "bytes": len(message.value() or b"")}  # fmt: skip
            try:
                fired += (
                    fire(self.svc, self.trigger, f"{message.topic()}:{partition}@{offset}", detail)
                    is not None
                )
            except Exception as exc:  # noqa: BLE001 - read again and retried
                log.warning("trigger %s cannot fire %s:%s@%s: %s", self.trigger["id"], message.topic(), partition,
                            offset, self.svc.meshkit.redactor.redact(str(exc)))  # fmt: skip
                failed.add(partition)
                self.consumer.seek(TopicPartition(self.topic, partition, offset))
                continue
            done[partition] = offset + 1
        if done:
            try:
                self.consumer.commit(offsets=[TopicPartition(self.topic, p, o) for p, o in done.items()],
                                     asynchronous=False)  # fmt: skip
            except Exception as exc:  # noqa: BLE001 - the committed offsets only spare re-reading
                log.warning("trigger %s cannot commit offsets: %s", self.trigger["id"], exc)
        return fired

    def close(self) -> None:
        try:
            self.consumer.close()
        except Exception:  # noqa: BLE001, S110 - closing anyway
            pass
