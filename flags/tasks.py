"""Celery entry points of the flags app: ids in, one service call."""

from celery import shared_task

from . import scheduling, services


@shared_task(ignore_result=True)
def apply_due_scheduled_changes() -> dict:
    """Beat, every second: apply whatever is due, including changes missed while down."""
    return scheduling.scheduled_changes_apply_due()


@shared_task(ignore_result=True)
def apply_scheduled_change(change_id: int) -> dict:
    """Sent with an ETA at scheduling time, so a change does not wait for the next beat.

    It applies everything then due, not only its own change: when many changes share a time,
    the first task to run takes them all (one transaction per flag, shared with any other
    worker doing the same) and the rest find nothing left.
    """
    return scheduling.scheduled_changes_apply_due()


@shared_task
def close_expired_key_streams() -> int:
    """Close Pushpin-held streams of keys whose rotation grace ended (beat, every 30 s)."""
    return services.sdk_key_expired_streams_close()
