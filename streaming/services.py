"""Writes owned by the streaming app."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django_eventstream.models import Event


def stream_events_trim(*, now=None) -> int:
    """Delete stored events older than STREAM_EVENT_RETENTION_HOURS; return how many went."""
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.STREAM_EVENT_RETENTION_HOURS)
    deleted, _ = Event.objects.filter(created__lt=cutoff).delete()
    return deleted


def expired_key_streams_close(*, now=None, window_seconds: int = 120) -> int:
    """Close the Pushpin-held streams of SDK keys whose rotation grace period just ended.

    Revocation closes them at once (see flags.services.sdk_key_revoke); expiry is only a time
    passing, so beat calls this every 30 s for keys that expired within ``window_seconds``.
    Streams this server holds need nothing: the hub re-checks their keys.
    """
    from flags.models import SDKKey

    from .broadcast import close_key_streams

    if not settings.GRIP_URL:
        return 0
    now = now or timezone.now()
    key_ids = list(SDKKey.objects.filter(
        revoked_at__isnull=True, expires_at__lte=now,
        expires_at__gt=now - timedelta(seconds=window_seconds)).values_list("id", flat=True))
    for key_id in key_ids:
        close_key_streams(key_id)
    return len(key_ids)
