"""Fixed-window request limits per credential, kept in the cache (LocMem, or Redis when set)."""

from __future__ import annotations

import time

from django.core.cache import cache


def rate_limit_hit(scope: str, ident, limit: int, window_seconds: int = 60) -> int | None:
    """Count one request; None while under ``limit``, else the seconds until the window ends."""
    if limit <= 0:
        return None
    now = time.time()
    window = int(now // window_seconds)
    key = f"rl:{scope}:{ident}:{window}"
    if cache.add(key, 1, timeout=window_seconds + 5):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # expired between add and incr
            cache.add(key, 1, timeout=window_seconds + 5)
            count = 1
    if count <= limit:
        return None
    return max(1, int((window + 1) * window_seconds - now + 0.999))


# Guessing passwords: failed logins are counted per username and per client address, and a
# count at its limit refuses every attempt (right or wrong) until its window ends.

def _failure_key(scope: str, ident, window_seconds: int) -> tuple[str, int]:
    window = int(time.time() // window_seconds)
    return f"rlf:{scope}:{ident}:{window}", window


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
        key, window = _failure_key(scope, ident, window_seconds)
        if (cache.get(key) or 0) >= limit:
            return max(1, int((window + 1) * window_seconds - time.time() + 0.999))
    return None


def failure_count(limits: list[tuple], window_seconds: int = 60) -> int:
    """Count one failed attempt on every counter of ``limits``; the highest count now."""
    highest = 0
    for scope, ident, _ in limits:
        key, _ = _failure_key(scope, ident, window_seconds)
        count = 1
        if not cache.add(key, 1, timeout=window_seconds + 5):
            try:
                count = cache.incr(key)
            except ValueError:  # expired between add and incr
                cache.add(key, 1, timeout=window_seconds + 5)
        highest = max(highest, count)
    return highest
