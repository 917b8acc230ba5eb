"""``GET /stream/stats`` (staff or the operators' token) and ``GET /stream/health`` (anyone):
the company streams across every server process, the replay store and the NATS bridge.

Connections are the sum of the fresh reports each server process writes (streaming.presence),
so any server answers for all of them; replay figures are read from storage; the bridge's
state is its own report.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection
from django.db.models import Count
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from django_eventstream.models import Event

from streaming.metrics import ops_allowed, ops_refused
from streaming.presence import BRIDGE, reports_live, servers_summed
from tenancy.models import Organization

from .channels import COMPANY_PREFIX


def _slugs(channels) -> dict[str, str]:
    """company channel → the organization's slug (channels of companies gone are left out)."""
    ids = {}
    for channel in channels:
        suffix = channel[len(COMPANY_PREFIX):]
        if channel.startswith(COMPANY_PREFIX) and suffix.isdigit():
            ids[int(suffix)] = channel
    found = Organization.objects.filter(pk__in=list(ids)).values_list("pk", "slug")
    return {ids[pk]: slug for pk, slug in found}


def connections_by_company(servers: dict) -> dict[str, int]:
    channels = {channel: n for channel, n in servers["channels"].items()
                if channel.startswith(COMPANY_PREFIX) and n}
    slugs = _slugs(channels)
    return {slugs[channel]: n for channel, n in sorted(channels.items()) if channel in slugs}


def events_by_company() -> dict[str, int]:
    counts = dict(Event.objects.filter(channel__startswith=COMPANY_PREFIX).exclude(type="")
                  .values("channel").annotate(n=Count("id")).values_list("channel", "n"))
    slugs = _slugs(counts)
    return {slugs[channel]: n for channel, n in sorted(counts.items()) if channel in slugs}


def bridge_state() -> dict:
    """The NATS bridge as its newest report tells, or why there is none."""
    reports = reports_live(BRIDGE)
    state = {"configured": bool(settings.NATS_URL), "running": len(reports)}
    if reports:
        state.update(reports[0].figures)
        state["reportedAt"] = reports[0].updated.isoformat()
    return state


def _timestamp() -> str:
    return timezone.now().isoformat().replace("+00:00", "Z")


@require_GET
def stream_stats(request):
    if not ops_allowed(request):
        return ops_refused(request)
    servers = servers_summed()
    by_company = connections_by_company(servers)
    replay = events_by_company()
    return JsonResponse({
        "connections": {"totalConnections": sum(by_company.values()),
                        "activeCompanies": len(by_company),
                        "connectionsByCompany": by_company},
        "replayCache": {"companies": len(replay), "totalEvents": sum(replay.values()),
                        "eventsByCompany": replay,
                        "retentionHours": settings.STREAM_EVENT_RETENTION_HOURS},
        "bridge": bridge_state(),
        "servers": {"processes": servers["processes"], "streamsByKind": servers["kinds"]},
        "timestamp": _timestamp(),
    })


def _redis_down() -> str | None:
    options = getattr(settings, "EVENTSTREAM_REDIS", None)
    if not options:
        return None
    import redis

    try:
        client = redis.Redis(**options, socket_timeout=1, socket_connect_timeout=1)
        client.ping()
        client.close()
    except Exception as exc:  # noqa: BLE001 - what is wrong is the answer
        return f"redis: {type(exc).__name__}: {exc}"[:300]
    return None


def _bridge_down(state: dict) -> str | None:
    if not state["configured"]:
        return None
    if not state["running"]:
        return ("bridge: NATS_URL is set but no bridge has reported in the last "
                f"{3 * settings.STREAM_PRESENCE_SECONDS:g} s (is manage.py nats_bridge running?)")
    if not state.get("connected"):
        return f"bridge: not connected to NATS ({state.get('lastError') or 'reconnecting'})"
    return None


@require_GET
def stream_health(request):
    """200 ``{"status": "ok", …}``, or 503 ``{"status": "unavailable", "reasons": […]}``."""
    reasons = []
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        servers = servers_summed()
        by_company = connections_by_company(servers)
        bridge = bridge_state()
    except Exception as exc:  # noqa: BLE001
        return JsonResponse({"status": "unavailable",
                             "reasons": [f"storage: {type(exc).__name__}: {exc}"[:300]],
                             "timestamp": _timestamp()}, status=503)
    reasons += [reason for reason in (_redis_down(), _bridge_down(bridge)) if reason]
    body = {"status": "unavailable" if reasons else "ok",
            "streaming": {"enabled": True, "activeConnections": sum(by_company.values()),
                          "activeCompanies": len(by_company),
                          "serverProcesses": servers["processes"]},
            "bridge": {"configured": bridge["configured"], "running": bridge["running"],
                       "connected": bool(bridge.get("connected")), "lag": bridge.get("lag")},
            "timestamp": _timestamp()}
    if reasons:
        body["reasons"] = reasons
    return JsonResponse(body, status=503 if reasons else 200)
