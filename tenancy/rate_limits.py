"""Fixed-window request limits per credential, kept in the cache (LocMem, or Redis when set)."""

from __future__ import annotations

import time

from django.core.cache import cache


def window_ends_at(window_seconds: int, now: float | None = None) -> float:
    """The ``time.time()`` at which the current fixed window ends."""
    now = time.time() if now is None else now
    return (int(now // window_seconds) + 1) * window_seconds


def seconds_left(ends_at: float, now: float | None = None) -> int:
    """Whole seconds (at least 1) until ``ends_at``: a ``Retry-After``."""
    return max(1, int(ends_at - (time.time() if now is None else now) + 0.999))


def _counted(key: str, window_seconds: int) -> int:
    """Add one to the counter ``key`` (created for the window); its count now."""
    if cache.add(key, 1, timeout=window_seconds + 5):
        return 1
    try:
        return cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=window_seconds + 5)
        return 1


def rate_limit_hit(scope: str, ident, limit: int, window_seconds: int = 60) -> int | None:
    """Count one request; None while under ``limit``, else the seconds until the window ends."""
    if limit <= 0:
        return None
    now = time.time()
    if _counted(f"rl:{scope}:{ident}:{int(now // window_seconds)}", window_seconds) <= limit:
        return None
    return seconds_left(window_ends_at(window_seconds, now), now)


# Guessing passwords: failed logins are counted per username and per client address, and a
# count at its limit refuses every attempt (right or wrong) until its window ends.

def _failure_key(scope: str, ident, window_seconds: int) -> str:
    return f"rlf:{scope}:{ident}:{int(time.time() // window_seconds)}"


def login_limits(remote_addr: str | None, username: str | None = None) -> list[tuple]:
    """The failure counters a login attempt from ``remote_addr`` as ``username`` falls under:
    ``(scope, ident, limit)``, those whose limit is 0 (off) left out."""
    from django.conf import settings

    limits = [("login-address", remote_addr or "-", settings.AUTH_FAILURES_PER_ADDRESS_PER_MINUTE)]
    if username is not None:
        limits.append(("login-user", username.strip().lower()[:150],
                       settings.AUTH_FAILURES_PER_USERNAME_PER_MINUTE))
    return [limit for limit in limits if limit[2] > 0]


def failures_blocked(limits: list[tuple], window_seconds: int = 60) -> int | None:
    """Seconds until attempts are let in again if any counter of ``limits`` is at its limit;
    None when none is."""
    for scope, ident, limit in limits:
        if (cache.get(_failure_key(scope, ident, window_seconds)) or 0) >= limit:
            return seconds_left(window_ends_at(window_seconds))
    return None


def failure_count(limits: list[tuple], window_seconds: int = 60) -> int:
    """Count one failed attempt on every counter of ``limits``; the highest count now."""
    return max((_counted(_failure_key(scope, ident, window_seconds), window_seconds)
                for scope, ident, _ in limits), default=0)
