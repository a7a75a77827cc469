"""Names of Kubernetes objects, shared by the exports and the control service's Kubernetes executor."""

from __future__ import annotations

import hashlib
import re

#: The Secret holding the token pods fetch their job's source with.
TOKEN_SECRET = "meshkit-service-token"


def k8s_name(*parts: str, limit: int = 63) -> str:
    """A DNS-1123 label from ``parts``, shortened with a hash suffix when too long."""
    raw = "-".join(parts).lower()
    name = re.sub(r"[^a-z0-9-]+", "-", raw).strip("-")
    if len(name) > limit:
        suffix = hashlib.sha256(raw.encode()).hexdigest()[:8]
        name = name[: limit - 9].rstrip("-") + "-" + suffix
    return name
