"""Packages, dispatch and the dbt context: the ``features`` project (with its local ``greetings``
package) and the ``stockroom`` project (whose ``inventory`` package has models, a seed, a snapshot
and vars) built by meshkit and by dbt-core + dbt-duckdb give the same relations, table for table;
``meshkit deps``, filled ``dbt_packages/``, selectors and macro errors behave as dbt's.

The comparisons run where the benchmark's dbt environment exists (``python
benchmarks/bench_models.py`` creates it in benchmarks/.work/dbt-venv); dbt is not a required service.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import duckdb
import pytest
import yaml

from meshkit.core.context import Meshkit
from meshkit.core.errors import UserError
from meshkit.core.workspace import Workspace
from meshkit.models import BuildOptions, execute, open_project
from meshkit.models.exceptions import ModelCompileError
from meshkit.models.graph import select
from meshkit.models.packages import install, spec_hash
from meshkit.models.project import dbt_settings
from meshkit.testing import run_cli

PROJECTS = Path(__file__).parent / "projects"
DBT = Path(__file__).resolve().parents[2] / "benchmarks" / ".work" / "dbt-venv" / "bin" / "dbt"
needs_dbt = pytest.mark.skipif(
    not DBT.exists(), reason=f"dbt environment absent ({DBT}); run benchmarks/bench_models.py to create it"
)


def _copy(folder: Path, project: str = "features", package: str = "greetings") -> Path:
    """A project and its local package, side by side in ``folder``; returns the project."""
    for name in (project, package):
        shutil.copytree(PROJECTS / name, folder / name)
    return folder / project


def _dbt(root: Path, *argv: str, env: dict[str, str] | None = None) -> str:
    env = {
        **os.environ,
        "DBT_PROFILES_DIR": str(root),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
        **(env or {}),
    }
    result = subprocess.run([str(DBT), *argv], cwd=root, env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]
    return result.stdout


def _build(root: Path, flags: dict | None = None, **options) -> list:
    with Meshkit(Workspace(root=root), load_entrypoints=False) as mk:
        project = open_project(mk, root, flags={"WHICH": "build", **(flags or {})})
        report = execute(mk, project, BuildOptions(threads=2, **options))
        assert not report.failed, [
            (r.unique_id, r.message) for r in report.results if r.status not in ("success", "pass")
        ]
        return report.results


def tables(path: Path) -> dict[tuple[str, str], tuple[list, list]]:
    """Every table of the database: columns with types and sorted rows."""
    with duckdb.connect(str(path), read_only=True) as con:
        out = {}
        for schema, table in con.execute("SELECT schema_name, table_name FROM duckdb_tables()").fetchall():
            name = f'"{schema}"."{table}"'
            cols = [(c[0], str(c[1])) for c in con.execute(f"SELECT * FROM {name} LIMIT 0").description]
            out[(schema, table)] = (cols, sorted(con.execute(f"SELECT * FROM {name}").fetchall(), key=repr))
        return out


@needs_dbt
@pytest.mark.parametrize("full_refresh", [False, True])
def test_features_build_as_dbt_builds_them(tmp_path, full_refresh, monkeypatch):
    monkeypatch.setenv("FEATURES_COUNTRY", "fi")
    dbt_root, mk_root = _copy(tmp_path / "dbt"), _copy(tmp_path / "mk")
    _dbt(dbt_root, "deps")
    _dbt(dbt_root, "build", *(["--full-refresh"] if full_refresh else []))
    _build(mk_root, {"FULL_REFRESH": full_refresh}, full_refresh=full_refresh)
    dbt_tables, mk_tables = tables(dbt_root / "warehouse.duckdb"), tables(mk_root / "warehouse.duckdb")
    assert sorted(mk_tables) == sorted(dbt_tables)
    for key in dbt_tables:
        assert mk_tables[key] == dbt_tables[key], key
    # what the comparison covers: seeds named by the project's macros, hooks, dispatch, introspection
    assert ("raw", "seed_raw_people") in mk_tables and ("reports", "people_summary") in mk_tables
    assert mk_tables[("main", "run_log")][1] == [
        ("end", "3 schemas"),
        ("post", "people_summary"),
        ("start", "build"),
    ]
    row = mk_tables[("main", "introspected")][1][0]
    assert row == ("id,name,age,country", True, 45, 3, 1, "build", full_refresh, "fi", "hello")
    assert mk_tables[("main", "greeted")][1][0] == (1, "hello, Ada", "Ada!")


@needs_dbt
@pytest.mark.parametrize("selector", ["people_only", "reports"])
def test_yaml_selectors_pick_what_dbt_ls_picks(tmp_path, selector):
    dbt_root, mk_root = _copy(tmp_path / "dbt"), _copy(tmp_path / "mk")
    _dbt(dbt_root, "deps")
    wanted = set(_dbt(dbt_root, "ls", "--selector", selector, "-q", "--output", "name").split())
    with Meshkit(Workspace(root=mk_root), load_entrypoints=False) as mk:
        project = open_project(mk, mk_root)
        chosen = {project.nodes[u].name for u in select(project, [f"selector:{selector}"])}
    assert chosen == wanted and wanted


def test_selector_option_and_unknown_selector(tmp_path):
    root = _copy(tmp_path)
    result = run_cli(["ls", "--project-dir", str(root), "--selector", "reports"], workspace=root)
    assert result.exit_code == 0, result.output
    assert result.stdout.split() == ["features.reports.people_summary"]
    result = run_cli(["ls", "--project-dir", str(root), "--selector", "nope"], workspace=root)
    assert result.exit_code == 2 and "No selector named `nope`" in result.output


def test_deps_links_local_packages_into_dbt_packages(tmp_path):
    root = _copy(tmp_path)
    result = run_cli(["deps", "--project-dir", str(root)], workspace=root)
    assert result.exit_code == 0, result.output
    link = root / "dbt_packages" / "greetings"
    assert link.is_symlink() and link.resolve() == (tmp_path / "greetings").resolve()
    assert "Installed greetings" in result.stdout


def test_deps_empties_dbt_packages_first_as_dbt_does(tmp_path, monkeypatch):
    """What packages.yml no longer names goes; a fetch that fails leaves dbt_packages/ as it was."""
    root = _copy(tmp_path)
    stale = root / "dbt_packages" / "dropped_package"
    stale.mkdir(parents=True)
    (stale / "dbt_project.yml").write_text("name: dropped_package\n")
    (root / "dbt_packages" / "notes.txt").write_text("left by hand\n")
    install(root, dbt_settings(root))
    assert sorted(p.name for p in (root / "dbt_packages").iterdir()) == ["greetings"]
    monkeypatch.setattr("meshkit.models.packages.HUB", "http://127.0.0.1:9/api/v1")
    (root / "packages.yml").write_text(
        "packages:\n  - local: ../greetings\n  - package: dbt-labs/dbt_utils\n    version: 1.3.0\n"
    )
    with pytest.raises(UserError, match="Cannot download"):
        install(root, dbt_settings(root))
    assert (root / "dbt_packages" / "greetings").is_symlink()


def test_deps_refuses_an_install_path_holding_the_project(tmp_path):
    root = _copy(tmp_path)
    with pytest.raises(UserError, match="holds the project itself") as info:
        install(root, {**dbt_settings(root), "packages-install-path": "."})
    assert info.value.where == "dbt_project.yml"
    assert (root / "dbt_project.yml").exists()


def test_filled_dbt_packages_builds_without_deps(tmp_path):
    """A hub package already in dbt_packages/ loads without the network, as in dbt."""
    root = _copy(tmp_path)
    (root / "packages.yml").write_text(
        'packages:\n  - package: example-org/greetings\n    version: [">=0.1.0"]\n'
    )
    with pytest.raises(ModelCompileError, match="`example-org/greetings` is not installed") as info:
        _build(root)
    assert info.value.where == "packages.yml" and "meshkit deps" in info.value.hint
    shutil.move(tmp_path / "greetings", root / "dbt_packages" / "greetings")
    results = _build(root)
    assert {r.status for r in results} <= {"success", "pass"} and len(results) == 9


@pytest.mark.parametrize(
    ("entry", "expected"),
    [("- package: dbt-labs/dbt_utils\n    version: 1.3.0", "Cannot download"),
     ("- git: https://127.0.0.1:9/nowhere.git\n    revision: main", "Cannot fetch the git package")],
)  # fmt: skip
def test_deps_without_network_fails_with_a_clear_message(tmp_path, monkeypatch, entry, expected):
    monkeypatch.setattr("meshkit.models.packages.HUB", "http://127.0.0.1:9/api/v1")
    root = _copy(tmp_path)
    (root / "packages.yml").write_text(f"packages:\n  {entry}\n")
    with pytest.raises(UserError, match=expected) as info:
        install(root, dbt_settings(root))
    assert info.value.where == "packages.yml" and "network" in info.value.hint
    assert not (root / "dbt_packages" / "dbt_utils").exists()


def test_dispatch_without_an_implementation_names_the_search(tmp_path):
    root = _copy(tmp_path)
    (root / "models" / "broken.sql").write_text(
        "select {{ adapter.dispatch('nothing', 'greetings')() }} as x\n"
    )
    with (
        Meshkit(Workspace(root=root), load_entrypoints=False) as mk,
        pytest.raises(ModelCompileError) as info,
    ):
        open_project(mk, root)
    assert info.value.where == "models/broken.sql:1"
    assert (
        "features.duckdb__nothing, features.default__nothing, greetings.duckdb__nothing" in info.value.message
    )


@pytest.mark.parametrize(
    ("macro", "message"),
    [("{{ exceptions.raise_compiler_error('no ' ~ thing) }}", "no lemons"),
     ("{{ (1 / 0) if execute else '' }}", "division by zero"),
     ("{{ thing.missing.attribute }}", "has no attribute")],
)  # fmt: skip
def test_a_failing_project_macro_is_a_user_error_naming_the_macro_line(tmp_path, macro, message):
    root = _copy(tmp_path)
    (root / "macros" / "explode.sql").write_text(
        f"{{% macro explode(thing) %}}\n  select 1\n  {macro}\n{{% endmacro %}}\n"
    )
    (root / "models" / "boom.sql").write_text("{{ explode('lemons') }}\n")
    with Meshkit(Workspace(root=root), load_entrypoints=False) as mk:
        try:
            project = open_project(mk, root)
        except ModelCompileError as exc:  # fails while loading
            assert exc.where == "macros/explode.sql:3" and message in exc.message
            return
        report = execute(
            mk, project, BuildOptions(select=["boom"], threads=1)
        )  # fails when run (execute true)
    result = next(r for r in report.results if r.unique_id == "model.features.boom")
    assert result.status == "error" and "macros/explode.sql:3" in result.message and message in result.message
    assert "Traceback" not in result.message


def test_profile_renders_only_the_chosen_target(tmp_path, monkeypatch):
    """The ``broken`` output's unset env_var does not matter unless that target is chosen."""
    monkeypatch.delenv("FEATURES_UNSET_VARIABLE", raising=False)
    root = _copy(tmp_path)
    monkeypatch.setenv("FEATURES_DB", str(tmp_path / "elsewhere.duckdb"))
    _build(root, select=["+people", "greeted"])
    assert (tmp_path / "elsewhere.duckdb").exists()
    with (
        Meshkit(Workspace(root=root), load_entrypoints=False) as mk,
        pytest.raises(ModelCompileError) as info,
    ):
        open_project(mk, root, target="broken")
    assert "FEATURES_UNSET_VARIABLE" in info.value.message


