"""``GET /api/health``: whether this server can reach what it needs, and its stream figures.

200 when the database, the cache (Redis when configured) and the Celery broker answer; 503
naming each that does not. Stream figures are this server process's.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.db import connection
from django.http import JsonResponse
from django.views.decorators.http import require_GET

from streaming.hub import hub


def _database() -> dict:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"backend": connection.vendor}


def _cache() -> dict:
    token = str(time.monotonic())
    cache.set("flagstream:health", token, 10)
    if cache.get("flagstream:health") != token:
        raise RuntimeError("a value written could not be read back")
    return {"backend": settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]}


def _broker() -> dict:
    from config.celery import app

    with app.connection_for_write() as conn:
        conn.ensure_connection(max_retries=1, interval_start=0, interval_step=0, timeout=2)
        return {"transport": conn.transport_cls if isinstance(conn.transport_cls, str)
                else type(conn.transport).__name__}


CHECKS = {"database": _database, "cache": _cache, "broker": _broker}


def _run(check) -> dict:
    started = time.perf_counter()
    try:
        result = {"ok": True, **check()}
    except Exception as exc:  # noqa: BLE001 - any failure is what this endpoint reports
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:300]}
    result["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def stream_figures() -> dict:
    return {"open_streams": sum(len(subs) for subs in hub.subscriptions.values()),
            "channels": len(hub.subscriptions),
            "source": type(hub.source).__name__ if hub.source else None}


@require_GET
def health(request):
    checks = {name: _run(check) for name, check in CHECKS.items()}
    down = [name for name, result in checks.items() if not result["ok"]]
    body = {"status": "down" if down else "ok", "down": down, "checks": checks,
            "streams": stream_figures()}
    return JsonResponse(body, status=503 if down else 200)
