"""One retry loop for every operation worth retrying: it retries :class:`TransientError` only.

Retries never multiply: inside another :func:`retrying` call of the same thread (connecting to a
store inside an attempt of a transfer), an operation is tried once and its transient error goes
to the outer loop, which alone decides whether to try again.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

from meshkit.core.errors import TransientError

T = TypeVar("T")

_local = threading.local()


def as_transient(exc: BaseException) -> TransientError | None:
    """The default classification: a :class:`TransientError` is retried, anything else is not."""
    return exc if isinstance(exc, TransientError) else None


@contextlib.contextmanager
def _entered() -> Iterator[bool]:
    depth = getattr(_local, "depth", 0)
    _local.depth = depth + 1
    try:
        yield depth > 0
    finally:
        _local.depth = depth


def retrying(attempt: Callable[[], T], *, retries: int, backoff: float, max_delay: float | None = None,
             transient: Callable[[BaseException], TransientError | None] = as_transient,
             on_retry: Callable[[int, int, float, TransientError], None] | None = None) -> T:  # fmt: skip
    """``attempt()``, tried up to ``retries`` more times while it fails with a transient error.

    ``transient(exc)`` gives the :class:`TransientError` an exception stands for, or ``None`` when
    retrying cannot help (the exception then propagates at once). The n-th retry waits
    ``backoff * 2**(n-1)`` seconds (at most ``max_delay``), after ``on_retry(attempt, attempts,
    delay, error)``. When the tries run out the last transient error is raised, chained to its cause.
    Nested in another ``retrying`` call of this thread, ``attempt`` is tried once.
    """
    with _entered() as nested:
        attempts = 1 if nested else retries + 1
        for number in range(1, attempts + 1):
            try:
                return attempt()
            except Exception as exc:
                error = transient(exc)
                if error is None:
                    raise
                if number == attempts:
                    if error is exc:
                        raise
                    raise error from exc
                delay = backoff * 2 ** (number - 1)
                delay = delay if max_delay is None else min(delay, max_delay)
                if on_retry is not None:
                    on_retry(number, attempts, delay, error)
                time.sleep(delay)
