"""Interfaces that job authors and plugin authors import."""

from meshkit.api.job_input import IJobInput
from meshkit.core.hookspecs import hookimpl

__all__ = ["IJobInput", "hookimpl"]
