"""dbt packages: ``packages.yml`` / ``dependencies.yml``, installed into ``dbt_packages/`` as ``dbt deps`` does.

``local:`` packages need no install: they load from their folder (``meshkit deps`` links them into
``dbt_packages/`` all the same). ``git:``, hub (``package:``) and ``tarball:`` packages are fetched
by ``meshkit deps``, which needs the network; a project whose ``dbt_packages/`` is already filled
loads without it. Each installed package is a dbt project whose macros, generic tests and
``dispatch`` implementations the root project can call.

``meshkit deps`` writes ``package-lock.yml`` as dbt 1.7+ does: every package it installed (those of
the packages' own ``packages.yml`` too) pinned to what it got, with the SHA-1 of the ``packages:``
entries it was resolved from. While that hash still matches, a later ``meshkit deps`` installs what
the lock names instead of resolving the entries again.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from packaging.specifiers import InvalidSpecifier, SpecifierSet
from packaging.version import InvalidVersion, Version

from meshkit.core.errors import UserError
from meshkit.models.exceptions import ModelCompileError
from meshkit.models.properties import read_yaml

HUB = "https://hub.getdbt.com/api/v1"
SPEC_FILES = ("packages.yml", "dependencies.yml")
LOCK_FILE = "package-lock.yml"


@dataclass
class Package:
    """An installed (or local) package: its name, folder and ``dbt_project.yml`` settings."""

    name: str
    root: Path
    settings: dict[str, Any]


def install_path(root: Path, settings: dict[str, Any]) -> Path:
    return root / settings.get("packages-install-path", "dbt_packages")


def read_specs(root: Path) -> tuple[list[dict[str, Any]], str]:
    """The ``packages:`` entries of the project at ``root`` and the file they come from."""
    for name in SPEC_FILES:
        path = root / name
        if path.is_file():
            data = read_yaml(path, name).data
            entries = (data or {}).get("packages") or []
            if not isinstance(entries, list):
                raise ModelCompileError("`packages:` must be a list.", where=name)
            return entries, name
    return [], ""


def _settings(folder: Path, where: str) -> dict[str, Any]:
    if not (folder / "dbt_project.yml").is_file():
        raise ModelCompileError(f"`{folder}` is not a dbt package (no dbt_project.yml).", where=where,
                                hint="Point the entry at the package's folder.")  # fmt: skip
    settings = read_yaml(folder / "dbt_project.yml", str(folder / "dbt_project.yml")).data
    if not (settings or {}).get("name"):
        raise ModelCompileError(
            "The package's dbt_project.yml has no `name`.", where=str(folder / "dbt_project.yml")
        )
    return settings


def load_packages(root: Path, settings: dict[str, Any]) -> list[Package]:
    """The packages the project uses: every package in ``dbt_packages/``, and local ones where they are.

    A ``git``/hub/``tarball`` entry that is not installed is an error that says to run ``meshkit deps``.
    """
    found: dict[str, Package] = {}
    installed = install_path(root, settings)
    if installed.is_dir():
        for folder in sorted(p for p in installed.iterdir() if (p / "dbt_project.yml").is_file()):
            pkg_settings = _settings(folder, str(folder))
            found.setdefault(
                pkg_settings["name"], Package(pkg_settings["name"], folder.resolve(), pkg_settings)
            )
    pending = [(root, entry, where) for entry, where in _with_where(root, root)]
    while pending:
        base, entry, where = pending.pop(0)
        if isinstance(entry, dict) and "local" in entry:
            folder = (base / str(entry["local"])).resolve()
            if not folder.is_dir() and found:
                continue  # as dbt: a filled dbt_packages/ is used as it is
            pkg_settings = _settings(folder, where)
            if pkg_settings["name"] not in found:
                found[pkg_settings["name"]] = Package(pkg_settings["name"], folder, pkg_settings)
                pending += [(folder, e, w) for e, w in _with_where(folder, root)]
        elif _name_hint(entry) not in found and not any(_matches(entry, p) for p in found.values()):
            raise ModelCompileError(f"The package `{_describe(entry)}` is not installed.", where=where,
                                    hint="Run `meshkit deps` (it needs the network), or copy the package into "
                                    f"{installed.name}/.")  # fmt: skip
    return list(found.values())


def _with_where(folder: Path, root: Path) -> list[tuple[Any, str]]:
    """The package entries of ``folder``, each with its file relative to the project ``root``."""
    entries, name = read_specs(folder)
    return [(e, os.path.relpath(folder / name, root)) for e in entries]


def _name_hint(entry: Any) -> str:
    """The folder name a package is likely installed under (``dbt-labs/dbt_utils`` -> ``dbt_utils``)."""
    if not isinstance(entry, dict):
        return ""
    if "package" in entry:
        return str(entry["package"]).rsplit("/", 1)[-1]
    if "git" in entry:
        return str(entry["git"]).rstrip("/").rsplit("/", 1)[-1].removesuffix(".git").replace("-", "_")
    return ""


def _matches(entry: Any, package: Package) -> bool:
    hint = _name_hint(entry)
    return bool(hint) and (
        hint == package.name or hint == package.root.name or hint.replace("dbt_", "") == package.name
    )


def _describe(entry: Any) -> str:
    if isinstance(entry, dict):
        for key in ("package", "git", "tarball", "local", "private"):
            if key in entry:
                return str(entry[key])
    return str(entry)


# ---------------------------------------------------------------------------- meshkit deps


def install(
    root: Path, settings: dict[str, Any], *, upgrade: bool = False, lock_only: bool = False
) -> list[Package]:
    """Install every package of ``packages.yml``/``dependencies.yml`` (and theirs) into ``dbt_packages/``,
    from ``package-lock.yml`` while it matches the entries, else resolving them and writing the lock.

    As dbt resolves them: every range asked of a hub package (by the project and by the packages it
    installs) is intersected, and the newest version in all of them is taken. ``upgrade`` resolves
    again whatever the lock says (``dbt deps --upgrade``); ``lock_only`` writes the lock without
    installing anything (``dbt deps --lock``).

    As dbt, ``dbt_packages/`` is emptied before the packages go in, so nothing stale stays; unlike
    dbt, only once every package is fetched: a fetch that fails leaves it as it was."""
    target = install_path(root, settings)
    entries, spec_file = read_specs(root)
    lock = None if upgrade else _read_lock(root)
    locked = lock is not None and lock.get("sha1_hash") == spec_hash(entries)
    if locked and lock_only:
        return []
    pending = (
        [(root, e, LOCK_FILE) for e in lock.get("packages") or []]
        if locked
        else [(root, e, spec_file) for e in entries]
    )
    fetched: dict[str, tuple[Path, dict[str, Any], bool]] = {}  # name -> (folder, settings, local)
    pins: dict[str, dict[str, Any] | None] = {}  # in the order dbt lists them; hub pins once resolved
    hub: dict[str, _HubPackage] = {}
    with tempfile.TemporaryDirectory() as tmp:
        while pending:
            base, entry, where = pending.pop(0)
            if not isinstance(entry, dict):
                raise ModelCompileError(f"Cannot read the package entry `{entry}`.", where=where,
                                        hint="Write `- local: path`, `- git: url` or `- package: org/name`.")  # fmt: skip
            if "package" in entry:
                name = str(entry["package"])
                if name not in hub:
                    hub[name] = _HubPackage(name, _hub_index(name, where))
                    pins[f"hub:{name}"] = None
                version = hub[name].ask(entry, where)
                if not locked:  # a lock already lists the packages' own packages
                    deps = hub[name].index["versions"][version].get("packages") or []
                    pending += [(root, dep, f"{where} > {name}@{version}") for dep in deps]
                continue
            folder = _fetch(base, entry, where, Path(tempfile.mkdtemp(dir=tmp)))
            pkg_settings = _settings(folder, where)
            name = pkg_settings["name"]
            if name in fetched:
                continue
            fetched[name] = (folder, pkg_settings, "local" in entry)
            pins[name] = _pin(entry, name, folder, root)
            if not locked:
                pending += [(folder, e, w) for e, w in _with_where(folder, root)]
        for name, package in hub.items():
            version = package.resolved()
            project_name = str(package.index["versions"][version].get("name") or name.rsplit("/", 1)[-1])
            pins[f"hub:{name}"] = {"package": name, "version": version, "name": project_name}
            if lock_only:
                continue
            folder = _untar(_download(package.index["versions"][version]["downloads"]["tarball"], package.asked[0]),
                            Path(tempfile.mkdtemp(dir=tmp)), package.asked[0])  # fmt: skip
            pkg_settings = _settings(folder, package.asked[0])
            fetched[pkg_settings["name"]] = (folder, pkg_settings, False)
        if not lock_only:
            _empty(target, root)
            done = [_place(target, name, *found) for name, found in fetched.items()]
    if not locked and entries:
        _write_lock(root, [p for p in pins.values() if p is not None], spec_hash(entries))
    return [] if lock_only else done


def _empty(target: Path, root: Path) -> None:
    """An empty ``target`` (the install path), as ``dbt deps`` leaves it before installing."""
    if target.resolve() in (root.resolve(), *root.resolve().parents):
        raise UserError(f"packages-install-path `{target}` holds the project itself: meshkit deps "
                        "empties that folder before installing.", where="dbt_project.yml",
                        hint="Set packages-install-path to a folder of its own, such as dbt_packages.")  # fmt: skip
    if target.is_symlink() or target.is_file():
        target.unlink()
    elif target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)


def _place(target: Path, name: str, folder: Path, settings: dict[str, Any], link: bool) -> Package:
    """Put the package at ``folder`` into the emptied ``target`` (a link for a local one)."""
    dest = target / name
    if link:
        dest.symlink_to(folder, target_is_directory=True)
    else:
        shutil.copytree(folder, dest)
    return Package(name, dest.resolve(), settings)


class _HubPackage:
    """A hub package and every version range asked of it, as dbt's registry resolution keeps them."""

    def __init__(self, name: str, index: dict[str, Any]):
        self.name, self.index = name, index
        self.ranges: list[str] = []
        self.asked: list[str] = []
        self.prerelease = False

    def ask(self, entry: dict[str, Any], where: str) -> str:
        """Add the entry's range; the newest version that satisfies every range so far."""
        wanted = entry.get("version")
        self.ranges += [str(v) for v in (wanted if isinstance(wanted, list) else [wanted] if wanted else [])]
        self.asked.append(where)
        self.prerelease = self.prerelease or bool(entry.get("install_prerelease"))
        return self.resolved()

    def resolved(self) -> str:
        spec = _specifier(self.ranges, self.asked[-1])
        versions = self.index.get("versions") or {}
        candidates = sorted((v for v in versions if _compatible(versions[v]) and (parsed := _version(v)) is not None
                             and spec.contains(parsed, prereleases=self.prerelease or None)), key=_version)  # fmt: skip
        if not candidates:
            raise UserError(f"No version of `{self.name}` satisfies every range asked of it: {', '.join(self.ranges)}.",
                            where=self.asked[-1], hint=f"Asked by {', '.join(dict.fromkeys(self.asked))}; on the hub: "
                            f"{', '.join(sorted(versions, key=lambda v: _version(v) or Version('0')))}. Widen a range.")  # fmt: skip
        return candidates[-1]


