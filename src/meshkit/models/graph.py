"""The dependency graph: edges from ``ref``/``source`` (or, in plain-SQL models, from the tables the
SQL reads), cycle detection with the path, and dbt's node selection syntax.

Selectors: ``name``, ``+name``, ``name+``, ``2+name``, ``name+1``, ``@name``, ``tag:x``, ``path:dir``,
``fqn:a.b``, ``source:src.table``, ``resource_type:seed``, ``config.materialized:table``,
``state:modified``, ``selector:name`` (``selectors.yml``, whose ``default: true`` selector applies
when nothing is selected); a comma intersects, separate arguments unite. Tests follow the nodes
they test.
"""

from __future__ import annotations

import fnmatch
import re
from collections import defaultdict
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from meshkit.models.exceptions import ModelCompileError
from meshkit.models.properties import read_yaml
from meshkit.models.state import DbtManifest, Fingerprints

if TYPE_CHECKING:
    from meshkit.models.project import Project

_SELECTOR = re.compile(r"^(?P<at>@)?(?:(?P<up>\d*)\+)?(?P<body>.+?)(?:\+(?P<down>\d*))?$")


def link(project: Project) -> None:
    """Fill ``depends_on`` of every node, then check the graph has no cycle."""
    names = {
        n.relation.identifier.lower(): uid
        for uid, n in project.nodes.items()
        if n.relation and n.is_relational
    }
    names.update(
        {
            n.name.lower(): uid
            for uid, n in project.nodes.items()
            if n.resource_type != "test" and n.resource_type != "unit_test"
        }
    )
    for node in project.nodes.values():
        if (
            node.resource_type in ("test", "unit_test")
            and node.test is not None
            or node.resource_type == "unit_test"
        ):
            continue
        if node.resource_type == "seed":
            continue
        deps = [project.ref_uid(name, node, package) for package, name in node.refs]
        deps += [project.source_uid(s, t, node) for s, t in node.sources]
        if not node.refs and not node.sources and node.resource_type in ("model", "snapshot"):
            deps = _inferred(node, names)
        node.depends_on = list(dict.fromkeys(deps))
    for node in project.nodes.values():
        if node.resource_type == "unit_test":
            node.depends_on = list(project.nodes[node.unit["model_uid"]].depends_on)
    check_cycles(project)


def _inferred(node, names: dict[str, str]) -> list[str]:
    """Dependencies of a plain-SQL model: the tables it reads that are nodes of the project."""
    import sqlglot  # loaded only for a project with plain-SQL models
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(node.rendered, read="duckdb")
    except sqlglot.errors.ParseError as exc:
        err = exc.errors[0] if exc.errors else {}
        raise ModelCompileError(f"SQL syntax error: {err.get('description', exc)}.",
                                where=f"{node.original_file_path}:{err.get('line', 1) + node.line_offset}",
                                hint="Fix the SQL (DuckDB dialect).") from None  # fmt: skip
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    out = []
    for table in tree.find_all(exp.Table):
        key = table.name.lower()
        if key in names and key not in ctes and names[key] != node.unique_id:
            out.append(names[key])
    return out


def check_cycles(project: Project) -> None:
    """Raise a ModelCompileError naming the cycle, e.g. ``a -> b -> a``."""
    white, grey, black = 0, 1, 2
    color = dict.fromkeys(project.nodes, white)
    for start in project.nodes:
        if color[start] != white:
            continue
        stack = [(start, iter(project.nodes[start].depends_on))]
        path = [start]
        color[start] = grey
        while stack:
            uid, it = stack[-1]
            nxt = next((d for d in it if d in project.nodes), None)
            if nxt is None:
                color[uid] = black
                stack.pop()
                path.pop()
            elif color[nxt] == grey:
                cycle = path[path.index(nxt) :] + [nxt]
                node = project.nodes[nxt]
                names = " -> ".join(project.nodes[u].name for u in reversed(cycle))
                raise ModelCompileError(f"Dependency cycle: {names}.", where=node.original_file_path,
                                        hint="Remove one of the refs so the models form a DAG.")  # fmt: skip
            elif color[nxt] == white:
                color[nxt] = grey
                path.append(nxt)
                stack.append((nxt, iter(project.nodes[nxt].depends_on)))


def children_map(project: Project) -> dict[str, list[str]]:
    children: dict[str, list[str]] = defaultdict(list)
    for uid, node in project.nodes.items():
        for dep in node.depends_on:
            children[dep].append(uid)
    return children


