"""``Meshkit``: one workspace, its plugins, configuration, metadata database and stores.

Each instance has its own plugin manager, so tests and embedded uses never share hidden state.
"""

from __future__ import annotations

import contextlib
import difflib
import logging
import threading
from collections.abc import Iterable, Iterator, Mapping
from functools import cached_property
from pathlib import Path
from typing import Any

import pluggy

from meshkit.core.backends import build_backend
from meshkit.core.config import Config, ConfigBuilder, Layer
from meshkit.core.errors import ConfigError, PlatformError
from meshkit.core.files import key_location
from meshkit.core.metadata import MetadataDB
from meshkit.core.plugins import build_plugin_manager
from meshkit.core.processes import Scratch
from meshkit.core.redaction import Redactor, strip_credentials
from meshkit.core.references import resolve
from meshkit.core.registry import Registries
from meshkit.core.runs import RunStore
from meshkit.core.scope import RunScope
from meshkit.core.workspace import WORKSPACE_FILE, Workspace

log = logging.getLogger(__name__)

#: Store names every workspace has, and the config key or type behind each.
DEFAULT_STORES = {
    "warehouse": "duckdb",
    "duckdb": "duckdb",
    "sqlite": "sqlite",
    "postgres": "postgres",
    "mysql": "mysql",
}


