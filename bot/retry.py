"""When to try again, for everything that calls out (the delivery worker, replies within a turn, the Graph client
and the calendar sync): one reading of Retry-After and one exponential backoff."""

from __future__ import annotations

import random
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# A Retry-After longer than this is taken as this long (a misbehaving server must not park a message for days).
MAX_RETRY_AFTER_SECONDS = 3600.0


def retry_after_seconds(value: str | None, now: datetime, *, cap: float = MAX_RETRY_AFTER_SECONDS) -> float | None:
    """Retry-After as seconds (delta-seconds or an HTTP date, RFC 9110), between 0 and `cap`; None when absent
    or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), cap)


def backoff_seconds(attempt: int, *, base: float, cap: float, rng: random.Random | None = None,
                    max_doublings: int = 64) -> float:
    """How long to wait after the `attempt`-th failure (1, 2, ...): `base`, doubled for each failure after the
    first (at most `max_doublings` times), never more than `cap`. With `rng`, a random point in the upper half
    of that (jitter), so that many callers failing together do not come back together."""
    ceiling = min(cap, base * 2.0 ** min(max(attempt - 1, 0), max_doublings))
    return ceiling if rng is None else ceiling * rng.uniform(0.5, 1.0)
