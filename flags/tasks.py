"""Celery entry points of the flags app: ids in, one service call."""

from celery import shared_task

from . import scheduling


@shared_task(ignore_result=True)
def apply_due_scheduled_changes() -> dict:
    """Beat, every second: apply whatever is due, including changes missed while down."""
    return scheduling.scheduled_changes_apply_due()


@shared_task(ignore_result=True)
def apply_scheduled_change(change_id: int) -> str:
    """Sent with an ETA at scheduling time, so a change does not wait for the next beat."""
    return scheduling.scheduled_change_apply(change_id=change_id)


def apply_scheduled_change_at(change) -> None:
    """Queue the change for its time (beat remains the safety net if this is lost)."""
    try:
        apply_scheduled_change.apply_async((change.pk,), eta=change.scheduled_at)
    except Exception:  # noqa: BLE001 - the broker may be down; beat will still apply it
        import logging

        logging.getLogger(__name__).warning("could not queue scheduled change %s", change.pk)
