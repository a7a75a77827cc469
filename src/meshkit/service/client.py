"""A small HTTP client of the control service for the command line."""

from __future__ import annotations

from typing import Any

import httpx

from meshkit.core.errors import ConfigError, PlatformError, UserError
from meshkit.service.credentials import Credentials
from meshkit.service.exceptions import NotFoundError


class ServiceClient:
    """Calls the REST API with a bearer token; API errors become meshkit errors with the server's hint."""

    def __init__(self, credentials: Credentials, timeout: float = 30.0):
        self.url = credentials.url.rstrip("/")
        self._http = httpx.Client(
            base_url=self.url, timeout=timeout, headers={"Authorization": f"Bearer {credentials.token}"}
        )

    def request(self, method: str, path: str, **kwargs) -> Any:
        try:
            response = self._http.request(
                method, "/api/v1" + path if not path.startswith("/api") else path, **kwargs
            )
        except httpx.HTTPError as exc:
            raise PlatformError(f"Cannot reach the control service at {self.url}: {exc}.",
                                hint="Start it with `meshkit server` or check `--url`.") from None  # fmt: skip
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
            except (ValueError, KeyError, TypeError):
                error = {
                    "code": "http_error",
                    "message": f"HTTP {response.status_code}: {response.text[:200]}",
                }
            cls = ConfigError if response.status_code in (401, 403, 422) else UserError
            if response.status_code == 404:
                cls = NotFoundError
            if response.status_code >= 500:
                cls = PlatformError
            raise cls(
                error.get("message", "Request failed."), hint=error.get("hint"), where=error.get("where")
            )
        if response.status_code == 204 or not response.content:
            return None
        if response.headers.get("content-type", "").startswith("application/json"):
            return response.json()
        return response.content

    def get(self, path: str, **kwargs) -> Any:
        return self.request("GET", path, **kwargs)

    def post(self, path: str, **kwargs) -> Any:
        return self.request("POST", path, **kwargs)

    def close(self) -> None:
        self._http.close()
