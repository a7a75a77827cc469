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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jinja2
import yaml
from markupsafe import Markup

from meshkit.models.exceptions import ModelCompileError, UnsupportedFeatureError

BUILTIN_MACROS = Path(__file__).with_name("builtin_macros.sql")
_MISSING = object()
_state = threading.local()


class _Return(Exception):
    """``{{ return(value) }}`` inside a macro."""

    def __init__(self, value):
        self.value = value


class _RenderError(Exception):
    """An error raised by a context function; turned into a ModelCompileError with the line."""

    def __init__(self, message: str, hint: str | None = None, unsupported: bool = False):
        super().__init__(message)
        self.message, self.hint, self.unsupported = message, hint, unsupported


@dataclass
class RenderState:
    """What rendering one node needs and what it found (config calls, refs, sources)."""

    node: Any
    resolve_ref: Callable[[str, Any], Any]
    resolve_source: Callable[[str, str, Any], Any]
    is_incremental: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    refs: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)


def _current() -> RenderState:
    state = getattr(_state, "current", None)
    if state is None:
        raise _RenderError("A dbt context function was called outside of a model.")
    return state


# ---------------------------------------------------------------------------- context objects


class _ConfigFn:
    """``config(...)`` records the in-file config; ``config.get``/``config.require`` read it."""

    def __call__(self, *args, **kwargs) -> str:
        if args and isinstance(args[0], dict):
            kwargs = {**args[0], **kwargs}
        _current().config.update(kwargs)
        return ""

    def get(self, key: str, default: Any = None) -> Any:
        state = _current()
        return state.config.get(key, (state.node.config or {}).get(key, default))

    def require(self, key: str) -> Any:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise _RenderError(
                f"Config `{key}` is required here.", hint=f"Set `{key}` in the model's config."
            )
        return value


class _NodeProxy:
    """``this``/``model``: attributes of the node being rendered."""

    def __init__(self, attr: str):
        self._attr = attr

    def _target(self):
        return getattr(_current().node, self._attr)

    def __getattr__(self, name: str):
        return getattr(self._target(), name)

    def __getitem__(self, key):
        return self._target()[key]

    def __str__(self) -> str:
        return str(self._target())

    def __html__(self) -> str:
        return str(self)


class _Adapter:
    """The parts of dbt's ``adapter`` that need no database; anything else is unsupported."""

    @staticmethod
    def quote(identifier: str) -> str:
        return '"' + str(identifier).replace('"', '""') + '"'

    @staticmethod
    def type() -> str:
        return "duckdb"

    def __getattr__(self, name: str):
        hint = "Write the SQL for DuckDB directly, or inline the macro in the project's macros/."
        raise _RenderError(f"`adapter.{name}` is not supported by meshkit.", hint=hint, unsupported=True)


class _Exceptions:
    @staticmethod
    def raise_compiler_error(message: str):
        raise _RenderError(str(message))

    @staticmethod
    def warn(message: str) -> str:
        return ""

    def __getattr__(self, name: str):
        raise _RenderError(f"`exceptions.{name}` is not supported by meshkit.", unsupported=True)


class _Namespace:
    """A dotted namespace of functions (``modules``, ``dbt``, ``target``, ``flags``)."""

    def __init__(self, **items):
        self.__dict__.update(items)

    def __getitem__(self, key):
        return self.__dict__[key]


def _unsupported(name: str) -> Callable:
    def fn(*args, **kwargs):
        raise _RenderError(f"`{name}` is not supported by meshkit (it needs the database while compiling).",
                           hint="Compute the value in SQL instead.", unsupported=True)  # fmt: skip

    return fn


def _return(value: Any = None):
    raise _Return(value)


def _ref(*args, version=None, v=None) -> Any:
    state = _current()
    if not args or len(args) > 2:
        raise _RenderError("`ref` takes a model name, optionally after a package name.")
    name = args[-1]
    if len(args) == 2 and args[0] != state.node.package_name:
        raise _RenderError(
            f"`ref('{args[0]}', '{name}')` names another package.",
            hint="Packages are not supported.",
            unsupported=True,
        )
    state.refs.append(name)
    return state.resolve_ref(name, state.node)


