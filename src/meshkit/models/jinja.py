"""Jinja rendering with dbt's context (the common subset), on one cached ``Environment`` per project.

The context functions (``ref``, ``source``, ``config``, ``this``, ``is_incremental`` ...) are
environment globals that dispatch to the node being rendered on the current thread, so project
macros are compiled once and templates are cached by their text. Templates made only of simple
``{{ ref('x') }}``/``{{ source('a', 'b') }}``/``{{ config(...) }}`` expressions skip Jinja.
Errors name the file and the template line.
"""

from __future__ import annotations

import ast
import datetime
import hashlib
import itertools
import json
import os
import re
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jinja2
import yaml
from markupsafe import Markup

from meshkit.models.adapter import Adapter, Api, Execute, load_result, run_query, statement
from meshkit.models.context import RenderError, RenderState, Return, _state, current, rendering
from meshkit.models.exceptions import ModelCompileError, UnsupportedFeatureError

__all__ = ["Renderer", "RenderState", "rendering"]

BUILTIN_MACROS = Path(__file__).with_name("builtin_macros.sql")
#: The package of the macros dbt ships (``dbt.type_string()``, ``dbt.dateadd(...)``).
GLOBAL_PACKAGE = "dbt"
_MISSING = object()


# ---------------------------------------------------------------------------- context objects


class _ConfigFn:
    """``config(...)`` records the in-file config; ``config.get``/``config.require`` read it."""

    def __call__(self, *args, **kwargs) -> str:
        if args and isinstance(args[0], dict):
            kwargs = {**args[0], **kwargs}
        current().config.update(kwargs)
        return ""

    def get(self, key: str, default: Any = None) -> Any:
        state = current()
        return state.config.get(key, (state.node.config or {}).get(key, default))

    def require(self, key: str) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise RenderError(f"Config `{key}` is required here.", hint=f"Set `{key}` in the model's config.")
        return value


class _NodeProxy:
    """``this``/``model``: attributes of the node being rendered."""

    def __init__(self, attr: str):
        self._attr = attr

    def _target(self):
        return getattr(current().node, self._attr)

    def __getattr__(self, name: str):
        return getattr(self._target(), name)

    def __getitem__(self, key):
        return self._target()[key]

    def __str__(self) -> str:
        return str(self._target())

    def __html__(self) -> str:
        return str(self)


class _Exceptions:
    @staticmethod
    def raise_compiler_error(message: str):
        raise RenderError(str(message))

    @staticmethod
    def warn(message: str) -> str:
        return ""

    def __getattr__(self, name: str):
        raise RenderError(f"`exceptions.{name}` is not supported by meshkit.", unsupported=True)


class Namespace:
    """A dotted namespace (``modules``, ``dbt``, ``target``, ``flags``, ``graph``, packages)."""

    def __init__(self, **items):
        self.__dict__.update(items)

    def __getitem__(self, key):
        return self.__dict__[key]


def _fromjson(text: str, default: Any = None) -> Any:
    try:
        return json.loads(text)
    except (TypeError, ValueError):
        return default


def _tojson(value: Any, default: Any = None, sort_keys: bool = False) -> Any:
    try:
        return json.dumps(value, sort_keys=sort_keys)
    except (TypeError, ValueError):
        return default


def _fromyaml(text: str, default: Any = None) -> Any:
    try:
        return yaml.safe_load(text)
    except (AttributeError, ValueError, yaml.YAMLError):
        return default


def _toyaml(value: Any, default: Any = None, sort_keys: bool = False) -> Any:
    try:
        return yaml.safe_dump(value, sort_keys=sort_keys)
    except (ValueError, yaml.YAMLError):
        return default


def _try_or_compiler_error(message: str, func: Callable, *args, **kwargs) -> Any:
    try:
        return func(*args, **kwargs)
    except Exception:
        raise RenderError(str(message)) from None


def _pytz():
    try:
        import pytz
    except ImportError:
        return None
    return pytz


def _return(value: Any = None):
    raise Return(value)


def _ref(*args, version=None, v=None) -> Any:
    state = current()
    if not args or len(args) > 2:
        raise RenderError("`ref` takes a model name, optionally after a package name.")
    name, package = args[-1], (args[0] if len(args) == 2 else None)
    state.refs.append((package, name))
    return state.resolve_ref(name, state.node, package)