#: The dbt version meshkit stands for when a hub package states ``require_dbt_version``.
DBT_VERSION = Version("1.10.0")


def _compatible(info: dict[str, Any]) -> bool:
    required = info.get("require_dbt_version")
    if not required:
        return True
    try:
        return DBT_VERSION in _specifier(required, "")
    except ModelCompileError:
        return True


def _hub_index(name: str, where: str) -> dict[str, Any]:
    base = os.environ.get("DBT_PACKAGE_HUB_URL")  # dbt's own setting for another hub
    url = f"{base.rstrip('/')}/api/v1" if base else HUB
    try:
        return json.loads(_download(f"{url}/{name}.json", where))
    except json.JSONDecodeError:
        raise UserError(f"The dbt hub's answer for `{name}` is not JSON.", where=where) from None


def spec_hash(entries: list[Any]) -> str:
    """dbt's ``sha1_hash`` of the ``packages:`` entries: each as dbt's package contract serialises it
    (its fields with their defaults, plus the entry as written under ``unrendered``), sorted."""
    shown = []
    for entry in entries:
        data = dict(entry) if isinstance(entry, dict) else {"unknown": entry}
        contract = {k: v for k, v in data.items() if k in _CONTRACT_FIELDS}
        for kind, defaults in _CONTRACT_DEFAULTS.items():
            if kind in data:
                contract = {**defaults, **contract}
        shown.append(json.dumps({**contract, "unrendered": data}, sort_keys=True))
    return hashlib.sha1("\n".join(sorted(shown)).encode()).hexdigest()


