"""Reading ``POST /api/sdk/events`` and ``POST /api/sdk/track``, for the Django views and the
ASGI path (analytics.asgi) alike: the key, its rate, the body; a failed check raises Refused
(tenancy.api.admission), which each front end turns into the same JSON answer."""

from __future__ import annotations

from django.conf import settings
from django.utils import timezone

from flags.sdk_auth import SDKAuthError
from flags.sdk_requests import RateLimited, sdk_key_rate_counted
from tenancy.api.admission import Refused, json_object

from ..ingest import Batch, BadItem, TooMany, batch_read, event_read, payload_id_read, \
    timestamp_window

EVENTS, TRACK = "/api/sdk/events", "/api/sdk/track"


def auth_refused(exc: SDKAuthError) -> Refused:
    return Refused(exc.status, exc.code, exc.detail)


def rate_counted(sdk_key) -> None:
    """Count the request against the key's analytics rate; Refused (429) past it."""
    try:
        sdk_key_rate_counted(sdk_key, "analytics", settings.ANALYTICS_RATE_LIMIT_PER_MINUTE)
    except RateLimited as exc:
        raise Refused(429, "rate_limited", str(exc),
                      headers={"Retry-After": str(exc.retry_after)}) from None


def _refused(exc: BadItem) -> Refused:
    if isinstance(exc, TooMany):
        return Refused(413, "payload_too_large", str(exc), fields={exc.field: [exc.message]})
    return Refused(400, "validation_error", str(exc), fields={exc.field: [exc.message]})


def batch_of(path: str, header_payload_id: str | None, body) -> tuple[str | None, Batch]:
    """(payload id, checked batch) of a request's JSON ``body``: a batch of evaluations,
    summaries and events (EVENTS), or one custom event, now by default (TRACK)."""
    body = json_object(body)
    try:
        if path == TRACK:
            payload_id = payload_id_read(header_payload_id, {})
            event = event_read(body, "", timestamp_window(), timestamp_default=timezone.now())
            return payload_id, Batch(events=[event])
        return payload_id_read(header_payload_id, body), batch_read(body)
    except BadItem as exc:
        raise _refused(exc) from None