def _source(source_name: str, table_name: str) -> Any:
    state = current()
    state.sources.append((source_name, table_name))
    return state.resolve_source(source_name, table_name, state.node)


def _is_incremental() -> bool:
    state = current()
    state.macros["macro.dbt.is_incremental"] = None  # dbt's own macro, which this stands for
    return state.is_incremental


# ---------------------------------------------------------------------------- environment

_SIMPLE = re.compile(r"\{\{(.*?)\}\}", re.S)
_SIMPLE_CALL = re.compile(
    r"""^\s*(ref|source|var)\(\s*(['"])([^'"]*)\2\s*(?:,\s*(['"])([^'"]*)\4\s*)?\)\s*$"""
)
_CONFIG_CALL = re.compile(r"^\s*config\((.*)\)\s*$", re.S)
_JINJA_LITERALS = {"true": True, "false": False, "none": None, "True": True, "False": False, "None": None}
_LOOKS_LIKE_CALL = re.compile(r"^\s*(env_var|ref|var|source|doc)\s*\(.+\)\s*$", re.S)
_SINGLE_EXPRESSION = re.compile(r"^\s*\{\{(?!.*\{\{)(.*)\}\}\s*$", re.S)
_BLOCK_TAGS = re.compile(r"\{%(-?)\s*(test|endtest|docs|enddocs|materialization)\b([^%]*?)\s*(-?)%\}")