#: The fields of dbt's package contracts.
_CONTRACT_FIELDS = {"local", "tarball", "git", "private", "provider", "package", "version", "revision",
                    "warn-unpinned", "subdirectory", "install_prerelease", "name"}  # fmt: skip
#: Fields a contract always serialises, with their defaults.
_CONTRACT_DEFAULTS = {
    "git": {"revision": None, "warn-unpinned": None, "subdirectory": None},
    "private": {"provider": None, "revision": None, "warn-unpinned": None, "subdirectory": None},
    "package": {"install_prerelease": False},
}


def _pin(entry: dict[str, Any], name: str, folder: Path, root: Path) -> dict[str, Any]:
    """The lock entry of an installed local, git or tarball package: what dbt pins (the git revision
    asked for or HEAD) and its name."""
    if "local" in entry:
        return {"local": os.path.relpath(folder, root), "name": name}
    if "git" in entry:
        pin = {"git": entry["git"], "revision": entry.get("revision") or "HEAD"}
        return {
            **pin,
            **({"subdirectory": entry["subdirectory"]} if entry.get("subdirectory") else {}),
            "name": name,
        }
    return {"tarball": entry["tarball"], "name": name}


def _read_lock(root: Path) -> dict[str, Any] | None:
    if not (root / LOCK_FILE).is_file():
        return None
    data = read_yaml(root / LOCK_FILE, LOCK_FILE).data
    if not isinstance(data, dict) or not isinstance(data.get("packages") or [], list):
        raise ModelCompileError("package-lock.yml is not a package lock.", where=LOCK_FILE,
                                hint="Delete it; `meshkit deps` writes it again.")  # fmt: skip
    return data


