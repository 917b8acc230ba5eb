"""``GET /metrics``: Prometheus text of the streaming backbone, across every server process.

Open streams and the servers' counters are the sum of the fresh process reports
(streaming.presence); events published and events kept for replay are read from storage, so
they count what any process (a request, a worker, the bridge) stored; the NATS bridge's state
is its own report. For a staff session or ``Authorization: Bearer <STREAM_OPS_TOKEN>``.

A server process's counters start at zero when it starts and leave the sums when it stops:
Prometheus reads that as a counter reset, which ``rate()`` handles.
"""

from __future__ import annotations

import hmac
import re

from django.conf import settings
from django.db.models import Count
from django.http import HttpResponse, JsonResponse
from django.views.decorators.http import require_GET
from django_eventstream.models import Event, EventCounter
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from .hub import COUNTERS
from .presence import BRIDGE, reports_live, servers_summed

_PREFIX = re.compile(r"^[A-Za-z_]+")


def channel_family(channel: str) -> str:
    """What a channel's name says of its kind: ``company-12`` → ``company``."""
    found = _PREFIX.match(channel)
    return found.group(0) if found else "other"


def ops_allowed(request) -> bool:
    """A staff session, or the operators' bearer token (STREAM_OPS_TOKEN, when set)."""
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated and user.is_active and user.is_staff:
        return True
    token = settings.STREAM_OPS_TOKEN
    header = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(header.encode(), f"Bearer {token}".encode())


def ops_refused(request) -> JsonResponse:
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return JsonResponse({"error": "permission_denied",
                             "detail": "for staff and operators only"}, status=403)
    return JsonResponse({"error": "not_authenticated",
                         "detail": "log in as staff, or send Authorization: Bearer "
                                   "<STREAM_OPS_TOKEN>"}, status=401)


def published_by_family() -> dict[str, int]:
    out: dict[str, int] = {}
    for name, value in EventCounter.objects.values_list("name", "value"):
        family = channel_family(name)
        out[family] = out.get(family, 0) + value
    return out


def kept_by_family() -> dict[str, int]:
    out: dict[str, int] = {}
    for name, count in (Event.objects.exclude(type="").values("channel")
                        .annotate(n=Count("id")).values_list("channel", "n")):
        family = channel_family(name)
        out[family] = out.get(family, 0) + count
    return out


class BackboneCollector:
    def collect(self):
        servers = servers_summed()
        yield _gauge("flagstream_server_processes", "server processes reporting",
                     [((), servers["processes"])])
        yield _gauge("flagstream_stream_connections", "open streams, by stream kind",
                     [((kind,), n) for kind, n in sorted(servers["kinds"].items())], ["kind"])
        names = {"opened": "streams opened", "delivered": "events written to streams",
                 "replays": "streams resumed by replay from Last-Event-ID",
                 "resets": "streams told stream-reset (their id was too old)",
                 "revoked": "streams closed: credential revoked",
                 "idle_closed": "streams closed: idle past STREAM_IDLE_TIMEOUT_SECONDS",
                 "slow_closed": "streams closed: client did not read"}
        for counter in COUNTERS:
            yield _counter(f"flagstream_stream_{counter}", names[counter],
                           [((kind,), values.get(counter, 0))
                            for kind, values in sorted(servers["counters"].items())], ["kind"])
        yield _counter("flagstream_stream_events_published", "events stored for streams, by "
                       "channel family", sorted(((f,), n) for f, n in published_by_family()
                                                .items()), ["channel"])
        yield _gauge("flagstream_stream_replay_events", "events kept for replay, by channel "
                     "family", sorted(((f,), n) for f, n in kept_by_family().items()),
                     ["channel"])
        bridges = reports_live(BRIDGE)
        yield _gauge("flagstream_bridge_up", "NATS bridges connected",
                     [((), sum(1 for b in bridges if b.figures.get("connected")))])
        yield _gauge("flagstream_bridge_lag_messages", "messages in JetStream no bridge has "
                     "acknowledged yet", [((), sum(b.figures.get("lag") or 0 for b in bridges))])
        yield _gauge("flagstream_bridge_lag_seconds", "publish to stored, newest batch",
                     [((), max([b.figures.get("lagSeconds") or 0 for b in bridges] or [0]))])
        outcomes: dict[str, int] = {}
        for bridge in bridges:
            figures = bridge.figures
            for outcome in ("received", "stored", "duplicates"):
                outcomes[outcome] = outcomes.get(outcome, 0) + (figures.get(outcome) or 0)
            for reason, n in (figures.get("dropped") or {}).items():
                outcomes[f"dropped_{reason}"] = outcomes.get(f"dropped_{reason}", 0) + n
        yield _counter("flagstream_bridge_messages", "NATS messages by outcome",
                       sorted(((o,), n) for o, n in outcomes.items()), ["outcome"])


def _gauge(name, documentation, samples, labels=()):
    family = GaugeMetricFamily(name, documentation, labels=list(labels))
    for values, value in samples:
        family.add_metric(list(values), value)
    return family


def _counter(name, documentation, samples, labels=()):
    family = CounterMetricFamily(name, documentation, labels=list(labels))
    for values, value in samples:
        family.add_metric(list(values), value)
    return family


@require_GET
def metrics(request):
    if not ops_allowed(request):
        return ops_refused(request)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(BackboneCollector())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)