class Renderer:
    """Renders project files; one per project, shared by all threads.

    Macros are grouped by package. Unqualified names resolve as in dbt for a node of the root
    project: the root project's macros, then dbt's own; a package's macros are reached as
    ``package.macro`` and through ``adapter.dispatch``, which searches ``duckdb__name`` then
    ``default__name`` in each package of the namespace's search order (``dispatch:`` in
    dbt_project.yml, else the root project then the namespace).
    """

    def __init__(self, *, vars: dict[str, Any], target: dict[str, Any], project_name: str,
                 macro_files: list[tuple[str, str, str]] = (), dispatch: list[dict[str, Any]] = (),
                 flags: dict[str, Any] | None = None):  # fmt: skip
        self.vars = dict(vars)
        #: ``(package, path, text)`` of the project's and its packages' macro files.
        self.macro_files = list(macro_files)
        #: A package's own variables (dbt's package-scoped ``vars``), for its nodes.
        self.package_vars: dict[str, dict[str, Any]] = {}
        self.project_name = project_name
        self.env = jinja2.Environment(
            extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
            undefined=jinja2.Undefined,  # as dbt: an unset name renders empty; calling one is an error
            autoescape=False,
        )
        self.env.filters["as_bool"] = lambda v: str(v).lower() == "true" if isinstance(v, str) else bool(v)
        self.env.filters["as_number"] = lambda v: float(v) if "." in str(v) else int(v)
        self.env.filters["as_text"] = str
        self.env.filters["as_native"] = lambda v: v
        self.env.tests["is_list"] = lambda v: isinstance(v, list | tuple)
        self.env.dbt_macro = _DbtMacro
        self._templates: dict[str, jinja2.Template] = {}
        self._lock = threading.Lock()
        #: package -> macro name -> callable; and the unqualified namespace of the root project.
        self.packages: dict[str, dict[str, Callable]] = {}
        self.macros: dict[str, Callable] = {}
        self.search_orders = {d["macro_namespace"]: list(d["search_order"]) for d in dispatch or ()
                              if isinstance(d, dict) and "macro_namespace" in d}  # fmt: skip
        self.env.globals.update(self._globals(target, project_name, flags or {}))
        self._load_macros(
            [(GLOBAL_PACKAGE, str(BUILTIN_MACROS.name), BUILTIN_MACROS.read_text()), *macro_files]
        )

    def _globals(self, target: dict[str, Any], project_name: str, flags: dict[str, Any]) -> dict[str, Any]:
        now = datetime.datetime.now(datetime.UTC)
        flags = {"FULL_REFRESH": False, "STORE_FAILURES": False, "WHICH": "build", **flags}
        return {
            "ref": _ref, "source": _source, "config": _ConfigFn(), "var": self._var, "env_var": self._env_var,
            "is_incremental": _is_incremental, "this": _NodeProxy("relation"), "model": _NodeProxy("context_model"),
            "adapter": Adapter(self.dispatch), "api": Api(), "exceptions": _Exceptions(), "return": _return,
            "log": lambda *a, **k: "", "print": lambda *a, **k: "", "target": Namespace(**target),
            "project_name": project_name, "execute": Execute(), "run_query": run_query, "statement": statement,
            "load_result": load_result, "graph": Namespace(nodes={}, sources={}, exposures={}, metrics={}),
            "modules": Namespace(datetime=datetime, re=re, itertools=itertools, pytz=_pytz()),
            "fromjson": _fromjson, "tojson": _tojson, "fromyaml": _fromyaml, "toyaml": _toyaml,
            "local_md5": lambda s: hashlib.md5(str(s).encode()).hexdigest(), "zip": zip, "set": set,
            "try_or_compiler_error": _try_or_compiler_error, "run_started_at": now, "invocation_id": "",
            "dbt_version": "1.10.0", "flags": Namespace(**flags), "selected_resources": [],
            "builtins": Namespace(ref=_ref, source=_source, config=_ConfigFn()),
        }  # fmt: skip

    def _var(self, name: str, default: Any = _MISSING) -> Any:
        state = getattr(_state, "current", None)
        package = getattr(state.node, "package_name", None) if state is not None else None
        vars = self.package_vars.get(package, self.vars) if package != self.project_name else self.vars
        if name in vars:
            return vars[name]
        if default is _MISSING:
            raise RenderError(
                f"Variable `{name}` is not defined.", hint="Set it in `vars:` of the project or with --vars."
            )
        return default

    @staticmethod
    def _env_var(name: str, default: Any = _MISSING) -> Any:
        if name in os.environ:
            return os.environ[name]
        if default is _MISSING:
            raise RenderError(
                f"Environment variable `{name}` is not set and has no default.", hint=f"export {name}=..."
            )
        return default

    # ------------------------------------------------------------------ macros

    def _load_macros(self, files: list[tuple[str, str, str]]) -> None:
        for package, path, text in files:
            template = self._compile(preprocess_macros(text, path), path)
            # A context on the live globals, so macros see every macro and package loaded after them;
            # its vars hold private (``_name``) macros too, which a template module leaves out.
            context = template.new_context(self.env.globals, shared=True)
            try:
                for _ in template.root_render_func(context):
                    pass
            except jinja2.TemplateError as exc:
                raise _compile_error(exc, path) from None
            macros = self.packages.setdefault(package, {})
            for name, macro in context.vars.items():
                if isinstance(macro, jinja2.runtime.Macro):
                    macro.dbt_package = package
                    macros[name] = _wrap_macro(macro, path)
        self.macros = {**self.packages[GLOBAL_PACKAGE], **self.packages.get(self.project_name, {})}
        self.env.globals.update(self.macros)
        for package, macros in self.packages.items():
            self.env.globals[package] = Namespace(**macros)

    def find_macro(self, name: str, package: str | None = None) -> Callable | None:
        """``name`` in ``package``; unqualified: the root project, dbt's own, then any package."""
        if package is not None:
            return self.packages.get(package, {}).get(name)
        found = self.macros.get(name)
        if found is None:
            found = next((m[name] for m in self.packages.values() if name in m), None)
        return found

    def dispatch(self, macro_name: str, macro_namespace: str | None = None) -> Callable:
        """dbt's ``adapter.dispatch``: the first ``duckdb__``/``default__`` implementation in search order."""
        if macro_namespace is None:
            search: list[str | None] = [None]
        else:
            search = self.search_orders.get(macro_namespace) or (
                [self.project_name, macro_namespace] if macro_namespace in self.packages else [None]
            )
        attempts = []
        for package in search:
            for prefix in ("duckdb", "default"):
                name = f"{prefix}__{macro_name}"
                found = self.macros.get(name) if package is None else self.packages.get(package, {}).get(name)
                attempts.append(name if package is None else f"{package}.{name}")
                if found is not None:
                    return found
        raise RenderError(f"No macro named `{macro_name}` for dispatch in namespace `{macro_namespace}`; "
                          f"searched {', '.join(attempts)}.",
                          hint="Define one of them, or install the package that does (meshkit deps).")  # fmt: skip

    # ------------------------------------------------------------------ templates

    def _compile(self, text: str, path: str) -> jinja2.Template:
        key = path + "\0" + text
        template = self._templates.get(key)
        if template is None:
            try:
                source = self.env.compile(text, name=path, filename=path, raw=True)
            except jinja2.TemplateSyntaxError as exc:
                raise _compile_error(exc, path) from None
            # Macros are dbt macros: ``return(...)`` ends the macro it is in, even for calls within one file.
            code = compile(
                source.replace("Macro(environment, ", "environment.dbt_macro(environment, "), path, "exec"
            )
            template = self.env.template_class.from_code(self.env, code, self.env.globals, None)
            with self._lock:
                self._templates[key] = template
        return template

    def render(self, text: str, path: str, state: RenderState, context: dict[str, Any] | None = None) -> str:
        """Render ``text`` (from ``path``) for ``state.node``; fills ``state`` with config, refs, sources.

        ``context`` adds names for this render only (``results`` of ``on-run-end``).
        """
        with rendering(state):
            fast = None if context else self._render_simple(text, path)
            if fast is not None:
                return fast
            template = self._compile(text, path)
            try:
                return template.render(context or {})
            except Return as ret:
                return str(ret.value)
            except ModelCompileError:
                raise
            except Exception as exc:  # any failure inside the project's Jinja is the project's error
                raise _compile_error(exc, path) from None

    def call_macro(self, macro: Callable, state: RenderState, *args: Any, **kwargs: Any) -> Any:
        """Call ``macro`` for ``state.node``; errors name the macro's file and line."""
        path = getattr(macro, "path", "macros")
        with rendering(state):
            try:
                return macro(*args, **kwargs)
            except ModelCompileError:
                raise
            except Exception as exc:
                raise _compile_error(exc, path) from None

    def native(self, value: Any, path: str, state: RenderState) -> Any:
        """A test argument as dbt renders it: ``ref('x')`` is a relation, ``{{ ... }}`` is evaluated."""
        if isinstance(value, dict):
            return {k: self.native(v, path, state) for k, v in value.items()}
        if isinstance(value, list):
            return [self.native(v, path, state) for v in value]
        if not isinstance(value, str):
            return value
        if _LOOKS_LIKE_CALL.match(value):
            value = "{{ " + value + " }}"
        if "{" not in value:
            return value
        with rendering(state):
            try:
                single = _SINGLE_EXPRESSION.match(value)
                if single:
                    return self.env.compile_expression(single.group(1), undefined_to_none=False)()
                text = self._compile(value, path).render()
            except Exception as exc:
                raise _compile_error(exc, path) from None
        try:
            return ast.literal_eval(text)
        except (ValueError, SyntaxError):
            return text

    def render_string(
        self, text: str, path: str, state: RenderState, context: dict[str, Any] | None = None
    ) -> str:
        """Render a config string such as a hook (``{{ this }}``)."""
        return self.render(text, path, state, context) if "{" in text else text

    def _render_simple(self, text: str, path: str) -> str | None:
        if "{%" in text or "{#" in text:
            return None
        parts, pos = [], 0
        for match in _SIMPLE.finditer(text):
            value = self._simple_value(match.group(1))
            if value is _MISSING:
                return None
            parts.append(text[pos : match.start()])
            try:
                parts.append(value())
            except RenderError as exc:
                raise _error(exc, path, text.count("\n", 0, match.start()) + 1) from None
            pos = match.end()
        parts.append(text[pos:])
        return "".join(str(p) for p in parts)

    def _simple_value(self, expr: str):
        call = _SIMPLE_CALL.match(expr)
        if call:
            fn, a, b = call.group(1), call.group(3), call.group(5)
            if fn == "var":
                return _MISSING if b is not None else (lambda: self._var(a))
            if fn == "ref":
                return (lambda: _ref(a)) if b is None else (lambda: _ref(a, b))
            return _MISSING if b is None else (lambda: _source(a, b))
        if expr.strip() == "this":
            return lambda: str(current().node.relation)
        config = _CONFIG_CALL.match(expr)
        if config:
            kwargs = _literal_kwargs(config.group(1))
            if kwargs is None:
                return _MISSING
            return lambda: _ConfigFn()(**kwargs)
        return _MISSING


