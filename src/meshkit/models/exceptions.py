"""Errors of the models layer, each a subclass of a core error class (which sets the exit code)."""

from __future__ import annotations

from meshkit.core.errors import ConfigError, UserError


class ModelCompileError(ConfigError):
    """A project file cannot be loaded or rendered: bad YAML, Jinja error, undefined ref, cycle."""


class UnsupportedFeatureError(ModelCompileError):
    """The project uses a dbt construct meshkit does not run (``adapter.dispatch``, python models)."""


class ModelRunError(UserError):
    """A model's SQL failed in the database."""


class ContractError(UserError):
    """A model's columns do not match its enforced contract; the previous relation is kept."""
