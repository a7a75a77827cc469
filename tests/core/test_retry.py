"""One retry loop: transient errors only, with backoff, and nested loops never multiply the tries."""

from __future__ import annotations

import pytest

from meshkit.core.errors import TransientError, UserError
from meshkit.core.retry import retrying


def flaky(failures: list[BaseException], calls: list[int]):
    def attempt():
        calls.append(1)
        if failures:
            raise failures.pop(0)
        return "done"

    return attempt


def test_transient_errors_are_retried_until_success():
    calls: list[int] = []
    seen = []
    result = retrying(flaky([TransientError("a"), TransientError("b")], calls), retries=3, backoff=0,
                      on_retry=lambda n, of, delay, error: seen.append((n, of, error.message)))  # fmt: skip
    assert result == "done" and len(calls) == 3
    assert seen == [(1, 4, "a"), (2, 4, "b")]


def test_other_errors_are_not_retried():
    calls: list[int] = []
    with pytest.raises(UserError):
        retrying(flaky([UserError("bad data")], calls), retries=3, backoff=0)
    assert len(calls) == 1


def test_last_transient_error_is_raised_when_tries_run_out():
    calls: list[int] = []
    with pytest.raises(TransientError, match="3"):
        retrying(flaky([TransientError(str(n)) for n in range(1, 5)], calls), retries=2, backoff=0)
    assert len(calls) == 3


def test_classified_error_is_raised_from_its_cause():
    with pytest.raises(TransientError) as info:
        retrying(flaky([ConnectionResetError("reset")] * 2, []), retries=1, backoff=0,
                 transient=lambda exc: TransientError("lost") if isinstance(exc, OSError) else None)  # fmt: skip
    assert isinstance(info.value.__cause__, ConnectionResetError)


def test_nested_retries_do_not_multiply():
    inner_calls: list[int] = []

    def outer_attempt():
        return retrying(flaky([TransientError("down")] * 100, inner_calls), retries=3, backoff=0)

    with pytest.raises(TransientError):
        retrying(outer_attempt, retries=3, backoff=0)
    assert len(inner_calls) == 4  # the outer loop's 4 tries, each trying the inner operation once


def test_backoff_doubles_up_to_the_cap():
    delays = []
    with pytest.raises(TransientError):
        retrying(flaky([TransientError("x")] * 10, []), retries=4, backoff=0.0001, max_delay=0.0004,
                 on_retry=lambda n, of, delay, error: delays.append(delay))  # fmt: skip
    assert delays == [0.0001, 0.0002, 0.0004, 0.0004]
