"""Avro values in the schema-registry wire format (magic byte, schema id), schemas from a folder or a registry."""

from __future__ import annotations

import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import fastavro
import pyarrow as pa
import pytest
from confluent_kafka import Producer

from meshkit.core.errors import UserError
from meshkit.data.stores.kafka import KafkaStore
from meshkit.data.stores.kafka_registry import frame

V1 = {
    "type": "record",
    "name": "Order",
    "fields": [{"name": "id", "type": "long"}, {"name": "item", "type": "string"}],
}
V2 = {**V1, "fields": [*V1["fields"], {"name": "qty", "type": ["null", "int"], "default": None}]}


def framed(schema_id: int, schema: dict, row: dict) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), row)
    return frame(schema_id, buffer.getvalue())


def produce(bootstrap: str, topic: str, values: list[bytes]) -> None:
    KafkaStore("bus", {"bootstrap_servers": bootstrap}).create_topic(topic)
    producer = Producer({"bootstrap.servers": bootstrap})
    for value in values:
        producer.produce(topic, value)
    assert producer.flush(30) == 0


@pytest.fixture
def schema_dir(tmp_path):
    (tmp_path / "7.avsc").write_text(json.dumps(V1))
    (tmp_path / "8.avsc").write_text(json.dumps(V2))
    return tmp_path


def test_each_message_is_read_with_the_schema_of_its_id(kafka_bootstrap, topic, schema_dir):
    produce(kafka_bootstrap, topic, [framed(7, V1, {"id": 1, "item": "margherita"}),
                                     framed(8, V2, {"id": 2, "item": "diavola", "qty": 3})])  # fmt: skip
    store = KafkaStore("bus", {"bootstrap_servers": kafka_bootstrap, "schema_registry_dir": str(schema_dir),
                               "metadata": []})  # fmt: skip
    assert store.read(topic).read_all().to_pylist() == [
        {"id": 1, "item": "margherita", "qty": None},
        {"id": 2, "item": "diavola", "qty": 3},
    ]
    writer = KafkaStore("bus", {"bootstrap_servers": kafka_bootstrap, "schema_registry_dir": str(schema_dir),
                                "schema_id": 8})  # fmt: skip
    writer.write(topic, pa.table({"id": [3], "item": ["calzone"], "qty": [1]}))
    writer.close()
    assert store.read(topic).read_all().num_rows == 3
    store.close()


def test_unknown_ids_and_unframed_values_are_user_errors(kafka_bootstrap, topic, schema_dir):
    produce(kafka_bootstrap, topic, [framed(9, V1, {"id": 1, "item": "x"})])
    store = KafkaStore("bus", {"bootstrap_servers": kafka_bootstrap, "schema_registry_dir": str(schema_dir)})
    with pytest.raises(UserError, match="No schema 9 .*9.avsc"):
        store.read(topic)
    produce(kafka_bootstrap, topic + "_plain", [b'{"id": 1}'])
    with pytest.raises(UserError, match="wire format"):
        store.read(topic + "_plain")
    store.close()


def test_schemas_come_from_a_registry_over_http(kafka_bootstrap, topic):
    # NOTE: no Confluent-compatible registry installs here, so a stand-in serves its `GET /schemas/ids/{id}`.
    asked = []

    class Registry(BaseHTTPRequestHandler):
        def do_GET(self):
            asked.append((self.path, self.headers.get("Authorization")))
            schema_id = int(self.path.rsplit("/", 1)[1])
            body = (
                json.dumps({"schema": json.dumps(V2)}).encode()
                if schema_id == 8
                else b'{"error_code": 40403}'
            )
            self.send_response(200 if schema_id == 8 else 404)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Registry)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        produce(kafka_bootstrap, topic, [framed(8, V2, {"id": i, "item": "x", "qty": i}) for i in range(3)])
        store = KafkaStore("bus", {"bootstrap_servers": kafka_bootstrap, "metadata": [],
                                   "schema_registry_url": f"http://127.0.0.1:{server.server_port}",
                                   "schema_registry_username": "reader", "schema_registry_password": "s3cret"})  # fmt: skip
        assert store.read(topic).read_all().column("qty").to_pylist() == [0, 1, 2]
        assert [path for path, _ in asked] == ["/schemas/ids/8"]  # fetched once for every message of the id
        assert asked[0][1].startswith("Basic ")
        produce(kafka_bootstrap, topic + "_other", [framed(5, V1, {"id": 1, "item": "x"})])
        with pytest.raises(UserError, match="has no schema 5"):
            store.read(topic + "_other")
        store.close()
    finally:
        server.shutdown()
