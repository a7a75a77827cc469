"""What a render knows about the node it renders: the per-thread render state shared by the Jinja
context objects (``ref``, ``config``, ``adapter``, ``run_query``, ``statement`` ...)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

_state = threading.local()


class Return(Exception):
    """``{{ return(value) }}`` inside a macro."""

    def __init__(self, value):
        self.value = value


class RenderError(Exception):
    """An error raised by a context function; turned into a ModelCompileError with the line."""

    def __init__(self, message: str, hint: str | None = None, unsupported: bool = False):
        super().__init__(message)
        self.message, self.hint, self.unsupported = message, hint, unsupported


@dataclass
class RenderState:
    """What rendering one node needs and what it found (config calls, refs, sources).

    ``execute`` is false while the project loads (dbt's parse) and true when a node is rendered
    again to run against ``warehouse``; ``uses_execute`` records that the render read ``execute`` or
    asked the database, so the node must be rendered again at run time.
    """

    node: Any
    resolve_ref: Callable[[str, Any], Any]
    resolve_source: Callable[[str, str, Any], Any]
    is_incremental: bool = False
    config: dict[str, Any] = field(default_factory=dict)
    refs: list[str] = field(default_factory=list)
    sources: list[tuple[str, str]] = field(default_factory=list)
    execute: bool = False
    warehouse: Any = None
    uses_execute: bool = False
    results: dict[str, Any] = field(default_factory=dict)
    #: Macro name (``name`` or ``package.name``) -> the value it returns instead (unit tests).
    macro_overrides: dict[str, Any] = field(default_factory=dict)
    #: Unique ids (``macro.package.name``) of the macros the render called, in call order.
    macros: dict[str, None] = field(default_factory=dict)


def current() -> RenderState:
    state = getattr(_state, "current", None)
    if state is None:
        raise RenderError("A dbt context function was called outside of a model.")
    return state


class rendering:
    """``with rendering(state):`` makes ``state`` the current render state of this thread."""

    def __init__(self, state: RenderState):
        self.state = state

    def __enter__(self) -> RenderState:
        self.previous = getattr(_state, "current", None)
        _state.current = self.state
        return self.state

    def __exit__(self, *exc) -> None:
        _state.current = self.previous
