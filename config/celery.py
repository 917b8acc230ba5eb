"""The Celery app and the one beat schedule of the project."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

# The embedded broker (see config/filesystem_broker.py) must be known to every process.
from .filesystem_broker import register as register_filesystem_broker  # noqa: E402

register_filesystem_broker()

app = Celery("flagstream")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # Scheduled flag changes: each is also queued with an ETA when scheduled; this sweep applies
    # anything due that was not (a lost message, a missed time while everything was down), and
    # claims rows exactly once, so both paths racing is harmless.
    "apply-due-scheduled-changes": {
        "task": "flags.tasks.apply_due_scheduled_changes",
        "schedule": 1.0,
    },
    # Stored stream events older than STREAM_EVENT_RETENTION_HOURS are no longer replayable;
    # deleting them in one batch an hour keeps the replay table small without trimming on
    # every append (what django-eventstream's DjangoModelStorage does by default).
    # A rotated key stops working when its grace period ends; streams that Pushpin holds for it
    # are closed here (streams a web process holds are closed by its hub's key re-check).
    "close-expired-key-streams": {
        "task": "flags.tasks.close_expired_key_streams",
        "schedule": 30.0,
    },
    # Agent-to-agent task messages live TASK_MESSAGE_TTL_MINUTES; reads skip expired ones
    # at once, this deletes them.
    "prune-task-messages": {
        "task": "sessions_app.tasks.prune_task_messages",
        "schedule": float(os.environ.get("TASK_PRUNE_SECONDS", 15 * 60)),
    },
    # SDK analytics: what arrived is rolled up every ANALYTICS_ROLLUP_SECONDS (event to chart
    # within about a minute); raw events and rollups past their retention go hourly.
    "rollup-analytics": {
        "task": "analytics.tasks.rollup_analytics",
        "schedule": float(os.environ.get("ANALYTICS_ROLLUP_SECONDS", 60)),
    },
    "trim-analytics": {
        "task": "analytics.tasks.trim_analytics",
        "schedule": crontab(minute=17),
    },
    "trim-stream-events": {
        "task": "streaming.tasks.trim_stream_events",
        "schedule": crontab(minute=7),
    },
}
