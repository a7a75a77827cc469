"""Times, durations and counts as people read them, shared by the command line and the web pages."""

from __future__ import annotations

from datetime import UTC, datetime


def since(value: datetime | None, now: datetime | None = None) -> str:
    """``3 min ago``, ``2 h ago``, ``in 5 min``; ``just now`` within a minute."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    seconds = ((now or datetime.now(UTC)) - value).total_seconds()
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if abs(seconds) >= size:
            count = int(abs(seconds) // size)
            return f"{count} {unit} ago" if seconds > 0 else f"in {count} {unit}"
    return "just now" if seconds >= 0 else "in <1 min"


def duration(seconds: float | None) -> str:
    """``0.42 s``, ``12.3 s``, ``4 min 05 s``, ``2 h 10 min``."""
    if seconds is None:
        return ""
    if seconds < 10:
        return f"{seconds:.2f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, sec = divmod(int(seconds), 60)
    return f"{minutes} min {sec:02d} s" if minutes < 60 else f"{minutes // 60} h {minutes % 60:02d} min"


def count(n: int | float | None) -> str:
    """``1,234``, ``1.2M`` past ten million; empty for ``None``."""
    if n is None:
        return ""
    if abs(n) >= 10_000_000:
        for unit, size in (("B", 1e9), ("M", 1e6)):
            if abs(n) >= size:
                return f"{n / size:.1f}{unit}"
    return f"{n:,.0f}"


def cron(expression: str | None) -> str:
    """A cron schedule in words: ``0 6 * * *`` -> ``At 06:00``; empty when it cannot be described."""
    if not expression:
        return ""
    from cron_descriptor import Options, get_description

    options = Options()
    options.use_24hour_time_format = True
    try:
        return get_description(expression, options)
    except Exception:  # noqa: BLE001 - a schedule the describer does not know is shown as it is
        return ""