def _source(source_name: str, table_name: str) -> Any:
    state = _current()
    state.sources.append((source_name, table_name))
    return state.resolve_source(source_name, table_name, state.node)


def _is_incremental() -> bool:
    return _current().is_incremental


# ---------------------------------------------------------------------------- environment

_SIMPLE = re.compile(r"\{\{(.*?)\}\}", re.S)
_SIMPLE_CALL = re.compile(
    r"""^\s*(ref|source|var)\(\s*(['"])([^'"]*)\2\s*(?:,\s*(['"])([^'"]*)\4\s*)?\)\s*$"""
)
_CONFIG_CALL = re.compile(r"^\s*config\((.*)\)\s*$", re.S)
_JINJA_LITERALS = {"true": True, "false": False, "none": None, "True": True, "False": False, "None": None}
_BLOCK_TAGS = re.compile(r"\{%-?\s*(test|endtest|docs|enddocs|materialization)\b([^%]*)-?%\}")


class Renderer:
    """Renders project files; one per project, shared by all threads."""

    def __init__(self, *, vars: dict[str, Any], target: dict[str, Any], project_name: str,
                 macro_files: list[tuple[str, str]] = ()):  # fmt: skip
        self.vars = dict(vars)
        self.env = jinja2.Environment(
            extensions=["jinja2.ext.do", "jinja2.ext.loopcontrols"],
            undefined=jinja2.StrictUndefined,
            autoescape=False,
        )
        self.env.filters["as_bool"] = lambda v: str(v).lower() == "true" if isinstance(v, str) else bool(v)
        self.env.filters["as_number"] = lambda v: float(v) if "." in str(v) else int(v)
        self.env.filters["as_text"] = str
        self.env.filters["as_native"] = lambda v: v
        self.env.tests["is_list"] = lambda v: isinstance(v, list | tuple)
        self._templates: dict[str, jinja2.Template] = {}
        self._lock = threading.Lock()
        self.macros: dict[str, Callable] = {}
        self.env.globals.update(self._globals(target, project_name))
        self._load_macros([(str(BUILTIN_MACROS.name), BUILTIN_MACROS.read_text()), *macro_files])

    def _globals(self, target: dict[str, Any], project_name: str) -> dict[str, Any]:
        now = datetime.datetime.now(datetime.UTC)
        return {
            "ref": _ref, "source": _source, "config": _ConfigFn(), "var": self._var, "env_var": self._env_var,
            "is_incremental": _is_incremental, "this": _NodeProxy("relation"), "model": _NodeProxy("context_model"),
            "adapter": _Adapter(), "exceptions": _Exceptions(), "return": _return, "log": lambda *a, **k: "",
            "print": lambda *a, **k: "", "target": _Namespace(**target), "project_name": project_name,
            "execute": True, "run_query": _unsupported("run_query"), "statement": _unsupported("statement"),
            "load_result": _unsupported("load_result"), "graph": _Namespace(nodes={}, sources={}),
            "modules": _Namespace(datetime=datetime, re=re, itertools=itertools),
            "fromjson": json.loads, "tojson": json.dumps, "fromyaml": yaml.safe_load, "toyaml": yaml.safe_dump,
            "local_md5": lambda s: hashlib.md5(str(s).encode()).hexdigest(), "zip": zip, "set": set,
            "run_started_at": now, "invocation_id": "", "dbt_version": "1.10.0",
            "flags": _Namespace(FULL_REFRESH=False, STORE_FAILURES=False, WHICH="build"),
        }  # fmt: skip

    def _var(self, name: str, default: Any = _MISSING) -> Any:
        if name in self.vars:
            return self.vars[name]
        if default is _MISSING:
            raise _RenderError(
                f"Variable `{name}` is not defined.", hint="Set it in `vars:` of the project or with --vars."
            )
        return default

    @staticmethod
    def _env_var(name: str, default: Any = _MISSING) -> Any:
        if name in os.environ:
            return os.environ[name]
        if default is _MISSING:
            raise _RenderError(
                f"Environment variable `{name}` is not set and has no default.", hint=f"export {name}=..."
            )
        return default

    # ------------------------------------------------------------------ macros

    def _load_macros(self, files: list[tuple[str, str]]) -> None:
        for path, text in files:
            template = self._compile(preprocess_macros(text, path), path)
            try:
                module = template.make_module()
            except jinja2.TemplateError as exc:
                raise _compile_error(exc, path) from None
            for name in dir(module):
                macro = getattr(module, name)
                if isinstance(macro, jinja2.runtime.Macro):
                    self.macros[name] = _wrap_macro(macro)
        self.env.globals.update(self.macros)
        dbt_ns = {k: v for k, v in self.macros.items()}
        self.env.globals["dbt"] = _Namespace(**dbt_ns)

    # ------------------------------------------------------------------ templates

    def _compile(self, text: str, path: str) -> jinja2.Template:
        key = path + "\0" + text
        template = self._templates.get(key)
        if template is None:
            try:
                code = self.env.compile(text, name=path, filename=path)
            except jinja2.TemplateSyntaxError as exc:
                raise _compile_error(exc, path) from None
            template = self.env.template_class.from_code(self.env, code, self.env.globals, None)
            with self._lock:
                self._templates[key] = template
        return template

    def render(self, text: str, path: str, state: RenderState) -> str:
        """Render ``text`` (from ``path``) for ``state.node``; fills ``state`` with config, refs, sources."""
        previous = getattr(_state, "current", None)
        _state.current = state
        try:
            fast = self._render_simple(text, path)
            if fast is not None:
                return fast
            template = self._compile(text, path)
            try:
                return template.render()
            except _Return as ret:
                return str(ret.value)
            except ModelCompileError:
                raise
            except (
                _RenderError,
                jinja2.TemplateError,
                TypeError,
                ValueError,
                AttributeError,
                KeyError,
            ) as exc:
                raise _compile_error(exc, path) from None
        finally:
            _state.current = previous

    def render_string(self, text: str, path: str, state: RenderState) -> str:
        """Render a config string such as a hook (``{{ this }}``)."""
        return self.render(text, path, state) if "{" in text else text

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
            except _RenderError as exc:
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
            return lambda: str(_current().node.relation)
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