# ---------------------------------------------------------------------------- nodes of packages


def _stockroom(folder: Path) -> Path:
    return _copy(folder, "stockroom", "inventory")


@needs_dbt
def test_package_nodes_build_as_dbt_builds_them(tmp_path):
    """Models, a seed and a snapshot of a package, configured by the package and overridden by the
    root project, named by the package's own generate_alias_name, with package-scoped vars: the same
    tables as dbt's, and `--select inventory` picks what `dbt ls` picks."""
    dbt_root, mk_root = _stockroom(tmp_path / "dbt"), _stockroom(tmp_path / "mk")
    _dbt(dbt_root, "deps")
    _dbt(dbt_root, "build")
    results = _build(mk_root)
    dbt_tables, mk_tables = tables(dbt_root / "warehouse.duckdb"), tables(mk_root / "warehouse.duckdb")
    assert sorted(mk_tables) == sorted(dbt_tables)
    for key in dbt_tables:
        assert mk_tables[key] == dbt_tables[key], key
    assert {r.unique_id for r in results} >= {"model.inventory.stg_items", "seed.inventory.inv_items",
                                              "snapshot.inventory.items_snapshot"}  # fmt: skip
    for selector in ("inventory", "package:inventory", "package:stockroom"):
        wanted = set(_dbt(dbt_root, "ls", "-s", selector, "-q", "--output", "name").split())
        with Meshkit(Workspace(root=mk_root), load_entrypoints=False) as mk:
            project = open_project(mk, mk_root)
            assert {project.nodes[u].name for u in select(project, [selector])} == wanted, selector


