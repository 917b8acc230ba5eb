"""The Celery app and the one beat schedule of the project."""

import os

from celery import Celery
from celery.schedules import crontab

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("flagstream")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.beat_schedule = {
    # Stored stream events older than STREAM_EVENT_RETENTION_HOURS are no longer replayable;
    # deleting them in one batch an hour keeps the replay table small without trimming on
    # every append (what django-eventstream's DjangoModelStorage does by default).
    "trim-stream-events": {
        "task": "streaming.tasks.trim_stream_events",
        "schedule": crontab(minute=7),
    },
}
