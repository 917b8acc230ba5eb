"""Celery entry points of the flags app: ids in, one service call."""

from celery import shared_task

from . import scheduling


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