def test_package_nodes_are_named_and_configured_as_dbt_does(tmp_path):
    root = _stockroom(tmp_path)
    with Meshkit(Workspace(root=root), load_entrypoints=False) as mk:
        project = open_project(mk, root)
    staged = project.nodes["model.inventory.stg_items"]
    assert staged.fqn == ["inventory", "staging", "stg_items"] and staged.package_name == "inventory"
    assert staged.original_file_path == "models/staging/stg_items.sql"
    # the package's +schema, the root project's +materialized over the package's view
    assert staged.config["materialized"] == "table" and staged.relation.schema == "main_inv_staging"
    # the package's own generate_alias_name names its nodes, not the root project's
    assert staged.relation.identifier == "inv_stg_items"
    assert project.nodes["seed.inventory.inv_items"].relation.schema == "main_inv_raw"
    assert project.nodes["snapshot.inventory.items_snapshot"].relation.schema == "inv_history"
    report = project.nodes["model.stockroom.report"]
    assert report.relation.identifier == "report"
    assert report.refs == [("inventory", "item_totals"), (None, "stg_items")]
    assert report.depends_on == ["model.inventory.item_totals", "model.inventory.stg_items"]
    assert any(u.startswith("test.inventory.not_null_item_totals_items.") for u in project.nodes)
    # vars: the package's own, overridden by the root's global and `inventory:` ones; the root's
    # nodes see neither the package's vars nor those scoped to it
    assert "qty * 3 as qty_scaled, 'root-global/pcs' as label" in staged.rendered
    assert (
        "0 as root_multiplier, 'A' as shelf" in report.rendered
        and "'root-global' as root_label" in report.rendered
    )


