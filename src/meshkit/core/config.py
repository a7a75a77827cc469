"""Layered configuration with provenance.

Plugins declare keys through the ``configure`` hook. Values are resolved, highest first, from:
command-line overrides > environment (``MESHKIT_<KEY>``, then VDK's ``VDK_<KEY>``) > job config
(``config.ini``) > workspace ``meshkit.toml`` ``[config]`` > the declared default. A key may have
aliases, VDK's names of the same setting (``duckdb_database`` for ``duckdb_file``): they are read
from ``config.ini`` and from the environment as ``VDK_<ALIAS>`` or ``<ALIAS>``, as VDK reads them.
Keys declared ``bare_env`` (the settings of VDK's plugins) are read as ``<KEY>`` too.
``Config.explain()`` tells each effective value and where it came from.

A key declared ``secret`` may hold a reference (``env:VAR``, ``secret:NAME``, ``{vaultPath = ...}``):
``Config.get`` resolves it in memory, through the resolver it was given, every time it is read.
"""

from __future__ import annotations

import difflib
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from meshkit.core.errors import ConfigError
from meshkit.core.references import is_reference, resolve

SECRET_MASK = "********"
#: Secret keys being resolved by this thread: reading one again while resolving it is a cycle.
_resolving = threading.local()


def to_bool(value: Any) -> bool:
    """``true``/``yes``/``on``/``1`` (any case) or ``false``/``no``/``off``/``0``/empty, as a bool."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on", "y"):
        return True
    if text in ("0", "false", "no", "off", "n", ""):
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _to_list(value: Any) -> list[str]:
    """A TOML array, or a comma-separated string (as given in an environment variable)."""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return [text for item in items if (text := str(item).strip())]


def format_number(value: float) -> str:
    """``value`` for a message: whole numbers with thousands separators."""
    return f"{int(value):,}" if value == int(value) else str(value)


_CONVERTERS: dict[type, Callable[[Any], Any]] = {
    bool: to_bool,
    int: int,
    float: float,
    str: str,
    list: _to_list,
}


def convert(value: Any, type: type, bounds: tuple[float, float] | None, what: str, meaning: str = "") -> Any:
    """``value`` as ``type``, within ``bounds`` if given; else a ConfigError saying what ``what`` must be."""
    if not isinstance(value, type) or (isinstance(value, bool) and type is not bool):
        try:
            value = _CONVERTERS.get(type, type)(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{what} must be {type.__name__}: {exc}.", hint="Fix the value.") from None
    if bounds and not bounds[0] <= value <= bounds[1]:
        low, high = (format_number(b) for b in bounds)
        raise ConfigError(f"{what} must be between {low} and {high}, not {format_number(value)}.",
                          hint=f"Set a value in that range{': ' + meaning if meaning else '.'}")  # fmt: skip
    return value


@dataclass(frozen=True)
class ConfigKey:
    """A declared configuration key."""

    key: str
    default: Any
    description: str
    type: type = str
    #: Secret values are masked by ``Config.explain`` and registered for redaction.
    secret: bool = False
    #: Other names of the key (VDK's).
    aliases: tuple[str, ...] = ()
    #: Also read ``<KEY>`` from the environment, without a prefix (as VDK reads its plugins' settings).
    bare_env: bool = False
    #: Smallest and largest value accepted (numbers only), so a typo fails when it is read, not later.
    bounds: tuple[float, float] | None = None


class ConfigBuilder:
    """Collects the keys plugins declare in the ``configure`` hook."""

    def __init__(self) -> None:
        self.keys: dict[str, ConfigKey] = {}

    def add(self, key: str, default: Any = None, description: str = "", type: type = str, secret: bool = False,
            aliases: tuple[str, ...] = (), bare_env: bool = False,
            bounds: tuple[float, float] | None = None) -> None:  # fmt: skip
        """Declare ``key`` with its default, a one-line description, its value type, other names and,
        for numbers, its bounds."""
        key = key.lower()
        if key in self.keys:
            raise ConfigError(f"Config key `{key}` is declared twice.", hint="Rename one of the keys.")
        self.keys[key] = ConfigKey(
            key, default, description, type, secret, tuple(a.lower() for a in aliases), bare_env, bounds
        )


@dataclass
class Layer:
    """One source of values: its name (shown to the user) and its values."""

    source: str
    values: Mapping[str, Any]


class Config:
    """Effective configuration: declared keys resolved over ordered layers.

    ``resolve`` turns a reference into its value (``Meshkit.resolve``: secrets backend and
    redaction); without it only ``env:`` references resolve.
    """

    def __init__(self, keys: Mapping[str, ConfigKey], layers: list[Layer], environ: Mapping[str, str] | None = None,
                 *, resolve: Callable[[Any], Any] = resolve):  # fmt: skip
        self.keys = dict(keys)
        self._environ = os.environ if environ is None else environ
        self._layers = list(layers)  # lowest precedence first, environment excluded
        self._names = {alias: spec.key for spec in self.keys.values() for alias in spec.aliases}
        self._names.update({key: key for key in self.keys})
        self._resolve = resolve
        for layer in self._layers:
            self._check_known(layer)
            for key, value in layer.values.items():
                self._convert(key.lower(), value, layer.source)

    def _check_known(self, layer: Layer) -> None:
        for key in layer.values:
            if key.lower() not in self.keys:
                close = difflib.get_close_matches(key.lower(), self.keys, n=1)
                hint = (
                    f"Did you mean `{close[0]}`?" if close else "Run `meshkit config` to list the known keys."
                )
                raise ConfigError(f"Unknown config key `{key}`.", where=layer.source, hint=hint)

    @property
    def names(self) -> dict[str, str]:
        """Every key and alias, mapped to its key."""
        return dict(self._names)

    def canonical(self, name: str) -> str | None:
        """The key that ``name`` (a key or an alias, any case) names, else ``None``."""
        return self._names.get(name.lower())

    def with_layer(self, layer: Layer, *, below_env: bool = True) -> Config:
        """A copy with ``layer`` added on top of the file layers (job config) or on top of all."""
        layers = list(self._layers)
        if below_env:
            overrides = [lay for lay in layers if lay.source == "command line"]
            layers = [lay for lay in layers if lay.source != "command line"] + [layer] + overrides
        else:
            layers.append(layer)
        return Config(self.keys, layers, self._environ, resolve=self._resolve)

    def _lookup(self, key: str) -> tuple[Any, str]:
        for layer in reversed(self._layers):
            if layer.source == "command line" and key in layer.values:
                return layer.values[key], layer.source
        spec = self.keys[key]
        bare = (key, *spec.aliases) if spec.bare_env else spec.aliases
        variables = [f"MESHKIT_{key.upper()}", f"VDK_{key.upper()}", *(f"VDK_{a.upper()}" for a in spec.aliases),
                     *(name.upper() for name in bare)]  # fmt: skip
        for var in variables:
            if var in self._environ:
                return self._environ[var], f"environment {var}"
        for layer in reversed(self._layers):
            if layer.source != "command line" and key in layer.values:
                return layer.values[key], layer.source
        return self.keys[key].default, "default"

    def get(self, key: str) -> Any:
        """The effective value of ``key``, converted to its declared type; a secret's reference resolved."""
        key = key.lower()
        if key not in self.keys:
            raise ConfigError(
                f"Unknown config key `{key}`.", hint="Declare it in a plugin's `configure` hook."
            )
        value, source = self._lookup(key)
        if self.keys[key].secret and is_reference(value):
            value = self._resolved(key, value, source)
        return self._convert(key, value, source)

    def _convert(self, key: str, value: Any, source: str) -> Any:
        """``value`` of ``key`` as its declared type, within its bounds; errors name ``source``.

        A secret's reference is left as it is: it is resolved when the key is read.
        """
        spec = self.keys[key]
        if value is None or (spec.secret and is_reference(value)):
            return value
        return convert(value, spec.type, spec.bounds, f"Config key `{key}` from {source}", spec.description)

    def _resolved(self, key: str, reference: Any, source: str) -> Any:
        active = _resolving.__dict__.setdefault("keys", set())
        if key in active:
            # NOTE: the secrets backend reads this key (secret_key, vault_token): caught and worded below.
            raise ConfigError(
                f"reading secrets needs `{key}` itself.", hint="Give it as an env:VAR reference instead."
            )
        active.add(key)
        try:
            return self._resolve(reference)
        except ConfigError as exc:
            raise ConfigError(f"Config key `{key}` from {source} cannot be resolved: {exc.message}",
                              hint=exc.hint) from None  # fmt: skip
        finally:
            active.discard(key)

    def __getitem__(self, key: str) -> Any:
        return self.get(key)

    def source(self, key: str) -> str:
        """Where the effective value of ``key`` comes from."""
        return self._lookup(key.lower())[1]

    def check_secrets(self) -> None:
        """Resolve every secret key that is set, so that a reference that cannot be is a ConfigError now."""
        for key, spec in self.keys.items():
            if spec.secret:
                self.get(key)

    def secret_values(self) -> list[str]:
        """The values written in clear for keys declared secret, for redaction.

        References are not resolved here: their values are registered for redaction when read.
        """
        raw = (self._lookup(k)[0] for k, spec in self.keys.items() if spec.secret)
        return [str(v) for v in raw if v and not is_reference(v)]

    def explain(self) -> list[tuple[str, Any, str, str]]:
        """``(key, value, source, description)`` for every key; secrets masked, references shown unresolved."""
        rows = []
        for key in sorted(self.keys):
            spec = self.keys[key]
            if spec.secret:
                value = self._lookup(key)[0]
                shown = value if is_reference(value) or not value else SECRET_MASK
            else:
                shown = self.get(key)
            rows.append((key, shown, self.source(key), spec.description))
        return rows


def parse_overrides(pairs: tuple[str, ...] | list[str]) -> dict[str, str]:
    """Parse ``key=value`` command-line pairs."""
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"`{pair}` is not of the form key=value.",
                hint="Write for example `-c db_default_type=sqlite`.",
            )
        out[key.strip().lower()] = value
    return out