def topological(project: Project, selected: set[str]) -> list[str]:
    """``selected`` in an order where every node comes after its selected parents."""
    order, seen = [], set()
    for uid in sorted(selected):
        stack = [(uid, False)]
        while stack:
            current, done = stack.pop()
            if done:
                order.append(current)
                continue
            if current in seen:
                continue
            seen.add(current)
            stack.append((current, True))
            for dep in project.nodes[current].depends_on:
                if dep in selected and dep not in seen:
                    stack.append((dep, False))
    return order


# ---------------------------------------------------------------------------- selection


def select(project: Project, selectors: list[str] | tuple[str, ...] = (), exclude: list[str] | tuple[str, ...] = (),
           *, previous: Fingerprints | DbtManifest | None = None, resource_types: set[str] | None = None) -> set[str]:  # fmt: skip
    """Unique ids of the nodes ``selectors`` pick (all when empty), less ``exclude``, plus their tests.

    ``previous`` is the state ``state:modified`` and ``state:new`` compare with (``state.read_state``).
    """
    children = children_map(project)
    if not selectors and project.kind == "dbt":
        selectors = [d for d in [default_selector(project)] if d]
    if selectors:
        chosen: set[str] = set()
        for arg in selectors:
            for part in arg.split():
                chosen |= _intersect(project, part, children, previous)
    else:
        chosen = {
            uid
            for uid, n in project.nodes.items()
            if n.resource_type not in ("test", "unit_test") or not n.depends_on
        }
    for arg in exclude:
        for part in arg.split():
            chosen -= _intersect(project, part, children, previous)
    excluded = (
        set().union(*(_intersect(project, p, children, previous) for a in exclude for p in a.split()))
        if exclude
        else set()
    )
    for uid, node in project.nodes.items():
        if node.resource_type == "test" and uid not in excluded and any(d in chosen for d in node.depends_on):
            chosen.add(uid)
        if node.resource_type == "unit_test" and uid not in excluded and node.unit["model_uid"] in chosen:
            chosen.add(uid)
    chosen = {u for u in chosen if u in project.nodes}
    if resource_types is not None:
        chosen = {u for u in chosen if project.nodes[u].resource_type in resource_types}
    return chosen


def _intersect(project, part: str, children, previous) -> set[str]:
    sets = [_one(project, p, children, previous) for p in part.split(",") if p]
    return set.intersection(*sets) if sets else set()


def _one(project: Project, text: str, children, previous) -> set[str]:
    match = _SELECTOR.match(text)
    if not match:
        raise ModelCompileError(
            f"Cannot read the selector `{text}`.",
            hint="Write e.g. `+orders`, `tag:daily` or `path:models/staging`.",
        )
    body = match.group("body")
    base = _method(project, body, previous)
    result = set(base)
    if match.group("up") is not None or match.group("at"):
        result |= _walk(base, lambda u: _parents(project, u), _depth(match.group("up")))
    if match.group("down") is not None or match.group("at"):
        down = _walk(base, lambda u: children.get(u, []), _depth(match.group("down")))
        result |= down
        if match.group("at"):
            for uid in down:
                result |= _walk({uid}, lambda u: _parents(project, u), None)
    return result


def _parents(project: Project, uid: str) -> list[str]:
    node = project.nodes.get(uid)
    return node.depends_on if node is not None else []


def _depth(text: str | None) -> int | None:
    return int(text) if text else None


def _walk(start: set[str], step, depth: int | None) -> set[str]:
    seen, frontier, level = set(), set(start), 0
    while frontier and (depth is None or level < depth):
        frontier = {n for u in frontier for n in step(u)} - seen
        seen |= frontier
        level += 1
    return seen


def _method(project: Project, body: str, previous) -> set[str]:
    method, sep, value = body.partition(":")
    nodes = project.nodes
    if not sep:
        return _by_name(project, body)
    if method == "tag":
        return {
            u for u, n in nodes.items() if any(fnmatch.fnmatch(t, value) for t in n.config.get("tags", []))
        }
    if method == "path":
        want = PurePosixPath(value.rstrip("/"))
        return {u for u, n in nodes.items() if n.test is None and n.unit is None and
                (PurePosixPath(n.original_file_path) == want or want in PurePosixPath(n.original_file_path).parents
                 or fnmatch.fnmatch(n.original_file_path, value))}  # fmt: skip
    if method == "fqn":
        parts = value.split(".")
        return {u for u, n in nodes.items() if _prefix(parts, n.fqn) or _prefix(parts, n.fqn[1:])}
    if method == "package":
        # every unique id is resource.package.name...
        value = project.name if value == "this" else value
        return {u for u in [*nodes, *project.sources] if fnmatch.fnmatch(u.split(".")[1], value)}
    if method == "resource_type":
        return {u for u, n in nodes.items() if n.resource_type == value}
    if method == "source":
        return {
            u
            for u in project.sources
            if fnmatch.fnmatch(u.split(".", 2)[2], value) or u.split(".")[2] == value
        }
    if method.startswith("config."):
        key = method[len("config.") :]
        return {u for u, n in nodes.items() if str(n.config.get(key)).lower() == value.lower()}
    if method == "selector":
        return _yaml_selector(project, value, previous)
    if method == "state":
        if value not in ("modified", "new"):
            raise ModelCompileError(
                f"`state:{value}` is not supported.", hint="Use state:modified or state:new."
            )
        state = previous if previous is not None else Fingerprints({})  # no state: everything is new
        return state.new(project) if value == "new" else state.modified(project)
    raise ModelCompileError(f"Unknown selector method `{method}`.",
                            hint="Use tag:, path:, fqn:, package:, source:, resource_type:, config.KEY:, selector: or state:.")  # fmt: skip


