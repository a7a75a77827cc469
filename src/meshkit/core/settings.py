"""Configuration keys of the core (a built-in plugin like any other)."""

from meshkit.core.hookspecs import hookimpl


@hookimpl
def configure(config):
    config.add(
        "metadata_url",
        None,
        "SQLAlchemy URL of the metadata database (default: SQLite in .meshkit/metadata.db).",
    )
    config.add("log_level", "INFO", "Log level of run logs and the console: DEBUG, INFO, WARNING, ERROR.")
    config.add(
        "team", None, "Team that owns the workspace's jobs (a job's config.ini [owner] team overrides it)."
    )
    config.add(
        "secret_key", None, "Key that encrypts local secrets (default: a key file in .meshkit/).", secret=True
    )
