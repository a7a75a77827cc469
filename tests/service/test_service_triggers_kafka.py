"""Kafka message triggers reuse a Kafka store's servers and security settings, or carry their own.

Tansu (the test broker) speaks SASL/SCRAM when started with ``--authentication``, but creating
its users needs an authenticated client or storage that outlives a restart, which a test broker
here has not: the SASL test checks that the trigger's settings reach the broker (its handshake
is refused for the unknown user) and that the password shows nowhere, not that a login succeeds.
"""

from __future__ import annotations

import asyncio
import logging
import subprocess
import time
import uuid

import pytest
from service_helpers import HELLO, TEAM, deploy

from meshkit.core.workspace import WORKSPACE_FILE
from meshkit.pipelines.spec import MessageTrigger
from meshkit.service.triggers import kafka_config
from meshkit.testing import plugin_workspace

pytestmark = pytest.mark.anyio
PASSWORD = "pw-" + uuid.uuid4().hex  # the value of the secret reference: must show nowhere


def _declare(workspace, name: str, options: dict) -> None:
    lines = [f"\n[stores.{name}]"] + [
        f"{key} = {value!r}".replace("'", '"') for key, value in options.items()
    ]
    path = workspace.root / WORKSPACE_FILE
    path.write_text(path.read_text() + "\n".join(lines) + "\n")


@pytest.fixture
def broker(tmp_path):
    """``bootstrap_servers`` of a plain Tansu broker."""
    from meshkit.data.stores.tansu import start_tansu

    try:
        started = start_tansu(log=tmp_path / "tansu.log")
    except Exception as exc:  # noqa: BLE001 - no broker binary here
        pytest.skip(f"Tansu broker unavailable: {exc}")
    yield started.bootstrap_servers
    started.stop()


@pytest.fixture
def sasl_broker(tmp_path):
    """``bootstrap_servers`` of a Tansu broker that requires SASL authentication."""
    from meshkit.data.stores.tansu import free_port, tansu_binary

    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    with open(tmp_path / "tansu-sasl.log", "ab") as out:
        process = subprocess.Popen([str(tansu_binary()), "broker", "--listener-url", url, "--advertised-listener-url",
                                    url, "--storage-engine", "memory://tansu/", "--authentication"],
                                   stdout=out, stderr=out, stdin=subprocess.DEVNULL)  # fmt: skip
    try:
        import socket

        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    pytest.skip("the Tansu broker did not start")
                time.sleep(0.1)
        yield f"127.0.0.1:{port}"
    finally:
        process.terminate()
        process.wait(10)


@pytest.fixture
def mk(workspace, monkeypatch, request):
    """A ``Meshkit`` whose workspace declares the Kafka store ``events`` (the test's ``events`` options)."""
    monkeypatch.setenv("KAFKA_TRIGGER_PASSWORD", PASSWORD)
    options = getattr(request, "param", None) or {"bootstrap_servers": "kafka-a:9092"}
    _declare(workspace, "events", {"type": "kafka", **options})
    _declare(workspace, "files", {"type": "files", "root": "files"})
    instance = plugin_workspace(workspace.root)
    yield instance
    instance.close()


SECURE = {"bootstrap_servers": "kafka-a:9092", "security_protocol": "SASL_SSL", "sasl_mechanism": "SCRAM-SHA-512",
          "sasl_username": "svc-meshkit", "sasl_password": "env:KAFKA_TRIGGER_PASSWORD",
          "ssl_ca_location": "/etc/kafka/ca.pem"}  # fmt: skip


@pytest.mark.parametrize("mk", [SECURE], indirect=True)
def test_a_kafka_trigger_reuses_its_store_and_overrides_it(mk):
    spec = {"broker": "kafka", "store": "events", "subject": "landing"}
    assert kafka_config(mk, spec) == {
        "bootstrap.servers": "kafka-a:9092", "security.protocol": "SASL_SSL", "sasl.mechanism": "SCRAM-SHA-512",
        "sasl.username": "svc-meshkit", "sasl.password": PASSWORD, "ssl.ca.location": "/etc/kafka/ca.pem",
    }  # fmt: skip
    assert PASSWORD not in mk.redactor.redact(f"connecting with {PASSWORD}")  # resolved once, redacted since
    own = {**spec, "url": "kafka-b:9093", "sasl_username": "other", "sasl_mechanism": "PLAIN"}
    config = kafka_config(mk, own)
    assert (config["bootstrap.servers"], config["sasl.username"], config["sasl.mechanism"]) == (
        "kafka-b:9093",
        "other",
        "PLAIN",
    )
    assert config["sasl.password"] == PASSWORD and config["security.protocol"] == "SASL_SSL"
    alone = {"broker": "kafka", "url": "kafka-c:9092", "subject": "t", "security_protocol": "SSL",
             "ssl_ca_location": "/ca.pem", "ssl_key_password": "env:KAFKA_TRIGGER_PASSWORD"}  # fmt: skip
    assert kafka_config(mk, alone) == {"bootstrap.servers": "kafka-c:9092", "security.protocol": "SSL",
                                       "ssl.ca.location": "/ca.pem", "ssl.key.password": PASSWORD}  # fmt: skip


