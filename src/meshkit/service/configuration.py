"""Configuration keys of the control service (a built-in plugin)."""

from meshkit.core.hookspecs import hookimpl


@hookimpl
def configure(config):
    add = config.add
    add(
        "service_url",
        "http://127.0.0.1:8080",
        "URL of the control service used by `meshkit login`, `deploy`, `execute`.",
    )
    add("service_host", "127.0.0.1", "Address `meshkit server` listens on.")
    add("service_port", 8080, "Port `meshkit server` listens on.", type=int, bounds=(0, 65_535))
    add(
        "service_executor",
        "local",
        "Executor of deployed jobs: local (processes on this machine) or kubernetes.",
    )
    add(
        "service_max_concurrent",
        8,
        "Executions one server process runs at once; more wait in the queue.",
        type=int,
        bounds=(1, 10_000),
    )
    add(
        "service_transfer_timeout",
        0,
        "Seconds after which a transfer applied through the service is stopped (0: no limit).",
        type=int,
        bounds=(0, 10_000_000),
    )
    add("service_scheduler", True, "Run the scheduler and dispatcher in this server process.", type=bool)
    add(
        "service_tick_seconds",
        0.5,
        "How often the scheduler looks for due deployments and queued executions.",
        type=float,
        bounds=(0.01, 3_600),
    )
    add(
        "service_max_source_mb",
        50,
        "Largest job source archive accepted, in MiB.",
        type=int,
        bounds=(1, 100_000),
    )
    add(
        "service_jwt_secret",
        None,
        "Shared key for HS256 bearer JWTs (local identity): at least 32 bytes, best a reference such as env:VAR.",
        secret=True,
    )
    add("service_jwks_url", None, "JWKS URL of an identity provider for RS256 bearer JWTs.")
    add("service_jwt_audience", None, "Expected `aud` claim of bearer JWTs (not checked when empty).")
    add("service_jwt_issuer", None, "Expected `iss` claim of bearer JWTs (not checked when empty).")
    add("service_jwt_roles_claim", "meshkit_roles", 'JWT claim with roles: {team: role} or ["team:role"].')
    add(
        "service_allow_inline_stores",
        False,
        "Let transfers applied through the service give stores inline (URL or type and options), "
        "not only the workspace's stores.",
        type=bool,
    )
    add(
        "service_file_roots",
        [],
        "Folders under which inline file stores (files, sqlite, duckdb, iceberg) of transfers applied "
        "through the service may lie.",
        type=list,
    )
    add(
        "service_k8s_namespace",
        "default",
        "Namespace of Jobs and CronJobs rendered by the kubernetes executor.",
    )
    add(
        "service_k8s_image",
        "meshkit:latest",
        "Container image with meshkit that runs deployed jobs on Kubernetes.",
    )
    add("notify_smtp_host", None, "SMTP server for job notifications (no email when empty).")
    add("notify_smtp_port", 25, "SMTP port.", type=int, bounds=(1, 65_535))
    add("notify_smtp_user", None, "SMTP user name (no login when empty).")
    add("notify_smtp_password", None, "SMTP password.", secret=True)
    add("notify_smtp_starttls", False, "Use STARTTLS with the SMTP server.", type=bool)
    add("notify_from", "meshkit@localhost", "Sender address of notification emails.")
    add(
        "notify_timeout",
        10.0,
        "Seconds to wait for an SMTP server or a webhook.",
        type=float,
        bounds=(0.1, 3_600),
    )
