"""Notifications of a deployed job's failure: a real webhook receiver and a real SMTP server (aiosmtpd)."""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import pytest
from service_helpers import TEAM, deploy, make_tokens, stop_service, wait_status

from meshkit.service.app import create_app
from meshkit.testing import plugin_workspace

pytestmark = pytest.mark.anyio
SECRET = "pa55word-in-an-error"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class _Hook(BaseHTTPRequestHandler):
    received: list = []

    def do_POST(self):  # noqa: N802 - http.server's method name
        self.received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


class _Mailbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's handler name
        self.messages.append((envelope.rcpt_tos, envelope.content.decode()))
        return "250 OK"


async def test_failure_notifies_webhook_and_email(tmp_path):
    from aiosmtpd.controller import Controller

    handler = type("Hook", (_Hook,), {"received": []})
    web = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=web.serve_forever, daemon=True).start()
    mailbox = _Mailbox()
    smtp = Controller(mailbox, hostname="127.0.0.1", port=_free_port())
    smtp.start()
    root = tmp_path / "ws"
    root.mkdir()
    (root / "meshkit.toml").write_text(
        f'[config]\nnotify_smtp_host = "127.0.0.1"\nnotify_smtp_port = {smtp.port}\n'
    )
    mk = plugin_workspace(root)
    app = create_app(mk)
    svc = app.state.service
    svc.tick_seconds = 0.1
    svc.start()
    hook = f"http://127.0.0.1:{web.server_port}/hook"
    files = {"10_fail.py": "def run(job_input):\n    raise RuntimeError('cannot connect with ' + job_input.get_secret('db'))\n",
             "config.ini": f"[contacts]\nnotified_on_job_failure_user_error = ops@example.com; {hook}\n"
                           "notified_on_job_success = happy@example.com\n"}  # fmt: skip
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t",
                                     headers=make_tokens(svc.engine).headers("developer")) as api:  # fmt: skip
            await deploy(api, "fragile", files)
            await api.put(f"/api/v1/teams/{TEAM}/jobs/fragile/secrets/db", json={"value": SECRET})
            job = (await api.get(f"/api/v1/teams/{TEAM}/jobs/fragile")).json()
            assert job["contacts"]["notified_on_job_failure_user_error"] == ["ops@example.com", hook]
            started = (await api.post(f"/api/v1/teams/{TEAM}/jobs/fragile/executions", json={})).json()
            done = await wait_status(
                api, "fragile", started["id"], {"user_error", "platform_error", "succeeded"}
            )
        assert done["status"] == "user_error"
        deadline = time.monotonic() + 10
        while (not handler.received or not mailbox.messages) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert [m["event"] for m in handler.received] == ["job.user_error"]
        payload = handler.received[0]
        assert (payload["team"], payload["job"], payload["execution"]) == (TEAM, "fragile", started["id"])
        assert [rcpt for rcpt, _ in mailbox.messages] == [["ops@example.com"]]
        text = mailbox.messages[0][1]
        assert "Subject: [meshkit] data/fragile user error" in text and started["id"] in text
        assert SECRET not in text + json.dumps(payload) and "cannot connect with ***" in payload["error"]
    finally:
        stop_service(svc)
        mk.close()
        smtp.stop()
        web.shutdown()
