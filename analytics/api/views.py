"""``POST /api/sdk/events`` and ``POST /api/sdk/track``: SDK analytics in, with an environment
key (server or client). 202 once stored (committed); 400 naming the item and field, 413 past
the limits, nothing stored either way. A running server serves both from ASGI with group
commit (analytics.asgi); these views answer the same for everything else (the test client,
INGEST_GROUP_COMMIT off)."""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from flags.sdk_auth import SDKAuthError, authenticate_sdk_request, raw_key_from
from tenancy.api.admission import answer, read_json

from ..services import events_ingest
from .requests import EVENTS, TRACK, auth_refused, batch_of, rate_counted


def _ingest(request, path: str):
    try:
        sdk_key = authenticate_sdk_request(raw_key_from(request.headers.get, request.GET))
    except SDKAuthError as exc:
        raise auth_refused(exc) from None
    rate_counted(sdk_key)
    payload_id, batch = batch_of(path, request.headers.get("X-Payload-Id"),
                                 read_json(request, settings.ANALYTICS_MAX_BODY_BYTES))
    return JsonResponse(events_ingest(sdk_key.environment, payload_id, batch), status=202)


@csrf_exempt
@require_POST
@answer
def sdk_events(request):
    """A batch of evaluation events, summary counters and custom events."""
    return _ingest(request, EVENTS)


@csrf_exempt
@require_POST
@answer
def sdk_track(request):
    """One custom event ``{name, contextId?, value?, details?, timestamp?}`` (now by default)."""
    return _ingest(request, TRACK)
