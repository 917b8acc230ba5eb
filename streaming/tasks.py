"""Celery entry points of the streaming app."""

from celery import shared_task

from . import services


@shared_task
def trim_stream_events() -> int:
    """Delete stored stream events older than the retention (beat, hourly)."""
    return services.stream_events_trim()