def _literal_kwargs(text: str) -> dict[str, Any] | None:
    """Keyword arguments of literal values (Jinja's ``true``/``none`` included), or ``None``."""
    try:
        call = ast.parse(f"f({text})", mode="eval").body
    except SyntaxError:
        return None
    if not isinstance(call, ast.Call) or call.args:
        return None
    out = {}
    for kw in call.keywords:
        if kw.arg is None:
            return None
        try:
            out[kw.arg] = _literal(kw.value)
        except ValueError:
            return None
    return out


def _literal(node: ast.AST) -> Any:
    if isinstance(node, ast.Name) and node.id in _JINJA_LITERALS:
        return _JINJA_LITERALS[node.id]
    if isinstance(node, ast.List | ast.Tuple):
        return [_literal(n) for n in node.elts]
    if isinstance(node, ast.Dict):
        return {_literal(k): _literal(v) for k, v in zip(node.keys, node.values, strict=True)}
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_literal(node.operand)
    if isinstance(node, ast.Constant):
        return node.value
    raise ValueError("not a literal")


class _DbtMacro(jinja2.runtime.Macro):
    """A macro whose ``{{ return(value) }}`` gives ``value`` to its caller, as in dbt."""

    dbt_package = ""

    def _invoke(self, arguments, autoescape):
        state = getattr(_state, "current", None)
        overrides = getattr(state, "macro_overrides", None)
        if state is not None:
            state.macros[f"macro.{self.dbt_package}.{self.name}"] = None
        if overrides:
            for key in (f"{self.dbt_package}.{self.name}", self.name):
                if key in overrides:
                    return overrides[key]
        try:
            return super()._invoke(arguments, autoescape)
        except Return as ret:
            return ret.value