def _write_lock(root: Path, pinned: list[dict[str, Any]], digest: str) -> None:
    # as dbt writes it: keys sorted, list items indented under their key
    (root / LOCK_FILE).write_text(
        yaml.dump({"packages": pinned, "sha1_hash": digest}, Dumper=_IndentedDumper)
    )


class _IndentedDumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False):
        return super().increase_indent(flow, False)


def _fetch(base: Path, entry: dict[str, Any], where: str, tmp: Path) -> Path:
    """A folder holding the local, git or tarball package of ``entry`` (downloaded into ``tmp``)."""
    if "local" in entry:
        return (base / str(entry["local"])).resolve()
    if "git" in entry:
        return _git(entry, where, tmp)
    if "tarball" in entry:
        return _untar(_download(str(entry["tarball"]), where), tmp, where)
    raise ModelCompileError(f"Cannot read the package entry `{entry}`.", where=where,
                            hint="Write `- local: path`, `- git: url` or `- package: org/name`.")  # fmt: skip


def _git(entry: dict[str, Any], where: str, tmp: Path) -> Path:
    url, revision = str(entry["git"]), entry.get("revision")
    checkout = tmp / "repo"
    clone = ["git", "clone", "--quiet", url, str(checkout)]
    result = subprocess.run(
        clone, capture_output=True, text=True, env={**os.environ, "GIT_TERMINAL_PROMPT": "0"}
    )
    if result.returncode == 0 and revision:
        result = subprocess.run(["git", "-C", str(checkout), "checkout", "--quiet", str(revision)],
                                capture_output=True, text=True)  # fmt: skip
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["git failed"])[-1]
        raise UserError(f"Cannot fetch the git package `{url}`{f' at {revision}' if revision else ''}: {reason}",
                        where=where, hint="meshkit deps needs the network for git packages; or copy the package "
                        "into dbt_packages/ yourself.")  # fmt: skip
    return checkout / str(entry.get("subdirectory") or "")


def _download(url: str, where: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.read()
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise UserError(f"Cannot download `{url}`: {getattr(exc, 'reason', exc)}.", where=where,
                        hint="meshkit deps needs the network for hub, git and tarball packages; or copy the "
                        "package into dbt_packages/ yourself.") from None  # fmt: skip


def _untar(data: bytes, tmp: Path, where: str) -> Path:
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as archive:
            archive.extractall(tmp / "pkg", filter="data")
    except (tarfile.TarError, OSError) as exc:
        raise UserError(f"The package archive cannot be read: {exc}.", where=where) from None
    top = [p for p in (tmp / "pkg").iterdir() if p.is_dir()]
    return top[0] if len(top) == 1 and not (tmp / "pkg" / "dbt_project.yml").exists() else tmp / "pkg"


def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _specifier(wanted: Any, where: str) -> SpecifierSet:
    """dbt's version ranges (``">=1.0.0"``, ``[">=0.9.0", "<1.0.0"]``, ``"1.1.1"``) as a specifier set."""
    parts = wanted if isinstance(wanted, list) else [wanted] if wanted else []
    text = ",".join(p if str(p)[:1] in "<>=!~" else f"=={p}" for p in map(str, parts))
    try:
        return SpecifierSet(text)
    except InvalidSpecifier:
        raise ModelCompileError(f"Cannot read the version range {wanted!r}.", where=where,
                                hint='Write e.g. version: [">=1.0.0", "<2.0.0"].') from None  # fmt: skip