def yaml_selectors(project: Project) -> dict[str, dict[str, Any]]:
    """The selectors of ``selectors.yml`` by name (``{}`` without the file)."""
    path = project.root / "selectors.yml"
    if not path.is_file():
        return {}
    data = read_yaml(path, "selectors.yml").data
    entries = (data or {}).get("selectors") or []
    return {e["name"]: e for e in entries if isinstance(e, dict) and "name" in e}


def default_selector(project: Project) -> str | None:
    """The selector of ``selectors.yml`` marked ``default: true``, used when nothing is selected."""
    return next(
        (f"selector:{n}" for n, e in yaml_selectors(project).items() if e.get("default") is True), None
    )


def _yaml_selector(project: Project, name: str, previous, seen: frozenset[str] = frozenset()) -> set[str]:
    selectors = yaml_selectors(project)
    if name not in selectors:
        raise ModelCompileError(f"No selector named `{name}` in selectors.yml.",
                                hint=f"Known: {', '.join(sorted(selectors)) or 'none'}.")  # fmt: skip
    if name in seen:
        raise ModelCompileError(f"Selector `{name}` refers to itself.", where="selectors.yml")
    children = children_map(project)

    def resolve(definition: Any) -> set[str]:
        if isinstance(definition, str):
            return set().union(*(_intersect(project, p, children, previous) for p in definition.split()))
        if not isinstance(definition, dict):
            raise ModelCompileError(
                f"Cannot read the selector definition `{definition}`.", where="selectors.yml"
            )
        if "union" in definition or "intersection" in definition:
            key = "union" if "union" in definition else "intersection"
            parts = [d for d in definition[key] if not (isinstance(d, dict) and "exclude" in d)]
            sets = [resolve(d) for d in parts]
            out = set().union(*sets) if key == "union" else set.intersection(*sets) if sets else set()
            for d in definition[key]:
                if isinstance(d, dict) and "exclude" in d:
                    out -= set().union(*(resolve(e) for e in d["exclude"]))
            return out
        method, value = definition.get("method"), definition.get("value")
        if method is None:
            raise ModelCompileError(f"A selector definition needs `method:` and `value:` ({definition}).",
                                    where="selectors.yml")  # fmt: skip
        if method == "selector":
            base = _yaml_selector(project, str(value), previous, seen | {name})
        else:
            text = str(value) if method in ("fqn", "name") else f"{method}:{value}"
            if definition.get("childrens_parents"):
                text = "@" + text
            if definition.get("parents"):
                text = f"{definition.get('parents_depth', '')}+{text}"
            if definition.get("children"):
                text = f"{text}+{definition.get('children_depth', '')}"
            base = _one(project, text, children, previous)
        if "exclude" in definition:
            base -= set().union(*(resolve(e) for e in definition["exclude"]))
        return base

    return resolve(selectors[name].get("definition"))


def _prefix(parts: list[str], fqn: list[str]) -> bool:
    """dbt's fqn selection: ``marts`` picks every node under the ``marts`` folder."""
    return len(parts) <= len(fqn) and all(fnmatch.fnmatch(f, p) for p, f in zip(parts, fqn, strict=False))


def _by_name(project: Project, name: str) -> set[str]:
    out = {
        u
        for u, n in project.nodes.items()
        if n.test is None and n.unit is None and fnmatch.fnmatch(n.name, name)
    }
    out |= {u for u, n in project.nodes.items() if n.test is not None and n.name == name}
    parts = name.split(".")
    out |= {u for u, n in project.nodes.items() if n.test is None and n.unit is None
            and (_prefix(parts, n.fqn) or _prefix(parts, n.fqn[1:]))}  # fmt: skip
    if not out and any(ch in name for ch in "/\\") or name.endswith(".sql"):
        out = _method(project, f"path:{name}", None)
    return out
