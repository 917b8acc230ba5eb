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
