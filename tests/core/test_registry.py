"""Registries: plugins add named entries; a name taken twice is an error unless the newcomer overrides it."""

from __future__ import annotations

import sqlite3

import pytest

import meshkit
from meshkit.core.errors import PluginError
from meshkit.core.registry import KINDS, override
from meshkit.data.stores.sqlite import SQLiteStore
from meshkit.testing import plugin_workspace


class TracedSQLite(SQLiteStore):
    """A third party's ``sqlite`` store: the built-in one, with a marker."""

    traced = True


class OverridingSQLite:
    @meshkit.hookimpl
    def register_store_types(self):
        return [override(TracedSQLite)]


class ClashingSQLite:
    @meshkit.hookimpl
    def register_store_types(self):
        return [TracedSQLite]


def test_hook_register_store_types_override_wins_over_builtin(tmp_path):
    mk = plugin_workspace(tmp_path / "ws", [OverridingSQLite()])
    try:
        assert mk.store_types["sqlite"] is TracedSQLite
        store = mk.store("sqlite")
        assert isinstance(store, TracedSQLite) and store.traced
        assert mk.store("duckdb").type == "duckdb"  # the other built-ins stay
    finally:
        mk.close()


def test_name_registered_twice_names_both_plugins(tmp_path):
    mk = plugin_workspace(tmp_path / "ws", [ClashingSQLite()])
    try:
        with pytest.raises(PluginError) as caught:
            mk.store("sqlite")
        message = str(caught.value)
        assert "store type `sqlite`" in message
        assert "meshkit.data.stores.plugin" in message and "ClashingSQLite" in message
        assert "meshkit.override(" in caught.value.hint
    finally:
        mk.close()


def test_later_override_wins_over_earlier_override(tmp_path):
    class Second(TracedSQLite):
        pass

    class SecondPlugin:
        @meshkit.hookimpl
        def register_store_types(self):
            return [override(Second)]

    mk = plugin_workspace(tmp_path / "ws", [OverridingSQLite(), SecondPlugin()])
    try:
        assert mk.store_types["sqlite"] is Second
    finally:
        mk.close()


def test_mapping_registries_refuse_clashes_and_take_overrides(tmp_path):
    from meshkit.job.secrets import MemorySecrets

    class Clash:
        @meshkit.hookimpl
        def register_secrets_backends(self):
            return {"memory": MemorySecrets}

    class Counted(MemorySecrets):
        pass

    class Replace:
        @meshkit.hookimpl
        def register_secrets_backends(self):
            return {"memory": override(Counted)}

    clash = plugin_workspace(tmp_path / "a", [Clash()], secrets_backend="memory")
    with pytest.raises(PluginError, match="secrets backend `memory` is registered by both"):
        clash.get_secret("x")
    replaced = plugin_workspace(tmp_path / "b", [Replace()], secrets_backend="memory")
    assert isinstance(replaced.backend("secrets"), Counted)
    assert replaced.backend("secrets") is replaced.backend("secrets")


def test_registry_is_built_once_per_instance(tmp_path):
    calls = []

    class Counting:
        @meshkit.hookimpl
        def register_transforms(self):
            calls.append(1)
            return []

    mk = plugin_workspace(tmp_path / "ws", [Counting()])
    assert mk.registry("transforms") is mk.registry("transforms")
    assert "redact" in {name.lower() for name in mk.registry("transforms")}
    assert len(calls) == 1


def test_entry_without_its_name_attribute_is_refused(tmp_path):
    class Nameless:
        @meshkit.hookimpl
        def register_engines(self):
            return [object]

    mk = plugin_workspace(tmp_path / "ws", [Nameless()])
    with pytest.raises(PluginError, match="has no `type`"):
        mk.registry("engines")


def test_every_kind_has_a_hookspec():
    from meshkit.core import hookspecs

    for kind in KINDS.values():
        assert hasattr(getattr(hookspecs, kind.hook), "meshkit_spec"), kind.hook


def test_hook_register_connections_opens_a_plugin_connection(tmp_path):
    database = tmp_path / "side.db"
    sqlite3.connect(database).executescript("create table t (x int); insert into t values (41), (1);")

    class Side:
        @meshkit.hookimpl
        def register_connections(self):
            return {"side": lambda: sqlite3.connect(database)}

    mk = plugin_workspace(tmp_path / "ws", [Side()])
    job = mk.workspace.root / "jobs" / "j"
    job.mkdir(parents=True)
    (job / "10_read.py").write_text(
        "def run(job_input):\n"
        "    (total,), = job_input.execute_query('select sum(x) from t', database='side')\n"
        "    job_input.set_all_properties({'total': total})\n"
    )
    from meshkit.job.runner import run_job

    try:
        result = run_job(mk, "j", console=False)
        assert result.ok, result.error
        assert mk.backend("properties").get_all("j") == {"total": 42}
    finally:
        mk.close()