def _wrap_macro(macro: jinja2.runtime.Macro, path: str) -> Callable:
    def call(*args, **kwargs):
        value = macro(*args, **kwargs)
        return Markup(value) if type(value) is str else value

    call.__name__ = macro.name
    call.path = path
    return call


def preprocess_macros(text: str, path: str) -> str:
    """dbt's block tags as plain Jinja: ``{% test x(...) %}`` becomes ``{% macro test_x(...) %}``; docs vanish."""

    def repl(match: re.Match) -> str:
        left, tag, rest, right = match.group(1), match.group(2), match.group(3).strip(), match.group(4)
        if tag == "test":
            return "{%" + left + " macro test_" + rest + " " + right + "%}"
        if tag == "endtest":
            return "{%" + left + " endmacro " + right + "%}"
        if tag == "materialization":
            line = text.count("\n", 0, match.start()) + 1
            raise UnsupportedFeatureError("Custom materializations are not supported by meshkit.", where=f"{path}:{line}",
                                          hint="Use view, table, incremental, ephemeral, seeds or snapshots.")  # fmt: skip
        return match.group(0)

    text = _BLOCK_TAGS.sub(repl, text)
    return re.sub(
        r"\{%-?\s*docs\b.*?\{%-?\s*enddocs\s*-?%\}", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S
    )


def _error(exc: RenderError, path: str, line: int | None) -> ModelCompileError:
    where = f"{path}:{line}" if line else path
    cls = UnsupportedFeatureError if exc.unsupported else ModelCompileError
    return cls(exc.message, where=where, hint=exc.hint)


def _compile_error(exc: BaseException, path: str) -> ModelCompileError:
    """A ModelCompileError naming ``path`` and the template line the error came from."""
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return ModelCompileError(f"Jinja syntax error: {exc.message}.", where=f"{exc.filename or path}:{exc.lineno}",
                                 hint="Fix the template syntax.")  # fmt: skip
    line, where_path = None, path
    tb = exc.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        template = tb.tb_frame.f_globals.get("__jinja_template__")
        if template is not None:
            line, where_path = template.get_corresponding_lineno(tb.tb_lineno), filename
        elif not filename.endswith(".py") and filename != "<template>":
            line, where_path = tb.tb_lineno, filename
        tb = tb.tb_next
    if isinstance(exc, RenderError):
        return _error(exc, where_path, line)
    message = exc.message if isinstance(exc, jinja2.TemplateError) and exc.message else str(exc)
    hint = (
        "Define it, or check the spelling." if isinstance(exc, jinja2.UndefinedError) else "Fix the template."
    )
    return ModelCompileError(
        f"Jinja error: {message}.", where=f"{where_path}:{line}" if line else where_path, hint=hint
    )