def test_ref_to_a_missing_package_model_names_the_package(tmp_path):
    root = _stockroom(tmp_path)
    (root / "models" / "broken.sql").write_text("select * from {{ ref('inventory', 'report') }}\n")
    with pytest.raises(ModelCompileError, match=r"`ref\('inventory', 'report'\)` names no model") as info:
        _build(root)
    assert info.value.where.startswith("models/broken.sql")


# ---------------------------------------------------------------------------- package-lock.yml

LOCK_ENTRIES = [
    {"package": "dbt-labs/dbt_utils", "version": [">=1.0.0", "<2.0.0"]},
    {"package": "calogica/dbt_date", "version": "0.10.1", "install_prerelease": True},
    {"git": "https://github.com/dbt-labs/dbt-audit-helper.git", "revision": "0.12.0", "subdirectory": "sub"},
    {"git": "https://example.com/plain.git"},
    {"tarball": "https://example.com/pkg.tar.gz", "name": "pkg"},
    {"local": "../inventory", "name": "inventory"},
]


@needs_dbt
def test_deps_writes_package_lock_as_dbt_does(tmp_path):
    dbt_root, mk_root = _stockroom(tmp_path / "dbt"), _stockroom(tmp_path / "mk")
    _dbt(dbt_root, "deps")
    result = run_cli(["deps", "--project-dir", str(mk_root)], workspace=mk_root)
    assert result.exit_code == 0, result.output
    assert (mk_root / "package-lock.yml").read_text() == (dbt_root / "package-lock.yml").read_text()
    # the hash of hub, git, tarball and local entries, as dbt computes it
    script = (
        "import json, sys\n"
        "from dbt.config.project import package_config_from_data\n"
        "from dbt.task.deps import _create_sha1_hash\n"
        "data = {'packages': json.loads(sys.argv[1])}\n"
        "print(_create_sha1_hash(package_config_from_data(data, data).packages))\n"
    )
    python = DBT.parent / "python"
    dbt_hash = subprocess.run([str(python), "-c", script, json.dumps(LOCK_ENTRIES)], capture_output=True,
                              text=True, check=True).stdout.strip()  # fmt: skip
    assert spec_hash(LOCK_ENTRIES) == dbt_hash