class Meshkit:
    """The entry point for domain code: ``Meshkit(workspace)`` or ``Meshkit.open(path)``."""

    def __init__(self, workspace: Workspace, *, overrides: Mapping[str, Any] | None = None,
                 plugins: Iterable[object | str] = (), load_entrypoints: bool = True,
                 pm: pluggy.PluginManager | None = None):  # fmt: skip
        """``pm``: a plugin manager already built for this workspace (the command line's), else a new one."""
        self.workspace = workspace
        self.pm = pm or build_plugin_manager(
            [*workspace.local_plugins(), *plugins], load_entrypoints=load_entrypoints
        )
        builder = ConfigBuilder()
        self.pm.hook.configure(config=builder)
        layers = [Layer("meshkit.toml", workspace.config_values)]
        if overrides:
            layers.append(Layer("command line", {k.lower(): v for k, v in overrides.items()}))
        #: What the plugins registered (store types, step types, transforms...), merged once.
        self.registries = Registries(self.pm)
        self._config = Config(builder.keys, layers, resolve=self.resolve)
        #: The scope of the run in progress on this instance, if any (see :meth:`run_scope`).
        self.scope: RunScope | None = None
        self.redactor = Redactor()
        for value in self.config.secret_values():
            self.redactor.add(value)
        #: Guards the caches below, which the control service fills from several threads.
        self._lock = threading.RLock()
        self._metadata: MetadataDB | None = None
        self._backends: dict[str, Any] = {}
        self._stores: dict[str, Any] = {}
        self._check_store_types()
        self.pm.hook.initialize(meshkit=self)

    @property
    def config(self) -> Config:
        """The configuration in force: the workspace's, plus the layers of the run in progress."""
        return self.scope.config if self.scope is not None else self._config

    @contextlib.contextmanager
    def run_scope(self) -> Iterator[RunScope]:
        """Hold the state of one run (config layers, declared stores, imported modules) until it ends."""
        outer = self.scope
        scope = self.scope = RunScope(self, self.config)
        try:
            yield scope
        finally:
            self.scope = outer
            scope.close()
            with self._lock:
                opened = [self._stores.pop(name) for name in scope.stores if name in self._stores]
            for store in opened:
                store.close()

    @classmethod
    def open(cls, path: str | Path | None = None, **kwargs) -> Meshkit:
        """The workspace containing ``path`` (default: the current folder)."""
        return cls(Workspace.find(path), **kwargs)

    # ------------------------------------------------------------------ metadata

    @property
    def metadata(self) -> MetadataDB:
        """The metadata database, opened on first use; opening it cleans up after dead processes."""
        if self._metadata is None:
            with self._lock:
                if self._metadata is None:
                    url = (
                        self.config.get("metadata_url")
                        or f"sqlite:///{self.workspace.state_dir / 'metadata.db'}"
                    )
                    self.redactor.add(_url_password(url))
                    self._metadata = MetadataDB(url)
                    self._clean_after_dead_processes()
        return self._metadata

    @cached_property
    def scratch(self) -> Scratch:
        """Temporary files of this process in the workspace (``.meshkit/tmp/proc-...``)."""
        return Scratch(self.workspace.state_dir / "tmp")

    def _clean_after_dead_processes(self) -> None:
        """Clean up after the processes of this host that died mid-work (``kill -9``).

        Their temporary files and folders are removed and their runs end ``platform_error``; when
        there are none this costs one folder listing and one indexed query.
        """
        self.scratch.sweep()
        for run in self.runs.end_abandoned():
            log.warning("Run %s of %s `%s` ended: %s", run.id, run.kind, run.name, run.error)
            try:
                self.pm.hook.run_finished(meshkit=self, run=run)
            except Exception:  # noqa: BLE001 - a failing reaction must not stop the command that opened the workspace
                log.exception("run_finished hook failed for the abandoned run %s", run.id)

    @cached_property
    def runs(self) -> RunStore:
        return RunStore(self.metadata)

    # ------------------------------------------------------------------ stores

    def registry(self, kind: str) -> dict[str, Any]:
        """``{name: entry}`` the plugins registered for ``kind`` (see :data:`meshkit.core.registry.KINDS`)."""
        return self.registries.get(kind)

    @property
    def store_types(self) -> dict[str, type]:
        return self.registries.get("store_types")

    @property
    def store_settings(self) -> dict[str, dict[str, Any]]:
        """Settings of the declared stores: ``meshkit.toml`` ``[stores.NAME]``, then those the run in
        progress added with :meth:`declare_store`."""
        declared = self.scope.stores if self.scope is not None else {}
        return {**self.workspace.store_settings, **declared}

    def declare_store(self, name: str, settings: dict[str, Any]) -> None:
        """Declare store ``name`` (``settings`` holds its ``type`` and options) for the run in progress,
        unless ``meshkit.toml`` has it."""
        if self.scope is None:
            raise PlatformError(
                f"Store `{name}` can only be declared for a run.", hint="Open `Meshkit.run_scope()` first."
            )
        with self._lock:
            if name not in self.workspace.store_settings and self.scope.stores.get(name) != settings:
                self.scope.stores[name] = dict(settings)
                self._stores.pop(name, None)

    def _check_store_types(self) -> None:
        """Every ``[stores.NAME]`` of ``meshkit.toml`` names a known ``type``: checked on load, not on first use."""
        for name, options in self.workspace.store_settings.items():
            type_name = options.get("type") if isinstance(options, dict) else None
            if type_name in self.store_types:
                continue
            known = sorted(self.store_types)
            close = difflib.get_close_matches(str(type_name), known, n=1)
            did_you_mean = f"Did you mean `{close[0]}`? " if close else ""
            problem = "has no `type`" if type_name is None else f"has the unknown type `{type_name}`"
            raise ConfigError(f"Store `{name}` {problem}.", where=key_location(self.workspace.root / WORKSPACE_FILE, "type", f"stores.{name}"),
                              hint=f"{did_you_mean}Store types: {', '.join(known)} (plugins add others).")  # fmt: skip

    def store_names(self) -> list[str]:
        """The names ``store()`` knows besides URLs: the stores of ``meshkit.toml`` and the default ones."""
        return sorted({*self.store_settings, *DEFAULT_STORES})

    def store(self, ref: str):
        """The store named ``ref`` in ``meshkit.toml``, a default store name, or a URL.

        ``duckdb`` (VDK's ``db_default_type``) names the workspace warehouse, so lineage sees one store.
        """
        if ref == "duckdb" and ref not in self.store_settings:
            ref = "warehouse"
        with self._lock:
            if ref not in self._stores:
                self._stores[ref] = self._make_store(ref)
            return self._stores[ref]

    def _make_store(self, ref: str):
        declared = self.store_settings
        if ref in declared:
            options = dict(declared[ref])
            type_name = options.pop("type", None)
            where = f"meshkit.toml [stores.{ref}]" if ref in self.workspace.store_settings else f"[vdk_{ref}]"
            cls = self._store_class(type_name, where=where)
            return cls(ref, options, self)
        if "://" in ref:
            return self.new_store(ref)
        if ref in DEFAULT_STORES:
            return self._store_class(DEFAULT_STORES[ref], where=ref)(ref, {}, self)
        known = self.store_names()
        close = difflib.get_close_matches(ref, known, n=1)
        did_you_mean = f"Did you mean `{close[0]}`? " if close else ""
        hint = (
            f"{did_you_mean}Known stores: {', '.join(known)}; declare others in meshkit.toml [stores.NAME]."
        )
        raise ConfigError(f"Unknown store `{ref}`.", hint=hint)

    def new_store(self, spec: str | Mapping[str, Any], *, name: str | None = None, where: str | None = None):
        """A new store from a URL or inline options ``{type: ..., ...}``; not cached, the caller closes it.

        ``where`` names the spec field in errors (never the URL: it may hold a password); a URL is the
        store's name, ``name`` names the others.
        """
        if isinstance(spec, str):
            scheme = spec.split("://", 1)[0].split("+", 1)[0].lower()
            for cls in self.store_types.values():
                if scheme in cls.url_schemes:
                    self.redactor.add(_url_password(spec))
                    # NOTE: the name feeds dataset names, lineage and statuses; the password stays in memory.
                    return cls(strip_credentials(spec), cls.from_url(spec), self)
            raise ConfigError(
                f"No store type handles URLs of scheme `{scheme}`.",
                where=where,
                hint="Install the plugin for it.",
            )
        options = dict(spec)
        type_name = options.pop("type", None)
        return self._store_class(type_name, where=where or "inline store")(
            name or str(type_name), options, self
        )

    def store_of_type(self, type_name: str, options: Mapping[str, Any]):
        """A store of ``type_name`` with ``options`` (cached per type and options), e.g. an ingestion target."""
        key = f"{type_name}:{','.join(str(v) for v in options.values())}"
        with self._lock:
            if key not in self._stores:
                name = strip_credentials(key)
                self._stores[key] = self._store_class(type_name, where=name)(name, dict(options), self)
            return self._stores[key]

    def _store_class(self, type_name: str | None, where: str) -> type:
        if type_name not in self.store_types:
            known = ", ".join(sorted(self.store_types))
            raise ConfigError(f"Unknown store type `{type_name}`.", where=where, hint=f"Use one of: {known}.")
        return self.store_types[type_name]

    def resolve(self, value: Any) -> Any:
        """Resolve a credential reference (``env:``, ``secret:``, ``vaultPath``) and mark it for redaction."""
        return resolve(value, get_secret=self.get_secret, redact=self.redactor.add)

    def backend(self, kind: str) -> Any:
        """The ``properties`` or ``secrets`` backend named by config, built on first use."""
        with self._lock:
            if kind not in self._backends:
                self._backends[kind] = build_backend(self, kind)
            return self._backends[kind]

    def get_secret(self, name: str, scope: str = "") -> str | None:
        value = self.backend("secrets").get(scope, name)
        if value is not None:
            self.redactor.add(str(value))
        return value

    def close_stores(self) -> None:
        """Close every store opened so far (they open again on next use), e.g. between the runs of a worker."""
        with self._lock:
            stores = list(self._stores.values())
            self._stores.clear()
        for store in stores:
            store.close()

    def close(self) -> None:
        self.close_stores()
        if self._metadata is not None:
            self._metadata.dispose()

    def __enter__(self) -> Meshkit:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _url_password(url: str) -> str | None:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).password
    except Exception:
        return None
