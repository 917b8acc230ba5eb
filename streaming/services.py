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