def test_later_deps_installs_what_the_lock_names(tmp_path):
    root = _stockroom(tmp_path)
    assert run_cli(["deps", "--project-dir", str(root)], workspace=root).exit_code == 0
    lock = yaml.safe_load((root / "package-lock.yml").read_text())
    assert lock["packages"] == [{"local": "../inventory", "name": "inventory"}]
    # a lock that still matches packages.yml is what the next deps installs
    shutil.copytree(tmp_path / "inventory", tmp_path / "inventory_pinned")
    lock["packages"][0]["local"] = "../inventory_pinned"
    (root / "package-lock.yml").write_text(yaml.safe_dump(lock))
    assert run_cli(["deps", "--project-dir", str(root)], workspace=root).exit_code == 0
    assert (root / "dbt_packages" / "inventory").resolve() == (tmp_path / "inventory_pinned").resolve()
    # a changed packages.yml is resolved again and locked anew
    (root / "packages.yml").write_text("packages:\n  - local: ../inventory\n    name: inventory\n")
    assert run_cli(["deps", "--project-dir", str(root)], workspace=root).exit_code == 0
    assert (root / "dbt_packages" / "inventory").resolve() == (tmp_path / "inventory").resolve()
    again = yaml.safe_load((root / "package-lock.yml").read_text())
    assert again["sha1_hash"] != lock["sha1_hash"] and again["packages"][0]["local"] == "../inventory"


# ---------------------------------------------------------------------------- hub version ranges


@pytest.fixture
def hub(tmp_path):
    """A dbt hub on 127.0.0.1 (the API dbt reads): ``acme/base`` 1.0.0, 1.1.0, 2.0.0 and ``acme/extras``
    1.0.0, which asks for ``acme/base`` below 2.0.0; each version a tarball of a dbt project."""
    import http.server
    import tarfile
    import threading

    served = tmp_path / "hub"
    (served / "api" / "v1" / "acme").mkdir(parents=True)
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0),
        lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(served)),  # noqa: ARG005
    )
    url = f"http://127.0.0.1:{server.server_address[1]}/"
    packages = {"base": {"1.0.0": [], "1.1.0": [], "2.0.0": []},
                "extras": {"1.0.0": [{"package": "acme/base", "version": [">=1.0.0", "<2.0.0"]}]}}  # fmt: skip
    for name, versions in packages.items():
        index = {"name": name, "namespace": "acme", "versions": {}}
        for version, deps in versions.items():
            project = tmp_path / "src" / f"{name}-{version}"
            (project / "macros").mkdir(parents=True)
            (project / "dbt_project.yml").write_text(
                f"name: {name}\nversion: '{version}'\nconfig-version: 2\n"
            )
            (project / "macros" / f"{name}.sql").write_text(
                f"{{% macro {name}_version() %}}'{version}'{{% endmacro %}}\n"
            )
            archive = served / "tarballs" / f"{name}-{version}.tar.gz"
            archive.parent.mkdir(exist_ok=True)
            with tarfile.open(archive, "w:gz") as tar:
                tar.add(project, arcname=f"{name}-{version}")
            index["versions"][version] = {"name": name, "packages": deps,
                                          "downloads": {"tarball": f"{url}tarballs/{name}-{version}.tar.gz"}}  # fmt: skip
        (served / "api" / "v1" / "acme" / f"{name}.json").write_text(json.dumps(index))
    (served / "api" / "v1" / "index.json").write_text(json.dumps([f"acme/{n}" for n in packages]))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield url
    server.shutdown()
    thread.join()


