"""Plain manifests for the control service itself on Kubernetes (``meshkit export control-service``).

A Deployment runs ``meshkit server`` with the ``kubernetes`` executor, behind a Service; its
non-secret settings are a ConfigMap and its credentials are Secret references: the PostgreSQL URL
of the metadata database (``url`` of ``export_metadata_secret``), the JWT key and the token the
executor's pods use to fetch sources. A ServiceAccount with a Role lets it create Jobs and CronJobs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from meshkit.deploy.k8s import TOKEN_SECRET
from meshkit.deploy.kubernetes import IMAGE_WORKSPACE, write_manifests
from meshkit.deploy.plan import ExportSettings

NAME = "meshkit"
PORT = 8080
#: The Secret with the control service's own keys (``jwt-secret``).
SERVICE_SECRET = "meshkit-service"


def manifests(settings: ExportSettings) -> list[dict[str, Any]]:
    """ConfigMap, ServiceAccount, Role, RoleBinding, Deployment and Service of the control service."""
    ns = settings.namespace
    labels = {"app.kubernetes.io/name": NAME, "app.kubernetes.io/managed-by": "meshkit"}

    def meta(name: str = NAME) -> dict[str, Any]:
        return {"name": name, "namespace": ns, "labels": labels}

    def from_secret(name: str, secret: str, key: str) -> dict[str, Any]:
        return {"name": name, "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}

    config = {
        "MESHKIT_SERVICE_HOST": "0.0.0.0",
        "MESHKIT_SERVICE_PORT": str(PORT),
        "MESHKIT_SERVICE_URL": f"http://{NAME}.{ns}.svc:{PORT}",
        "MESHKIT_SERVICE_EXECUTOR": "kubernetes",
        "MESHKIT_SERVICE_K8S_NAMESPACE": ns,
        "MESHKIT_SERVICE_K8S_IMAGE": settings.image,
    }
    probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}
    server = {
        "name": "server",
        "image": settings.image,
        "command": [settings.command, "--workspace", settings.workspace, "server"],
        "ports": [{"name": "http", "containerPort": PORT}],
        "envFrom": [{"configMapRef": {"name": NAME}}],
        "env": [
            from_secret("MESHKIT_METADATA_URL", settings.metadata_secret, "url"),
            from_secret("MESHKIT_SERVICE_JWT_SECRET", SERVICE_SECRET, "jwt-secret"),
        ],
        "livenessProbe": probe,
        "readinessProbe": {**probe, "httpGet": {"path": "/readyz", "port": "http"}},
        "resources": {
            "requests": {"cpu": settings.cpu_request, "memory": settings.memory_request},
            "limits": {"cpu": settings.cpu_limit, "memory": settings.memory_limit},
        },
    }
    return [
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": meta(), "data": config},
        {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": meta()},
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": meta(),
            "rules": [
                {
                    "apiGroups": ["batch"],
                    "resources": ["jobs", "jobs/status", "cronjobs"],
                    "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
                },
                {
                    "apiGroups": [""],
                    "resources": ["secrets"],
                    "resourceNames": [TOKEN_SECRET],
                    "verbs": ["get"],
                },
            ],
        },  # fmt: skip
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": meta(),
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": NAME},
            "subjects": [{"kind": "ServiceAccount", "name": NAME, "namespace": ns}],
        },
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": meta(),
            "spec": {
                "replicas": 1,
                "selector": {"matchLabels": {"app.kubernetes.io/name": NAME}},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"serviceAccountName": NAME, "containers": [server]},
                },
            },
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": meta(),
            "spec": {
                "selector": {"app.kubernetes.io/name": NAME},
                "ports": [{"name": "http", "port": PORT, "targetPort": "http"}],
            },
        },
    ]


def export_control_service(meshkit, out_dir: Path) -> list[Path]:
    """Write ``meshkit-service.yaml`` under ``out_dir``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    settings = ExportSettings.from_config(meshkit, IMAGE_WORKSPACE)
    return [write_manifests(out_dir, "meshkit-service", manifests(settings))]
