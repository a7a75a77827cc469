"""Every endpoint rejects a missing or wrong credential and a role that is too low; JWTs (HS256, RS256/JWKS)."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from service_helpers import TEAM

from meshkit.service.app import create_app
from meshkit.testing import plugin_workspace

pytestmark = pytest.mark.anyio

PUBLIC = {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/oauth2-redirect"}
ADMIN_ONLY = {("DELETE", "/api/v1/teams/{team}/jobs/{job}"), ("GET", "/api/v1/tokens"), ("POST", "/api/v1/tokens"),
              ("DELETE", "/api/v1/tokens/{token_id}")}  # fmt: skip
ANY_CREDENTIAL = {
    ("GET", "/api/v1/whoami"),
    ("GET", "/metrics"),
    ("GET", "/api/v1/jobs"),
    # signed with the trigger's key instead of a token: any token without a signature is refused (401)
    ("POST", "/api/v1/hooks/{team}/{job}/{deployment}"),
}
SAMPLES = {"team": TEAM, "job": "hello", "deployment": "production", "execution": "hello-1", "version": "1", "key": "k",
           "token_id": "abc", "name": "orders-copy"}  # fmt: skip


def operations(app):
    for path, methods in app.openapi()["paths"].items():
        for method in methods:
            yield method.upper(), path


def required_role(method: str, path: str) -> str | None:
    if (method, path) in ANY_CREDENTIAL:
        return None
    if (method, path) in ADMIN_ONLY:
        return "admin"
    return "viewer" if method == "GET" else "developer"


async def test_every_endpoint_checks_credentials_and_roles(api, service):
    ops = list(operations(service))
    assert len(ops) >= 25
    ranks = {"viewer": 1, "developer": 2, "admin": 3}
    for method, path in ops:
        if path in PUBLIC:
            continue
        url = path.format(**SAMPLES)
        for headers in ({"Authorization": ""}, {"Authorization": "Bearer mk_wrong"}, {"Authorization": "Bearer a.b.c"},
                        {"Authorization": "Basic dXNlcjpwdw=="}):  # fmt: skip
            response = await api.request(method, url, headers=headers)
            assert response.status_code == 401, (method, path, headers, response.text)
            assert response.json()["error"]["code"] == "unauthorized"
        role = required_role(method, path)
        if role is None:
            continue
        too_low = [r for r in ("viewer", "developer") if ranks[r] < ranks[role]]
        if "{team}" in path:
            too_low.append("outsider")
        for who in too_low:
            response = await api.request(method, url, headers=service.tokens.headers(who))
            assert response.status_code == 403, (method, path, who, response.text)
            assert response.json()["error"]["code"] == "forbidden"


async def test_public_health_endpoints(api):
    async with httpx.AsyncClient(transport=api._transport, base_url="http://meshkit.test") as anonymous:
        assert (await anonymous.get("/healthz")).json() == {"status": "ok"}
        assert (await anonymous.get("/readyz")).json() == {"status": "ready"}
        assert (await anonymous.get("/openapi.json")).status_code == 200


async def test_tokens_create_use_and_revoke(api, service):
    admin = service.tokens.headers("admin")
    created = await api.post(
        "/api/v1/tokens", headers=admin, json={"name": "ci", "subject": "ci-bot", "roles": {TEAM: "viewer"}}
    )
    assert created.status_code == 201
    token = created.json()["token"]
    listed = await api.get("/api/v1/tokens", headers=admin)
    assert token not in listed.text and "ci-bot" in listed.text
    mine = await api.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})
    assert mine.json() == {"subject": "ci-bot", "roles": {TEAM: "viewer"}, "via": "token"}
    assert (await api.delete(f"/api/v1/tokens/{created.json()['id']}", headers=admin)).status_code == 204
    assert (await api.get("/api/v1/whoami", headers={"Authorization": f"Bearer {token}"})).status_code == 401
    bad_role = await api.post(
        "/api/v1/tokens", headers=admin, json={"name": "x", "subject": "x", "roles": {TEAM: "owner"}}
    )
    assert bad_role.status_code == 422


class _JWKS(BaseHTTPRequestHandler):
    body = b"{}"

    def do_GET(self):  # noqa: N802 - http.server's method name
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


async def test_hs256_and_rs256_jwts(tmp_path):
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
    handler = type(
        "Handler",
        (_JWKS,),
        {"body": json.dumps({"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}).encode()},
    )
    server = HTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret = "local-hs256-secret-with-32-bytes!!"
    mk = plugin_workspace(tmp_path / "ws", service_jwt_secret=secret, service_jwt_audience="meshkit",
                          service_jwks_url=f"http://127.0.0.1:{server.server_port}/jwks.json")  # fmt: skip
    try:
        app = create_app(mk, worker=False)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://meshkit.test") as client:
            exp = int(time.time()) + 300
            hs = jwt.encode(
                {"sub": "ana", "aud": "meshkit", "exp": exp, "meshkit_roles": {TEAM: "developer"}},
                secret,
                "HS256",
            )
            rs = jwt.encode({"sub": "bo", "aud": "meshkit", "exp": exp, "meshkit_roles": [f"{TEAM}:viewer"]}, key, "RS256",
                            headers={"kid": "k1"})  # fmt: skip
            who = await client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {hs}"})
            assert who.json() == {"subject": "ana", "roles": {TEAM: "developer"}, "via": "jwt"}
            who = await client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {rs}"})
            assert who.json() == {"subject": "bo", "roles": {TEAM: "viewer"}, "via": "jwt"}
            create = await client.post(
                f"/api/v1/teams/{TEAM}/jobs", json={"name": "x"}, headers={"Authorization": f"Bearer {rs}"}
            )
            assert create.status_code == 403
            create = await client.post(
                f"/api/v1/teams/{TEAM}/jobs", json={"name": "x"}, headers={"Authorization": f"Bearer {hs}"}
            )
            assert create.status_code == 201
            expired = jwt.encode(
                {"sub": "ana", "aud": "meshkit", "exp": int(time.time()) - 10}, secret, "HS256"
            )
            wrong_aud = jwt.encode({"sub": "ana", "aud": "other", "exp": exp}, secret, "HS256")
            forged = jwt.encode(
                {"sub": "ana", "aud": "meshkit", "exp": exp}, "another-secret-of-32-bytes-long!!", "HS256"
            )
            for bad in (expired, wrong_aud, forged):
                response = await client.get("/api/v1/whoami", headers={"Authorization": f"Bearer {bad}"})
                assert response.status_code == 401 and secret not in response.text
    finally:
        server.shutdown()
        mk.close()
