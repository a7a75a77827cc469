"""Trino export: catalog properties for the workspace's stores and file-based access rules per role.

``catalogs/NAME.properties`` connects Trino to each store meshkit.toml declares (PostgreSQL,
MySQL, DuckDB, Iceberg with its catalog, Hive-style files on S3); a credential is never written:
a reference ``env:VAR`` becomes ``${ENV:VAR}``, anything else a ``${ENV:...}`` placeholder named
after the store. ``rules.json`` is Trino's system file-based access control: for each role the
policies grant a purpose, the decision on every catalog dataset (for the role's default purpose,
else its first) becomes a table rule: ``SELECT`` or nothing, removed columns ``allow: false``,
redacted and digested ones a ``mask``, row filters a ``filter`` (the DuckDB predicate written in
Trino's dialect). Trino matches the first rule, and denies what no rule matches.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import sqlglot

from meshkit.core.errors import ConfigError
from meshkit.core.references import is_reference
from meshkit.governance.decision import Subject
from meshkit.governance.governor import Governor
from meshkit.governance.masking import predicate_sql

if TYPE_CHECKING:
    from meshkit.core.context import Meshkit

#: The mask a redacted text column gets (meshkit's ``RedactColumn`` value; nulls stay null).
REDACTED = "***"
_DEFAULT_SCHEMA = {"postgres": "public", "duckdb": "main", "iceberg": "default", "files": "default"}


@dataclass
class TrinoExport:
    """What ``meshkit export trino`` writes."""

    catalogs: dict[str, dict[str, str]] = field(default_factory=dict)
    rules: dict[str, Any] = field(default_factory=dict)
    #: Stores that have no Trino catalog, with the reason.
    skipped: dict[str, str] = field(default_factory=dict)

    def write(self, directory: Path) -> list[Path]:
        """Write ``catalogs/*.properties`` and ``rules.json`` under ``directory``; the paths written."""
        written = []
        (directory / "catalogs").mkdir(parents=True, exist_ok=True)
        for name, properties in sorted(self.catalogs.items()):
            path = directory / "catalogs" / f"{name}.properties"
            path.write_text("".join(f"{k}={v}\n" for k, v in properties.items()))
            written.append(path)
        path = directory / "rules.json"
        path.write_text(json.dumps(self.rules, indent=2) + "\n")
        return [*written, path]


def catalog_name(store: str) -> str:
    """A Trino catalog name for ``store`` (lower case letters, digits and underscores)."""
    return re.sub(r"[^a-z0-9_]", "_", store.lower())


def _secret(value: Any, placeholder: str) -> str:
    """A credential as Trino reads it from the environment: never the value itself."""
    if isinstance(value, str) and value.startswith("env:"):
        return f"${{ENV:{value[4:]}}}"
    return f"${{ENV:{placeholder}}}"


def _plain(value: Any, placeholder: str) -> str:
    """A non-secret setting: written as is, unless it is a reference (then read from the environment)."""
    return _secret(value, placeholder) if is_reference(value) else str(value)


def _jdbc(kind: str, options: dict, env: str, default_port: int, database_key: str) -> dict[str, str]:
    dsn = options.get("dsn")
    if dsn is not None and is_reference(dsn):
        return {"connection-url": _secret(dsn, f"{env}_JDBC_URL"), "connection-user": f"${{ENV:{env}_USER}}",
                "connection-password": f"${{ENV:{env}_PASSWORD}}"}  # fmt: skip
    parts = urlsplit(dsn) if dsn else None
    host = options.get("host") or (parts.hostname if parts else None) or "localhost"
    port = options.get("port") or (parts.port if parts else None) or default_port
    database = options.get(database_key) or (parts.path.lstrip("/") if parts else "")
    url = f"jdbc:{kind}://{_plain(host, env + '_HOST')}:{_plain(port, env + '_PORT')}"
    url += f"/{_plain(database, env + '_DATABASE')}" if kind == "postgresql" and database else ""
    user = options.get("user") or (parts.username if parts else None)
    password = options.get("password")
    return {
        "connection-url": url,
        "connection-user": _plain(user, f"{env}_USER") if user else f"${{ENV:{env}_USER}}",
        "connection-password": _secret(password, f"{env}_PASSWORD"),
    }


def store_catalog(name: str, options: dict[str, Any], workspace: Path) -> dict[str, str]:
    """Trino catalog properties for store ``name``; raises ``ConfigError`` for a store Trino cannot read."""
    kind, env = options.get("type", name), f"MESHKIT_{catalog_name(name).upper()}"
    if kind == "postgres":
        return {"connector.name": "postgresql", **_jdbc("postgresql", options, env, 5432, "dbname")}
    if kind == "mysql":
        return {"connector.name": "mysql", **_jdbc("mysql", options, env, 3306, "database")}
    if kind == "duckdb":
        path = Path(options.get("path", f".meshkit/{name}.duckdb"))
        return {
            "connector.name": "duckdb",
            "connection-url": f"jdbc:duckdb:{path if path.is_absolute() else workspace / path}",
        }
    if kind == "iceberg":
        if options.get("uri"):
            props = {"connector.name": "iceberg", "iceberg.catalog.type": "rest",
                     "iceberg.rest-catalog.uri": _plain(options["uri"], f"{env}_URI")}  # fmt: skip
            if options.get("warehouse"):
                props["iceberg.rest-catalog.warehouse"] = str(options["warehouse"])
            if options.get("token") or options.get("credential"):
                props["iceberg.rest-catalog.security"] = "OAUTH2"
                key = "token" if options.get("token") else "credential"
                props[f"iceberg.rest-catalog.oauth2.{key}"] = _secret(options[key], f"{env}_{key.upper()}")
            return props
        uri = str(options.get("catalog_uri") or "")
        if not uri.startswith(("postgresql", "mysql")):
            raise ConfigError(f"Store `{name}` keeps its Iceberg catalog in SQLite, which Trino cannot read.",
                              hint="Use a REST catalog (`uri`) or a PostgreSQL/MySQL `catalog_uri`.")  # fmt: skip
        parts = urlsplit(uri.replace("+psycopg", "").replace("+pymysql", ""))
        kind_ = "postgresql" if uri.startswith("postgresql") else "mysql"
        return {"connector.name": "iceberg", "iceberg.catalog.type": "jdbc", "iceberg.jdbc-catalog.catalog-name": name,
                "iceberg.jdbc-catalog.driver-class": "org.postgresql.Driver" if kind_ == "postgresql" else "com.mysql.cj.jdbc.Driver",
                "iceberg.jdbc-catalog.connection-url": f"jdbc:{kind_}://{parts.hostname}:{parts.port or (5432 if kind_ == 'postgresql' else 3306)}{parts.path}",
                "iceberg.jdbc-catalog.connection-user": f"${{ENV:{env}_CATALOG_USER}}",
                "iceberg.jdbc-catalog.connection-password": f"${{ENV:{env}_CATALOG_PASSWORD}}",
                "iceberg.jdbc-catalog.default-warehouse-dir": str(options.get("warehouse", ""))}  # fmt: skip
    if kind == "files":
        base = str(options.get("url") or options.get("path") or "")
        if not base.startswith("s3://"):
            raise ConfigError(f"Store `{name}` holds local files; Trino reads Hive-style files on S3 only.")
        props = {"connector.name": "hive", "hive.metastore": "file",
                 "hive.metastore.catalog.dir": base.rstrip("/") + "/.trino-metastore",
                 "fs.native-s3.enabled": "true", "s3.region": str(options.get("region", "us-east-1")),
                 "s3.aws-access-key": _secret(options.get("access_key"), f"{env}_ACCESS_KEY"),
                 "s3.aws-secret-key": _secret(options.get("secret_key"), f"{env}_SECRET_KEY")}  # fmt: skip
        if options.get("endpoint_url"):
            props |= {"s3.endpoint": str(options["endpoint_url"]), "s3.path-style-access": "true"}
        return props
    raise ConfigError(f"Store `{name}` of type `{kind}` has no Trino connector.")


# ---------------------------------------------------------------------------------- rules


def _quote(column: str) -> str:
    return '"' + column.replace('"', '""') + '"'


def column_mask(action: str, column: str, text: bool) -> str:
    """The Trino expression masking ``column`` as ``action`` does (NULL for a column that holds no text)."""
    if not text:
        return "NULL"
    if action == "RedactColumn":
        return f"CASE WHEN {_quote(column)} IS NULL THEN NULL ELSE CAST('{REDACTED}' AS varchar) END"
    return f"lower(to_hex(sha256(to_utf8({_quote(column)}))))"


def row_filter(decision) -> str | None:
    """The decision's row filters as one Trino boolean expression."""
    where = predicate_sql(decision)
    return sqlglot.transpile(where, read="duckdb", write="trino")[0] if where else None


def _table(store_type: str, asset: str, options: dict) -> tuple[str, str]:
    schema, _, table = asset.rpartition(".")
    default = options.get("database") if store_type == "mysql" else _DEFAULT_SCHEMA.get(store_type, "default")
    return schema or str(default or "default"), table


def role_purpose(governor: Governor, role: str) -> str | None:
    """The purpose a role's rules are computed for: the default one if granted, else its first."""
    purposes = governor.engine.purposes()
    granted = purposes.for_role(role)
    return purposes.default if purposes.default in granted else (granted[0] if granted else None)


def access_rules(meshkit: Meshkit, catalogs: dict[str, str], settings: dict[str, dict]) -> dict[str, Any]:
    """Trino's ``rules.json`` for the datasets of the stores in ``catalogs`` (store -> Trino catalog)."""
    governor = Governor(meshkit)
    purposes = governor.engine.purposes()
    roles = sorted({r for rs in purposes.granted.values() for r in rs}
                   | {e["role"] for e in governor.subjects().values() if e.get("role")})  # fmt: skip
    catalog_rules, table_rules = [], []
    for role in roles:
        purpose = role_purpose(governor, role)
        readable = set()
        for dataset in governor.catalog.datasets():
            if dataset.store not in catalogs:
                continue
            options = settings.get(dataset.store, {})
            schema, table = _table(options.get("type", dataset.store), dataset.asset, options)
            rule: dict[str, Any] = {"role": re.escape(role), "catalog": re.escape(catalogs[dataset.store]),
                                    "schema": re.escape(schema), "table": re.escape(table), "privileges": []}  # fmt: skip
            decision = governor.decide(
                Subject(role=role), purpose, dataset, channel="trino-export", audit_log=False
            )
            if decision.allowed:
                readable.add(catalogs[dataset.store])
                types = {c.name.lower(): c.type for c in dataset.columns}
                columns = []
                for column, action in sorted(decision.column_actions().items()):
                    if action == "RemoveColumn":
                        columns.append({"name": column, "allow": False})
                    else:
                        text = str(types.get(column, "")).lower() in (
                            "string",
                            "varchar",
                            "text",
                            "utf8",
                            "large_string",
                        )
                        columns.append({"name": column, "mask": column_mask(action, column, text)})
                rule["privileges"] = ["SELECT"]
                if columns:
                    rule["columns"] = columns
                if (where := row_filter(decision)) is not None:
                    rule["filter"] = where
            table_rules.append(rule)
        if readable:
            catalog_rules.append({"role": re.escape(role), "catalog": "|".join(sorted(map(re.escape, readable))),
                                  "allow": "read-only"})  # fmt: skip
    catalog_rules.append({"catalog": ".*", "allow": "none"})
    return {"catalogs": catalog_rules, "tables": table_rules}


def export_trino(meshkit: Meshkit) -> TrinoExport:
    """The catalogs and access rules of ``meshkit``'s workspace."""
    out = TrinoExport()
    catalogs = {}
    settings = dict(meshkit.store_settings)
    for name in {d.store for d in Governor(meshkit).catalog.datasets()} - set(settings):
        store = meshkit.store(name)  # a default store, such as the DuckDB warehouse
        settings[name] = {"type": store.type, **({"path": str(store.path)} if store.type == "duckdb" else {})}
    for name, options in sorted(settings.items()):
        try:
            out.catalogs[catalog_name(name)] = store_catalog(name, options, meshkit.workspace.root)
            catalogs[name] = catalog_name(name)
        except ConfigError as exc:
            out.skipped[name] = exc.message
    out.rules = access_rules(meshkit, catalogs, settings)
    return out
