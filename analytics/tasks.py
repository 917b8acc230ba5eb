"""Celery entry points of the analytics app (the beat schedule is in config/celery.py)."""

from celery import shared_task

from . import services


@shared_task
def rollup_analytics() -> int:
    """Add the SDK events received since the last run to the rollups; raw rows counted."""
    return services.analytics_rollup().rows


@shared_task
def trim_analytics() -> dict:
    """Delete raw events and rollups past their retention (hourly)."""
    return services.analytics_trim()
