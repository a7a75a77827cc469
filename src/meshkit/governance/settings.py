"""Configuration keys of governance (a built-in plugin)."""

from meshkit.core.hookspecs import hookimpl


@hookimpl
def configure(config):
    config.add(
        "policy_package",
        "meshkit.access",
        "Rego package whose document holds allow, deny, reasons and actions.",
    )
    config.add(
        "policy_default_deny",
        True,
        "Deny access no policy allows (false: allow what no policy denies).",
        type=bool,
    )
    config.add(
        "policy_opa_url",
        None,
        "Evaluate policies on this OPA server instead of embedded (same policy files).",
    )
    config.add(
        "policy_cache_seconds",
        60.0,
        "How long a decision per subject, purpose and dataset is reused.",
        type=float,
        bounds=(0, 86_400),
    )
    config.add(
        "policy_location", None, "Location of this deployment (e.g. eu), given to policies as input.location."
    )
    config.add(
        "query_engine_store", "warehouse", "DuckDB store that runs governed queries and serves Flight."
    )
    config.add("serve_host", "127.0.0.1", "Host the Arrow Flight server (`meshkit serve`) listens on.")
    config.add("serve_port", 8815, "Port of the Arrow Flight server.", type=int, bounds=(0, 65_535))
    config.add(
        "serve_pg_port",
        None,
        "Port of the PostgreSQL-wire endpoint for governed SQL (unset: not served).",
        type=int,
        bounds=(0, 65_535),
    )