def _wrap_macro(macro: jinja2.runtime.Macro) -> Callable:
    def call(*args, **kwargs):
        try:
            return Markup(macro(*args, **kwargs))
        except _Return as ret:
            return ret.value

    call.__name__ = macro.name
    return call


def preprocess_macros(text: str, path: str) -> str:
    """dbt's block tags as plain Jinja: ``{% test x(...) %}`` becomes ``{% macro test_x(...) %}``; docs vanish."""

    def repl(match: re.Match) -> str:
        tag, rest = match.group(1), match.group(2).strip()
        if tag == "test":
            return "{% macro test_" + rest + " %}"
        if tag == "endtest":
            return "{% endmacro %}"
        if tag == "materialization":
            line = text.count("\n", 0, match.start()) + 1
            raise UnsupportedFeatureError("Custom materializations are not supported by meshkit.", where=f"{path}:{line}",
                                          hint="Use view, table, incremental, ephemeral, seeds or snapshots.")  # fmt: skip
        return match.group(0)

    text = _BLOCK_TAGS.sub(repl, text)
    return re.sub(
        r"\{%-?\s*docs\b.*?\{%-?\s*enddocs\s*-?%\}", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S
    )


def _error(exc: _RenderError, path: str, line: int | None) -> ModelCompileError:
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
        if not filename.endswith(".py") and filename != "<template>":
            line, where_path = tb.tb_lineno, filename
        tb = tb.tb_next
    if isinstance(exc, _RenderError):
        return _error(exc, where_path, line)
    message = exc.message if isinstance(exc, jinja2.TemplateError) and exc.message else str(exc)
    hint = (
        "Define it, or check the spelling." if isinstance(exc, jinja2.UndefinedError) else "Fix the template."
    )
    return ModelCompileError(
        f"Jinja error: {message}.", where=f"{where_path}:{line}" if line else where_path, hint=hint
    )