def test_a_kafka_trigger_names_a_kafka_store(mk):
    from meshkit.core.errors import ConfigError

    for store, found in (("files", "a files store"), ("nowhere", "no store")):
        with pytest.raises(ConfigError, match=f"`{store}` is {found}, not a Kafka store"):
            kafka_config(mk, {"broker": "kafka", "store": store, "subject": "t"})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"broker": "kafka", "url": "k:9092", "sasl_password": "hunter2"}, "passwords are references"),
        ({"broker": "kafka", "store": "events", "ssl_key_password": "hunter2"}, "passwords are references"),
        ({"broker": "kafka"}, "needs `url` or `store`"),
        ({"broker": "nats", "store": "events"}, "`store` is for Kafka triggers"),
        ({"broker": "nats", "url": "nats://n:4222", "sasl_username": "u"}, "`sasl_username` is for Kafka"),
    ],
)
def test_trigger_settings_are_checked(spec, message):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match=message) as caught:
        MessageTrigger.model_validate({"type": "message", "subject": "t", **spec})
    assert "hunter2" not in str(caught.value.errors(include_input=False))


async def _fired(api, job: str, count: int, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        history = (await api.get(f"/api/v1/teams/{TEAM}/jobs/{job}/triggers/history")).json()
        if len(history) >= count or time.monotonic() > deadline:
            return history
        await asyncio.sleep(0.2)


async def test_a_kafka_store_trigger_fires_on_a_real_broker(workspace, broker, monkeypatch):
    """The trigger has no address of its own: the store's ``bootstrap_servers`` reach the broker."""
    from confluent_kafka import Producer
    from confluent_kafka.admin import AdminClient, NewTopic
    from service_helpers import make_tokens, stop_service

    from meshkit.service.app import create_app

    _declare(workspace, "events", {"type": "kafka", "bootstrap_servers": broker})
    mk = plugin_workspace(workspace.root)
    topic = f"landing_{uuid.uuid4().hex[:8]}"
    admin = AdminClient({"bootstrap.servers": broker})
    admin.create_topics([NewTopic(topic, 1, 1)])[topic].result(30)
    app = create_app(mk)
    svc = app.state.service
    svc.tick_seconds = 0.1
    app.tokens = make_tokens(svc.engine)
    svc.start()
    import httpx

    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://meshkit.test",
                                     headers=app.tokens.headers("developer")) as api:  # fmt: skip
            await deploy(api, "hello", HELLO)
            put = await api.put(f"/api/v1/teams/{TEAM}/jobs/hello/deployments/production/triggers",
                                json=[{"type": "message", "broker": "kafka", "store": "events", "subject": topic}])  # fmt: skip
            assert put.status_code == 200, put.text
            deadline = time.monotonic() + 60
            while not svc.triggers._kafka.listening.is_set() and time.monotonic() < deadline:
                await asyncio.sleep(0.1)
            await asyncio.sleep(2.5)  # a refresh after the trigger was set: its reader is assigned
            producer = Producer({"bootstrap.servers": broker})
            producer.produce(topic, b"new file")
            producer.flush(30)
            history = await _fired(api, "hello", 1)
            assert [(h["type"], h["outcome"]) for h in history] == [("message", "fired")]
            assert history[0]["event"].startswith(f"{topic}:0@")
    finally:
        stop_service(svc)
        mk.close()


async def test_sasl_settings_reach_the_broker_and_the_password_shows_nowhere(api, sasl_broker, caplog):
    """The handshake is SASL (refused: the broker knows no user); the password is in no log, history or answer."""
    caplog.set_level(logging.INFO)
    topic = f"secured_{uuid.uuid4().hex[:8]}"
    await deploy(api, "hello", HELLO)
    trigger = {"type": "message", "broker": "kafka", "url": sasl_broker, "subject": topic,
               "security_protocol": "SASL_PLAINTEXT", "sasl_mechanism": "SCRAM-SHA-512",
               "sasl_username": "svc-meshkit", "sasl_password": "env:KAFKA_TRIGGER_PASSWORD"}  # fmt: skip
    put = await api.put(f"/api/v1/teams/{TEAM}/jobs/hello/deployments/production/triggers", json=[trigger])
    assert put.status_code == 200, put.text
    deadline = time.monotonic() + 60
    while "SASL" not in caplog.text and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    assert "SASL authentication error" in caplog.text, caplog.text[-2000:]  # the settings reached the client
    answers = [put.text]
    for path in ("deployments/production/triggers", "triggers/history"):
        response = await api.get(f"/api/v1/teams/{TEAM}/jobs/hello/{path}")
        assert response.status_code == 200, response.text
        answers.append(response.text)
    assert await _fired(api, "hello", 1, timeout=1) == []
    assert "env:KAFKA_TRIGGER_PASSWORD" in put.text  # the reference is what is kept and shown
    assert all(PASSWORD not in text for text in [caplog.text, *answers])