def _hub_project(folder: Path, base_range: str) -> Path:
    folder.mkdir(parents=True)
    (folder / "dbt_project.yml").write_text("name: hubbed\nprofile: hubbed\nconfig-version: 2\n")
    (folder / "packages.yml").write_text(
        f"packages:\n  - package: acme/base\n    version: {base_range}\n"
        "  - package: acme/extras\n    version: 1.0.0\n"
    )
    return folder


def _installed(root: Path) -> dict[str, str]:
    return {
        p.name: yaml.safe_load((p / "dbt_project.yml").read_text())["version"]
        for p in sorted((root / "dbt_packages").iterdir())
    }


def test_deps_intersects_hub_ranges_as_dbt_does(tmp_path, hub, monkeypatch):
    """The project asks `acme/base` >=1.0.0,<3.0.0 and `acme/extras` asks it <2.0.0: 1.1.0, not 2.0.0."""
    monkeypatch.setenv("DBT_PACKAGE_HUB_URL", hub)
    root = _hub_project(tmp_path / "mk", '[">=1.0.0", "<3.0.0"]')
    result = run_cli(["deps", "--project-dir", str(root)], workspace=root)
    assert result.exit_code == 0, result.output
    assert _installed(root) == {"base": "1.1.0", "extras": "1.0.0"}
    lock = yaml.safe_load((root / "package-lock.yml").read_text())
    assert lock["packages"] == [{"package": "acme/base", "version": "1.1.0", "name": "base"},
                                {"package": "acme/extras", "version": "1.0.0", "name": "extras"}]  # fmt: skip
    if DBT.exists():  # dbt against the same hub locks and installs the same
        dbt_root = _hub_project(tmp_path / "dbt", '[">=1.0.0", "<3.0.0"]')
        (dbt_root / "profiles.yml").write_text(
            "hubbed:\n  target: dev\n  outputs:\n    dev:\n      type: duckdb\n"
        )
        _dbt(dbt_root, "deps", env={"DBT_PACKAGE_HUB_URL": hub})
        assert (dbt_root / "package-lock.yml").read_text() == (root / "package-lock.yml").read_text()
        assert _installed(dbt_root) == _installed(root)


def test_deps_ranges_without_a_common_version_name_who_asked(tmp_path, hub, monkeypatch):
    monkeypatch.setenv("DBT_PACKAGE_HUB_URL", hub)
    root = _hub_project(tmp_path / "project", '[">=2.0.0"]')
    with pytest.raises(
        UserError, match=r"No version of `acme/base` satisfies .*>=2.0.0, >=1.0.0, <2.0.0"
    ) as info:
        install(root, dbt_settings(root))
    assert "packages.yml > acme/extras@1.0.0" in info.value.hint and "1.0.0, 1.1.0, 2.0.0" in info.value.hint


def test_deps_lock_and_upgrade(tmp_path, hub, monkeypatch):
    """`--lock` writes the lock and installs nothing; a matching lock is what `deps` installs, even where
    the hub has newer versions; `--upgrade` resolves again."""
    monkeypatch.setenv("DBT_PACKAGE_HUB_URL", hub)
    root = _hub_project(tmp_path / "project", '[">=1.0.0"]')
    (root / "packages.yml").write_text('packages:\n  - package: acme/base\n    version: [">=1.0.0"]\n')
    result = run_cli(["deps", "--lock", "--project-dir", str(root)], workspace=root)
    assert result.exit_code == 0, result.output
    assert not (root / "dbt_packages").exists()
    lock = yaml.safe_load((root / "package-lock.yml").read_text())
    assert lock["packages"] == [{"package": "acme/base", "version": "2.0.0", "name": "base"}]
    lock["packages"][0]["version"] = "1.0.0"  # as locked before 2.0.0 was published
    (root / "package-lock.yml").write_text(yaml.safe_dump(lock))
    assert run_cli(["deps", "--project-dir", str(root)], workspace=root).exit_code == 0
    assert _installed(root) == {"base": "1.0.0"}
    assert run_cli(["deps", "--upgrade", "--project-dir", str(root)], workspace=root).exit_code == 0
    assert _installed(root) == {"base": "2.0.0"}
    assert yaml.safe_load((root / "package-lock.yml").read_text())["packages"][0]["version"] == "2.0.0"
