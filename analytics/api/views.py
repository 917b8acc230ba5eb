"""``POST /api/sdk/events`` and ``POST /api/sdk/track``: SDK analytics in, with an environment
key (server or client). 202 once stored (committed); 400 naming the item and field, 413 past
the limits, nothing stored either way."""

from __future__ import annotations

from django.conf import settings
from django.http import JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from flags.sdk_auth import SDKAuthError
from flags.sdk_requests import RateLimited, sdk_key_admit
from tenancy.api.admission import Refused, answer, json_object, read_json

from ..ingest import (
    Batch,
    BadItem,
    TooMany,
    batch_read,
    event_read,
    payload_id_read,
    timestamp_window,
)
from ..services import events_ingest


def _admitted(request):
    try:
        return sdk_key_admit(request.headers.get, request.GET, scope="analytics",
                             per_minute=settings.ANALYTICS_RATE_LIMIT_PER_MINUTE)
    except SDKAuthError as exc:
        raise Refused(exc.status, exc.code, exc.detail) from None
    except RateLimited as exc:
        raise Refused(429, "rate_limited", str(exc),
                      headers={"Retry-After": str(exc.retry_after)}) from None


def _refused(exc: BadItem) -> Refused:
    if isinstance(exc, TooMany):
        return Refused(413, "payload_too_large", str(exc), fields={exc.field: [exc.message]})
    return Refused(400, "validation_error", str(exc), fields={exc.field: [exc.message]})


@csrf_exempt
@require_POST
@answer
def sdk_events(request):
    """A batch of evaluation events, summary counters and custom events."""
    sdk_key = _admitted(request)
    body = json_object(read_json(request, settings.ANALYTICS_MAX_BODY_BYTES))
    try:
        payload_id = payload_id_read(request.headers.get("X-Payload-Id"), body)
        batch = batch_read(body)
    except BadItem as exc:
        raise _refused(exc) from None
    return JsonResponse(events_ingest(sdk_key.environment, payload_id, batch), status=202)


@csrf_exempt
@require_POST
@answer
def sdk_track(request):
    """One custom event ``{name, contextId?, value?, details?, timestamp?}`` (now by default)."""
    sdk_key = _admitted(request)
    body = json_object(read_json(request, settings.ANALYTICS_MAX_BODY_BYTES))
    try:
        payload_id = payload_id_read(request.headers.get("X-Payload-Id"), {})
        event = event_read(body, "", timestamp_window(), timestamp_default=timezone.now())
    except BadItem as exc:
        raise _refused(exc) from None
    return JsonResponse(events_ingest(sdk_key.environment, payload_id, Batch(events=[event])),
                        status=202)
